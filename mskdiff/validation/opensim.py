"""Recompute OpenSim reference cases found in a directory and compare, with stated tolerances.

Every file of a known kind is recomputed (curve samples, equilibrium residuals, isolated-MTU
simulations, walking equilibria, parameter tables, and myoLeg's muscle geometry along a walking
trial: MTU lengths and moment arms); unknown files are listed as skipped.
A known file that cannot be recomputed is an error, and a run in which nothing was checked
fails, so an all-skipped directory never passes.
"""

import dataclasses
import functools
import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import DiffraxIntegrator, SemiImplicitEuler, simulate
from ..io.reference import (
    EquilibriumTable,
    IsolatedMTUCase,
    MetabolicsCase,
    millard_curves_from_table,
    parameters_from_table,
    read_csv,
)
from ..muscle import curves, millard_curves
from ..muscle.acceleration import AccelerationMTU
from ..muscle.implicit import implicit_residual
from ..muscle.metabolic import Bhargava2004, Bhargava2004Smoothed, MetabolicInputs, Umberger2010
from ..muscle.millard_equilibrium import MillardEquilibriumMTU
from ..muscle.parameters import MuscleParameters
from ..muscle.tendon_force import TendonForceMTU
from . import geometry

PASS, FAIL, CROSS_MODEL, REPORT, SKIPPED, ERROR = (
    "pass", "FAIL", "cross-model", "report", "skipped", "ERROR")

#: Tolerances (float64). Forces in units of max isometric force, lengths in m.
TOLERANCES = {
    "curve": 1e-9,
    "residual": 1e-9,
    "initial_tendon_force": 1e-8,
    "initial_fiber_length": 1e-9,
    "tight_tendon_force_max": 1e-5,
    "tight_fiber_length_max": 1e-7,
    "tight_activation_max": 1e-7,
    "euler_tendon_force_rms": 2.5e-3,
    "acceleration_tendon_force_rms": 3e-3,
    "rigid_fiber_length": 1e-9,
    "parameter_table": 1e-12,
    # Millard 2012 equilibrium cases: tight (max) and semi-implicit Euler 2 ms x 4 (RMS).
    "millard_tight_tendon_force_max": 1e-3,
    "millard_tight_fiber_length_max": 1e-5,
    "millard_euler_tendon_force_rms": 1e-2,
    # Millard equilibria of the 80 walking muscles, relative to max(|ref|, 1e-3 Fmax or 1e-3).
    "walk_equilibrium_relative": 1e-6,
    # Millard 2012 curves: value and derivatives (second: relative to max(1, |ref|)); integrals.
    "millard_curve": 1e-8,
    "millard_curve_integral": 5e-5,
    # Metabolic rates from OpenSim's own muscle states: max |error| / max(1 W, max |reference|).
    "metabolic_rate": 1e-6,
    # myoLeg (MuJoCo) vs OpenSim's generic Rajagopal 2016 along a walking trial, RMS per muscle
    # and per muscle-coordinate pair [m] (geometry.GEOMETRY_BOUNDS; outliers in geometry.py).
    "geometry_mtu_length_rms": geometry.GEOMETRY_BOUNDS["mtu_length_rms"],
    "geometry_moment_arm_rms": geometry.GEOMETRY_BOUNDS["moment_arm_rms"],
}

#: A tight Diffrax set-up for the reference comparisons (explicit: fine for these cases).
TIGHT = DiffraxIntegrator(dfx.Tsit5(), dfx.PIDController(rtol=1e-10, atol=1e-12), max_steps=8192)
#: The acceleration formulation's stiff fibre mode needs many explicit steps.
TIGHT_STIFF = DiffraxIntegrator(dfx.Tsit5(), dfx.PIDController(rtol=1e-8, atol=1e-10),
                                max_steps=8192)
#: `Millard2012AccelerationMuscle` defaults used for the acceleration formulation checks.
ACCELERATION_DEFAULTS = {"fiber_mass": 0.1, "fiber_damping": 0.01}


@dataclasses.dataclass(frozen=True)
class Check:
    """One compared quantity: errors, the tolerance it is held to, and the verdict."""

    file: str
    case: str
    quantity: str
    max_error: float
    rms_error: float
    tolerance: float | None
    metric: str  # "max" or "rms": which error the tolerance applies to
    unit: str
    status: str
    note: str = ""

    @property
    def failed(self) -> bool:
        """True for a failed comparison or a known file that could not be recomputed."""
        return self.status in (FAIL, ERROR)


def compare(file, case, quantity, computed, reference, *, tolerance=None, metric="max",
            unit="", scale=1.0, status=None, note="") -> Check:
    """Compare arrays; errors are divided by `scale` (e.g. max isometric force)."""
    error = np.abs(np.asarray(computed, float) - np.asarray(reference, float)) / scale
    max_error = float(np.max(error)) if error.size else float("nan")
    rms_error = float(np.sqrt(np.mean(error**2))) if error.size else float("nan")
    if status is None:
        if tolerance is None:
            status = REPORT
        else:
            value = max_error if metric == "max" else rms_error
            status = PASS if np.isfinite(value) and value <= tolerance else FAIL
    return Check(file, case, quantity, max_error, rms_error, tolerance, metric, unit, status, note)


# --- curve samples -------------------------------------------------------------------------

def _curve_checks(path: Path, columns: dict[str, Callable]) -> list[Check]:
    table = read_csv(path)
    checks = []
    for quantity, fn in columns.items():
        computed = np.asarray(fn(table))
        checks.append(compare(path.name, path.stem, quantity, computed, table[quantity],
                              tolerance=TOLERANCES["curve"], unit="-"))
    return checks


def _fiber_length_curves(path):
    l = lambda t: t["norm_fiber_length"]
    w = lambda t: t["active_force_width_scale"]
    e = lambda t: t["passive_fiber_strain_at_one_norm_force"]
    return _curve_checks(path, {
        "active_force_length_multiplier":
            lambda t: curves.active_force_length_multiplier(l(t), w(t)),
        "active_force_length_multiplier_derivative":
            lambda t: curves.active_force_length_multiplier_derivative(l(t), w(t)),
        "passive_force_multiplier": lambda t: curves.passive_force_multiplier(l(t), e(t)),
        "passive_force_multiplier_derivative":
            lambda t: curves.passive_force_multiplier_derivative(l(t), e(t)),
        "passive_force_multiplier_integral":
            lambda t: curves.passive_force_multiplier_integral(l(t), e(t)),
    })


def _tendon_curves(path):
    l = lambda t: t["norm_tendon_length"]
    e = lambda t: t["tendon_strain_at_one_norm_force"]
    return _curve_checks(path, {
        "tendon_force_multiplier": lambda t: curves.tendon_force_multiplier(l(t), e(t)),
        "tendon_force_multiplier_derivative":
            lambda t: curves.tendon_force_multiplier_derivative(l(t), e(t)),
        "tendon_force_multiplier_integral":
            lambda t: curves.tendon_force_multiplier_integral(l(t), e(t)),
    })


def _tendon_inverse(path):
    return _curve_checks(path, {"norm_tendon_length": lambda t: curves.tendon_force_length_inverse(
        t["norm_tendon_force"], t["tendon_strain_at_one_norm_force"])})


def _force_velocity(path):
    return _curve_checks(path, {"force_velocity_multiplier":
                                lambda t: curves.force_velocity_multiplier(t["norm_fiber_velocity"])})


def _force_velocity_inverse(path):
    return _curve_checks(path, {"norm_fiber_velocity":
                                lambda t: curves.force_velocity_inverse(t["force_velocity_multiplier"])})


def _table_parameters(table, names) -> MuscleParameters:
    fields = ("max_isometric_force", "optimal_fiber_length", "tendon_slack_length",
              "pennation_angle_at_optimal", "max_contraction_velocity",
              "tendon_strain_at_one_norm_force", "passive_fiber_strain_at_one_norm_force",
              "active_force_width_scale", "fiber_damping")
    return MuscleParameters.from_dict({f: table[f] for f in fields}, names=names)


def _equilibrium_residual(path):
    table = read_csv(path)
    names = [f"row{i}" for i in range(len(table["residual"]))]
    params = _table_parameters(table, names)
    residual = implicit_residual(
        params, jnp.asarray(table["muscle_tendon_length"]),
        jnp.asarray(table["muscle_tendon_velocity"]), jnp.asarray(table["activation"]),
        jnp.asarray(table["norm_tendon_force"]), jnp.asarray(table["norm_tendon_force_derivative"]))
    return [compare(path.name, path.stem, "residual", residual, table["residual"],
                    tolerance=TOLERANCES["residual"], unit="-")]


def _millard_curve_parameters(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """`{(param_set, curve): {parameter: value}}` from the `*_curve_params.csv` beside `path`."""
    params_path = path.with_name(path.name.replace("_curves.csv", "_curve_params.csv"))
    table = read_csv(params_path)
    parameters: dict[tuple[str, str], dict[str, float]] = {}
    for param_set, curve, name, value in zip(table["param_set"], table["curve"],
                                             table["parameter"], table["value"], strict=True):
        parameters.setdefault((str(param_set), str(curve)), {})[str(name)] = float(value)
    return parameters


@eqx.filter_jit
def _curve_columns(curve, x):
    """Value, first and second derivative and integral of `curve` at `x`.

    One compiled program per number of segments.
    """
    return curve(x), curve.derivative(x), curve.derivative(x, 2), curve.integral(x)


def _millard_curves(path):
    """The Millard 2012 curves, built from the recorded curve parameters, against OpenSim.

    Value and first derivative: absolute error. Second derivative: relative to
    max(1, |reference|) (it reaches ~6e3 at the tendon's toe, where OpenSim's own solve for the
    Bézier parameter, tolerance 2e-14, limits its accuracy to ~1e-7 absolute). Integral: OpenSim
    integrates numerically (it differs from the exact integral by up to ~2e-5).
    """
    table = read_csv(path)
    parameters = _millard_curve_parameters(path)
    checks = []
    for (param_set, name), values in parameters.items():
        rows = (table["param_set"] == param_set) & (table["curve"] == name)
        if name not in millard_curves.CURVE_BUILDERS or not rows.any():
            continue
        x, label = table["x"][rows], f"{name} ({param_set})"
        value, first, second, integral = _curve_columns(millard_curves.CURVE_BUILDERS[name](**values), x)
        for column, computed, tolerance in (
                ("value", value, TOLERANCES["millard_curve"]),
                ("derivative1", first, TOLERANCES["millard_curve"]),
                ("derivative2", second, TOLERANCES["millard_curve"]),
                ("integral", integral, TOLERANCES["millard_curve_integral"])):
            reference = table[column][rows]
            if np.all(np.isnan(reference)):
                continue
            scale = np.maximum(1.0, np.abs(reference)) if column == "derivative2" else 1.0
            checks.append(compare(path.name, label, column, np.asarray(computed) / scale,
                                  reference / scale, tolerance=tolerance,
                                  unit="max(1, |ref|)" if column == "derivative2" else "-"))
    return checks


# --- isolated-MTU simulations ---------------------------------------------------------------

#: `simulate`, compiled once per model structure, integrator and number of output times (the
#: drive and the times are arguments, so cases of one duration share the program).
_simulate = eqx.filter_jit(simulate)


#: Cases are simulated over their duration rounded up to a multiple of this [s], so that cases
#: of 1.0 and 1.2 s share one compiled program; the extra rows are dropped.
_SIMULATED_DURATION_MULTIPLE = 0.6


def _run_case(case: IsolatedMTUCase, mtu, integrator, dt: float):
    n_times = round(case.duration / dt) + 1
    padded = math.ceil(case.duration / _SIMULATED_DURATION_MULTIPLE - 1e-9) * (
        _SIMULATED_DURATION_MULTIPLE)
    times = jnp.arange(round(padded / dt) + 1) * dt
    _, mtu_length, mtu_velocity = case.drive(jnp.asarray(0.0))
    activation = jnp.full((1,), case.initial_activation)
    state0 = mtu.init_state(mtu_length, mtu_velocity, activation)
    start = time.perf_counter()
    trajectory = jax.block_until_ready(_simulate(mtu.with_generic_names(), state0, times,
                                                 case.drive, integrator=integrator))
    seconds = (time.perf_counter() - start) * (n_times - 1) / (len(times) - 1)  # this case's
    return jax.tree.map(lambda x: x[:n_times], trajectory), seconds


@functools.cache
def _tight_run(setup_path: Path):
    """The case simulated by its own formulation, Tsit5 at rtol 1e-10, 1 ms output.

    DGF cases: the tendon-force formulation with De Groote activation dynamics. Millard
    equilibrium cases: `MillardEquilibriumMTU` (Millard curves, first-order activation).

    Cached: the trajectory checks and the metabolic checks of a case share one run;
    `validate_opensim` clears the cache when it starts.
    """
    case = IsolatedMTUCase(setup_path)
    return _run_case(case, case.model(), TIGHT, 1e-3)[0]


def _reference_rows(reference, dt: float, n: int) -> dict[str, np.ndarray]:
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
    tight = _tight_run(case.setup_path)
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
    euler, seconds = _run_case(case, mtu, SemiImplicitEuler(4), 2e-3)
    checks += _trajectory_checks(case, "tendon_force, semi-implicit Euler 2 ms x4", euler,
                                 reference, 2e-3, checks_spec=[
                                     ("tendon_force", "rms", TOLERANCES["euler_tendon_force_rms"]),
                                     ("fiber_length", "max", None)],
                                 note=f"{seconds * 1e3:.1f} ms for {case.duration} s")
    accel = _with_acceleration_defaults(params)
    tight_accel, _ = _run_case(case, accel, TIGHT_STIFF, 1e-3)
    checks += _trajectory_checks(case, "acceleration m=0.1 kg, Tsit5 rtol 1e-8", tight_accel,
                                 reference, 1e-3, checks_spec=[
                                     ("tendon_force", "rms",
                                      TOLERANCES["acceleration_tendon_force_rms"]),
                                     ("tendon_force", "max", None),
                                     ("fiber_length", "max", None)])
    euler_accel, seconds = _run_case(case, accel, SemiImplicitEuler(4), 2e-3)
    checks += _trajectory_checks(case, "acceleration, linearly implicit 2 ms x4", euler_accel,
                                 reference, 2e-3, checks_spec=[("tendon_force", "rms", None)],
                                 note=f"{seconds * 1e3:.1f} ms for {case.duration} s")
    return checks


def _millard_acceleration_case(case: IsolatedMTUCase, reference) -> list[Check]:
    """OpenSim's `Millard2012AccelerationMuscle` (mass, compressive elements, every damping).

    The reference's `tendon_force` is the elastic tendon force; the force the muscle applies
    adds tendon damping, and that difference is reported.
    """
    mtu = case.model()
    fmax = float(case.parameters().max_isometric_force[0])
    tight, _ = _run_case(case, mtu, TIGHT_STIFF, 1e-3)
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
    euler, seconds = _run_case(case, case.model(), SemiImplicitEuler(4), 2e-3)
    return _trajectory_checks(case, label, euler, reference, 2e-3, checks_spec=[
        ("tendon_force", "rms", TOLERANCES["millard_euler_tendon_force_rms"]),
        ("fiber_length", "max", None)], note=f"{seconds * 1e3:.1f} ms for {case.duration} s")


def _millard_case(case: IsolatedMTUCase, reference) -> list[Check]:
    """Millard equilibrium and acceleration cases against their tolerances."""
    if case.muscle_class == "Millard2012AccelerationMuscle":
        return _millard_acceleration_case(case, reference)
    tight = _tight_run(case.setup_path)
    return (_millard_tight_checks(case, "Millard equilibrium, Diffrax Tsit5 rtol 1e-10", tight,
                                  reference)
            + _millard_euler_checks(case, "Millard equilibrium, semi-implicit Euler 2 ms x4",
                                    reference))


def _isolated_mtu(path: Path) -> list[Check]:
    case = IsolatedMTUCase(path)
    reference = case.reference()
    if case.muscle_class == "DeGrooteFregly2016Muscle":
        return _degroote_case(case, reference)
    return _millard_case(case, reference)


# --- walking equilibrium and parameter tables -----------------------------------------------

def _equilibrium_table(path: Path) -> list[Check]:
    """Static equilibria of every muscle (OpenSim's `equilibrateMuscles`, speeds 0).

    With Millard curves in the parameter table (per muscle or shared), the Millard
    equilibrium muscle is checked at 1e-6 relative; otherwise De Groote's, cross-model.
    """
    table = EquilibriumTable(path)
    params = parameters_from_table(table.parameter_table()).select(table.muscles)
    curves = millard_curves_from_table(table.parameter_table(), table.muscles)
    length = jnp.asarray(table.column("mtu_length"))
    activation = jnp.asarray(table.column("activation"))

    def one_sample(length, activation):
        if curves is None:
            mtu = TendonForceMTU(params)
        else:
            mtu = MillardEquilibriumMTU(params, curves)
        state = mtu.init_state(length, jnp.zeros_like(length), activation)
        return mtu.outputs(state, length, jnp.zeros_like(length))

    out = jax.jit(jax.vmap(one_sample))(length, activation)
    data = {k: table.column(k) for k in ("fiber_length", "pennation_angle", "tendon_force")}
    computed = {k: np.asarray(getattr(out, k)) for k in ("fiber_length", "tendon_force",
                                                         "pennation_angle")}
    fmax = np.broadcast_to(np.asarray(params.max_isometric_force), data["tendon_force"].shape)
    rigid = np.broadcast_to(np.asarray(params.ignore_tendon_compliance, dtype=bool), fmax.shape)
    checks = [
        compare(path.name, "rigid-tendon muscles", "fiber_length (geometry only)",
                computed["fiber_length"][rigid], data["fiber_length"][rigid],
                tolerance=TOLERANCES["rigid_fiber_length"], unit="m"),
        compare(path.name, "rigid-tendon muscles", "pennation_angle (geometry only)",
                computed["pennation_angle"][rigid], data["pennation_angle"][rigid],
                tolerance=TOLERANCES["rigid_fiber_length"], unit="rad"),
    ]
    if curves is None:
        note = "Millard 2012 curves in OpenSim, De Groote in mskdiff"
        for label, mask in (("elastic-tendon muscles", ~rigid), ("rigid-tendon muscles", rigid)):
            checks.append(compare(path.name, label, "tendon_force",
                                  computed["tendon_force"][mask] / fmax[mask],
                                  data["tendon_force"][mask] / fmax[mask], unit="Fmax",
                                  status=CROSS_MODEL, note=note))
        checks.append(compare(path.name, "elastic-tendon muscles", "fiber_length",
                              computed["fiber_length"][~rigid], data["fiber_length"][~rigid],
                              unit="m", status=CROSS_MODEL, note=note))
        return checks
    tolerance = TOLERANCES["walk_equilibrium_relative"]
    for label, mask in (("elastic-tendon muscles", ~rigid), ("rigid-tendon muscles", rigid)):
        for quantity in ("fiber_length", "pennation_angle", "tendon_force"):
            reference = data[quantity][mask]
            scale = np.maximum(np.abs(reference), 1e-3 * fmax[mask] if quantity == "tendon_force"
                               else 1e-3)
            checks.append(compare(path.name, f"{label} (Millard equilibrium)", quantity,
                                  computed[quantity][mask] / scale, reference / scale,
                                  tolerance=tolerance, unit="relative"))
    return checks


def _parameter_table(path: Path) -> list[Check]:
    from ..models import rajagopal2016

    reference = parameters_from_table(path)
    builtin = rajagopal2016(list(reference.names))
    checks = []
    for field, value in reference.to_dict().items():
        if field == "name":
            continue
        ours = builtin.to_dict()[field].astype(float)
        scale = np.maximum(np.abs(value.astype(float)), 1e-300)
        checks.append(compare(path.name, "built-in Rajagopal 2016 table", field, ours / scale,
                              value.astype(float) / scale,
                              tolerance=TOLERANCES["parameter_table"], unit="relative"))
    return checks


# --- metabolic rates --------------------------------------------------------------------------

#: OpenSim's metabolic columns (the reference README's set-ups) -> (model label, rate field).
#: Umberger's activation-maintenance heat is one term (`MetabolicRates.activation`).
_RATES = ("total", "activation", "maintenance", "shortening", "mechanical_work")
METABOLIC_COLUMNS = {
    "umberger2010_activation_maintenance": ("umberger2010", "activation"),
    **{f"umberger2010_{rate}": ("umberger2010", rate)
       for rate in ("total", "shortening", "mechanical_work")},
    **{f"{model}_{rate}": (model, rate)
       for model in ("bhargava2004", "bhargava2004_smoothed") for rate in _RATES},
    **{f"{model}_{rate}": (model, rate)
       for model in ("bhargava2004_forcedep", "bhargava2004_smoothed_v2")
       for rate in ("total", "shortening")},
    # The clamp variants are named `<model>_<rate>_<variant>`.
    **{f"{model}_total_{variant}": (f"{model}_{variant}", "total")
       for model in ("umberger2010", "bhargava2004") for variant in ("no_min_heat", "no_clamps")},
    **{f"{model}_shortening_no_clamps": (f"{model}_no_clamps", "shortening")
       for model in ("umberger2010", "bhargava2004")},
}


def _metabolic_models(setup: dict) -> dict:
    """The models behind `METABOLIC_COLUMNS`.

    The second smoothed variant's settings come from the set-up (`smoothed_v2_settings`).
    """
    return {
        "umberger2010": Umberger2010(),
        "umberger2010_no_min_heat": Umberger2010(enforce_minimum_heat_rate=False),
        "umberger2010_no_clamps": Umberger2010(enforce_minimum_heat_rate=False,
                                               forbid_negative_total_power=False),
        "bhargava2004": Bhargava2004(),
        "bhargava2004_no_min_heat": Bhargava2004(enforce_minimum_heat_rate=False),
        "bhargava2004_no_clamps": Bhargava2004(enforce_minimum_heat_rate=False,
                                               forbid_negative_total_power=False),
        "bhargava2004_forcedep": Bhargava2004(force_dependent_shortening=True),
        "bhargava2004_smoothed": Bhargava2004Smoothed(),
        "bhargava2004_smoothed_v2": Bhargava2004Smoothed(**setup.get("smoothed_v2_settings", {})),
    }


def _metabolics(path: Path) -> list[Check]:
    """Every metabolic column recomputed from OpenSim's own muscle states.

    The states are OpenSim's, so muscle-model differences do not enter; the tolerance is
    relative to max(1 W, max |reference|).
    """
    case = MetabolicsCase(path)
    reference, params = case.reference(), case.parameters()
    checks = metabolic_checks_from_states(case, reference, params)
    states_setup = path.with_name(f"mtu_sim_{case.name}_setup.json")
    if states_setup.is_file():
        checks += _metabolics_from_simulation(states_setup, case, reference, params)
    return checks


def _rates(models: dict, params, inputs) -> dict:
    """`MetabolicRates` over time (leading axis) for each labelled model."""
    return {label: jax.vmap(lambda x, m=model: m(params, x))(inputs)
            for label, model in models.items()}


def metabolic_checks_from_states(case: MetabolicsCase, reference=None, params=None
                                 ) -> list[Check]:
    """Every column of the case recomputed from OpenSim's muscle states, against its tolerance."""
    reference = case.reference() if reference is None else reference
    params = case.parameters() if params is None else params
    rates = _rates(_metabolic_models(case.setup), params, case.inputs())
    checks = []
    for column, values in reference.items():
        if column not in METABOLIC_COLUMNS:
            if column != "time":
                checks.append(Check(case.csv_path.name, f"metabolics_{case.name}", column,
                                    float("nan"), float("nan"), None, "-", "-", SKIPPED,
                                    "unknown column"))
            continue
        label, field = METABOLIC_COLUMNS[column]
        checks.append(compare(case.csv_path.name, f"metabolics_{case.name}",
                              f"{column} [from OpenSim's muscle states]",
                              getattr(rates[label], field)[:, 0], values,
                              tolerance=TOLERANCES["metabolic_rate"], unit="max(1 W, |ref|)",
                              scale=max(1.0, float(np.max(np.abs(values))))))
    return checks


#: Totals reported from mskdiff's own simulation of a case.
_SIMULATED_TOTALS = ("umberger2010_total", "bhargava2004_total", "bhargava2004_forcedep_total",
                     "bhargava2004_smoothed_total")


def _metabolics_from_simulation(states_setup: Path, case: MetabolicsCase, reference,
                                params) -> list[Check]:
    """The totals from mskdiff's own simulation of the case (Tsit5, rtol 1e-10), reported.

    The muscle states come from the case's own formulation (De Groote or Millard equilibrium).
    """
    status, note = REPORT, f"mskdiff's {IsolatedMTUCase(states_setup).muscle_class} states"
    trajectory = _tight_run(states_setup)
    inputs = MetabolicInputs.from_outputs(trajectory.outputs, trajectory.excitation,
                                          trajectory.states.activation)
    columns = [c for c in _SIMULATED_TOTALS if c in reference]
    models = _metabolic_models(case.setup)
    rates = _rates({METABOLIC_COLUMNS[c][0]: models[METABOLIC_COLUMNS[c][0]] for c in columns},
                   params, inputs)
    checks = []
    for column in columns:
        label, field = METABOLIC_COLUMNS[column]
        n = len(trajectory.times)
        values = reference[column][:n]
        checks.append(compare(case.csv_path.name, f"metabolics_{case.name}",
                              f"{column} [from mskdiff's simulation]",
                              getattr(rates[label], field)[:, 0],
                              values, unit="max(1 W, |ref|)", status=status, note=note,
                              scale=max(1.0, float(np.max(np.abs(values))))))
    return checks


# --- muscle geometry of myoLeg along a walking trial -----------------------------------------

@functools.cache
def _myoleg_mjmodel():
    from ..models.myoleg import myoleg_mjmodel

    return myoleg_mjmodel()


def _walk_geometry(path: Path) -> list[Check]:
    """The MTU lengths or moment arms of myoLeg against a `<trial>_generic_*.csv` file (geometry.py)."""
    trial = next(m["trial"] for p in geometry.GEOMETRY_FILE_PATTERNS if (m := re.fullmatch(p, path.name)))
    lengths = path.name.endswith("_mtu_lengths.csv")
    comparison = geometry.compare_trial(
        _myoleg_mjmodel(), path.with_name(f"{trial}_ik_coordinates.csv"),
        lengths_path=path if lengths else None, moment_arms_path=None if lengths else path,
        bounds={"mtu_length_rms": TOLERANCES["geometry_mtu_length_rms"],
                "moment_arm_rms": TOLERANCES["geometry_moment_arm_rms"]})
    checks = []
    for r in comparison.results:
        quantity = ("mtu_length" if r.coordinate is None else f"moment_arm {r.coordinate}") + \
            " (myoLeg vs generic)"
        if r.outlier:
            status, note = REPORT, f"outlier: {r.outlier}"
        else:
            status, note = (PASS if r.passed else FAIL), r.note
        checks.append(Check(path.name, f"{trial}: {r.muscle}", quantity, r.max_error, r.rms_error,
                            r.bound, "rms", "m", status, note))
    return checks


#: File-name patterns of known reference files and their validators, in matching order.
VALIDATORS: list[tuple[str, Callable[[Path], list[Check]]]] = [
    (r"dgf_fiber_length_curves\.csv", _fiber_length_curves),
    (r"dgf_tendon_curves\.csv", _tendon_curves),
    (r"dgf_tendon_inverse_curve\.csv", _tendon_inverse),
    (r"dgf_force_velocity\.csv", _force_velocity),
    (r"dgf_force_velocity_inverse\.csv", _force_velocity_inverse),
    (r"dgf_equilibrium_residual\.csv", _equilibrium_residual),
    (r"millard2012_curves\.csv", _millard_curves),
    (r"mtu_sim_.+_setup\.json", _isolated_mtu),
    (r".+_equilibrium\.csv", _equilibrium_table),
    (r"rajagopal2016_muscles\.csv", _parameter_table),
    (r"metabolics_.+_setup\.json", _metabolics),
    *((pattern, _walk_geometry) for pattern in geometry.GEOMETRY_FILE_PATTERNS),
]
#: Files consumed by another file's validator (the CSV of an isolated-MTU set-up, its table).
_COMPANIONS = (r"mtu_sim_.+(?<!_setup)\.csv", r".+_muscles\.csv",
               r"millard2012_curve_params\.csv", r"metabolics_.+(?<!_setup)\.csv")
#: Known files that are deliberately not compared, with the reason (listed as skipped).
_NOT_COMPARED = (
    (r"(?!.*_generic_).+_(mtu_lengths|moment_arms|mtu_lengthening_speeds)\.csv",
     "subject-scaled model's geometry; myoLeg (generic geometry) is compared with *_generic_*"),
    (r".+_generic_mtu_lengthening_speeds\.csv", "lengthening speeds not compared"),
    (r".+_ik_coordinate_speeds\.csv", "coordinate speeds: lengthening speeds not compared"),
)


def _companion_of(path: Path) -> bool:
    """True for a file another file's validator reads (IK coordinates only beside geometry files)."""
    match = re.fullmatch(r"(?P<trial>.+)_ik_coordinates\.csv", path.name)
    if match:
        return any(path.with_name(f"{match['trial']}_generic_{kind}.csv").is_file()
                   for kind in ("mtu_lengths", "moment_arms"))
    return any(re.fullmatch(p, path.name) for p in _COMPANIONS)


def validate_opensim(directory, *, progress: bool = True) -> list[Check]:
    """Recompute every known reference file in `directory`; unknown files are `skipped`.

    Args:
        directory: a folder in the format of `shared/reference` (see its README).
        progress: show a progress bar (tqdm).

    Returns:
        One `Check` per compared quantity (and per skipped or failed file).
    """
    from tqdm import tqdm

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"reference directory not found: {directory}")
    files = sorted(p for p in directory.iterdir() if p.is_file())
    _tight_run.cache_clear()
    checks: list[Check] = []
    with jax.enable_x64(True):
        for path in tqdm(files, desc="validate-opensim", disable=not progress, unit="file"):
            validator = next((fn for pattern, fn in VALIDATORS
                              if re.fullmatch(pattern, path.name)), None)
            if validator is None:
                if not _companion_of(path):
                    note = next((why for p, why in _NOT_COMPARED if re.fullmatch(p, path.name)),
                                "unknown file kind")
                    checks.append(Check(path.name, path.name, "-", float("nan"), float("nan"),
                                        None, "-", "-", SKIPPED, note))
                continue
            try:
                checks.extend(validator(path))
            except Exception as error:  # a known file that cannot be recomputed fails
                message = f"{type(error).__name__}: {error}"
                checks.append(Check(path.name, path.name, "-", float("nan"), float("nan"), None,
                                    "-", "-", ERROR, message[:300]))
    return checks


def passed(checks: list[Check]) -> bool:
    """True when nothing failed and at least one quantity was checked against a tolerance."""
    return not any(c.failed for c in checks) and any(c.status == PASS for c in checks)


def format_table(checks: list[Check]) -> str:
    """A plain-text table: file/case, quantity, max and RMS error, tolerance, status."""
    header = f"{'case':38s} {'quantity':58s} {'max err':>10s} {'rms err':>10s} " \
             f"{'tolerance':>14s} {'unit':>8s}  status"
    lines = [header, "-" * len(header)]
    for c in checks:
        tolerance = "-" if c.tolerance is None else f"{c.metric} {c.tolerance:.1e}"
        lines.append(f"{c.case[:38]:38s} {c.quantity[:58]:58s} {c.max_error:10.2e} "
                     f"{c.rms_error:10.2e} {tolerance:>14s} {c.unit:>8s}  {c.status}"
                     + (f"  ({c.note})" if c.note and c.status in (ERROR, SKIPPED) else ""))
    counts = {s: sum(c.status == s for c in checks) for s in
              (PASS, FAIL, ERROR, CROSS_MODEL, REPORT, SKIPPED)}
    lines.append("-" * len(header))
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def write_json(checks: list[Check], path) -> None:
    """Write the checks as JSON (a list of records plus a summary)."""
    records = [dataclasses.asdict(c) for c in checks]
    summary = {"passed": passed(checks),
               "counts": {s: sum(c.status == s for c in checks)
                          for s in (PASS, FAIL, ERROR, CROSS_MODEL, REPORT, SKIPPED)}}
    Path(path).write_text(json.dumps({"summary": summary, "checks": records}, indent=1,
                                     default=float, allow_nan=True))
