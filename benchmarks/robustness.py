"""Robustness: 64 myoLeg envs x 10 s with random excitations from random standing poses.

The elastic-tendon plant (`myoleg()`: De Groote explicit tendon force, Rajagopal 2016
parameters, 2 ms physics steps, 4 MTU sub-steps) rolls out `--envs` envs for `--seconds` of
simulated time. Each env starts from its own `random_standing_qpos` (every independent hinge
moved by up to 15 % of its range, knee couplings held, feet on the floor) with all muscles in
equilibrium; every muscle gets a new uniform random excitation in [0, `--max-excitation`] at
every step. The run is chunked (jit once, `--chunk-seconds` per call) with a progress bar, and
reports per env whether and where a state went non-finite (`rollout(..., throw=False)`), plus
pelvis heights and force ranges. The suite runs the same check at 8 envs x 0.5 s
(`tests/test_myoleg.py`).

    python benchmarks/robustness.py                       # 64 envs x 10 s
    python benchmarks/robustness.py --envs 8 --seconds 1  # quick look

Writes `results/robustness.json` (figures + device info) and `results/robustness.png`.
Exit status 1 if any env went non-finite.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from plant import device_info
from tqdm.auto import tqdm

from mskdiff.models.myoleg import myoleg, myoleg_mjmodel, random_standing_qpos
from mskdiff.plant import cpu_env_group_size, rollout

RESULTS = Path(__file__).resolve().parent / "results"


def random_initial_states(plant, mj_model, n_envs: int, seed: int):
    """Random standing poses `(n_envs, nq)` and the equilibrium plant states at them."""
    rng = np.random.default_rng(seed)
    poses = np.stack([random_standing_qpos(mj_model, rng) for _ in range(n_envs)])
    return poses, plant.init_batch(poses, activation=0.05)


def run(plant, state, *, n_chunks: int, chunk: int, max_excitation: float, seed: int,
        progress: bool = True) -> dict:
    """Roll out in jitted chunks; per-step summaries of every env (numpy arrays)."""
    n_envs = state.data.qpos.shape[0]

    @jax.jit
    def advance(state, key):
        excitation = jr.uniform(key, (chunk, n_envs, plant.n_muscles), maxval=max_excitation)
        final, trajectory = rollout(plant, state, excitation, checkpoint=False, throw=False)
        summary = {"pelvis_height": trajectory.qpos[:, :, 2],
                   "max_tendon_force": jnp.max(trajectory.tendon_force, axis=-1),
                   "min_fiber_length": jnp.min(trajectory.fiber_length, axis=-1),
                   "mean_activation": jnp.mean(trajectory.muscle.activation, axis=-1)}
        return final, summary, trajectory.nonfinite_step

    pieces, first_bad, start, steady_start = [], np.full(n_envs, -1), time.perf_counter(), None
    for k in tqdm(range(n_chunks), desc=f"{n_envs} envs", disable=not progress):
        state, summary, bad = jax.block_until_ready(advance(state, jr.fold_in(jr.key(seed), k)))
        bad = np.asarray(bad)
        new = (first_bad < 0) & (bad >= 0)
        first_bad[new] = k * chunk + bad[new]
        pieces.append(jax.tree.map(np.asarray, summary))
        steady_start = steady_start or time.perf_counter()
    wall = time.perf_counter() - start
    steady = time.perf_counter() - steady_start
    summary = jax.tree.map(lambda *x: np.concatenate(x), *pieces)
    return {"summary": summary, "first_nonfinite_step": first_bad, "wall_s": wall,
            "env_steps_per_s": n_envs * chunk * (n_chunks - 1) / steady if n_chunks > 1 else None}


def plot(summary: dict, dt: float, title: str, path: Path) -> None:
    """Pelvis height, largest tendon force and mean activation of every env over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = dt * np.arange(1, summary["pelvis_height"].shape[0] + 1)
    rows = [("pelvis_height", "pelvis height [m]"), ("max_tendon_force", "largest tendon force [N]"),
            ("mean_activation", "mean activation [-]")]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 8), sharex=True)
    for ax, (key, label) in zip(axes, rows, strict=True):
        ax.plot(t, summary[key], lw=0.5, alpha=0.5)
        ax.set_ylabel(label)
    axes[-1].set_xlabel("time [s]")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chunk-seconds", type=float, default=0.5)
    parser.add_argument("--max-excitation", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "robustness.json")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    plant, mj_model = myoleg(), myoleg_mjmodel()
    chunk = round(args.chunk_seconds / plant.dt)
    n_chunks = max(1, round(args.seconds / plant.dt / chunk))
    start = time.perf_counter()
    poses, state = random_initial_states(plant, mj_model, args.envs, args.seed)
    init_s = time.perf_counter() - start
    result = run(plant, state, n_chunks=n_chunks, chunk=chunk, max_excitation=args.max_excitation,
                 seed=args.seed, progress=not args.no_progress)
    summary, bad = result["summary"], result["first_nonfinite_step"]
    finite = bad < 0
    height = summary["pelvis_height"]
    report = {
        "envs": args.envs, "steps": n_chunks * chunk, "simulated_s": n_chunks * chunk * plant.dt,
        "dt_s": plant.dt, "substeps": 4, "formulation": "tendon_force", "seed": args.seed,
        "max_excitation": args.max_excitation, "cpu_env_group": cpu_env_group_size(plant.mjx_model.nv),
        "finite_envs": int(finite.sum()),
        "first_nonfinite": {int(e): int(bad[e]) for e in np.flatnonzero(~finite)},
        "initial_pelvis_height_m": [float(poses[:, 2].min()), float(poses[:, 2].max())],
        "final_pelvis_height_m": [float(np.nanmin(height[-1])), float(np.nanmax(height[-1]))],
        "max_tendon_force_N": float(np.nanmax(summary["max_tendon_force"])),
        "min_fiber_length_m": float(np.nanmin(summary["min_fiber_length"])),
        "init_s": init_s, "wall_s": result["wall_s"], "env_steps_per_s": result["env_steps_per_s"],
        "device": device_info()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    png = args.out.with_suffix(".png")
    plot(summary, plant.dt, f"myoLeg, elastic tendons: {args.envs} envs, random poses and "
         f"excitations, {report['finite_envs']}/{args.envs} finite", png)
    print(f"{args.envs} envs x {report['steps']} steps ({report['simulated_s']:g} s simulated, "
          f"dt {plant.dt * 1e3:g} ms, 4 MTU sub-steps, {report['device']['device_kind']}): "
          f"{report['finite_envs']}/{args.envs} envs finite; first non-finite (env: step) "
          f"{report['first_nonfinite'] or 'none'}")
    print(f"pelvis height {report['initial_pelvis_height_m'][0]:.3f}-"
          f"{report['initial_pelvis_height_m'][1]:.3f} m at start, "
          f"{report['final_pelvis_height_m'][0]:.3f}-{report['final_pelvis_height_m'][1]:.3f} m "
          f"at the end; largest tendon force {report['max_tendon_force_N']:.0f} N; shortest fibre "
          f"{1e3 * report['min_fiber_length_m']:.1f} mm")
    print(f"wall {report['wall_s']:.1f} s (first chunk includes compilation), "
          f"{report['env_steps_per_s']:.0f} env-steps/s after it; wrote {args.out} and {png}")
    return 0 if finite.all() else 1


if __name__ == "__main__":
    sys.exit(main())
