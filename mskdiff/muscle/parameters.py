"""Per-muscle parameters: one Module, every field an array over muscles (OpenSim names)."""

from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from .._checks import check_in_range, check_positive, check_shape, lookup_names

MuscleArray = Float[Array, " n_muscles"]


def _float_array(x) -> Array:
    return jnp.asarray(x, dtype=float)


def _bool_array(x) -> Array:
    return jnp.asarray(x, dtype=bool)


#: Fields that are physical parameters, in OpenSim's spelling, with their unit.
PARAMETER_FIELDS: dict[str, str] = {
    "max_isometric_force": "N",
    "optimal_fiber_length": "m",
    "tendon_slack_length": "m",
    "pennation_angle_at_optimal": "rad",
    "max_contraction_velocity": "optimal fiber lengths/s",
    "tendon_strain_at_one_norm_force": "-",
    "passive_fiber_strain_at_one_norm_force": "-",
    "active_force_width_scale": "-",
    "fiber_damping": "-",
    "activation_time_constant": "s",
    "deactivation_time_constant": "s",
    "minimum_activation": "-",
}

#: Values used when a table or file does not give a field (OpenSim's DeGrooteFregly2016Muscle
#: defaults; `minimum_activation` is the Millard 2012 default).
DEFAULTS: dict[str, float] = {
    "max_contraction_velocity": 10.0,
    "tendon_strain_at_one_norm_force": 0.049,
    "passive_fiber_strain_at_one_norm_force": 0.6,
    "active_force_width_scale": 1.0,
    "fiber_damping": 0.0,
    "activation_time_constant": 0.015,
    "deactivation_time_constant": 0.060,
    "minimum_activation": 0.01,
    "pennation_angle_at_optimal": 0.0,
}

_POSITIVE_FIELDS = (
    "max_isometric_force",
    "optimal_fiber_length",
    "tendon_slack_length",
    "max_contraction_velocity",
    "tendon_strain_at_one_norm_force",
    "passive_fiber_strain_at_one_norm_force",
    "active_force_width_scale",
    "activation_time_constant",
    "deactivation_time_constant",
)


class MuscleParameters(eqx.Module):
    """Hill-type muscle-tendon parameters for `n_muscles` muscles, vectorised.

    Every physical field is a float array of shape `(n_muscles,)`; `names` (static) and
    `ignore_tendon_compliance` (bool, per muscle, never differentiated) describe the layout.
    Build with `MuscleParameters.from_dict`, `mskdiff.io.parameters_from_table`, `load_osim` or
    `mskdiff.models.rajagopal2016()`.
    """

    max_isometric_force: MuscleArray = eqx.field(converter=_float_array)  # [N]
    optimal_fiber_length: MuscleArray = eqx.field(converter=_float_array)  # [m]
    tendon_slack_length: MuscleArray = eqx.field(converter=_float_array)  # [m]
    pennation_angle_at_optimal: MuscleArray = eqx.field(converter=_float_array)  # [rad]
    max_contraction_velocity: MuscleArray = eqx.field(converter=_float_array)  # [lopt/s]
    tendon_strain_at_one_norm_force: MuscleArray = eqx.field(converter=_float_array)
    passive_fiber_strain_at_one_norm_force: MuscleArray = eqx.field(converter=_float_array)
    active_force_width_scale: MuscleArray = eqx.field(converter=_float_array)
    fiber_damping: MuscleArray = eqx.field(converter=_float_array)  # [-]
    activation_time_constant: MuscleArray = eqx.field(converter=_float_array)  # [s]
    deactivation_time_constant: MuscleArray = eqx.field(converter=_float_array)  # [s]
    minimum_activation: MuscleArray = eqx.field(converter=_float_array)  # [-]
    ignore_tendon_compliance: Bool[Array, " n_muscles"] = eqx.field(converter=_bool_array)
    names: tuple[str, ...] = eqx.field(static=True, converter=lambda ns: tuple(map(str, ns)))

    def __check_init__(self):
        n = len(self.names)
        if n == 0:
            raise ValueError("MuscleParameters needs at least one muscle")
        if len(set(self.names)) != n:
            raise ValueError(f"muscle names must be unique, got {list(self.names)}")
        for field in (*PARAMETER_FIELDS, "ignore_tendon_compliance"):
            check_shape(field, getattr(self, field), (n,))
        for field in _POSITIVE_FIELDS:
            check_positive(field, getattr(self, field), self.names)
        check_in_range(
            "pennation_angle_at_optimal", self.pennation_angle_at_optimal, 0.0, np.pi / 2,
            self.names,
        )
        check_in_range("fiber_damping", self.fiber_damping, 0.0, np.inf, self.names)
        check_in_range("minimum_activation", self.minimum_activation, 0.0, 1.0, self.names)

    @property
    def n_muscles(self) -> int:
        """Number of muscles."""
        return len(self.names)

    @property
    def fiber_width(self) -> MuscleArray:
        r"""Constant fiber 'thickness' $l_{opt} \sin\alpha_0$ [m] (constant-thickness pennation)."""
        return self.optimal_fiber_length * jnp.sin(self.pennation_angle_at_optimal)

    @property
    def max_fiber_velocity(self) -> MuscleArray:
        """Maximum contraction velocity in m/s, $v_{max} l_{opt}$."""
        return self.max_contraction_velocity * self.optimal_fiber_length

    @classmethod
    def from_dict(cls, values: Mapping[str, Sequence[float] | float], names: Sequence[str]
                  ) -> "MuscleParameters":
        """Build from a mapping of field name to per-muscle values (scalars broadcast).

        Fields absent from `values` take `DEFAULTS`; `ignore_tendon_compliance` defaults to
        False (elastic). Unknown keys raise, listing the valid ones.
        """
        known = set(PARAMETER_FIELDS) | {"ignore_tendon_compliance"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; valid: {sorted(known)}")
        n = len(names)
        required = set(PARAMETER_FIELDS) - set(DEFAULTS)
        missing = sorted(required - set(values))
        if missing:
            raise ValueError(f"missing required parameter(s) {missing}")

        def column(field, default):
            value = np.asarray(values.get(field, default), dtype=float)
            return np.broadcast_to(value, (n,)) if value.ndim == 0 else value

        fields = {f: column(f, DEFAULTS.get(f)) for f in PARAMETER_FIELDS}
        compliance = column("ignore_tendon_compliance", 0.0).astype(bool)
        return cls(**fields, ignore_tendon_compliance=compliance, names=tuple(names))

    def select(self, names: Sequence[str]) -> "MuscleParameters":
        """The parameters of the named muscles, in the given order (unknown names raise)."""
        index = np.asarray(lookup_names(names, self.names, "muscle"), dtype=int)
        arrays = {f: getattr(self, f)[index] for f in PARAMETER_FIELDS}
        return MuscleParameters(
            **arrays, ignore_tendon_compliance=self.ignore_tendon_compliance[index],
            names=tuple(names),
        )

    def with_tendon_compliance(self, mode: str) -> "MuscleParameters":
        """Choose tendon compliance: 'file' (as given), 'all_elastic' or 'all_rigid'."""
        choices = {"file": None, "all_elastic": False, "all_rigid": True}
        if mode not in choices:
            raise ValueError(f"unknown tendon compliance mode {mode!r}; choose from {list(choices)}")
        if choices[mode] is None:
            return self
        flags = jnp.full((self.n_muscles,), choices[mode])
        return eqx.tree_at(lambda p: p.ignore_tendon_compliance, self, flags)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Field name -> numpy array, plus `name` and `ignore_tendon_compliance`."""
        out = {"name": np.asarray(self.names)}
        out.update({f: np.asarray(getattr(self, f)) for f in PARAMETER_FIELDS})
        out["ignore_tendon_compliance"] = np.asarray(self.ignore_tendon_compliance)
        return out
