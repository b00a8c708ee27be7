"""Isolated-MTU cases (`mtu_sim_<case>`): mskdiff's simulation of each set-up against OpenSim's.

De Groote cases run the tendon-force formulation (tight and semi-implicit Euler) and the
acceleration formulation; Millard cases run their own class's formulation, with the set-up's
`millard_curve_changes`.
"""

import functools
import math
import time
from pathlib import Path

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import DiffraxIntegrator, SemiImplicitEuler, simulate
from ..io.reference import IsolatedMTUCase
from ..muscle.acceleration import AccelerationMTU
from ..muscle.parameters import MuscleParameters
from .report import TOLERANCES, Check, compare

#: A tight Diffrax set-up for the reference comparisons (explicit: fine for these cases).
TIGHT = DiffraxIntegrator(dfx.Tsit5(), dfx.PIDController(rtol=1e-10, atol=1e-12), max_steps=8192)
#: The acceleration formulation's stiff fibre mode needs many explicit steps.
TIGHT_STIFF = DiffraxIntegrator(dfx.Tsit5(), dfx.PIDController(rtol=1e-8, atol=1e-10),
                                max_steps=8192)
#: `Millard2012AccelerationMuscle` defaults used for the acceleration formulation checks.
ACCELERATION_DEFAULTS = {"fiber_mass": 0.1, "fiber_damping": 0.01}


#: `simulate`, compiled once per model structure, integrator and number of output times (the
#: drive and the times are arguments, so cases of one duration share the program).
_simulate = eqx.filter_jit(simulate)


#: Cases are simulated over their duration rounded up to a multiple of this [s], so that cases
#: of 1.0 and 1.2 s share one compiled program; the extra rows are dropped.
_SIMULATED_DURATION_MULTIPLE = 0.6


def run_case(case: IsolatedMTUCase, mtu, integrator, dt: float, *, timed: bool = False):
    """The case simulated by `mtu` with output every `dt` [s], from mskdiff's initial state.

    Returns `(trajectory, seconds)`: with `timed`, `seconds` is the wall time of this case's
    duration, measured on a second, compiled run (compile time excluded); else None.
    """
    n_times = round(case.duration / dt) + 1
    padded = math.ceil(case.duration / _SIMULATED_DURATION_MULTIPLE - 1e-9) * (
        _SIMULATED_DURATION_MULTIPLE)
    times = jnp.arange(round(padded / dt) + 1) * dt
    _, mtu_length, mtu_velocity = case.drive(jnp.asarray(0.0))
    activation = jnp.full((1,), case.initial_activation)
    state0 = mtu.init_state(mtu_length, mtu_velocity, activation)
    run = lambda: jax.block_until_ready(_simulate(mtu.with_generic_names(), state0, times,
                                                  case.drive, integrator=integrator))
    trajectory, seconds = run(), None
    if timed:
        start = time.perf_counter()
        run()
        seconds = (time.perf_counter() - start) * (n_times - 1) / (len(times) - 1)  # this case's
    return jax.tree.map(lambda x: x[:n_times], trajectory), seconds


@functools.cache
def tight_run(setup_path: Path):
    """The case simulated by its own formulation, Tsit5 at rtol 1e-10, 1 ms output.

    DGF cases: the tendon-force formulation with De Groote activation dynamics. Millard
    equilibrium cases: `MillardEquilibriumMTU` (Millard curves, first-order activation).

    Cached: the trajectory checks and the metabolic checks of a case share one run;
    `validate_opensim` clears the cache when it starts.
    """
    case = IsolatedMTUCase(setup_path)
    return run_case(case, case.model(), TIGHT, 1e-3)[0]


def _reference_rows(reference, dt: float, n: int) -> dict[str, np.ndarray]:
    """The reference's float columns every `dt` [s] (a multiple of its 1 ms step), first `n` rows."""
    stride = round(dt / (reference["time"][1] - reference["time"][0]))
    return {k: v[::stride][:n] for k, v in reference.items() if v.dtype.kind == "f"}


def _trajectory_checks(case, label, trajectory, reference, dt, *, checks_spec, status=None,
                       note=""):
    out = trajectory.outputs
    n = len(trajectory.times)
    ref = _reference_rows(reference, dt, n)
    fmax = float(case.parameters().max_isometric_force[0])
    computed = {"tendon_force": out.tendon_force[:, 0], "fiber_length": out.fiber_length[:, 0],
                "activation": trajectory.states.activation[:, 0],
                "pennation_angle": out.pennation_angle[:, 0]}
    scales = {"tendon_force": fmax}
    units = {"tendon_force": "Fmax", "fiber_length": "m", "activation": "-",
             "pennation_angle": "rad"}
    checks = []
    for quantity, metric, tolerance in checks_spec:
        checks.append(compare(case.csv_path.name, case.name, f"{quantity} [{label}]",
                              computed[quantity], ref[quantity], tolerance=tolerance,
                              metric=metric, unit=units[quantity],
                              scale=scales.get(quantity, 1.0), status=status, note=note))
    return checks


def _with_acceleration_defaults(params: MuscleParameters) -> AccelerationMTU:
    damping = jnp.full_like(params.fiber_damping, ACCELERATION_DEFAULTS["fiber_damping"])
    params = eqx.tree_at(lambda p: p.fiber_damping, params, damping)
    return AccelerationMTU.with_defaults(params, ACCELERATION_DEFAULTS["fiber_mass"])


def _degroote_case(case: IsolatedMTUCase, reference) -> list[Check]:
    params = case.parameters()
    mtu = case.model()
    fmax = float(params.max_isometric_force[0])
    tight = tight_run(case.setup_path)
    checks = [
        compare(case.csv_path.name, case.name, "initial tendon_force [mskdiff init]",
                tight.outputs.tendon_force[0], reference["tendon_force"][0], scale=fmax,
                tolerance=TOLERANCES["initial_tendon_force"], unit="Fmax"),
        compare(case.csv_path.name, case.name, "initial fiber_length [mskdiff init]",
                tight.outputs.fiber_length[0], reference["fiber_length"][0],
                tolerance=TOLERANCES["initial_fiber_length"], unit="m"),
    ]
    checks += _trajectory_checks(case, "tendon_force, Diffrax Tsit5 rtol 1e-10", tight, reference,
                                 1e-3, checks_spec=[
                                     ("tendon_force", "max", TOLERANCES["tight_tendon_force_max"]),
                                     ("fiber_length", "max", TOLERANCES["tight_fiber_length_max"]),
                                     ("activation", "max", TOLERANCES["tight_activation_max"])])
    euler, seconds = run_case(case, mtu, SemiImplicitEuler(4), 2e-3, timed=True)
    checks += _trajectory_checks(case, "tendon_force, semi-implicit Euler 2 ms x4", euler,
                                 reference, 2e-3, checks_spec=[
                                     ("tendon_force", "rms", TOLERANCES["euler_tendon_force_rms"]),
                                     ("fiber_length", "max", None)],
                                 note=_timing(seconds, case))
    accel = _with_acceleration_defaults(params)
    tight_accel, _ = run_case(case, accel, TIGHT_STIFF, 1e-3)
    checks += _trajectory_checks(case, "acceleration m=0.1 kg, Tsit5 rtol 1e-8", tight_accel,
                                 reference, 1e-3, checks_spec=[
                                     ("tendon_force", "rms",
                                      TOLERANCES["acceleration_tendon_force_rms"]),
                                     ("tendon_force", "max", None),
                                     ("fiber_length", "max", None)])
    euler_accel, seconds = run_case(case, accel, SemiImplicitEuler(4), 2e-3, timed=True)
    checks += _trajectory_checks(case, "acceleration, linearly implicit 2 ms x4", euler_accel,
                                 reference, 2e-3, checks_spec=[("tendon_force", "rms", None)],
                                 note=_timing(seconds, case))
    return checks


def _millard_acceleration_case(case: IsolatedMTUCase, reference) -> list[Check]:
    """OpenSim's `Millard2012AccelerationMuscle` (mass, compressive elements, every damping).

    The reference's `tendon_force` is the elastic tendon force; the force the muscle applies
    adds tendon damping, and that difference is reported.
    """
    mtu = case.model()
    fmax = float(case.parameters().max_isometric_force[0])
    tight, _ = run_case(case, mtu, TIGHT_STIFF, 1e-3)
    checks = _millard_tight_checks(case, "Millard acceleration, Diffrax Tsit5 rtol 1e-8", tight,
                                   reference)
    applied = jax.vmap(mtu.applied_tendon_force)(tight.states, tight.mtu_length,
                                                 tight.mtu_velocity)[:, 0]
    checks.append(compare(case.csv_path.name, case.name,
                          "applied tendon force (elastic + tendon damping) - reported elastic",
                          applied, reference["tendon_force"][:len(applied)], scale=fmax,
                          unit="Fmax", note="tendon damping: OpenSim applies it, its "
                                            "tendon_force output leaves it out"))
    return checks + _millard_euler_checks(case, "Millard acceleration, linearly implicit 2 ms x4",
                                          reference)


def _millard_tight_checks(case, label, tight, reference) -> list[Check]:
    """A Millard case's initial fibre length and tight-run trajectory against its tolerances."""
    checks = [compare(case.csv_path.name, case.name, "initial fiber_length [mskdiff init]",
                      tight.outputs.fiber_length[0], reference["fiber_length"][0],
                      tolerance=TOLERANCES["initial_fiber_length"], unit="m")]
    return checks + _trajectory_checks(case, label, tight, reference, 1e-3, checks_spec=[
        ("tendon_force", "max", TOLERANCES["millard_tight_tendon_force_max"]),
        ("fiber_length", "max", TOLERANCES["millard_tight_fiber_length_max"]),
        ("activation", "max", TOLERANCES["tight_activation_max"])])


def _millard_euler_checks(case, label, reference) -> list[Check]:
    """A Millard case run by `SemiImplicitEuler(4)` at 2 ms: tendon force RMS, fibre length."""
    euler, seconds = run_case(case, case.model(), SemiImplicitEuler(4), 2e-3, timed=True)
    return _trajectory_checks(case, label, euler, reference, 2e-3, checks_spec=[
        ("tendon_force", "rms", TOLERANCES["millard_euler_tendon_force_rms"]),
        ("fiber_length", "max", None)], note=_timing(seconds, case))


def _millard_case(case: IsolatedMTUCase, reference) -> list[Check]:
    """Millard equilibrium and acceleration cases against their tolerances."""
    if case.muscle_class == "Millard2012AccelerationMuscle":
        return _millard_acceleration_case(case, reference)
    tight = tight_run(case.setup_path)
    return (_millard_tight_checks(case, "Millard equilibrium, Diffrax Tsit5 rtol 1e-10", tight,
                                  reference)
            + _millard_euler_checks(case, "Millard equilibrium, semi-implicit Euler 2 ms x4",
                                    reference))


def check_isolated_mtu(path: Path) -> list[Check]:
    """An isolated-MTU set-up (`mtu_sim_<case>_setup.json`) simulated against its CSV."""
    case = IsolatedMTUCase(path)
    reference = case.reference()
    if case.muscle_class == "DeGrooteFregly2016Muscle":
        return _degroote_case(case, reference)
    return _millard_case(case, reference)


def _timing(seconds: float, case: IsolatedMTUCase) -> str:
    return f"{seconds * 1e3:.1f} ms for {case.duration} s (compiled run)"
