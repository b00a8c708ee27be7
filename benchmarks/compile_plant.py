"""Trace, lower and compile time of a plant rollout's gradient program (what the suite pays).

    python benchmarks/compile_plant.py                       # tiny biped, ~2 min on 2 CPU cores
    python benchmarks/compile_plant.py --models tiny_biped,myolegs26

The program is `jit(value_and_grad(loss))` of a 5-step rollout in float64, differentiated with
respect to the excitations and the initial muscle state, with the suite's XLA flags
(`tests/conftest.py`: -O0, fusion emitters off, one codegen module). It is built twice in one
run: with the plant's constraint solve (all Newton iterations in one `lax.scan`, one copy of
`mjx.solve` in the program) and with the baseline it replaced (a scan of all but the last
iteration, then a separate last `mjx.solve` call: two copies). Both must give the same value
and gradient; the ratio is baseline / plant. Writes JSON with device info to `--out`.
"""

import os

os.environ["XLA_FLAGS"] = " ".join(["--xla_backend_optimization_level=0",
                                    "--xla_cpu_use_fusion_emitters=false",
                                    "--xla_cpu_parallel_codegen_split_count=1",
                                    os.environ.get("XLA_FLAGS", "")]).strip()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from device import device_info  # noqa: E402
from mujoco import mjx  # noqa: E402

from mskdiff import make_mtu  # noqa: E402
from mskdiff.models import crouch_qpos, tiny_biped_mjmodel, tiny_biped_parameters  # noqa: E402
from mskdiff.models.myolegs26 import myolegs26, myolegs26_mjmodel  # noqa: E402
from mskdiff.plant import MJXPlant, PlantState, rollout  # noqa: E402

N_STEPS = 5


class SeparateLastSolvePlant(MJXPlant):
    """The baseline: all but the last Newton iteration in a scan, then one more `mjx.solve`."""

    def _solve_constraints(self, data):
        m = self.mjx_model

        def iteration(qacc, _):
            return mjx.solve(m, data.replace(qacc_warmstart=qacc)).qacc, None

        qacc, _ = jax.lax.scan(iteration, data.qacc_warmstart, None,
                               length=self.solver_iterations - 1)
        return mjx.solve(m, data.replace(qacc_warmstart=qacc))


def plant_and_pose(model: str) -> tuple[MJXPlant, jnp.ndarray]:
    """The model's plant and a start pose in contact."""
    if model == "tiny_biped":
        mj_model = tiny_biped_mjmodel()
        plant = MJXPlant.from_mjmodel(mj_model, make_mtu(tiny_biped_parameters(), "tendon_force"))
        return plant, jnp.asarray(mj_model.qpos0)
    if model == "myolegs26":  # tests/test_myolegs26.py's gradient set-up
        plant, mj_model = myolegs26(body_contact=False), myolegs26_mjmodel(body_contact=False)
        return plant, jnp.asarray(crouch_qpos(mj_model, penetration=1.75e-3))
    raise ValueError(f"--models: tiny_biped or myolegs26, got {model!r}")


def time_program(plant: MJXPlant, qpos) -> dict:
    """Seconds to trace, lower and compile the gradient program; its value and gradient sum."""
    start = plant.init(qpos, activation=0.05)

    def loss(excitations, muscle):
        final, trajectory = rollout(plant, PlantState(start.data, muscle), excitations,
                                    segment_length=N_STEPS)
        return jnp.sum(final.data.qpos ** 2) + 1e-3 * jnp.mean(trajectory.tendon_force)

    program = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    args = (jnp.full((N_STEPS, plant.n_muscles), 0.1), start.muscle)
    t0 = time.perf_counter()
    traced = program.trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    value, grad = compiled(*args)
    return {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2, "total_s": t3 - t0,
            "value": float(value),
            "grad_sum": float(sum(jnp.sum(g) for g in jax.tree.leaves(grad)))}


def compare(model: str) -> dict:
    """Both layouts' times on `model`, their ratios (baseline / plant), and whether they agree."""
    plant, qpos = plant_and_pose(model)
    baseline_plant = SeparateLastSolvePlant(plant.mjx_model, plant.actuator_ids,
                                            plant.solver_iterations, plant.mtu)
    current = time_program(plant, qpos)
    jax.clear_caches()
    baseline = time_program(baseline_plant, qpos)
    jax.clear_caches()
    same = (abs(current["value"] - baseline["value"]) <= 1e-12 * abs(baseline["value"])
            and abs(current["grad_sum"] - baseline["grad_sum"])
            <= 1e-9 * max(1.0, abs(baseline["grad_sum"])))
    return {"plant": current, "separate_last_solve": baseline, "same_result": same,
            "compile_ratio": baseline["compile_s"] / current["compile_s"],
            "total_ratio": baseline["total_s"] / current["total_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny_biped")
    parser.add_argument("--out", default="benchmarks/results/compile_plant_cpu.json")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    results = {}
    for model in args.models.split(","):
        result = results[model] = compare(model)
        current, baseline = result["plant"], result["separate_last_solve"]
        print(f"{model}: compile {current['compile_s']:.1f} s vs {baseline['compile_s']:.1f} s "
              f"baseline ({result['compile_ratio']:.2f}x); trace+lower+compile "
              f"{current['total_s']:.1f} vs {baseline['total_s']:.1f} s "
              f"({result['total_ratio']:.2f}x); same result: {result['same_result']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n_steps": N_STEPS, "xla_flags": os.environ["XLA_FLAGS"],
                               "results": results, "device": device_info()}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
