"""Read muscle parameters from an OpenSim `.osim` model with the standard-library XML parser.

Supported classes: `Millard2012EquilibriumMuscle`, `DeGrooteFregly2016Muscle`,
`Thelen2003Muscle`. A property missing on a muscle comes from the model's `<defaults>` object of
that class, else from OpenSim 4.6's class default. Curve shapes do not carry over between
families: from Millard's curves only the strains at one normalised force are used (tendon
`TendonForceLengthCurve/strain_at_one_norm_force`, passive `FiberForceLengthCurve/
strain_at_one_norm_force`); Thelen's `FmaxTendonStrain` and `FmaxMuscleStrain` map onto the same
two parameters. No OpenSim installation is needed.
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ..muscle.parameters import PARAMETER_FIELDS, MuscleParameters

#: OpenSim 4.6 class defaults, in mskdiff's field names.
CLASS_DEFAULTS: dict[str, dict[str, float]] = {
    "DeGrooteFregly2016Muscle": {
        "max_contraction_velocity": 10.0, "pennation_angle_at_optimal": 0.0,
        "tendon_strain_at_one_norm_force": 0.049, "passive_fiber_strain_at_one_norm_force": 0.6,
        "active_force_width_scale": 1.0, "fiber_damping": 0.0,
        "activation_time_constant": 0.015, "deactivation_time_constant": 0.060,
        "minimum_activation": 0.0, "ignore_tendon_compliance": 0.0,
    },
    "Millard2012EquilibriumMuscle": {
        "max_contraction_velocity": 10.0, "pennation_angle_at_optimal": 0.0,
        "tendon_strain_at_one_norm_force": 0.049, "passive_fiber_strain_at_one_norm_force": 0.7,
        "active_force_width_scale": 1.0, "fiber_damping": 0.1,
        "activation_time_constant": 0.01, "deactivation_time_constant": 0.04,
        "minimum_activation": 0.01, "ignore_tendon_compliance": 0.0,
    },
    "Thelen2003Muscle": {
        "max_contraction_velocity": 10.0, "pennation_angle_at_optimal": 0.0,
        "tendon_strain_at_one_norm_force": 0.04, "passive_fiber_strain_at_one_norm_force": 0.6,
        "active_force_width_scale": 1.0, "fiber_damping": 0.0,
        "activation_time_constant": 0.015, "deactivation_time_constant": 0.05,
        "minimum_activation": 0.01, "ignore_tendon_compliance": 0.0,
    },
}

#: Field -> XML path below the muscle element, per class, where it differs from the field name.
_XML_PATHS: dict[str, dict[str, str]] = {
    "DeGrooteFregly2016Muscle": {},
    "Millard2012EquilibriumMuscle": {
        "tendon_strain_at_one_norm_force": "TendonForceLengthCurve/strain_at_one_norm_force",
        "passive_fiber_strain_at_one_norm_force": "FiberForceLengthCurve/strain_at_one_norm_force",
    },
    "Thelen2003Muscle": {
        "tendon_strain_at_one_norm_force": "FmaxTendonStrain",
        "passive_fiber_strain_at_one_norm_force": "FmaxMuscleStrain",
    },
}
_NOT_IN_CLASS = {"Millard2012EquilibriumMuscle": {"active_force_width_scale"},
                 "Thelen2003Muscle": {"active_force_width_scale", "fiber_damping"}}
_REQUIRED = ("max_isometric_force", "optimal_fiber_length", "tendon_slack_length")
#: Classes derived from OpenSim's Muscle that mskdiff cannot read (reported when found).
_OTHER_MUSCLES = ("Millard2012AccelerationMuscle", "Thelen2003Muscle_Deprecated",
                  "RigidTendonMuscle", "Schutte1993Muscle_Deprecated", "McKibbenActuator",
                  "Delp1990Muscle_Deprecated")


def load_osim(path, muscles: Sequence[str] | None = None, *,
              tendon_compliance: str = "file") -> MuscleParameters:
    """Muscle parameters of an OpenSim model file.

    Args:
        path: the `.osim` file.
        muscles: names to select, in this order (default: every supported muscle).
        tendon_compliance: 'file' (each muscle's `ignore_tendon_compliance`), 'all_elastic'
            or 'all_rigid'.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an OpenSim model, no supported muscles, unknown names, or a missing,
            non-numeric or non-physical value (the message names the muscle and field).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OpenSim model file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ValueError(f"{path}: not an XML file ({error})") from error
    model = root.find("Model")
    if root.tag != "OpenSimDocument" or model is None:
        raise ValueError(f"{path}: not an OpenSim model (no <OpenSimDocument><Model>)")
    defaults = {e.tag: e for e in (model.find("defaults") or [])}
    elements = [e for child in model if child.tag != "defaults" for e in child.iter()]
    found = [e for e in elements if e.tag in CLASS_DEFAULTS and e.get("name")]
    if not found:
        others = sorted({e.tag for e in elements if e.tag in _OTHER_MUSCLES})
        extra = f"; unsupported muscle classes present: {others}" if others else ""
        raise ValueError(f"{path}: no muscles of a supported class "
                         f"({sorted(CLASS_DEFAULTS)}){extra}")
    rows = {e.get("name"): _muscle_values(e, defaults.get(e.tag), path) for e in found}
    names = list(rows) if muscles is None else list(muscles)
    unknown = [n for n in names if n not in rows]
    if unknown:
        raise ValueError(f"{path}: unknown muscle name(s) {unknown}; available: {sorted(rows)}")
    values = {f: [rows[n][f] for n in names] for f in (*PARAMETER_FIELDS, "ignore_tendon_compliance")}
    try:
        params = MuscleParameters.from_dict(values, names=names)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return params.with_tendon_compliance(tendon_compliance)


def _muscle_values(element, default_element, path) -> dict[str, float]:
    cls, name = element.tag, element.get("name")
    values = {}
    for field in (*PARAMETER_FIELDS, "ignore_tendon_compliance"):
        if field in _NOT_IN_CLASS.get(cls, ()):
            values[field] = CLASS_DEFAULTS[cls][field]
            continue
        xml_path = _XML_PATHS[cls].get(field, field)
        text = _find_text(element, xml_path)
        if text is None and default_element is not None:
            text = _find_text(default_element, xml_path)
        if text is None:
            if field in _REQUIRED:
                raise ValueError(f"{path}: muscle {name!r} has no `{field}`")
            values[field] = CLASS_DEFAULTS[cls][field]
            continue
        values[field] = _parse_number(text, name, field, path)
    for field in (*_REQUIRED, "max_contraction_velocity", "tendon_strain_at_one_norm_force",
                  "passive_fiber_strain_at_one_norm_force"):
        if not values[field] > 0:
            raise ValueError(f"{path}: muscle {name!r}: `{field}` must be > 0, "
                             f"got {values[field]}")
    return values


def _find_text(element, xml_path: str) -> str | None:
    found = element.find(xml_path)
    return None if found is None or found.text is None else found.text.strip()


def _parse_number(text: str, muscle: str, field: str, path) -> float:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return float(lowered == "true")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: muscle {muscle!r}: `{field}` is not a number: {text!r}") from None
