"""Domain randomisation: plants with body, contact and muscle parameters sampled per env.

`randomize(plant, ranges, key=key)` is a pure function returning a plant; `jax.vmap` it over
keys for per-env plants, or use `randomize_batch`, which gives only the sampled leaves an env
axis and returns the `vmap` axes that `rollout(..., plant_axes=...)` takes (the Brax and MuJoCo
Playground convention). `sample` gives the record of what was drawn; `apply_sample` puts a
record into a plant, so `randomize(p, r, key=k) == apply_sample(p, sample(p, r, key=k))`.

Relative ranges multiply the nominal values (`value = nominal * factor`), so gradients with
respect to the nominal parameters pass through the randomisation (the reparameterisation trick);
absolute ranges replace them.

Randomised body masses and inertias enter MJX's dynamics (mass matrix, bias forces, gravity).
What MuJoCo precomputes from the nominal masses keeps its nominal value, as in MuJoCo Playground:
the constraint regularisation weights (`dof_invweight0`, `body_invweight0`,
`tendon_invweight0`), `body_subtreemass` (subtree sensors) and `actuator_acc0` (the force scale
of MuJoCo's own muscles in a `MuJoCoMusclePlant`).

Friction: MJX gives a contact the larger of its two geoms' sliding friction coefficients, so
per-geom draws (the default) make the contact's coefficient the maximum of two draws, and a
high floor value hides the feet's. For a contact friction distributed as the range says, draw
one value for all geoms (`shared=True`). Explicit `<pair>` contacts use `pair_friction`, which
is not randomised.

Noise scales are not plant parameters: `mskdiff.rl.noise` samples and applies them.
"""

import dataclasses
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array

from .._checks import is_concrete
from .plant import AbstractPlant, MJXPlant


class Range(eqx.Module):
    """Where one quantity is sampled: uniform (or log-uniform) on `[low, high]`.

    `relative`: the draw multiplies each nominal value (a factor); otherwise it is the value.
    `shared`: one draw for all elements (all muscles, bodies or geoms) instead of one each.
    """

    low: float = eqx.field(static=True, converter=float)
    high: float = eqx.field(static=True, converter=float)
    relative: bool = eqx.field(static=True)
    log: bool = eqx.field(static=True, default=False)
    shared: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            raise ValueError(f"range bounds must be finite, got [{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-uniform range needs low > 0, got {self.low}")
        if self.relative and self.low < 0:
            raise ValueError(f"a relative range (a factor) needs low >= 0, got {self.low}")

    def draw(self, key, shape: tuple[int, ...]) -> Array:
        """Factors (relative) or values (absolute) of `shape`."""
        u = jr.uniform(key, () if self.shared else shape)
        if self.log:
            low, high = np.log(self.low), np.log(self.high)
            return jnp.broadcast_to(jnp.exp(low + (high - low) * u), shape)
        return jnp.broadcast_to(self.low + (self.high - self.low) * u, shape)


def relative(low: float, high: float, *, log: bool = False, shared: bool = False) -> Range:
    """Factors on the nominal values, e.g. `relative(0.8, 1.2)` for +-20 %."""
    return Range(low, high, relative=True, log=log, shared=shared)


def absolute(low: float, high: float, *, log: bool = False, shared: bool = False) -> Range:
    """Values in the quantity's unit, e.g. `absolute(0.010, 0.020)` s for a time constant."""
    return Range(low, high, relative=False, log=log, shared=shared)


@dataclasses.dataclass(frozen=True)
class _Quantity:
    """A randomisable quantity: where it lives in the plant and what values it may take."""

    unit: str
    leaf: Callable[[AbstractPlant], Array]  # the plant leaf holding it
    positive: bool  # values must be > 0 (else >= 0)
    relative_only: bool = False  # elements differ in scale (bodies, muscle sizes)
    column: int | None = None  # the leaf's column holding it (friction: sliding)
    muscle: bool = False  # a muscle parameter (mskdiff MTUs only)
    per_row: bool = False  # one draw per row of a matrix leaf (inertia: per body)

    def nominal(self, plant: AbstractPlant) -> Array:
        """The plant's values, one per element."""
        leaf = jnp.asarray(self.leaf(plant))
        return leaf if self.column is None else leaf[..., self.column]

    def replace(self, plant: AbstractPlant, values) -> AbstractPlant:
        """`plant` with `values` (with leading env axes, possibly) in place of the nominal."""
        values = jnp.asarray(values, dtype=float)
        if self.column is not None:
            leaf = jnp.asarray(self.leaf(plant))
            full = jnp.broadcast_to(leaf, values.shape + leaf.shape[-1:])
            values = full.at[..., self.column].set(values)
        return eqx.tree_at(self.leaf, plant, values)

    def check(self, name: str, plant: AbstractPlant, values) -> None:
        """Raise `ValueError` unless `values` have the plant's shape (after any env axes).

        Concrete values must also be finite and >= 0, and > 0 where the quantity must be
        positive and the plant's value is.
        """
        nominal = self.nominal(plant)
        if tuple(values.shape[values.ndim - nominal.ndim:]) != tuple(nominal.shape):
            raise ValueError(f"{name} needs values of shape {nominal.shape} (after any env "
                             f"axes), got {values.shape}")
        if not (is_concrete(values) and is_concrete(nominal)):
            return
        values = np.asarray(values)
        zero_allowed = ~self.positive | (np.broadcast_to(np.asarray(nominal), values.shape) == 0)
        if not np.all(np.isfinite(values) & ((values > 0) | (zero_allowed & (values == 0)))):
            raise ValueError(f"{name} must be finite and {'> 0' if self.positive else '>= 0'}")


def _muscle(field: str, unit: str, *, relative_only: bool = False) -> _Quantity:
    """A positive field of the MTUs' `MuscleParameters`."""
    return _Quantity(unit, lambda plant: getattr(plant.mtu.params, field), True,
                     relative_only=relative_only, muscle=True)


#: Quantities `ranges` may name, in a fixed order (each draws from its own `fold_in` key).
QUANTITIES: dict[str, _Quantity] = {
    "body_mass": _Quantity("kg", lambda p: p.mjx_model.body_mass, True, relative_only=True),
    "body_inertia": _Quantity("kg m^2", lambda p: p.mjx_model.body_inertia, True,
                              relative_only=True, per_row=True),
    "friction": _Quantity("-", lambda p: p.mjx_model.geom_friction, False, column=0),
    "max_isometric_force": _muscle("max_isometric_force", "N", relative_only=True),
    "tendon_slack_length": _muscle("tendon_slack_length", "m", relative_only=True),
    "optimal_fiber_length": _muscle("optimal_fiber_length", "m", relative_only=True),
    "activation_time_constant": _muscle("activation_time_constant", "s"),
    "deactivation_time_constant": _muscle("deactivation_time_constant", "s"),
}


def _check_known(names) -> None:
    """Raise `ValueError` listing the randomisable quantities if a name is not one."""
    unknown = sorted(set(names) - set(QUANTITIES))
    if unknown:
        raise ValueError(f"unknown quantities {unknown}; randomisable: {list(QUANTITIES)}")


def check_ranges(plant: AbstractPlant, ranges: Mapping[str, Range]) -> None:
    """Raise `ValueError` for an unknown quantity or a range that gives impossible values."""
    _check_known(ranges)
    for name, spec in ranges.items():
        if not isinstance(spec, Range):
            raise TypeError(f"ranges[{name!r}] must be a Range (`relative(...)` or "
                            f"`absolute(...)`), got {type(spec).__name__}")
        quantity = QUANTITIES[name]
        bound = "> 0" if quantity.positive else ">= 0"
        if (quantity.positive and spec.low <= 0) or spec.low < 0:
            raise ValueError(f"{name} must stay {bound}, but its range starts at {spec.low}")
        if quantity.relative_only and not spec.relative:
            raise ValueError(f"{name} differs in scale between bodies or muscles; give a "
                             "relative range")
        if quantity.muscle and not isinstance(plant, MJXPlant):
            raise ValueError(f"{name}: a {type(plant).__name__} uses MuJoCo's own muscles, "
                             "which do not read mskdiff's muscle parameters")
        nominal = quantity.nominal(plant)
        if spec.relative and is_concrete(nominal) and not np.any(np.asarray(nominal) != 0):
            raise ValueError(f"{name} is 0 in the plant, so a relative range leaves it 0; "
                             "give an absolute range")


def sample(plant: AbstractPlant, ranges: Mapping[str, Range], *, key) -> dict[str, Array]:
    """The record of one draw: the new values of each quantity in `ranges`, one per element.

    Shapes: per body `(nbody,)` (inertia `(nbody, 3)`), per geom `(ngeom,)` (sliding
    friction), per muscle `(n_muscles,)`. With `body_mass` and no
    `body_inertia` range, inertias scale with their body's mass (same geometry) and are
    recorded too.
    """
    check_ranges(plant, ranges)
    record = {}
    for index, (name, quantity) in enumerate(QUANTITIES.items()):
        if name not in ranges:
            continue
        spec, nominal = ranges[name], quantity.nominal(plant)
        if quantity.per_row:  # one factor per body keeps the principal moments valid
            draw = spec.draw(jr.fold_in(key, index), nominal.shape[:1])[:, None]
        else:
            draw = spec.draw(jr.fold_in(key, index), nominal.shape)
        record[name] = nominal * draw if spec.relative else draw
    if "body_mass" in record and "body_inertia" not in record:
        nominal = plant.mjx_model.body_mass
        ratio = jnp.where(nominal > 0, record["body_mass"] / jnp.where(nominal > 0, nominal, 1), 1)
        record["body_inertia"] = plant.mjx_model.body_inertia * ratio[:, None]
    return record


def apply_sample(plant: AbstractPlant, record: Mapping[str, Array]) -> AbstractPlant:
    """`plant` with the values of `record` (from `sample`, possibly with a leading env axis).

    Raises:
        ValueError: an unknown quantity, values of the wrong shape or sign.
    """
    _check_known(record)
    for name, values in record.items():
        values = jnp.asarray(values, dtype=float)
        QUANTITIES[name].check(name, plant, values)
        plant = QUANTITIES[name].replace(plant, values)
    return plant


def randomize(plant: AbstractPlant, ranges: Mapping[str, Range], *, key) -> AbstractPlant:
    """A plant with the quantities named in `ranges` drawn from them (pure; `vmap`-able)."""
    return apply_sample(plant, sample(plant, ranges, key=key))


def randomize_batch(plant: AbstractPlant, ranges: Mapping[str, Range], *, key, n_envs: int):
    """`n_envs` randomised plants in one: `(plants, plant_axes, record)`.

    Only the sampled leaves get a leading env axis (the rest of the model is shared);
    `plant_axes` is the matching `vmap` axes tree for `rollout(..., plant_axes=...)` and
    `metabolic_rates`; `record` holds the sampled values, each with a leading env axis.
    Env `i` equals `randomize(plant, ranges, key=jr.split(key, n_envs)[i])`.
    """
    record = jax.vmap(lambda k: sample(plant, ranges, key=k))(jr.split(key, n_envs))
    return apply_sample(plant, record), batched_axes(plant, record), record


def batched_axes(plant: AbstractPlant, record: Mapping[str, Array]):
    """`vmap` axes of `apply_sample(plant, record)` for a batched record: 0 on its leaves."""
    axes = jax.tree.map(lambda _: None, plant)
    for name in record:
        axes = eqx.tree_at(QUANTITIES[name].leaf, axes, 0, is_leaf=lambda x: x is None)
    return axes
