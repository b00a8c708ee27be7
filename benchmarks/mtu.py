"""Muscle-substeps per second for batches of MTUs, each formulation, float32 and float64.

One unit of work is one 2 ms physics step, `SemiImplicitEuler(n_substeps=4).advance` over all
muscles at once (arrays of shape `(n,)`, 4 muscle-substeps per muscle), repeated in a jitted
`lax.scan`. Compile time (`jax.jit(f).lower(...).compile()`) is reported separately from run
time (median of repeats, `block_until_ready`). Muscle-substeps/s = n * 4 * n_steps / run time.

Baseline, measured in the same run: live OpenSim (`pip install -e .[opensim]`) integrating the
reference cases `dgf_soleus_r_isometric_step` (one DeGrooteFregly2016Muscle, explicit tendon
dynamics, isometric, excitation step; built as the reference README's section 3 describes) and
`millard_soleus_r_isometric_step` (the same with a Millard2012EquilibriumMuscle), against
mskdiff simulating the same cases with the matching formulation. The Millard rows use that
case's muscle (fibre damping 0.1, its curves); the others the De Groote case's.

The cost of the Millard curves' Bézier-parameter solve is timed on its own: evaluating each
curve (value + first derivative, jitted, 1e5 points) against the De Groote curve it replaces.

    python benchmarks/mtu.py                    # batches 1 ... 1e6 (~3-5 min on 2 CPU cores)
    python benchmarks/mtu.py --quick            # batches up to 1e4 (smoke test, ~1 min)
    python benchmarks/mtu.py --max-batch 100000 --out results.json
    python benchmarks/mtu.py --with-force       # also compute the tendon force every step
"""

import argparse
import json
import os
import re
import resource
import statistics
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from device import device_info as common_device_info

import mskdiff
from mskdiff.integrate import SemiImplicitEuler, hold, simulate
from mskdiff.io import IsolatedMTUCase
from mskdiff.muscle import MillardCurves, curves, make_mtu

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
DEFAULT_CASE = REFERENCE / "mtu_sim_dgf_soleus_r_isometric_step_setup.json"
MILLARD_CASE = REFERENCE / "mtu_sim_millard_soleus_r_isometric_step_setup.json"
FORMULATIONS = ("tendon_force", "acceleration", "rigid", "millard_equilibrium")
DTYPES = ("float32", "float64")
BATCHES = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
DT, SUBSTEPS = 2e-3, 4
#: Muscle-substeps per timed run; the number of physics steps is this / (4 n), within [10, 500].
SUBSTEP_BUDGET = 8e6
MIN_STEPS, MAX_STEPS = 10, 500
LENGTH_JITTER = 2e-3  # [m], uniform per muscle, so no muscle is a compile-time constant


def n_steps_for(n: int) -> int:
    """Physics steps per timed run: 500 (1 s simulated) for small batches, fewer for big ones."""
    return int(np.clip(SUBSTEP_BUDGET // (SUBSTEPS * n), MIN_STEPS, MAX_STEPS))


def build_mtu(case: IsolatedMTUCase, formulation: str, params=None):
    """The formulation with `params` (default: the case's); Millard with the case's curves."""
    if formulation == "millard_equilibrium":
        return case.model(params)
    return make_mtu(case.parameters() if params is None else params, formulation)


def tiled_parameters(case: IsolatedMTUCase, n: int) -> mskdiff.MuscleParameters:
    """The case's single muscle repeated `n` times (names m0 ... m{n-1})."""
    params = case.parameters()
    fields = {k: np.repeat(v, n) for k, v in params.to_dict().items() if k != "name"}
    return mskdiff.MuscleParameters.from_dict(fields, names=[f"m{i}" for i in range(n)])


def _timed(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `repeats` calls of `fn` (after one untimed warm-up call)."""
    jax.block_until_ready(fn())
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), walls


def time_batch(case, formulation: str, n: int, dtype: str, *, with_force: bool = False,
               seed: int = 0) -> dict:
    """Compile and time `n_steps` physics steps for `n` muscles; muscle-substeps per second."""
    n_steps = n_steps_for(n)
    repeats = 3 if n * n_steps * SUBSTEPS >= 4e6 else 5
    with jax.enable_x64(dtype == "float64"):
        case = IsolatedMTUCase(case.setup_path)  # its drive's arrays in this precision
        params = tiled_parameters(case, n)
        mtu = build_mtu(case, formulation, params)
        _, length0, _ = case.drive(jnp.asarray(0.0))
        jitter = np.random.default_rng(seed).uniform(-LENGTH_JITTER, LENGTH_JITTER, n)
        length = length0 + jnp.asarray(jitter)
        start = time.perf_counter()
        state = jax.block_until_ready(
            mtu.init_state(length, jnp.zeros(n), jnp.full((n,), case.initial_activation)))
        init_s = time.perf_counter() - start
        integrator = SemiImplicitEuler(n_substeps=SUBSTEPS)

        def run(mtu, state, length):
            zero = jnp.zeros_like(length)

            def step(carry, k):
                state, force_sum = carry
                # Excitation 0.05, stepping to 0.95 after the first quarter of the steps.
                excitation = jnp.full_like(length, 0.05) + 0.9 * (k >= n_steps // 4)
                state = integrator.advance(mtu, state, hold(excitation, length, zero), DT)
                if with_force:
                    force_sum = force_sum + mtu.tendon_force(state, length, zero)
                return (state, force_sum), None

            (state, force_sum), _ = jax.lax.scan(step, (state, zero), jnp.arange(n_steps))
            return state, force_sum

        start = time.perf_counter()
        compiled = jax.jit(run).lower(mtu, state, length).compile()
        compile_s = time.perf_counter() - start
        run_s, walls = _timed(lambda: compiled(mtu, state, length), repeats)
        final, _ = compiled(mtu, state, length)
        leaves = jax.tree.leaves(final)
        force = mtu.tendon_force(final, length, jnp.zeros_like(length))
        row = {
            "formulation": formulation, "dtype": str(leaves[0].dtype), "n_muscles": n,
            "n_steps": n_steps, "n_substeps": SUBSTEPS, "with_force": with_force,
            "init_state_s": init_s, "compile_s": compile_s, "run_s": run_s, "run_walls_s": walls,
            "substeps_per_s": n * SUBSTEPS * n_steps / run_s,
            "finite": bool(all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)),
            "final_mean_activation": float(jnp.mean(final.activation)),
            "final_mean_tendon_force_N": float(jnp.mean(force)),
            "peak_rss_mb_so_far": _peak_rss_mb(),
        }
    if row["dtype"] != dtype:
        raise RuntimeError(f"asked for {dtype}, the state is {row['dtype']}")
    return row


def time_case(case, formulation: str, dtype: str, repeats: int = 20) -> dict:
    """mskdiff on a reference case itself: 1 muscle, 1 s at 2 ms x 4 sub-steps.

    Two programs: `simulate` (full trajectory: states and outputs at every 2 ms, finite check),
    and a bare `lax.scan` returning the final state only.
    """
    with jax.enable_x64(dtype == "float64"):
        case = IsolatedMTUCase(case.setup_path)  # its drive's arrays in this precision
        mtu = build_mtu(case, formulation)
        _, length, velocity = case.drive(jnp.asarray(0.0))
        state = mtu.init_state(length, velocity, jnp.full((1,), case.initial_activation))
        n_steps = round(case.duration / DT)
        times = jnp.arange(n_steps + 1) * DT
        integrator = SemiImplicitEuler(n_substeps=SUBSTEPS)

        def trajectory(mtu, state, times):
            return simulate(mtu, state, times, case.drive, integrator=integrator)

        def final_state(mtu, state, times):
            def step(state, t0):
                return integrator.advance(mtu, state, lambda s: case.drive(t0 + s), DT), None
            return jax.lax.scan(step, state, times[:-1])[0]

        result = {"case": case.name, "formulation": formulation, "dtype": dtype,
                  "simulated_s": case.duration, "dt_s": DT, "n_steps": n_steps,
                  "n_substeps": SUBSTEPS, "substeps": n_steps * SUBSTEPS}
        for label, fn in (("simulate", trajectory), ("scan_final_state", final_state)):
            start = time.perf_counter()
            compiled = eqx.filter_jit(fn).lower(mtu, state, times).compile()
            compile_s = time.perf_counter() - start
            wall, _ = _timed(lambda c=compiled: c(mtu, state, times), repeats)
            result[label] = {"compile_s": compile_s, "wall_s": wall,
                             "realtime_factor": case.duration / wall,
                             "substeps_per_s": n_steps * SUBSTEPS / wall}
        out = eqx.filter_jit(trajectory)(mtu, state, times)
        reference = case.reference()
        ref_force = np.interp(np.asarray(times), reference["time"], reference["tendon_force"])
        ours = np.asarray(out.outputs.tendon_force)[:, 0]
        fmax = float(case.parameters().max_isometric_force[0])
        result["tendon_force_rms_error_over_fmax"] = float(
            np.sqrt(np.mean((ours - ref_force) ** 2)) / fmax)
        result["tendon_force_max_error_over_fmax"] = float(np.max(np.abs(ours - ref_force)) / fmax)
    return result


#: The De Groote curves each Millard curve replaces (value and first derivative).
DEGROOTE_CURVES = {
    "active_force_length": (curves.active_force_length_multiplier,
                            curves.active_force_length_multiplier_derivative),
    "force_velocity": (curves.force_velocity_multiplier, curves.force_velocity_multiplier_derivative),
    "fiber_force_length": (curves.passive_force_multiplier, curves.passive_force_multiplier_derivative),
    "tendon_force_length": (curves.tendon_force_multiplier, curves.tendon_force_multiplier_derivative),
}
CURVE_DOMAINS = {"active_force_length": (0.4, 1.8), "force_velocity": (-1.0, 1.0),
                 "fiber_force_length": (0.8, 1.7), "tendon_force_length": (0.99, 1.06)}


def time_curves(dtype: str, n: int = 100_000, repeats: int = 20) -> list[dict]:
    """ns per evaluation (value + first derivative) of each Millard curve and its De Groote twin."""
    rows = []
    with jax.enable_x64(dtype == "float64"):
        millard = MillardCurves.rajagopal2016()
        for name, (value, slope) in DEGROOTE_CURVES.items():
            x = jnp.linspace(*CURVE_DOMAINS[name], n)
            bezier = getattr(millard, name)
            timings = {}
            for family, fn in (("millard", lambda c, x: (c(x), c.derivative(x))),
                               ("degroote", lambda c, x, v=value, d=slope: (v(x), d(x)))):
                compiled = jax.jit(fn).lower(bezier, x).compile()
                wall, _ = _timed(lambda c=compiled, b=bezier, x=x: c(b, x), repeats)
                timings[family] = wall / n * 1e9
            rows.append({"curve": name, "dtype": dtype, "n_points": n,
                         "millard_ns_per_point": timings["millard"],
                         "degroote_ns_per_point": timings["degroote"],
                         "millard_over_degroote": timings["millard"] / timings["degroote"]})
    return rows


def opensim_model(case, osim):
    """The reference README's one-muscle model: slider with a prescribed length, the case's muscle."""
    setup = case.setup
    if setup["mtu_length"]["type"] != "constant" or setup["excitation"]["type"] != "piecewise_linear":
        raise ValueError("the OpenSim baseline builds constant-length, piecewise-linear-excitation cases")
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
    if setup.get("millard_curve_changes"):
        raise ValueError("the OpenSim baseline builds class-default Millard curves only")
    muscle = getattr(osim, case.muscle_class)()
    muscle.setName("soleus_r")
    for key, value in {**setup["muscle_parameters"], **setup["properties_set"]}.items():
        getattr(muscle, f"set_{key}")(value)  # the generated property setters
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


#: OpenSim runs: label -> (integrate calls over the case, maximum step [s] or None = default).
OPENSIM_RUNS = {
    "one_call": (1, None),
    "one_call_max_step_1ms": (1, 1e-3),
    "every_1ms": (1000, 1e-3),
}


def time_opensim(case, repeats: int = 5) -> dict | None:
    """OpenSim integrating the case (Runge-Kutta-Merson, accuracy 1e-8), three ways.

    `one_call`: one `Manager.integrate(duration)` call, default maximum step; `every_1ms`: one
    call per 1 ms output with a 1 ms maximum step (how the reference was made);
    `one_call_max_step_1ms`: one call with the 1 ms maximum step. Integrator steps are the
    rows of the Manager's states table (one per step) minus the initial row; wall time
    covers the `integrate` calls only (model built, initialised and equilibrated before).
    """
    try:
        import opensim as osim
    except ImportError:
        print("OpenSim is not installed: no baseline and no ratios in this run. "
              "Install it with `pip install -e .[opensim]` (or `pip install opensim`).")
        return None
    osim.Logger.setLevelString("warn")
    reference = case.reference()
    result = {"version": osim.GetVersion(), "integrator": "RungeKuttaMerson", "accuracy": 1e-8}
    for label, (n_calls, max_step) in OPENSIM_RUNS.items():
        walls, steps = [], set()
        for _ in range(repeats):
            model = opensim_model(case, osim)
            state = model.initSystem()
            model.equilibrateMuscles(state)
            manager = osim.Manager(model)
            manager.setIntegratorMethod(osim.Manager.IntegratorMethod_RungeKuttaMerson)
            manager.setIntegratorAccuracy(1e-8)
            if max_step is not None:
                manager.setIntegratorMaximumStepSize(max_step)
            manager.initialize(state)
            start = time.perf_counter()
            for k in range(1, n_calls + 1):
                state = manager.integrate(case.duration * k / n_calls)
            walls.append(time.perf_counter() - start)
            steps.add(manager.getStatesTable().getNumRows() - 1)
        model.realizeDynamics(state)
        force = osim.Muscle.safeDownCast(model.getForceSet().get("soleus_r")).getTendonForce(state)
        result["case"] = case.name
        wall = statistics.median(walls)
        n_steps = max(steps)
        result[label] = {
            "integrate_calls": n_calls, "max_step_s": max_step, "wall_s": wall, "walls_s": walls,
            "integrator_steps": n_steps, "steps_per_s": n_steps / wall,
            "realtime_factor": case.duration / wall,
            "final_tendon_force_minus_reference_N": force - float(reference["tendon_force"][-1]),
        }
    return result


def device_info() -> dict:
    """Device, machine and package versions."""
    return common_device_info(("jax", "jaxlib", "equinox", "diffrax", "optimistix", "numpy",
                               "mskdiff", "opensim"))


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far [MB] (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "device"


def print_batch_table(rows: list[dict]) -> None:
    header = (f"{'formulation':13s} {'dtype':8s} {'muscles':>9s} {'steps':>5s} {'compile s':>9s} "
              f"{'run s':>9s} {'substeps/s':>11s} {'ns/substep':>10s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        _print_row(r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batches up to 1e4 only (smoke test)")
    parser.add_argument("--max-batch", type=int, default=BATCHES[-1], help="largest batch (default 1e6)")
    parser.add_argument("--with-force", action="store_true",
                        help="also compute the tendon force after every step (what a plant needs)")
    parser.add_argument("--no-opensim", action="store_true", help="skip the OpenSim baseline")
    parser.add_argument("--case", default=str(DEFAULT_CASE), help="isolated-MTU set-up JSON")
    parser.add_argument("--formulations", default=",".join(FORMULATIONS),
                        help=f"comma-separated subset of {','.join(FORMULATIONS)}")
    parser.add_argument("--millard-case", default=str(MILLARD_CASE),
                        help="the Millard equilibrium case (set-up JSON)")
    parser.add_argument("--out", help="JSON file (default benchmarks/results/mtu_<device>.json)")
    args = parser.parse_args()
    t_start = time.perf_counter()
    load_before = os.getloadavg()

    case = IsolatedMTUCase(args.case)
    millard_case = IsolatedMTUCase(args.millard_case)
    case_of = {f: millard_case if f == "millard_equilibrium" else case for f in FORMULATIONS}
    info = device_info()
    if info["gpu"]:
        print(f"device: {info['devices']} ({info['device_kind']})")
    else:
        print(f"device: CPU only ({info['cpu_count']} cores, {info['cpu_model']}); "
              "no GPU in this run")
    print(f"jax {info['versions']['jax']}, jaxlib {info['versions']['jaxlib']}, "
          f"equinox {info['versions']['equinox']}, opensim {info['versions']['opensim']}")
    max_batch = min(args.max_batch, 10_000) if args.quick else args.max_batch
    batches = [n for n in BATCHES if n <= max_batch]
    print(f"cases {case.name} (Millard rows: {millard_case.name}); {SUBSTEPS} sub-steps per "
          f"{DT * 1e3:g} ms step; batches {batches}\n")

    rows = []
    print_batch_table([])
    formulations = args.formulations.split(",")
    unknown = sorted(set(formulations) - set(FORMULATIONS))
    if unknown:
        parser.error(f"unknown formulations {unknown}; choose from {list(FORMULATIONS)}")
    for dtype in DTYPES:
        for formulation in formulations:
            for n in batches:
                row = time_batch(case_of[formulation], formulation, n, dtype,
                                 with_force=args.with_force)
                rows.append(row)
                _print_row(row)

    print("\ncurve evaluation, value + first derivative (Millard Bézier solve vs De Groote):")
    curve_rows = [row for dtype in DTYPES for row in time_curves(dtype)]
    for r in curve_rows:
        print(f"  {r['dtype']} {r['curve']:20s} Millard {r['millard_ns_per_point']:7.1f} ns, "
              f"De Groote {r['degroote_ns_per_point']:6.1f} ns per point: "
              f"{r['millard_over_degroote']:5.1f}x")

    ratios, cases, opensim = {}, {}, {}
    for formulation, reference_case in (("tendon_force", case),
                                        ("millard_equilibrium", millard_case)):
        print(f"\nmskdiff on {reference_case.name} (1 muscle, 1 s, 2 ms x 4 sub-steps, {formulation}):")
        cases[formulation] = {dtype: time_case(reference_case, formulation, dtype)
                              for dtype in DTYPES}
        for dtype, c in cases[formulation].items():
            for label in ("simulate", "scan_final_state"):
                r = c[label]
                print(f"  {dtype} {label:17s} compile {r['compile_s']:5.2f} s, run "
                      f"{r['wall_s'] * 1e3:7.3f} ms = {r['realtime_factor']:7.0f}x real time")
            print(f"  {dtype} tendon force vs OpenSim reference: RMS "
                  f"{c['tendon_force_rms_error_over_fmax']:.2e} Fmax, max "
                  f"{c['tendon_force_max_error_over_fmax']:.2e} Fmax")
        result = None if args.no_opensim else time_opensim(reference_case)
        if result:
            opensim[formulation] = result
            ratios.update(_print_opensim(result, cases[formulation], formulation))
    opensim = opensim or None
    if opensim and "tendon_force" in opensim:
        largest = max(batches)
        base = opensim["tendon_force"]["one_call"]["steps_per_s"]
        print(f"\nthroughput at the largest batch ({largest:g} muscles) / OpenSim one_call "
              f"({base:.3e} integrator steps/s, one muscle; Millard rows: OpenSim's Millard run):")
        for r in rows:
            own = opensim.get(r["formulation"], opensim["tendon_force"])
            if r["n_muscles"] == largest:
                ratio = r["substeps_per_s"] / own["one_call"]["steps_per_s"]
                ratios[f"throughput_{r['formulation']}_{r['dtype']}_n{largest}_over_opensim_one_call"] = ratio
                print(f"  {r['formulation']:13s} {r['dtype']}: {r['substeps_per_s']:.3e} "
                      f"muscle-substeps/s = {ratio:8.0f}x")
        tf = next((r for r in rows if r["n_muscles"] == largest
                   and (r["formulation"], r["dtype"]) == ("tendon_force", "float64")), None)
        if tf is not None:
            ratios["headline_throughput_tendon_force_float64_over_opensim_one_call"] = (
                tf["substeps_per_s"] / base)
            ratios["headline_throughput_tendon_force_float64_over_opensim_every_1ms"] = (
                tf["substeps_per_s"] / opensim["tendon_force"]["every_1ms"]["steps_per_s"])

    total_s = time.perf_counter() - t_start
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"mtu_{_slug(info['device_kind'])}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"case": case.name, "millard_case": millard_case.name,
                "formulations": formulations, "dt_s": DT, "n_substeps": SUBSTEPS, "batches": batches,
                "length_jitter_m": LENGTH_JITTER, "substep_budget": SUBSTEP_BUDGET,
                "with_force": args.with_force, "quick": args.quick}
    out.write_text(json.dumps({
        "device": info, "settings": settings, "batches": rows, "curves": curve_rows,
        "mskdiff_case": cases,
        "opensim": opensim, "ratios": ratios, "total_wall_s": total_s,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "peak_rss_mb": _peak_rss_mb(),
    }, indent=1))
    print("\nsummary (muscle-substeps/s):")
    print_batch_table(rows)
    print(f"\ntotal {total_s:.0f} s, peak memory {_peak_rss_mb():.0f} MB; wrote {out}")


def _print_opensim(opensim: dict, ours: dict, formulation: str) -> dict:
    """Print OpenSim's runs of a case and mskdiff's wall-time ratios; return the ratios."""
    print(f"OpenSim {opensim['version']}, Runge-Kutta-Merson, accuracy 1e-8, same case (1 s):")
    for label in OPENSIM_RUNS:
        o = opensim[label]
        print(f"  {label:22s} {o['wall_s'] * 1e3:7.1f} ms, {o['integrator_steps']:5d} steps, "
              f"{o['steps_per_s']:9.3e} steps/s, {o['realtime_factor']:5.1f}x real time "
              f"(final force - reference: {o['final_tendon_force_minus_reference_N']:+.1e} N)")
    wall = ours["float64"]["simulate"]["wall_s"]
    print(f"ratios, same simulated second (mskdiff float64 `simulate`, {wall * 1e3:.3f} ms):")
    ratios = {}
    for label in OPENSIM_RUNS:
        ratio = wall / opensim[label]["wall_s"]
        ratios[f"wall_mskdiff_{formulation}_over_opensim_{label}"] = ratio
        print(f"  wall time mskdiff / OpenSim {label:22s} = {ratio:.4f}  "
              f"(OpenSim {1 / ratio:.0f}x slower)")
    return ratios


def _print_row(row: dict) -> None:
    flag = "" if row["finite"] else "  NON-FINITE STATE"
    print(f"{row['formulation']:13s} {row['dtype']:8s} {row['n_muscles']:9d} {row['n_steps']:5d} "
          f"{row['compile_s']:9.2f} {row['run_s']:9.4f} {row['substeps_per_s']:11.3e} "
          f"{1e9 / row['substeps_per_s']:10.2f}{flag}", flush=True)


if __name__ == "__main__":
    main()
