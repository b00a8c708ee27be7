"""Every model of the registry: does it load, its size, MuJoCo C vs the mskdiff plant step time.

For each model of `mskdiff.models.registry.MODELS`, one run measures:

* whether `load(name)` builds the elastic plant (`tendon_force`, all tendons elastic; the reason
  if not), its muscles, `nq`, `nv` and equality constraints;
* MuJoCo C: `mj_step` on the same host model with MuJoCo's own muscles, µs per step (a loop of
  `--mujoco-steps` steps, best of 3, excitations uniform in [0.02, 0.22], one thread);
* the mskdiff plant, elastic: `rollout` over `--steps` steps in one `jit`, env-steps/s at batch 1
  and (if the batch-1 program compiled within `--batch8-max-compile` s) batch 8; compile time
  (`lower().compile()`) apart; the ratio against MuJoCo C in the same run.

The pose is `qpos0` with the joint equalities satisfied (free-floating models: resting on the
floor). float32, 2 ms steps, 3 Newton iterations (the plant's defaults).

    python benchmarks/models.py                          # every model (~40 min on 2 CPU cores)
    python benchmarks/models.py --models myohand_r,myotorso_abdomen --steps 50
    python benchmarks/models.py --out benchmarks/models_cpu.json
    python benchmarks/models.py --cache CACHE_DIR --out ...   # twice: compile, then time
    python benchmarks/models.py --host-only --out benchmarks/models_host_cpu.json
"""

import argparse
import gc
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from batch64 import one_intra_op_thread
from device import device_info

with one_intra_op_thread(enabled=True):
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import mujoco

    from mskdiff.models import registry
    from mskdiff.models.locomotion import place_on_floor, satisfy_joint_equalities
    from mskdiff.plant.rollout import rollout

EXCITATION = (0.02, 0.2)  # uniform in [a, a + b], new every step


def initial_qpos(mj_model: mujoco.MjModel) -> np.ndarray:
    """`qpos0` with joint equalities satisfied; free-floating models rest on the floor."""
    qpos = satisfy_joint_equalities(mj_model, mj_model.qpos0)
    floating = np.any(mj_model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
    return place_on_floor(mj_model, qpos) if floating else qpos


def mujoco_step_us(mj_model: mujoco.MjModel, qpos: np.ndarray, n_steps: int) -> float:
    """Best of 3 µs per `mj_step` with MuJoCo's muscles and random excitations."""
    data = mujoco.MjData(mj_model)
    ctrl = EXCITATION[0] + EXCITATION[1] * np.random.default_rng(0).random((n_steps, mj_model.nu))
    best = np.inf
    for _ in range(3):
        mujoco.mj_resetData(mj_model, data)
        data.qpos[:] = qpos
        start = time.perf_counter()
        for row in ctrl:
            data.ctrl[:] = row
            mujoco.mj_step(mj_model, data)
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / n_steps


def plant_rate(plant, qpos, n_steps: int, batch: int) -> dict:
    """Compile time [s] and env-steps/s of an elastic rollout of `n_steps` at `batch` envs."""
    if batch == 1:
        state = plant.init(qpos, throw=False)
        shape = (n_steps, plant.n_muscles)
    else:
        state = plant.init_batch(np.broadcast_to(qpos, (batch, qpos.size)), throw=False)
        shape = (n_steps, batch, plant.n_muscles)
    excitations = EXCITATION[0] + EXCITATION[1] * jr.uniform(jr.key(0), shape)
    run = jax.jit(lambda s, e: rollout(plant, s, e, throw=False)[0].data.qpos)
    start = time.perf_counter()
    compiled = run.lower(state, excitations).compile()
    compile_s = time.perf_counter() - start
    qpos_end = jax.block_until_ready(compiled(state, excitations))
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(compiled(state, excitations))
        walls.append(time.perf_counter() - start)
    return {"batch": batch, "steps": n_steps, "compile_s": compile_s, "run_s": min(walls),
            "run_walls_s": walls, "env_steps_per_s": batch * n_steps / min(walls),
            "finite": bool(np.all(np.isfinite(np.asarray(qpos_end))))}


def measure(name: str, args) -> dict:
    """One model's row: description, load result, MuJoCo C and plant rates."""
    row = {"name": name, **registry.describe(name)}
    mj_model = registry.host_mjmodel(name)
    qpos = initial_qpos(mj_model)
    row["mujoco_c_us_per_step"] = mujoco_step_us(mj_model, qpos, args.mujoco_steps)
    if args.host_only:
        return row
    try:
        start = time.perf_counter()
        plant = registry.load(name, tendon_compliance="all_elastic")
        row["load_s"] = time.perf_counter() - start
    except Exception as error:  # record why the model does not load, and go on
        row["loads"], row["reason"] = False, f"{type(error).__name__}: {error}"
        return row
    row["loads"] = True
    row["plant"] = [plant_rate(plant, jnp.asarray(qpos), args.steps, 1)]
    if row["plant"][0]["compile_s"] <= args.batch8_max_compile:
        row["plant"].append(plant_rate(plant, jnp.asarray(qpos), args.steps, 8))
    mujoco_rate = 1e6 / row["mujoco_c_us_per_step"]
    for rate in row["plant"]:
        rate["ratio_vs_mujoco_c"] = rate["env_steps_per_s"] / mujoco_rate
    return row


def markdown(rows: list[dict]) -> str:
    """The README table."""
    lines = ["| model | muscles | nq | nv | neq | loads | MuJoCo C µs/step | plant compile s "
             "| plant env-steps/s (b=1) | (b=8) | plant/MuJoCo C (b=1) | (b=8) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        plant = {p["batch"]: p for p in r.get("plant", [])}
        cell = lambda b, k, f: format(plant[b][k], f) if b in plant else "–"  # noqa: B023
        loads = ("not run" if "loads" not in r else "yes" if r["loads"]
                 else f"no: {r.get('reason', '?')}")
        lines.append(
            f"| {r['name']} | {r['muscles']} | {r['nq']} | {r['nv']} | {r['neq']} | {loads} "
            f"| {r['mujoco_c_us_per_step']:.0f} | {cell(1, 'compile_s', '.0f')} "
            f"| {cell(1, 'env_steps_per_s', '.0f')} | {cell(8, 'env_steps_per_s', '.0f')} "
            f"| {cell(1, 'ratio_vs_mujoco_c', '.3f')} | {cell(8, 'ratio_vs_mujoco_c', '.3f')} |")
    return "\n".join(lines)


def merged_rows(host_json: Path, plant_json: Path) -> list[dict]:
    """Every model's host row (`--host-only`), replaced by its plant row where one was measured."""
    plant = {r["name"]: r for r in json.loads(plant_json.read_text())["rows"] if "muscles" in r}
    return [plant.get(r["name"], r) for r in json.loads(host_json.read_text())["rows"]]


def main() -> int:
    """Measure the models, write the JSON after each one, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(registry.MODELS))
    parser.add_argument("--steps", type=int, default=100, help="plant steps per timed run")
    parser.add_argument("--mujoco-steps", type=int, default=500)
    parser.add_argument("--batch8-max-compile", type=float, default=120.0,
                        help="measure batch 8 only if batch 1 compiled within this [s]")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--host-only", action="store_true",
                        help="sizes and MuJoCo C only: no plant (seconds per model, not minutes)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="persistent JAX compilation cache: a second run with the same cache "
                             "times the steps without compiling again (compile_s is then the "
                             "cache load)")
    args = parser.parse_args()
    if args.cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(args.cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    out = args.out or Path(__file__).parent / "results" / f"models_{jax.devices()[0].platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device": device_info(), "steps": args.steps, "rows": []}
    for name in args.models.split(","):
        start = time.perf_counter()
        try:
            row = measure(name, args)
        except Exception as error:
            traceback.print_exc()
            row = {"name": name, "loads": False, "reason": f"{type(error).__name__}: {error}"}
        row["wall_s"] = time.perf_counter() - start
        result["rows"].append(row)
        out.write_text(json.dumps(result, indent=1))
        print(json.dumps(row), flush=True)
        gc.collect()
        jax.clear_caches()
    print(markdown([r for r in result["rows"] if "muscles" in r]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
