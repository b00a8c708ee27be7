"""Reference cases exported from OpenSim: isolated-MTU set-ups (`*_setup.json`) and CSV tables."""

import csv
import inspect
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..muscle import millard_curves
from ..muscle.metabolic import MetabolicInputs, MetabolicParameters
from ..muscle.millard_acceleration import MillardAccelerationMTU, acceleration_muscle_curves
from ..muscle.millard_equilibrium import MillardCurves, MillardEquilibriumMTU
from ..muscle.mtu import AbstractMTU
from ..muscle.parameters import PARAMETER_FIELDS, MuscleParameters
from ..muscle.tendon_force import TendonForceMTU
from .osim import CLASS_DEFAULTS as OSIM_CLASS_DEFAULTS

#: OpenSim muscle classes the isolated-MTU set-ups may name.
MUSCLE_CLASSES = (
    "DeGrooteFregly2016Muscle",
    "Millard2012EquilibriumMuscle",
    "Millard2012AccelerationMuscle",
)


#: OpenSim class defaults by muscle class (`.osim` reading's, plus the acceleration muscle).
CLASS_DEFAULTS = {
    **OSIM_CLASS_DEFAULTS,
    "Millard2012AccelerationMuscle": {**OSIM_CLASS_DEFAULTS["Millard2012EquilibriumMuscle"],
                                      "fiber_damping": 0.01, "minimum_activation": 0.0},
}


def read_csv(path, required=()) -> dict[str, np.ndarray]:
    """A CSV with one header row as column name -> array (float where every value parses).

    Args:
        path: the file.
        required: column names it must have.

    Raises:
        ValueError: naming the file and the line or column: no header, no data rows, a row
            with the wrong number of fields (e.g. a truncated file), a missing `required`
            column, or a value that is not a number in a column whose first value is.
    """
    name = Path(path).name
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{name}: empty CSV file (expected a header row and data rows)")
    header, body = rows[0], rows[1:]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; expected columns {list(required)} "
                         f"(has {len(header)}: {header[:8]}{' ...' if len(header) > 8 else ''})")
    if not body:
        raise ValueError(f"{name}: header only, no data rows (expected at least one)")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{name}: line {line} has {len(row)} fields, expected "
                             f"{len(header)} (one per header column); is the file truncated?")
    return {column: _column(name, column, [r[i] for r in body])
            for i, column in enumerate(header)}


def _column(name: str, column: str, values: list[str]) -> np.ndarray:
    """Floats where every value parses; text where the first does not; else a named error."""
    try:
        return np.asarray(values, dtype=float)
    except ValueError:
        pass
    try:
        float(values[0])
    except ValueError:
        return np.asarray(values)
    line, bad = next((k + 2, v) for k, v in enumerate(values) if not _is_number(v))
    raise ValueError(f"{name}: line {line}, column {column!r}: {bad!r} is not a number "
                     "(expected a float, as in the column's other rows)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Piecewise-linear knots are padded to a multiple of this, so set-ups with a few knots more or
#: less still share one compiled program.
KNOT_BLOCK = 8


class TimeFunction(eqx.Module):
    """An OpenSim set-up function of time [s]: constant + sine + knots + smooth step.

    Each of OpenSim's types (`constant`, `sine`, `piecewise_linear`, `smooth_step`) sets one
    part and leaves the others zero; adding exact zeros leaves its value unchanged. Every
    set-up therefore has the same pytree structure, and simulations of different set-ups (same
    duration and model) run in one compiled program. Parameters are float64 NumPy arrays, so
    the function follows the precision JAX runs at.
    """

    offset: np.ndarray
    amplitude: np.ndarray
    omega: np.ndarray  # [rad/s]
    phase: np.ndarray  # [rad]
    knots_t: np.ndarray  # [s], increasing; padded past the last knot with flat knots
    knots_y: np.ndarray
    step_t0: np.ndarray  # [s]
    step_t1: np.ndarray  # [s]
    step_rise: np.ndarray  # y1 - y0

    def __call__(self, t):
        """The value at time `t` [s]."""
        x = jnp.clip((t - self.step_t0) / (self.step_t1 - self.step_t0), 0.0, 1.0)
        return (self.offset + self.amplitude * jnp.sin(self.omega * t + self.phase)
                + jnp.interp(t, self.knots_t, self.knots_y)
                + self.step_rise * x**3 * (10 - 15 * x + 6 * x**2))

    @classmethod
    def from_spec(cls, spec: dict) -> "TimeFunction":
        """From a set-up's description (the reference README's types)."""
        if not isinstance(spec, dict):
            raise ValueError(f"a function needs a mapping with a `type`, got {spec!r}")
        kind = spec.get("type")
        if kind not in _FUNCTION_KEYS:
            raise ValueError(f"unknown function type {kind!r}; known: {', '.join(_FUNCTION_KEYS)}")
        missing = [k for k in _FUNCTION_KEYS[kind] if k not in spec]
        if missing:
            raise ValueError(f"a {kind!r} function needs keys {list(_FUNCTION_KEYS[kind])}; "
                             f"missing {missing}")
        parts = dict(offset=0.0, amplitude=0.0, omega=0.0, phase=0.0, knots_t=[0.0, 1.0],
                     knots_y=[0.0, 0.0], step_t0=0.0, step_t1=1.0, step_rise=0.0)
        if kind == "constant":
            parts["offset"] = spec["value"]
        elif kind == "sine":
            parts.update({k: spec[k] for k in ("amplitude", "omega", "phase", "offset")})
        elif kind == "piecewise_linear":
            parts["knots_t"], parts["knots_y"] = _checked_knots(spec["t"], spec["y"])
        else:
            if not spec["t1"] > spec["t0"]:
                raise ValueError(f"smooth_step needs t1 > t0, got t0={spec['t0']}, t1={spec['t1']}")
            parts.update(offset=spec["y0"], step_t0=spec["t0"], step_t1=spec["t1"],
                         step_rise=spec["y1"] - spec["y0"])
        knots_t, knots_y = _padded_knots(parts.pop("knots_t"), parts.pop("knots_y"))
        return cls(knots_t=knots_t, knots_y=knots_y,
                   **{k: np.asarray(v, dtype=np.float64) for k, v in parts.items()})


#: The keys each set-up function type needs (the reference README's types).
_FUNCTION_KEYS = {"constant": ("value",), "sine": ("amplitude", "omega", "phase", "offset"),
                  "piecewise_linear": ("t", "y"), "smooth_step": ("t0", "t1", "y0", "y1")}


def _checked_knots(t, y) -> tuple[np.ndarray, np.ndarray]:
    """Knot times and values as float64 arrays: equal lengths >= 2, strictly increasing times."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if t.ndim != 1 or t.shape != y.shape or t.size < 2:
        raise ValueError(f"piecewise_linear needs t and y of equal length >= 2, got {t.shape} "
                         f"and {y.shape}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"piecewise_linear knot times must increase, got {t.tolist()}")
    return t, y


def _padded_knots(t, y) -> tuple[np.ndarray, np.ndarray]:
    """Knots padded to a multiple of `KNOT_BLOCK`.

    The padding is flat knots 1 s apart after the last one: `jnp.interp` holds the last value
    there, as it does past the last knot.
    """
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    extra = -len(t) % KNOT_BLOCK
    return (np.concatenate([t, t[-1] + np.arange(1.0, extra + 1.0)]),
            np.concatenate([y, np.full(extra, y[-1])]))


def time_function(spec: dict) -> TimeFunction:
    """An OpenSim function from its set-up description as a JAX function of time [s]."""
    return TimeFunction.from_spec(spec)


class CaseDrive(eqx.Module):
    """An isolated-MTU set-up's inputs as a function of time (a pytree of `TimeFunction`s)."""

    excitation: TimeFunction
    mtu_length: TimeFunction

    def __call__(self, t):
        """(excitation, MTU length [m], MTU velocity [m/s]) at time `t` [s], each of shape (1,).

        The velocity is the length's exact time derivative.
        """
        length, velocity = jax.jvp(self.mtu_length, (t,), (jnp.ones_like(t),))
        return self.excitation(t)[None], length[None], velocity[None]


#: Keys an isolated-MTU set-up must have (the reference README's section 3).
SETUP_KEYS = ("muscle_class", "excitation", "mtu_length", "duration")
#: Columns of `mtu_sim_<case>.csv` that the comparisons and fits read.
REFERENCE_COLUMNS = ("time", "activation", "fiber_length", "tendon_force")
#: The output step of `mtu_sim_<case>.csv` [s] (the reference README's).
_REFERENCE_STEP = 1e-3
#: Millard classes, whose set-ups may carry `millard_curve_changes`.
MILLARD_CLASSES = ("Millard2012EquilibriumMuscle", "Millard2012AccelerationMuscle")


class IsolatedMTUCase:
    """One isolated-MTU simulation case: set-up, reference table, parameters and inputs.

    Raises:
        ValueError: naming the set-up file and the key: invalid JSON (e.g. cut short), a missing
            key of `SETUP_KEYS`, an unknown muscle class, a malformed function, or an unknown
            `millard_curve_changes` property.
    """

    def __init__(self, setup_path):
        setup_path = Path(setup_path)
        self.setup_path = setup_path
        self.name = setup_path.name.removesuffix("_setup.json").removeprefix("mtu_sim_")
        self.csv_path = setup_path.with_name(f"mtu_sim_{self.name}.csv")
        self.setup = read_json(setup_path)
        missing = [k for k in SETUP_KEYS if k not in self.setup]
        if missing:
            raise ValueError(f"{setup_path.name}: missing key(s) {missing}; an isolated-MTU "
                             f"set-up needs {list(SETUP_KEYS)}")
        self.muscle_class = self.setup["muscle_class"]
        if self.muscle_class not in MUSCLE_CLASSES:
            raise ValueError(f"{setup_path.name}: unknown muscle_class {self.muscle_class!r}; "
                             f"known: {list(MUSCLE_CLASSES)}")
        #: `{curve class: {property: value}}` from the set-up's `millard_curve_changes`.
        self.curve_changes = self._curve_changes()
        #: Inputs as a function of time (a pytree: cases of one duration share compiles).
        self.drive = CaseDrive(self._function("excitation"), self._function("mtu_length"))

    def _function(self, key: str) -> TimeFunction:
        try:
            return time_function(self.setup[key])
        except ValueError as error:
            raise ValueError(f"{self.setup_path.name}: `{key}`: {error}") from None

    def _curve_changes(self) -> dict[str, dict[str, float]]:
        changes = self.setup.get("millard_curve_changes") or {}
        if changes and self.muscle_class not in MILLARD_CLASSES:
            raise ValueError(f"{self.setup_path.name}: `millard_curve_changes` applies to "
                             f"{list(MILLARD_CLASSES)} only; this case is {self.muscle_class}")
        try:
            return millard_curve_properties(changes)
        except ValueError as error:
            raise ValueError(f"{self.setup_path.name}: {error}") from None

    @property
    def duration(self) -> float:
        """Simulated time [s]."""
        return float(self.setup["duration"])

    @property
    def initial_activation(self) -> float:
        """Activation at t = 0 (the set-up's `default_activation`)."""
        return float(self.properties()["default_activation"])

    def properties(self) -> dict[str, float | bool | str]:
        """All muscle properties: OpenSim's strings, overridden by full-precision values."""
        props: dict = {}
        for key, text in self.setup.get("all_muscle_properties_as_strings", {}).items():
            props[key] = _parse_property(text)
        props.update(self.setup.get("properties_set", {}))
        props.update(self.setup.get("muscle_parameters", {}))
        return props

    def parameters(self) -> MuscleParameters:
        """`MuscleParameters` of the case's single muscle (fields it lacks take class defaults).

        Millard cases map to De Groote parameters through their curves' strains: tendon
        strain 0.049 and passive fiber strain 0.7 (OpenSim's Millard curve defaults), or the
        values of `millard_curve_changes`.
        """
        props = {**CLASS_DEFAULTS.get(self.muscle_class, {}), **self.properties()}
        values = {f: props[f] for f in PARAMETER_FIELDS if isinstance(props.get(f), float)}
        for field, (curve, name) in _STRAIN_FIELDS.items():
            if name in self.curve_changes.get(curve, {}):
                values[field] = self.curve_changes[curve][name]
        values["ignore_tendon_compliance"] = bool(props.get("ignore_tendon_compliance", False))
        source = self.setup.get("muscle_name_source", self.name)
        return MuscleParameters.from_dict(values, names=[_muscle_name(source, self.name)])

    def model(self, params: MuscleParameters | None = None) -> AbstractMTU:
        """Mskdiff's formulation of the case's OpenSim muscle class, at `params` (default: the case's).

        `DeGrooteFregly2016Muscle`: the explicit tendon-force formulation.
        `Millard2012EquilibriumMuscle`: `MillardEquilibriumMTU` with the class's curves as the
        damped model uses them, changed by the set-up's `millard_curve_changes`.
        `Millard2012AccelerationMuscle`: `MillardAccelerationMTU` with the case's mass and
        damping properties and that class's curves, changed likewise.
        """
        params = self.parameters() if params is None else params
        if self.muscle_class == "Millard2012EquilibriumMuscle":
            return MillardEquilibriumMTU(params, MillardCurves.damped_equilibrium(self.curve_changes))
        if self.muscle_class == "Millard2012AccelerationMuscle":
            return MillardAccelerationMTU.from_properties(
                params, self.properties(), acceleration_muscle_curves(self.curve_changes))
        return TendonForceMTU(params)

    def reference(self) -> dict[str, np.ndarray]:
        """The OpenSim trajectory (`mtu_sim_<case>.csv`) as columns.

        Raises:
            FileNotFoundError: the CSV is missing.
            ValueError: naming the CSV and the line or column: a malformed table (`read_csv`),
                or rows that do not cover the set-up's duration at the 1 ms output step.
        """
        if not self.csv_path.exists():
            raise FileNotFoundError(f"{self.csv_path} (named by {self.setup_path}) is missing")
        table = read_csv(self.csv_path, required=REFERENCE_COLUMNS)
        time = table["time"]
        expected = round(self.duration / _REFERENCE_STEP) + 1
        grid = np.arange(expected) * _REFERENCE_STEP
        if len(time) < expected or not np.allclose(time[:expected], grid, rtol=0, atol=1e-9):
            raise ValueError(f"{self.csv_path.name}: {len(time)} data rows at t = {time[0]:g} ... "
                             f"{time[-1]:g} s; expected {expected} rows every {_REFERENCE_STEP:g} s "
                             f"from 0 to the set-up's duration {self.duration:g} s")
        return table


def read_json(path) -> dict:
    """A JSON object from `path`; invalid JSON (e.g. a file cut short) names the file and line."""
    path = Path(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name}: invalid JSON at line {error.lineno}, column "
                         f"{error.colno}: {error.msg} (expected a complete JSON object; is the "
                         "file cut short?)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a JSON object, got {type(data).__name__}")
    return data


def _millard_property_names() -> dict[str, tuple[str, str]]:
    """Flat names of the Millard curve properties -> (curve class, OpenSim property).

    Every property is named `<curve class>/<property>` (OpenSim's path, as in `io.osim`) and
    with each prefix of its curve (`tendon_`, `fiber_`, and the muscle tables' `afl_`, `fv_`,
    `fpe_`); a property name that only one curve has is also accepted bare.
    """
    prefixes = {**CURVE_COLUMN_PREFIXES, "fiber_": "FiberForceLengthCurve"}
    owners: dict[str, list[str]] = {}
    names: dict[str, tuple[str, str]] = {}
    for curve, builder in millard_curves.CURVE_BUILDERS.items():
        for prop in inspect.signature(builder).parameters:
            owners.setdefault(prop, []).append(curve)
            names[f"{curve}/{prop}"] = (curve, prop)
            names.update({f"{p}{prop}": (curve, prop) for p, c in prefixes.items() if c == curve})
    names.update({prop: (curves[0], prop) for prop, curves in owners.items() if len(curves) == 1})
    return names


def millard_curve_properties(changes) -> dict[str, dict[str, float]]:
    """`{curve class: {property: value}}` from a flat `millard_curve_changes` mapping.

    Keys are OpenSim property names (`_millard_property_names`), e.g. the reference README's
    `tendon_strain_at_one_norm_force` (`TendonForceLengthCurve`'s `strain_at_one_norm_force`)
    and `fiber_strain_at_one_norm_force` (`FiberForceLengthCurve`'s). Absent properties keep
    the class defaults; OpenSim's rules on the optional properties hold
    (`millard_curves.in_use_properties`).

    Raises:
        ValueError: not a mapping, an unknown key (naming it), a value that is not a number,
            or optional properties given in part.
    """
    if not isinstance(changes, dict):
        raise ValueError("`millard_curve_changes` must be a mapping of curve property -> "
                         f"number, got {type(changes).__name__} {changes!r}")
    known = _millard_property_names()
    nested: dict[str, dict[str, float]] = {}
    for key, value in changes.items():
        if key not in known:
            listed = sorted(k for k in known if "/" not in k and not k.startswith(("afl_", "fv_", "fpe_")))
            raise ValueError(f"`millard_curve_changes`: unknown curve property {key!r}; known: "
                             f"{listed} (or `<curve class>/<property>`)")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"`millard_curve_changes`: {key!r} must be a number, got {value!r}")
        curve, prop = known[key]
        nested.setdefault(curve, {})[prop] = float(value)
    for curve, values in nested.items():
        try:
            millard_curves.in_use_properties(curve, values)
        except ValueError as error:
            raise ValueError(f"`millard_curve_changes`: {error}") from None
    return nested


#: `MuscleParameters` strains and the Millard curve property each corresponds to.
_STRAIN_FIELDS = {
    "tendon_strain_at_one_norm_force": ("TendonForceLengthCurve", "strain_at_one_norm_force"),
    "passive_fiber_strain_at_one_norm_force": ("FiberForceLengthCurve", "strain_at_one_norm_force"),
}


def _parse_property(text: str):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(text)
    except ValueError:
        return text


def _muscle_name(source: str, fallback: str) -> str:
    quoted = source.split("'")
    return quoted[1] if len(quoted) >= 3 else fallback


def find_isolated_mtu_cases(directory) -> list[IsolatedMTUCase]:
    """Every `mtu_sim_*_setup.json` in `directory`, sorted by name."""
    return [IsolatedMTUCase(p) for p in sorted(Path(directory).glob("mtu_sim_*_setup.json"))]


#: The muscle-state columns of `mtu_sim_<case>.csv` that the metabolic models consume, in the
#: order of `MetabolicInputs`' fields.
METABOLIC_INPUT_COLUMNS = ("excitation", "activation", "norm_fiber_length", "fiber_velocity",
                           "active_force_length_multiplier", "active_fiber_force",
                           "passive_fiber_force")


class MetabolicsCase:
    """OpenSim's metabolic-probe outputs for an isolated-MTU case.

    Files: `metabolics_<case>.csv` and its `_setup.json`, and the muscle states the probes
    consumed (`mtu_sim_<case>.csv`).
    """

    def __init__(self, setup_path):
        setup_path = Path(setup_path)
        self.name = setup_path.name.removesuffix("_setup.json").removeprefix("metabolics_")
        self.csv_path = setup_path.with_name(f"metabolics_{self.name}.csv")
        self.states_path = setup_path.with_name(f"mtu_sim_{self.name}.csv")
        self.setup = read_json(setup_path)
        if "metabolic_muscle_parameters" not in self.setup:
            raise ValueError(f"{setup_path}: no `metabolic_muscle_parameters`")

    def parameters(self) -> MetabolicParameters:
        """The muscle's metabolic parameters, with the muscle mass OpenSim used."""
        p = self.setup["metabolic_muscle_parameters"]
        heat = p["bhargava_heat_constants_W_per_kg"]
        values = [p["ratio_slow_twitch_fibers"], p["muscle_mass_used_kg"],
                  p["max_isometric_force"], p["optimal_fiber_length"],
                  p["max_contraction_velocity"],
                  *(heat[f"{kind}_constant_{fibre}_twitch"]
                    for kind in ("activation", "maintenance") for fibre in ("slow", "fast"))]
        return MetabolicParameters(*(jnp.asarray([v], dtype=float) for v in values),
                                   names=(self.setup.get("muscle", self.name),))

    def inputs(self) -> MetabolicInputs:
        """The consumed muscle quantities at every row, each `(n_rows, 1)`."""
        for path in (self.csv_path, self.states_path):
            if not path.exists():
                raise FileNotFoundError(f"{path} (beside metabolics_{self.name}_setup.json) is missing")
        states = read_csv(self.states_path, required=METABOLIC_INPUT_COLUMNS)
        return MetabolicInputs(*(jnp.asarray(states[c])[:, None] for c in METABOLIC_INPUT_COLUMNS))

    def reference(self) -> dict[str, np.ndarray]:
        """OpenSim's rates [W] as columns (`metabolics_<case>.csv`)."""
        return read_csv(self.csv_path)


def find_metabolics_cases(directory) -> list[MetabolicsCase]:
    """Every `metabolics_*_setup.json` in `directory`, sorted by name."""
    return [MetabolicsCase(p) for p in sorted(Path(directory).glob("metabolics_*_setup.json"))]


#: Columns of an OpenSim muscle table (`rajagopal2016_*muscles.csv`) that map onto parameters.
_TABLE_COLUMNS = {
    "passive_fiber_strain_at_one_norm_force": "fpe_strain_at_one_norm_force",
}


def parameters_from_table(path) -> MuscleParameters:
    """`MuscleParameters` from a muscle table in the reference format (one row per muscle).

    Fields are read from columns of the same name; the passive fiber strain comes from
    `fpe_strain_at_one_norm_force` (the Millard fiber curve), the tendon strain from
    `tendon_strain_at_one_norm_force`. Missing columns take `MuscleParameters` defaults.
    """
    table = read_csv(path)
    if "name" not in table:
        raise ValueError(f"{path}: a muscle table needs a `name` column")
    values = {}
    for field in (*PARAMETER_FIELDS, "ignore_tendon_compliance"):
        column = _TABLE_COLUMNS.get(field, field)
        if column in table:
            values[field] = table[column]
    return MuscleParameters.from_dict(values, names=list(table["name"]))


#: Curve classes of a muscle table's column prefixes (`afl_min_norm_active_fiber_length`).
CURVE_COLUMN_PREFIXES = {"afl_": "ActiveForceLengthCurve", "fv_": "ForceVelocityCurve",
                         "fpe_": "FiberForceLengthCurve", "tendon_": "TendonForceLengthCurve"}


def millard_curves_from_table(path, muscles=None) -> MillardCurves | None:
    """Each muscle's Millard 2012 curves from a muscle table; None for other muscle classes.

    Columns `afl_*`, `fv_*`, `fpe_*` and `tendon_*` hold the four curves' OpenSim properties (as
    OpenSim's getters report them). The table's muscles are Millard's when its `class` column
    says so or, without one, when it has `afl_*` columns.

    Args:
        path: the table (one row per muscle).
        muscles: names to select, in this order (default: every row).
    """
    table = read_csv(path)
    names = list(table["name"])
    muscles = names if muscles is None else list(muscles)
    missing = [m for m in muscles if m not in names]
    if missing:
        raise ValueError(f"{path}: no rows for muscles {missing}")
    rows = [names.index(m) for m in muscles]
    millard = ("Millard2012EquilibriumMuscle", "Millard2012AccelerationMuscle")
    if ("class" in table and not all(table["class"][k] in millard for k in rows)) or (
            "class" not in table and not any(c.startswith("afl_") for c in table)):
        return None
    properties: dict[str, dict[str, np.ndarray]] = {}
    for column, values in table.items():
        prefix = next((p for p in CURVE_COLUMN_PREFIXES if column.startswith(p)), None)
        if prefix is None:
            continue
        curve, name = CURVE_COLUMN_PREFIXES[prefix], column.removeprefix(prefix)
        if name in inspect.signature(millard_curves.CURVE_BUILDERS[curve]).parameters:
            properties.setdefault(curve, {})[name] = values[rows]  # not e.g. tendon_slack_length
    return MillardCurves.from_parameters(properties) if properties else None


#: Columns an equilibrium table (`<prefix>_equilibrium.csv`, e.g. `walk_equilibrium.csv`) has.
EQUILIBRIUM_COLUMNS = ("frame", "activation_set", "muscle", "activation", "mtu_length",
                       "fiber_length", "tendon_force")


class EquilibriumTable:
    """Static muscle equilibria computed by OpenSim: one row per (frame, activation set, muscle).

    Samples are the (frame, activation set) pairs; `column(name, muscles)` gives a column as
    an array of shape `(n_samples, n_muscles)` in the order of `muscles`.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.data = read_csv(self.path)
        missing = [c for c in EQUILIBRIUM_COLUMNS if c not in self.data]
        if missing:
            raise ValueError(f"{self.path}: not an equilibrium table, columns {missing} missing")
        keys = np.stack([self.data["frame"], self.data["activation_set"]], axis=1)
        self.samples = np.unique(keys, axis=0)  # (n_samples, 2): frame, activation set
        self.muscles = tuple(dict.fromkeys(self.data["muscle"]))
        self._row = {(f, a, m): k for k, (f, a, m) in enumerate(
            zip(self.data["frame"], self.data["activation_set"], self.data["muscle"], strict=True))}

    @property
    def name(self) -> str:
        """The table's prefix, e.g. `walk` for `walk_equilibrium.csv`."""
        return self.path.name.removesuffix("_equilibrium.csv")

    def column(self, name: str, muscles=None) -> np.ndarray:
        """Column `name` as `(n_samples, n_muscles)` (all muscles of the table by default)."""
        muscles = self.muscles if muscles is None else tuple(muscles)
        unknown = [m for m in muscles if m not in self.muscles]
        if unknown:
            raise ValueError(f"{self.path.name} has no rows for muscles {unknown}")
        values = self.data[name]
        try:
            index = [[self._row[(f, a, m)] for m in muscles] for f, a in self.samples]
        except KeyError as error:
            raise ValueError(f"{self.path.name}: no row for (frame, activation_set, muscle) "
                             f"{error.args[0]}") from None
        return values[np.asarray(index)]

    def parameter_table(self) -> Path:
        """The muscle table of the model the equilibria came from.

        The one `*_muscles.csv` beside it whose name contains the table's prefix
        (`rajagopal2016_scaled_walk_muscles.csv` for `walk_equilibrium.csv`).
        """
        candidates = sorted(self.path.parent.glob(f"*{self.name}*_muscles.csv"))
        if len(candidates) != 1:
            raise FileNotFoundError(
                f"{self.path.name}: expected exactly one muscle table '*{self.name}*_muscles.csv' "
                f"beside it, found {[c.name for c in candidates]}")
        return candidates[0]


def find_equilibrium_tables(directory) -> list[EquilibriumTable]:
    """Every `*_equilibrium.csv` in `directory` with the equilibrium columns, sorted by name."""
    tables = []
    for path in sorted(Path(directory).glob("*_equilibrium.csv")):
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if all(c in header for c in EQUILIBRIUM_COLUMNS):
            tables.append(EquilibriumTable(path))
    return tables
