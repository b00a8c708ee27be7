"""Muscle-substeps per second for batches of MTUs, each formulation, float32/float64.

One unit of work is a 2 ms physics step = `SemiImplicitEuler(4).advance` over all muscles at once
(4 muscle-substeps per muscle), repeated in a jitted `lax.scan`. Compile time is measured
separately (`lower().compile()`), run time as the median of repeats (`block_until_ready`).
The baseline, measured in the same run, is live OpenSim (`pip install -e .[opensim]`)
integrating the same isolated-MTU case (soleus_r, DeGrooteFregly2016Muscle, explicit tendon
dynamics, isometric step excitation; reference README section 3).

    python benchmarks/mtu.py [--quick] [--max-batch N] [--out FILE.json]
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import mskdiff
from mskdiff.integrate import SemiImplicitEuler, hold, simulate
from mskdiff.io import IsolatedMTUCase
from mskdiff.muscle import make_mtu

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT.parent / "shared" / "reference" / "mtu_sim_dgf_soleus_r_isometric_step_setup.json"
FORMULATIONS = ("tendon_force", "acceleration", "rigid")
DT, SUBSTEPS = 2e-3, 4


def tiled_parameters(case: IsolatedMTUCase, n: int):
    params = case.parameters()
    fields = {k: np.repeat(v, n) for k, v in params.to_dict().items() if k != "name"}
    return mskdiff.MuscleParameters.from_dict(fields, names=[f"m{i}" for i in range(n)])


def time_batch(case, formulation: str, n: int, dtype: str, repeats: int = 3) -> dict:
    """Compile and run `n_steps` physics steps for `n` muscles; muscle-substeps per second."""
    with jax.enable_x64(dtype == "float64"):
        params = tiled_parameters(case, n)
        mtu = make_mtu(params, formulation)
        rng = np.random.default_rng(0)
        length = params.tendon_slack_length + params.optimal_fiber_length * jnp.cos(
            params.pennation_angle_at_optimal) + jnp.asarray(rng.uniform(-2e-3, 2e-3, n))
        state = mtu.init_state(length, jnp.zeros(n), jnp.full((n,), 0.05))
        n_steps = int(np.clip(2e7 / (n * SUBSTEPS), 10, 500))
        integrator = SemiImplicitEuler(SUBSTEPS)

        def run(mtu, state, length):
            def step(state, k):
                excitation = jnp.full_like(length, 0.05) + 0.9 * (k > n_steps // 4)
                drive = hold(excitation, length, jnp.zeros_like(length))
                return integrator.advance(mtu, state, drive, DT), None
            return jax.lax.scan(step, state, jnp.arange(n_steps))[0]

        start = time.perf_counter()
        compiled = eqx.filter_jit(run).lower(mtu, state, length).compile()
        compile_s = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(compiled(mtu, state, length))
            times.append(time.perf_counter() - start)
        run_s = statistics.median(times)
    return {"formulation": formulation, "dtype": dtype, "n_muscles": n, "n_steps": n_steps,
            "compile_s": compile_s, "run_s": run_s,
            "substeps_per_s": n * SUBSTEPS * n_steps / run_s}


def time_case_simulation(case) -> dict:
    """mskdiff simulating the reference case itself: 1 muscle, 1 s, 2 ms x 4 sub-steps, f64."""
    with jax.enable_x64(True):
        mtu = make_mtu(case.parameters(), "tendon_force")
        _, length, velocity = case.drive(jnp.asarray(0.0))
        state = mtu.init_state(length, velocity, jnp.full((1,), case.initial_activation))
        times = jnp.arange(round(case.duration / DT) + 1) * DT
        run = eqx.filter_jit(lambda m, s: simulate(m, s, times, case.drive,
                                                   integrator=SemiImplicitEuler(SUBSTEPS)))
        jax.block_until_ready(run(mtu, state))
        walls = []
        for _ in range(5):
            start = time.perf_counter()
            jax.block_until_ready(run(mtu, state))
            walls.append(time.perf_counter() - start)
    return {"wall_s": statistics.median(walls), "simulated_s": case.duration,
            "substeps": (len(times) - 1) * SUBSTEPS}


def opensim_model(case, osim):
    """The reference README's one-muscle model: slider with a prescribed length, DGF muscle."""
    setup = case.setup
    osim.Logger.setLevelString("warn")
    model = osim.Model()
    model.setGravity(osim.Vec3(0))
    block = osim.Body("block", 1.0, osim.Vec3(0), osim.Inertia(1))
    joint = osim.SliderJoint("slider", model.getGround(), block)
    coordinate = joint.updCoordinate()
    coordinate.setName("mtu_length")
    coordinate.setPrescribedFunction(osim.Constant(setup["mtu_length"]["value"]))
    coordinate.setDefaultIsPrescribed(True)
    model.addBody(block)
    model.addJoint(joint)
    muscle = osim.DeGrooteFregly2016Muscle()
    muscle.setName("soleus_r")
    for key, value in {**setup["muscle_parameters"], **setup["properties_set"]}.items():
        _set_property(muscle, key, value)
    muscle.addNewPathPoint("origin", model.getGround(), osim.Vec3(0))
    muscle.addNewPathPoint("insertion", block, osim.Vec3(0))
    model.addForce(muscle)
    controller = osim.PrescribedController()
    controller.addActuator(muscle)
    excitation = osim.PiecewiseLinearFunction()
    for t, y in zip(setup["excitation"]["t"], setup["excitation"]["y"], strict=True):
        excitation.addPoint(t, y)
    controller.prescribeControlForActuator("soleus_r", excitation)
    model.addController(controller)
    return model


def _set_property(muscle, key: str, value) -> None:
    """Set an OpenSim property through its generated `set_<name>` accessor."""
    getattr(muscle, f"set_{key}")(value)


def time_opensim(case) -> dict | None:
    """OpenSim integrating the case: one `integrate` call, and one call per 1 ms output.

    Runge-Kutta-Merson at accuracy 1e-8 as in the reference; the per-1 ms run also limits the
    step to 1 ms (the reference set-up). Steps = rows of the Manager's states table - 1.
    """
    try:
        import opensim as osim
    except ImportError:
        print("opensim is not installed: pip install -e .[opensim] for the baseline ratio")
        return None
    result = {"version": osim.GetVersion()}
    for label, n_calls, max_step in (("one_call", 1, None),
                                     ("every_1ms", round(case.duration * 1000), 1e-3)):
        model = opensim_model(case, osim)
        state = model.initSystem()
        model.equilibrateMuscles(state)
        manager = osim.Manager(model)
        manager.setIntegratorMethod(osim.Manager.IntegratorMethod_RungeKuttaMerson)
        manager.setIntegratorAccuracy(1e-8)
        if max_step:
            manager.setIntegratorMaximumStepSize(max_step)
        manager.initialize(state)
        start = time.perf_counter()
        for k in range(1, n_calls + 1):
            state = manager.integrate(case.duration * k / n_calls)
        wall = time.perf_counter() - start
        steps = manager.getStatesTable().getNumRows() - 1
        model.realizeDynamics(state)
        force = osim.Muscle.safeDownCast(model.getForceSet().get("soleus_r")).getTendonForce(state)
        result[label] = {"wall_s": wall, "integrator_steps": steps, "steps_per_s": steps / wall,
                         "realtime_factor": case.duration / wall,
                         "final_tendon_force_minus_reference_N":
                             force - float(case.reference()["tendon_force"][-1])}
    return result


def device_info() -> dict:
    device = jax.devices()[0]
    import diffrax
    return {"platform": device.platform, "device": str(device),
            "device_kind": getattr(device, "device_kind", ""), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(),
            "jax": jax.__version__, "equinox": eqx.__version__, "diffrax": diffrax.__version__,
            "mskdiff": mskdiff.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batches up to 1e4 only")
    parser.add_argument("--max-batch", type=int, default=1_000_000)
    parser.add_argument("--out", help="JSON file (default benchmarks/results/mtu_<platform>.json)")
    args = parser.parse_args()
    from tqdm import tqdm

    case = IsolatedMTUCase(CASE)
    info = device_info()
    if info["platform"] == "cpu":
        print(f"device: CPU only ({info['cpu_count']} cores); no GPU measured in this run")
    max_batch = 10_000 if args.quick else args.max_batch
    batches = [n for n in (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000) if n <= max_batch]
    jobs = [(f, n, d) for d in ("float32", "float64") for f in FORMULATIONS for n in batches]
    rows = [time_batch(case, f, n, d) for f, n, d in tqdm(jobs, desc="mtu benchmark")]
    ours = time_case_simulation(case)
    opensim = time_opensim(case)

    print(f"\n{'formulation':13s} {'dtype':8s} {'muscles':>9s} {'compile s':>10s} "
          f"{'run s':>9s} {'substeps/s':>12s}")
    for r in rows:
        print(f"{r['formulation']:13s} {r['dtype']:8s} {r['n_muscles']:9d} {r['compile_s']:10.2f} "
              f"{r['run_s']:9.4f} {r['substeps_per_s']:12.3e}")
    ratios = {}
    print(f"\nmskdiff, soleus step case, 1 s at 2 ms x {SUBSTEPS} (f64): {ours['wall_s'] * 1e3:.2f} ms")
    if opensim:
        for label in ("one_call", "every_1ms"):
            o = opensim[label]
            ratios[f"wall_time_opensim_{label}_over_mskdiff"] = o["wall_s"] / ours["wall_s"]
            print(f"OpenSim {opensim['version']} ({label}): {o['wall_s'] * 1e3:.1f} ms, "
                  f"{o['integrator_steps']} steps -> OpenSim/mskdiff wall time = "
                  f"{o['wall_s'] / ours['wall_s']:.1f}x")
        same = [r for r in rows if r["formulation"] == "tendon_force" and r["dtype"] == "float64"]
        best = max(same, key=lambda r: r["substeps_per_s"])
        ratio = best["substeps_per_s"] / opensim["one_call"]["steps_per_s"]
        ratios["tendon_force_f64_batch_throughput_over_opensim_steps"] = ratio
        print(f"tendon_force f64 at {best['n_muscles']} muscles: {best['substeps_per_s']:.3e} "
              f"muscle-substeps/s = {ratio:.0f}x OpenSim's "
              f"{opensim['one_call']['steps_per_s']:.3e} integrator steps/s (one DGF muscle)")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"mtu_{info['platform']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": info, "batches": rows, "mskdiff_case": ours,
                               "opensim": opensim, "ratios": ratios}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
