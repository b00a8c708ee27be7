r"""Hill-type muscle parameters from MuJoCo's own muscle actuators (any MuJoCo muscle model).

A MuJoCo muscle (`gaintype="muscle"`) has `gainprm` = `[range0, range1, force, scale, lmin,
lmax, vmax, fpmax, fvmax]`, `dynprm` = `[tau_act, tau_deact, tausmooth]` and the compiled
`actuator_lengthrange` $[\ell_0, \ell_1]$ (actuator length, m). MuJoCo's normalised length is
$L = r_0 + (\ell - \ell_0)/L_0$ with the optimal length $L_0 = (\ell_1 - \ell_0)/(r_1 - r_0)$,
i.e. a rigid tendon of length $\ell_0 - r_0 L_0$. `parameters_from_mujoco` maps them to
`MuscleParameters` (OpenSim spelling):

| field | value |
|---|---|
| `optimal_fiber_length` | $L_0$ [m] (**) |
| `tendon_slack_length` | $\ell_0 - r_0 L_0$ [m] (**) |
| `max_isometric_force` | `force`, or `scale / acc0` where `force` < 0 [N] (*) |
| `max_contraction_velocity` | `vmax` [$L_0$/s] |
| `activation_time_constant`, `deactivation_time_constant` | `dynprm[0]`, `dynprm[1]` [s] |
| `pennation_angle_at_optimal` | 0: MuJoCo's muscles have no pennation |
| `tendon_strain_at_one_norm_force` | 0.049 (OpenSim's default): elastic tendons |
| `passive_fiber_strain_at_one_norm_force` | where MuJoCo's passive force equals `force` (below) |
| the others | `mskdiff.muscle.DEFAULTS` |

(*) MuJoCo resolves a negative `force` at run time; the compiled model keeps it negative.

(**) **Tendonless muscles.** MuJoCo's normalisation often leaves no room for a tendon:
$\ell_0 - r_0 L_0 < 0.05 (\ell_0 + (1 - r_0) L_0)$ for 152 of myotorso's 210 muscles, 3 of
myohand_r's 39 and 2 of myoLeg's 80 (most of them <= 0: a "fibre" longer than its MTU,
harmless for MuJoCo's rigid muscle, impossible for an elastic tendon). Such muscles
(`tendonless_muscles`) get a tendon of `min_tendon_slack_fraction` (5 %) of their MTU length
at optimal fibre length, which is kept:
$\ell_s = 0.05 (\ell_0 + (1 - r_0) L_0)$, $l_{opt} = \ell_0 + (1 - r_0) L_0 - \ell_s$. Their
force still peaks where MuJoCo's does, but their curves are narrower or wider than MuJoCo's by
$L_0 / l_{opt}$.

**Passive strain.** De Groote's passive curve is an exponential fixed by one number, the fibre
strain $e_0$ at which it reaches one maximum isometric force. MuJoCo's passive force (from
`biasprm`, normally equal to `gainprm`) is a quadratic from $L = 1$ to $b = (1 + l_{max})/2$
and then linear: $F_P = F\,f_{pmax}\,s(L)$, $s = x^2/2$ ($x = (L-1)/(b-1) \le 1$), else
$s = 1/2 + (L-b)/(b-1)$ (so $1.5 f_{pmax}$ at $l_{max}$). $e_0$ is taken where MuJoCo's passive
force equals one maximum isometric force (in the converted muscle's normalisation): the same
definition in both models, so the passive curves cross there. Muscles with `fpmax` = 0 (no
passive force in MuJoCo) keep OpenSim's default 0.6; De Groote's curve cannot be zero.

**Where the models differ.** MuJoCo's active force-length and force-velocity curves are
piecewise quadratics (bounded by `lmin`/`lmax`, `fvmax`), De Groote's are Gaussians and an
`asinh`; the active force width is not fitted (`active_force_width_scale` = 1). At $L = L_0$,
$v = 0$ both active curves are 1 (De Groote's to about 1e-3), but De Groote's passive force is
already about 0.018 $F$ there (MuJoCo's is 0). MuJoCo's activation switches its time constant
sharply (`tausmooth` = 0); the mskdiff formulations use their own activation dynamics with
these time constants. Measured differences are in `tests/test_mujoco_conversion.py`.
"""

import os
from collections.abc import Mapping
from pathlib import Path

import mujoco
import numpy as np

from ..io.osim import load_osim
from ..io.reference import parameters_from_table
from ..muscle.parameters import DEFAULTS, PARAMETER_FIELDS, MuscleParameters

#: A per-muscle override: actuator name -> {field: value}, a `MuscleParameters` (its muscles
#: replace the converted ones), or a path to an `.osim` model or a muscle table (`.csv`).
Overrides = Mapping[str, Mapping[str, float]] | MuscleParameters | str | os.PathLike

#: MuJoCo's guard against division by zero (`mjMINVAL`).
_MINVAL = 1e-15
_OVERRIDE_FIELDS = (*PARAMETER_FIELDS, "ignore_tendon_compliance")
#: The shortest converted tendon, as a fraction of the MTU length at optimal fibre length.
MIN_TENDON_SLACK_FRACTION = 0.05


def actuator_names(mj_model: mujoco.MjModel) -> tuple[str, ...]:
    """Names of the model's actuators, in actuator order."""
    return tuple(mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, i)
                 for i in range(mj_model.nu))


def check_tendon_muscles(mj_model: mujoco.MjModel) -> None:
    """Raise `ValueError` naming the actuators that are not muscles on tendon transmissions.

    The plant drives every actuator by an MTU (`MJXPlant.from_mjmodel`), whose length is a
    tendon path.
    """
    names = actuator_names(mj_model)
    not_muscle = [n for i, n in enumerate(names)
                  if mj_model.actuator_gaintype[i] != mujoco.mjtGain.mjGAIN_MUSCLE]
    not_tendon = [n for i, n in enumerate(names)
                  if mj_model.actuator_trntype[i] != mujoco.mjtTrn.mjTRN_TENDON]
    if not names:
        raise ValueError("the model has no actuators; it needs muscles on tendons")
    if not_muscle:
        raise ValueError(f"actuators {not_muscle} are not muscles (gaintype='muscle'); "
                         "every actuator must be a muscle to convert the model")
    if not_tendon:
        raise ValueError(f"muscles {not_tendon} are not on tendon transmissions; "
                         "an MTU needs a tendon path for its length")


def _max_force(prm: np.ndarray, acc0: np.ndarray) -> np.ndarray:
    """MuJoCo's peak active force [N]: `force`, or `scale / acc0` where `force` < 0."""
    return np.where(prm[:, 2] < 0, prm[:, 3] / np.maximum(acc0, _MINVAL), prm[:, 2])


def _optimal_length(prm: np.ndarray, lengthrange: np.ndarray) -> np.ndarray:
    r"""MuJoCo's $L_0 = (\ell_1 - \ell_0) / (r_1 - r_0)$ [m]."""
    return (lengthrange[:, 1] - lengthrange[:, 0]) / np.maximum(prm[:, 1] - prm[:, 0], _MINVAL)


def _passive_length_at(force_ratio: np.ndarray, lmax: np.ndarray) -> np.ndarray:
    """Normalised length where MuJoCo's passive shape $s(L)$ (module docstring) equals `force_ratio`."""
    b = 0.5 * (1.0 + lmax)
    quadratic = 1.0 + np.sqrt(2.0 * np.minimum(force_ratio, 0.5)) * (b - 1.0)
    linear = b + (force_ratio - 0.5) * (b - 1.0)
    return np.where(force_ratio <= 0.5, quadratic, linear)


def _passive_mtu_length(mj_model: mujoco.MjModel) -> np.ndarray:
    """MTU length [m] where MuJoCo's passive force equals its peak active force.

    Uses `biasprm` (MuJoCo's passive force) with its own range, force and `lmax`. NaN where
    `fpmax` <= 0 (no passive force).
    """
    gain, bias = mj_model.actuator_gainprm[:, :9], mj_model.actuator_biasprm[:, :9]
    lengthrange, acc0 = mj_model.actuator_lengthrange, mj_model.actuator_acc0
    bias_force = _max_force(bias, acc0) * bias[:, 7]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bias_force > 0, _max_force(gain, acc0) / bias_force, np.nan)
    bias_length = _passive_length_at(ratio, bias[:, 5])
    return lengthrange[:, 0] + (bias_length - bias[:, 0]) * _optimal_length(bias, lengthrange)


def _mujoco_lengths(mj_model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    r"""MuJoCo's optimal fibre length $L_0$ and rigid tendon length $\ell_0 - r_0 L_0$ [m]."""
    prm, lengthrange = mj_model.actuator_gainprm[:, :9], mj_model.actuator_lengthrange
    optimal = _optimal_length(prm, lengthrange)
    return optimal, lengthrange[:, 0] - prm[:, 0] * optimal


def tendonless_muscles(mj_model: mujoco.MjModel, *,
                       min_tendon_slack_fraction: float = MIN_TENDON_SLACK_FRACTION
                       ) -> tuple[str, ...]:
    """Muscles that `parameters_from_mujoco` gives the minimum tendon (module docstring).

    Their MuJoCo tendon length is below `min_tendon_slack_fraction` of their MTU length at
    optimal fibre length.
    """
    optimal, tendon = _mujoco_lengths(mj_model)
    short = tendon < min_tendon_slack_fraction * (tendon + optimal)
    return tuple(n for n, s in zip(actuator_names(mj_model), short, strict=True) if s)


def _lengths(mj_model: mujoco.MjModel, min_tendon_slack_fraction: float
             ) -> tuple[np.ndarray, np.ndarray]:
    r"""Optimal fibre and tendon slack lengths [m]: MuJoCo's, or with the minimum tendon.

    The MTU length at optimal fibre length, $\ell_s + L_0$, is kept; where MuJoCo's tendon is
    shorter than the minimum, the tendon takes the minimum and the fibre the rest.
    """
    optimal, tendon = _mujoco_lengths(mj_model)
    at_optimum = tendon + optimal
    bad = [n for n, x in zip(actuator_names(mj_model), at_optimum, strict=True) if not x > 0]
    if bad:
        raise ValueError("MuJoCo's MTU length at optimal fibre length (lengthrange0 + "
                         f"(1 - range0) L0) must be > 0; offending muscles: {bad}")
    slack = np.maximum(tendon, min_tendon_slack_fraction * at_optimum)
    return at_optimum - slack, slack


def _converted_fields(mj_model: mujoco.MjModel, min_tendon_slack_fraction: float
                      ) -> dict[str, np.ndarray]:
    """The fields that come from MuJoCo's muscle parameters (module docstring's table)."""
    prm = mj_model.actuator_gainprm[:, :9]
    optimal, slack = _lengths(mj_model, min_tendon_slack_fraction)
    passive = (_passive_mtu_length(mj_model) - slack) / optimal - 1.0
    return {
        "max_isometric_force": _max_force(prm, mj_model.actuator_acc0),
        "optimal_fiber_length": optimal,
        "tendon_slack_length": slack,
        "pennation_angle_at_optimal": np.zeros(mj_model.nu),
        "max_contraction_velocity": prm[:, 6],
        "passive_fiber_strain_at_one_norm_force": np.where(
            np.isfinite(passive) & (passive > 0), passive,
            DEFAULTS["passive_fiber_strain_at_one_norm_force"]),
        "activation_time_constant": mj_model.actuator_dynprm[:, 0],
        "deactivation_time_constant": mj_model.actuator_dynprm[:, 1],
    }


def parameters_from_mujoco(mj_model: mujoco.MjModel, *, overrides: Overrides | None = None,
                           tendon_strain_at_one_norm_force: float = 0.049,
                           min_tendon_slack_fraction: float = MIN_TENDON_SLACK_FRACTION
                           ) -> MuscleParameters:
    r"""`MuscleParameters` for every muscle actuator of a compiled MuJoCo model, by actuator name.

    The mapping and its assumptions (no pennation, elastic tendons, the passive strain) are in
    the module docstring. The MTU length of the converted muscles is the actuator length, so a
    rigid tendon gives MuJoCo's normalised length and velocity exactly.

    Args:
        mj_model: a compiled model whose actuators are all muscles on tendons.
        overrides: per-muscle values that replace the converted ones: a mapping actuator name
            -> {field: value} (fields of `mskdiff.muscle.PARAMETER_FIELDS` or
            `ignore_tendon_compliance`); a `MuscleParameters` (every field of its muscles); a
            muscle table `.csv` (`mskdiff.io.parameters_from_table`); or an `.osim` model
            (`mskdiff.io.load_osim`: the muscles it shares with the model).
        tendon_strain_at_one_norm_force: tendon strain at one maximum isometric force [-] of
            every muscle (before overrides); OpenSim's default 0.049.
        min_tendon_slack_fraction: the shortest tendon, as a fraction of the MTU length at
            optimal fibre length [-] (module docstring, "Tendonless muscles").

    Raises:
        ValueError: actuators that are not muscles or not on tendons; muscles whose MTU is
            not longer than zero at optimal fibre length; override names that are not actuators,
            unknown override fields, or an `.osim` sharing no muscle with the model (each
            message lists the names).
    """
    check_tendon_muscles(mj_model)
    names = actuator_names(mj_model)
    fields = _converted_fields(mj_model, min_tendon_slack_fraction)
    fields["tendon_strain_at_one_norm_force"] = np.full(mj_model.nu,
                                                        tendon_strain_at_one_norm_force)
    params = MuscleParameters.from_dict(fields, names=names)
    return params if overrides is None else apply_overrides(params, overrides)


def apply_overrides(params: MuscleParameters, overrides: Overrides) -> MuscleParameters:
    """`params` with per-muscle values replaced (see `parameters_from_mujoco`'s `overrides`)."""
    if isinstance(overrides, MuscleParameters):
        return _replace_muscles(params, overrides)
    if isinstance(overrides, str | os.PathLike):
        return _replace_muscles(params, _read_overrides(Path(overrides), params.names))
    if isinstance(overrides, Mapping):
        return _replace_values(params, overrides)
    raise TypeError(f"`overrides` must be a mapping, MuscleParameters or a path, "
                    f"got {type(overrides).__name__}")


def _read_overrides(path: Path, names: tuple[str, ...]) -> MuscleParameters:
    """Parameters from an `.osim` (the muscles shared with `names`) or a muscle table."""
    if path.suffix.lower() == ".osim":
        shared = [n for n in load_osim(path).names if n in names]
        if not shared:
            raise ValueError(f"{path}: no muscle of the model is in the file; "
                             f"the model's muscles: {list(names)}")
        return load_osim(path, shared)
    if path.suffix.lower() == ".csv":
        return parameters_from_table(path)
    raise ValueError(f"{path}: overrides must be an `.osim` model or a `.csv` muscle table")


def _check_known(requested, names: tuple[str, ...]) -> None:
    unknown = [n for n in requested if n not in names]
    if unknown:
        raise ValueError(f"overrides name muscles {unknown} that are not actuators of the "
                         f"model; its muscles: {list(names)}")


def _replace_muscles(params: MuscleParameters, new: MuscleParameters) -> MuscleParameters:
    """`params` with the muscles of `new` replaced by `new`'s values (every field)."""
    _check_known(new.names, params.names)
    values = _editable(params)
    for k, name in enumerate(new.names):
        row = params.names.index(name)
        for field in _OVERRIDE_FIELDS:
            values[field][row] = np.asarray(getattr(new, field))[k]
    return MuscleParameters.from_dict(values, names=params.names)


def _editable(params: MuscleParameters) -> dict[str, np.ndarray]:
    """Writable copies of every field of `params` (no `name`)."""
    return {field: np.array(getattr(params, field)) for field in _OVERRIDE_FIELDS}


def _replace_values(params: MuscleParameters, overrides: Mapping[str, Mapping[str, float]]
                    ) -> MuscleParameters:
    """`params` with `overrides[muscle][field]` set."""
    _check_known(list(overrides), params.names)
    values = _editable(params)
    for name, row in overrides.items():
        unknown = sorted(set(row) - set(_OVERRIDE_FIELDS))
        if unknown:
            raise ValueError(f"overrides of {name!r}: unknown field(s) {unknown}; "
                             f"valid: {list(_OVERRIDE_FIELDS)}")
        for field, value in row.items():
            values[field][params.names.index(name)] = value
    return MuscleParameters.from_dict(values, names=params.names)
