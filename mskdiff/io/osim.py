"""Read muscle parameters from an OpenSim `.osim` model with the standard-library XML parser.

No OpenSim installation is needed. Supported classes: `DeGrooteFregly2016Muscle`,
`Millard2012EquilibriumMuscle` and `Thelen2003Muscle`, anywhere under the model's
`ForceSet/objects`. A property missing on a muscle is looked up as OpenSim 4.6 does: first in
the model's `<defaults>` object of the muscle's class, then OpenSim's class default
(`CLASS_DEFAULTS`). OpenSim omits default-valued properties when it writes a file, so every field
has a class default, `max_isometric_force` (1000 N), `optimal_fiber_length` (0.1 m) and
`tendon_slack_length` (0.2 m) included.

What maps onto `MuscleParameters`:

* All classes: `max_isometric_force`, `optimal_fiber_length`, `tendon_slack_length`,
  `pennation_angle_at_optimal`, `max_contraction_velocity` and `ignore_tendon_compliance`
  (OpenSim's `Muscle` properties, same names).
* `DeGrooteFregly2016Muscle`: every field under its own name. It has no
  `minimum_activation` (its activation dynamics do not clamp), which becomes 0.
* `Millard2012EquilibriumMuscle`: `fiber_damping`, the time constants and
  `minimum_activation` under their names. Millard's curves are quintic Beziers, not De
  Groote's exponentials: only their strains carry over, `TendonForceLengthCurve/
  strain_at_one_norm_force` -> `tendon_strain_at_one_norm_force` and `FiberForceLengthCurve/
  strain_at_one_norm_force` -> `passive_fiber_strain_at_one_norm_force`.
  `active_force_width_scale` is 1.
* `Thelen2003Muscle`: `FmaxTendonStrain` -> `tendon_strain_at_one_norm_force`,
  `FmaxMuscleStrain` -> `passive_fiber_strain_at_one_norm_force`, the time constants and
  `minimum_activation` under their names. Thelen has no fiber damping (0) and no width scale (1).

Millard's curves themselves (every property of its four curve objects, with OpenSim's
optional-property rules) are read by `load_millard_curves`, for `MillardEquilibriumMTU` and
`MillardAccelerationMTU`.

Not read: Thelen's curve shapes (`KshapeActive`, `KshapePassive`, `Af`, `Flen`,
`fv_linear_extrap_threshold`), De Groote's `ignore_passive_fiber_force`, `activation_dynamics_smoothing` and
`tendon_compliance_dynamics_mode`, `maximum_pennation_angle`, initial states
(`default_activation`, `default_fiber_length`, `default_normalized_tendon_force`),
`ignore_activation_dynamics`, control bounds and the muscle path (MTU lengths come from the
skeleton).

Older formats are read as OpenSim 4.6 reads them (each checked against `opensim.Model`):

* Format (the `OpenSimDocument` `Version`) 20301 and older: a muscle's `pennation_angle` is its
  `pennation_angle_at_optimal` (OpenSim's `Muscle::updateFromXMLNode` renames the first one;
  the first of the two names in the file then wins). Older than 10901: refused, as OpenSim
  refuses it.
* Element names with C++ scopes, such as `<HuntCrossleyForce::ContactParametersSet>` (OpenSim
  3.x and 4.x write them), are XML 1.0 but not namespace-well-formed XML, which ElementTree
  needs: they are read under a stand-in name and get their name back after parsing.
* `Schutte1993Muscle` and `Delp1990Muscle` are the unsupported `*_Deprecated` classes, under the
  names OpenSim gives them.
* Properties that OpenSim 4.6 ignores are ignored: Thelen's `Vmax`, `Vmax0`, `damping` and
  `activation_minimum_value`, Millard's `MuscleFirstOrderActivationDynamicModel`.
"""

import inspect
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..muscle import millard_curves
from ..muscle.millard_equilibrium import MillardCurves
from ..muscle.parameters import PARAMETER_FIELDS, MuscleParameters

#: OpenSim 4.6 `Muscle` defaults, shared by every class.
_MUSCLE_DEFAULTS: dict[str, float | bool] = {
    "max_isometric_force": 1000.0,
    "optimal_fiber_length": 0.1,
    "tendon_slack_length": 0.2,
    "pennation_angle_at_optimal": 0.0,
    "max_contraction_velocity": 10.0,
    "ignore_tendon_compliance": False,
}

#: OpenSim 4.6 class defaults, in mskdiff's field names (fields a class lacks: the value used).
CLASS_DEFAULTS: dict[str, dict[str, float | bool]] = {
    "DeGrooteFregly2016Muscle": {
        **_MUSCLE_DEFAULTS,
        "tendon_strain_at_one_norm_force": 0.049, "passive_fiber_strain_at_one_norm_force": 0.6,
        "active_force_width_scale": 1.0, "fiber_damping": 0.0,
        "activation_time_constant": 0.015, "deactivation_time_constant": 0.060,
        "minimum_activation": 0.0,
    },
    "Millard2012EquilibriumMuscle": {
        **_MUSCLE_DEFAULTS,
        "tendon_strain_at_one_norm_force": 0.049, "passive_fiber_strain_at_one_norm_force": 0.7,
        "active_force_width_scale": 1.0, "fiber_damping": 0.1,
        "activation_time_constant": 0.01, "deactivation_time_constant": 0.04,
        "minimum_activation": 0.01,
    },
    "Thelen2003Muscle": {
        **_MUSCLE_DEFAULTS,
        "tendon_strain_at_one_norm_force": 0.04, "passive_fiber_strain_at_one_norm_force": 0.6,
        "active_force_width_scale": 1.0, "fiber_damping": 0.0,
        "activation_time_constant": 0.015, "deactivation_time_constant": 0.05,
        "minimum_activation": 0.01,
    },
}

#: Field -> property path below the muscle element where it is not the field's own name;
#: None where the class has no such property (the class default is used).
_PROPERTY_PATHS: dict[str, dict[str, str | None]] = {
    "DeGrooteFregly2016Muscle": {"minimum_activation": None},
    "Millard2012EquilibriumMuscle": {
        "tendon_strain_at_one_norm_force": "TendonForceLengthCurve/strain_at_one_norm_force",
        "passive_fiber_strain_at_one_norm_force": "FiberForceLengthCurve/strain_at_one_norm_force",
        "active_force_width_scale": None,
    },
    "Thelen2003Muscle": {
        "tendon_strain_at_one_norm_force": "FmaxTendonStrain",
        "passive_fiber_strain_at_one_norm_force": "FmaxMuscleStrain",
        "active_force_width_scale": None,
        "fiber_damping": None,
    },
}

_FIELDS = (*PARAMETER_FIELDS, "ignore_tendon_compliance")


def load_osim(path: str | os.PathLike, muscles: Sequence[str] | None = None, *,
              tendon_compliance: str = "file") -> MuscleParameters:
    """Muscle parameters of an OpenSim model file (see the module docstring for the mapping).

    Args:
        path: the `.osim` file (str or `Path`).
        muscles: names of the muscles to read, in this order; default: every muscle of a
            supported class, in file order (muscles of other classes are skipped with a
            warning).
        tendon_compliance: 'file' (each muscle's `ignore_tendon_compliance`), 'all_elastic'
            or 'all_rigid'.

    Returns:
        `MuscleParameters` with one entry per muscle.

    Raises:
        FileNotFoundError: no file at `path`.
        TypeError: `muscles` is a single string.
        ValueError: not XML or not an OpenSim model; a format OpenSim 4.6 refuses (no or an
            old `Version`); no muscle of a supported class; duplicate or
            unknown muscle names; a non-numeric, non-finite or non-physical value (the message
            names the file, the muscle and the field); unknown `tendon_compliance`.
    """
    path = Path(path)
    model, found, unsupported, names = _selected_muscles(path, muscles)
    if muscles is None and unsupported:
        warnings.warn(f"{path}: skipped muscles of unsupported classes: {unsupported}",
                      stacklevel=2)
    defaults = {element.tag: element for element in model.findall("defaults/*")}
    rows = [_muscle_values(found[name], defaults, path) for name in names]
    values = {field: [row[field] for row in rows] for field in _FIELDS}
    try:
        params = MuscleParameters.from_dict(values, names=names)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return params.with_tendon_compliance(tendon_compliance)


def load_millard_curves(path: str | os.PathLike, muscles: Sequence[str] | None = None
                        ) -> MillardCurves:
    """The Millard 2012 curves of a model's `Millard2012EquilibriumMuscle`s, as OpenSim builds them.

    Properties equal for every muscle are shared; the others give each muscle its own curve
    (see `load_millard_curve_properties` for how each value is found).

    Args:
        path: the `.osim` file.
        muscles: names, in this order; default: every muscle of a supported class.
    """
    return MillardCurves.from_parameters(load_millard_curve_properties(path, muscles))


def load_millard_curve_properties(path: str | os.PathLike, muscles: Sequence[str] | None = None
                                  ) -> dict[str, dict[str, np.ndarray]]:
    """`{curve class: {property: values (n_muscles,)}}` in use by each Millard muscle of a model.

    Each property is resolved as `load_osim` resolves parameters (the muscle's curve object,
    the `<defaults>` object of the curve's class, OpenSim's class default); the optional
    properties of the elastic curves follow OpenSim's all-or-none rule and derived defaults
    (`millard_curves.in_use_properties`); muscles with fibre damping (>= 0.001) get OpenSim's
    damped-model updates (`millard_curves.damped_model_properties`: active force-length
    minimum and force-velocity slopes at +-vmax set to 0).

    Raises:
        ValueError: as `load_osim`; selected muscles of another class (their curves are not
            Millard's); a non-numeric property; optional properties given in part.
    """
    path = Path(path)
    model, found, _, names = _selected_muscles(path, muscles)
    other = {n: found[n].tag for n in names if found[n].tag not in _MILLARD_CLASSES}
    if other:
        raise ValueError(f"{path}: muscles without Millard 2012 curves: {other}")
    defaults = {element.tag: element for element in model.findall("defaults/*")}
    rows = [_curve_values(found[name], defaults, path) for name in names]
    raw = {curve: {prop: np.array([row[curve][prop] for row in rows], dtype=float)
                   for prop in rows[0][curve]}
           for curve in millard_curves.CURVE_BUILDERS}
    damping = np.array([_muscle_values(found[name], defaults, path)["fiber_damping"]
                        for name in names])
    damped = millard_curves.damped_model_properties(raw)
    return {curve: {prop: np.where(damping >= millard_curves.MIN_NONZERO_DAMPING,
                                   damped[curve][prop], column)
                    for prop, column in values.items()}
            for curve, values in raw.items()}


#: Muscle classes that carry Millard 2012 curve objects.
_MILLARD_CLASSES = ("Millard2012EquilibriumMuscle",)


def _curve_values(element: ET.Element, defaults: dict[str, ET.Element],
                  path: Path) -> dict[str, dict[str, float]]:
    """`{curve class: {property: value in use}}` of one muscle."""
    muscle = element.get("name")
    values = {}
    for curve, build in millard_curves.CURVE_BUILDERS.items():
        given = {}
        for prop in inspect.signature(build).parameters:
            text = _property_text(element, f"{curve}/{prop}", defaults)
            if text:  # absent or empty: not given
                given[prop] = _parse(text, muscle, f"{curve}/{prop}", path)
        try:
            values[curve] = millard_curves.in_use_properties(curve, given)
        except ValueError as error:
            raise ValueError(f"{path}: muscle {muscle!r}: {error}") from error
    return values


def _selected_muscles(path: Path, muscles: Sequence[str] | None):
    """`(model, supported muscles, other muscles, selected names)` of a model file.

    Raises as `load_osim` for a single string, unknown or unsupported names.
    """
    if isinstance(muscles, str):
        raise TypeError(f"`muscles` must be a sequence of names, got the string {muscles!r}")
    model = _read_model(path)
    found, unsupported = _find_muscles(model, path)
    names = list(found) if muscles is None else list(muscles)
    _check_selection(names, found, unsupported, path)
    return model, found, unsupported, names


#: OpenSim 4.6 refuses model files of an older format (the `OpenSimDocument` `Version`).
OLDEST_VERSION = 10901
#: Files of this format or older spell a muscle's `pennation_angle_at_optimal` `pennation_angle`.
_LAST_PENNATION_ANGLE_VERSION = 20301
#: Classes OpenSim 4.6 loads under another name (`Object::renameType`).
_RENAMED_CLASSES = {"Schutte1993Muscle": "Schutte1993Muscle_Deprecated",
                    "Delp1990Muscle": "Delp1990Muscle_Deprecated"}
#: An element name with C++ scopes, `HuntCrossleyForce::ContactParametersSet`, in a tag.
_SCOPED_NAME = re.compile(rb"(?<=<)/?[A-Za-z_][\w.-]*(?:::[\w.-]+)+")
#: What stands for `::` while parsing: XML name characters that no C++ name contains.
_SCOPE_STAND_IN = ".-."


def _read_model(path: Path) -> ET.Element:
    """The `<Model>` element of an OpenSim document, updated from older formats as OpenSim does."""
    if not path.is_file():
        raise FileNotFoundError(f"OpenSim model file not found: {path}")
    data = _SCOPED_NAME.sub(lambda m: m[0].replace(b"::", _SCOPE_STAND_IN.encode()), path.read_bytes())
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise ValueError(f"{path}: not an XML file ({error})") from error
    model = root.find("Model")
    if root.tag != "OpenSimDocument" or model is None:
        raise ValueError(f"{path}: not an OpenSim model (expected <OpenSimDocument><Model>, "
                         f"found root <{root.tag}>)")
    _update_from_version(model, _document_version(root, path))
    return model


def _document_version(root: ET.Element, path: Path) -> int:
    """The file format: `<OpenSimDocument Version="...">`, which OpenSim requires."""
    text = root.get("Version")
    if text is None:
        raise ValueError(f"{path}: <OpenSimDocument> has no Version attribute (OpenSim needs it)")
    try:
        version = int(text)
    except ValueError:
        raise ValueError(f"{path}: <OpenSimDocument> Version {text!r} is not an integer") from None
    if version < OLDEST_VERSION:
        raise ValueError(f"{path}: format version {version} is older than OpenSim 4.6 reads "
                         f"({OLDEST_VERSION}); save the model in OpenSim 3.3 to upgrade it")
    return version


def _update_from_version(model: ET.Element, version: int) -> None:
    """Scoped names back, renamed classes and legacy muscle properties as OpenSim 4.6 has them."""
    for element in model.iter():
        tag = element.tag.replace(_SCOPE_STAND_IN, "::")
        element.tag = _RENAMED_CLASSES.get(tag, tag)
        if version <= _LAST_PENNATION_ANGLE_VERSION and _looks_like_muscle(element):
            legacy = element.find("pennation_angle")
            if legacy is not None:
                legacy.tag = "pennation_angle_at_optimal"


def _find_muscles(model: ET.Element, path: Path) -> tuple[dict[str, ET.Element], dict[str, str]]:
    """Supported muscles (name -> element) and other muscles (name -> class) of the ForceSet."""
    found: dict[str, ET.Element] = {}
    unsupported: dict[str, str] = {}
    for element in (e for objects in model.findall("ForceSet/objects") for e in objects.iter()):
        if element.tag in CLASS_DEFAULTS:
            name = element.get("name")
            if not name:
                raise ValueError(f"{path}: a <{element.tag}> in the ForceSet has no name")
            if name in found:
                raise ValueError(f"{path}: more than one muscle named {name!r}")
            found[name] = element
        elif _looks_like_muscle(element):
            unsupported[element.get("name", "")] = element.tag
    if not found:
        classes = sorted(set(unsupported.values()))
        extra = f"; unsupported muscle classes found: {classes}" if classes else ""
        raise ValueError(f"{path}: no muscles of a supported class "
                         f"({sorted(CLASS_DEFAULTS)}){extra}")
    return found, unsupported


def _looks_like_muscle(element: ET.Element) -> bool:
    """An OpenSim `Muscle` of any class (they all have `max_isometric_force`)."""
    return (element.tag.endswith(("Muscle", "Muscle_Deprecated"))
            or element.find("max_isometric_force") is not None)


def _check_selection(names: list[str], found: dict, unsupported: dict[str, str],
                     path: Path) -> None:
    """Raise `ValueError` for requested names that are not supported muscles of the file."""
    unknown = [n for n in names if n not in found]
    if not unknown:
        return
    skipped = {n: unsupported[n] for n in unknown if n in unsupported}
    extra = f" ({skipped} are of unsupported classes)" if skipped else ""
    raise ValueError(f"{path}: unknown muscle name(s) {unknown}{extra}; "
                     f"available: {sorted(found)}")


def _muscle_values(element: ET.Element, defaults: dict[str, ET.Element],
                   path: Path) -> dict[str, float | bool]:
    """Every field of one muscle: its property, else `<defaults>`, else the class default."""
    paths = _PROPERTY_PATHS[element.tag]
    values = dict(CLASS_DEFAULTS[element.tag])
    for field in _FIELDS:
        xml_path = paths.get(field, field)
        text = None if xml_path is None else _property_text(element, xml_path, defaults)
        if text is not None:
            values[field] = _parse(text, element.get("name"), field, path)
    return values


def _property_text(element: ET.Element, xml_path: str,
                   defaults: dict[str, ET.Element]) -> str | None:
    """Text of the property at `xml_path` ('a/b') below `element`, as OpenSim resolves it.

    A missing property comes from the `<defaults>` object of the same class; a missing
    sub-object (e.g. a Millard curve) comes whole from that default object, and a property
    missing inside a sub-object from the `<defaults>` object of the sub-object's class.
    None means the class default applies.
    """
    head, _, rest = xml_path.partition("/")
    child = element.find(head)
    if child is None:
        default = defaults.get(element.tag)
        if default is None or default is element:
            return None
        return _property_text(default, xml_path, defaults)
    if rest:
        return _property_text(child, rest, defaults)
    return (child.text or "").strip()


def _parse(text: str, muscle: str, field: str, path: Path) -> float | bool:
    """A property's value: 'true'/'false' for `ignore_tendon_compliance`, else a finite number."""
    if field == "ignore_tendon_compliance":
        flags = {"true": True, "1": True, "false": False, "0": False}
        if text.lower() not in flags:
            raise ValueError(f"{path}: muscle {muscle!r}: `{field}` must be true or false, "
                             f"got {text!r}")
        return flags[text.lower()]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{path}: muscle {muscle!r}: `{field}` is not a finite number: {text!r}")
    return value
