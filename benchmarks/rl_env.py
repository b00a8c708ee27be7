"""Environment speed: env-steps/s of every task through the training wrapper stack, against the
raw plant rollout at the same batch (the overhead of `mskdiff.rl`).

For each model and batch size:

- baseline: `mskdiff.plant.rollout` of the same plant from the standing pose, `K x n_substeps`
  physics steps at a constant excitation (`checkpoint=False`, `throw=False`), compiled, median
  of 3; its rate is given in env-steps/s (physics steps / `n_substeps`);
- each task through MuJoCo Playground's `wrap_for_brax_training` (Brax's `VmapWrapper`,
  `EpisodeWrapper` and Playground's `BraxAutoResetWrapper`), `K` steps in one compiled
  `lax.scan`, median of 3; overhead = baseline rate / task rate - 1 (goal <= 10 %).

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


def baseline_rate(env, batch: int, steps: int) -> dict:
    """Env-steps/s of the raw plant rollout equivalent to `steps` control steps of `batch` envs."""
    plant, n_physics = env.plant, steps * env.n_substeps
    qpos = jnp.tile(env._stand_qpos, (batch, 1))
    state = plant.init_batch(qpos, activation=env.config.initial_activation, throw=False)
    excitations = jnp.full((n_physics, batch, plant.n_muscles), 0.5)
    run = jax.jit(lambda s, u: rollout(plant, s, u, checkpoint=False, throw=False)[0].data.qpos)
    began = time.perf_counter()
    jax.block_until_ready(run(state, excitations))
    compile_s = time.perf_counter() - began
    seconds = median_seconds(lambda: run(state, excitations))
    return {"env_steps_per_s": batch * steps / seconds, "seconds": seconds,
            "first_call_s": compile_s}


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
            base = baseline_rate(next(iter(envs.values())), batch, args.steps)
            print(f"{model} batch {batch}: plant rollout {base['env_steps_per_s']:.1f} env-steps/s")
            for task, env in envs.items():
                row = task_rate(env, batch, args.steps)
                overhead = base["env_steps_per_s"] / row["env_steps_per_s"] - 1
                results["rows"].append({"model": model, "task": task, "batch": batch,
                                        "n_substeps": env.n_substeps, "baseline": base, **row,
                                        "overhead": overhead})
                out.write_text(json.dumps(results, indent=2))
                print(f"  {task:8s} {row['env_steps_per_s']:8.1f} env-steps/s, overhead "
                      f"{100 * overhead:+.1f} % against the plant rollout "
                      f"(first call {row['first_call_s']:.0f} s)")
            jax.clear_caches()  # XLA:CPU maps every kernel; free the batch's programs
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
