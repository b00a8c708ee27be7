"""Curve samples against OpenSim: De Groote-Fregly curves, equilibrium residuals, Millard curves."""

from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..io.reference import read_csv
from ..muscle import curves, millard_curves
from ..muscle.implicit import implicit_residual
from ..muscle.parameters import MuscleParameters
from .report import TOLERANCES, Check, compare


def _curve_checks(path: Path, columns: dict[str, Callable], inputs: tuple[str, ...]
                  ) -> list[Check]:
    """Each of `columns` (name -> function of the table) against the file's column."""
    table = read_csv(path, required=(*inputs, *columns))
    checks = []
    for quantity, fn in columns.items():
        computed = np.asarray(fn(table))
        checks.append(compare(path.name, path.stem, quantity, computed, table[quantity],
                              tolerance=TOLERANCES["curve"], unit="-"))
    return checks


def check_fiber_length_curves(path: Path) -> list[Check]:
    """`dgf_fiber_length_curves.csv`: active and passive force-length curves."""
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
    }, ("norm_fiber_length", "active_force_width_scale", "passive_fiber_strain_at_one_norm_force"))


def check_tendon_curves(path: Path) -> list[Check]:
    """`dgf_tendon_curves.csv`: the tendon force-length curve, derivative, integral."""
    l = lambda t: t["norm_tendon_length"]
    e = lambda t: t["tendon_strain_at_one_norm_force"]
    return _curve_checks(path, {
        "tendon_force_multiplier": lambda t: curves.tendon_force_multiplier(l(t), e(t)),
        "tendon_force_multiplier_derivative":
            lambda t: curves.tendon_force_multiplier_derivative(l(t), e(t)),
        "tendon_force_multiplier_integral":
            lambda t: curves.tendon_force_multiplier_integral(l(t), e(t)),
    }, ("norm_tendon_length", "tendon_strain_at_one_norm_force"))


def check_tendon_inverse(path: Path) -> list[Check]:
    """`dgf_tendon_inverse_curve.csv`: normalised tendon length from force."""
    return _curve_checks(path, {"norm_tendon_length": lambda t: curves.tendon_force_length_inverse(
        t["norm_tendon_force"], t["tendon_strain_at_one_norm_force"])},
        ("norm_tendon_force", "tendon_strain_at_one_norm_force"))


def check_force_velocity(path: Path) -> list[Check]:
    """`dgf_force_velocity.csv`: the force-velocity multiplier."""
    return _curve_checks(path, {"force_velocity_multiplier":
                                lambda t: curves.force_velocity_multiplier(t["norm_fiber_velocity"])},
                         ("norm_fiber_velocity",))


def check_force_velocity_inverse(path: Path) -> list[Check]:
    """`dgf_force_velocity_inverse.csv`: normalised fibre velocity from the multiplier."""
    return _curve_checks(path, {"norm_fiber_velocity":
                                lambda t: curves.force_velocity_inverse(t["force_velocity_multiplier"])},
                         ("force_velocity_multiplier",))


#: Parameter columns of `dgf_equilibrium_residual.csv`.
_RESIDUAL_PARAMETERS = ("max_isometric_force", "optimal_fiber_length", "tendon_slack_length",
              "pennation_angle_at_optimal", "max_contraction_velocity",
              "tendon_strain_at_one_norm_force", "passive_fiber_strain_at_one_norm_force",
              "active_force_width_scale", "fiber_damping")
#: Input columns of `dgf_equilibrium_residual.csv`, in `implicit_residual`'s order.
_RESIDUAL_INPUTS = ("muscle_tendon_length", "muscle_tendon_velocity", "activation",
                    "norm_tendon_force", "norm_tendon_force_derivative")


def check_equilibrium_residual(path: Path) -> list[Check]:
    """`dgf_equilibrium_residual.csv`: OpenSim's implicit tendon-dynamics residual."""
    table = read_csv(path, required=(*_RESIDUAL_PARAMETERS, *_RESIDUAL_INPUTS, "residual"))
    names = [f"row{i}" for i in range(len(table["residual"]))]
    params = MuscleParameters.from_dict({f: table[f] for f in _RESIDUAL_PARAMETERS}, names=names)
    residual = implicit_residual(params, *(jnp.asarray(table[c]) for c in _RESIDUAL_INPUTS))
    return [compare(path.name, path.stem, "residual", residual, table["residual"],
                    tolerance=TOLERANCES["residual"], unit="-")]


def _millard_curve_parameters(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """`{(param_set, curve): {parameter: value}}` from the `*_curve_params.csv` beside `path`."""
    params_path = path.with_name(path.name.replace("_curves.csv", "_curve_params.csv"))
    table = read_csv(params_path, required=("param_set", "curve", "parameter", "value"))
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


def check_millard_curves(path: Path) -> list[Check]:
    """The Millard 2012 curves, built from the recorded curve parameters, against OpenSim.

    Value and first derivative: absolute error. Second derivative: relative to
    max(1, |reference|) (it reaches ~6e3 at the tendon's toe, where OpenSim's own solve for the
    Bézier parameter, tolerance 2e-14, limits its accuracy to ~1e-7 absolute). Integral: OpenSim
    integrates numerically (it differs from the exact integral by up to ~2e-5).
    """
    table = read_csv(path, required=("param_set", "curve", "x", "value", "derivative1",
                                     "derivative2", "integral"))
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

