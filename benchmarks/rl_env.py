"""Environment speed: env-steps/s of every task through the training wrapper stack, against the
raw plant rollout at the same batch (the overhead of `mskdiff.rl`).

For each model and batch size:

- baselines, from the standing pose, `K x n_substeps` physics steps at a constant excitation,
  compiled, median of 3, given in env-steps/s (physics steps / `n_substeps`):
  `step_scan`, a bare `lax.scan` of `plant.step` under `vmap` (the least a loop can do);
  `control_scan`, the same steps nested as the env nests them (a scan over control steps of a
  scan over physics steps, with the excitations held per control step); and
  `rollout`, `mskdiff.plant.rollout` (`checkpoint=False`, `throw=False`), which also records
  the trajectory (forces, fibre lengths, ...) at every step;
- each task through MuJoCo Playground's `wrap_for_brax_training` (Brax's `VmapWrapper`,
  `EpisodeWrapper` and Playground's `BraxAutoResetWrapper`), `K` steps in one compiled
  `lax.scan`, median of 3; overhead = baseline rate / task rate - 1 against each baseline
  (goal <= 10 %; the env adds observations, rewards, the auto-reset's selects and, for Stand,
  the push forces).

On CPU the batch stays at or below `mskdiff.plant.cpu_env_group_size(nv)` (7 for myolegs26, 16
for myoLeg): Brax's wrapper `vmap`s the whole batch, and larger batches can deadlock jaxlib's CPU
Cholesky (benchmarks/README.md, `batch64.py`); `MuscleVectorEnv` and `rollout` group larger
batches themselves.

    python benchmarks/rl_env.py --out benchmarks/rl_env_cpu.json
"""

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from device import device_info
from mujoco_playground import wrapper

import mskdiff.rl as rl
from mskdiff.plant import cpu_env_group_size, rollout


def median_seconds(run, repeats: int = 3) -> float:
    """Median wall time [s] of `run()` (already compiled), blocking on its result."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def baseline_rates(env, batch: int, steps: int) -> dict:
    """Env-steps/s of the plant alone for `steps` control steps of `batch` envs (two loops)."""
    plant, n_physics = env.plant, steps * env.n_substeps
    qpos = jnp.tile(env._stand_qpos, (batch, 1))
    state = plant.init_batch(qpos, activation=env.config.initial_activation, throw=False)
    excitations = jnp.full((n_physics, batch, plant.n_muscles), 0.5)
    step_all = jax.vmap(plant.step)
    physics = lambda s, u: jax.lax.scan(lambda x, e: (step_all(x, e), None), s, u)[0]
    held = excitations.reshape(steps, env.n_substeps, batch, plant.n_muscles)
    loops = {
        "step_scan": jax.jit(lambda s, u: physics(s, u).data.qpos),
        "control_scan": jax.jit(lambda s, u: jax.lax.scan(
            lambda x, e: (jax.lax.scan(lambda y, _: (step_all(y, e), None), x, None,
                                       length=env.n_substeps)[0], None), s, u[:, 0])[0].data.qpos),
        "rollout": jax.jit(lambda s, u: rollout(plant, s, u, checkpoint=False,
                                                throw=False)[0].data.qpos),
    }
    rates = {}
    for name, run in loops.items():
        began = time.perf_counter()
        inputs = held if name == "control_scan" else excitations
        jax.block_until_ready(run(state, inputs))
        compile_s = time.perf_counter() - began
        seconds = median_seconds(lambda run=run, inputs=inputs: run(state, inputs))
        rates[name] = {"env_steps_per_s": batch * steps / seconds, "seconds": seconds,
                       "first_call_s": compile_s}
    return rates


def task_rate(env, batch: int, steps: int) -> dict:
    """Env-steps/s of `steps` control steps of `batch` envs through Playground's wrappers."""
    wrapped = wrapper.wrap_for_brax_training(env, episode_length=env.episode_length)
    state = jax.jit(wrapped.reset)(jax.random.split(jax.random.PRNGKey(0), batch))
    action = jnp.zeros((batch, env.action_size))  # excitation 0.5

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (wrapped.step(s, action), None), state, None,
                            length=steps)[0].obs

    began = time.perf_counter()
    jax.block_until_ready(run(state))
    compile_s = time.perf_counter() - began
    seconds = median_seconds(lambda: run(state))
    return {"env_steps_per_s": batch * steps / seconds, "seconds": seconds,
            "first_call_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["myolegs26", "myoleg"])
    parser.add_argument("--tasks", nargs="+", default=list(rl.TASKS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--steps", type=int, default=25, help="control steps per timed call")
    parser.add_argument("--out", default="rl_env.json")
    args = parser.parse_args()
    results = {"device": device_info(("jax", "jaxlib", "mujoco-mjx", "brax", "playground",
                                      "mskdiff")),
               "steps": args.steps, "rows": []}
    out = Path(args.out)
    for model in args.models:
        envs = {task: rl.make(task, model, check_actions=False) for task in args.tasks}
        nv = next(iter(envs.values())).mj_model.nv
        for batch in args.batches:
            if jax.default_backend() == "cpu" and batch > cpu_env_group_size(nv):
                print(f"skip {model} batch {batch}: above the CPU group size {cpu_env_group_size(nv)}")
                continue
            base = baseline_rates(next(iter(envs.values())), batch, args.steps)
            print(f"{model} batch {batch}: plant alone " + ", ".join(
                f"{name} {b['env_steps_per_s']:.1f}" for name, b in base.items()) + " env-steps/s")
            for task, env in envs.items():
                row = task_rate(env, batch, args.steps)
                overhead = {name: b["env_steps_per_s"] / row["env_steps_per_s"] - 1
                            for name, b in base.items()}
                results["rows"].append({"model": model, "task": task, "batch": batch,
                                        "n_substeps": env.n_substeps, "baselines": base, **row,
                                        "overhead": overhead})
                out.write_text(json.dumps(results, indent=2))
                print(f"  {task:8s} {row['env_steps_per_s']:8.1f} env-steps/s, overhead " + ", ".join(
                    f"{100 * o:+.1f} % ({name})" for name, o in overhead.items())
                    + f" (first call {row['first_call_s']:.0f} s)")
            jax.clear_caches()  # XLA:CPU maps every kernel; free the batch's programs
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
