"""Muscle metabolic rates as OpenSim 4.6 computes them: Umberger 2010, Bhargava 2004, smoothed.

The smoothed Bhargava 2004 model is the one used for gradient-based optimisation.

Every model maps `MetabolicInputs` (muscle quantities at one instant, each `(n_muscles,)`) and
`MetabolicParameters` to `MetabolicRates` in W per muscle (divide by `muscle_mass` for W/kg).
The basal rate is separate (`basal_rate`). Fibre velocity is negative when shortening.

Differentiability: `Umberger2010` and `Bhargava2004` switch between branches (shortening or
lengthening, fibre longer than optimal or not, the clamps), so they have kinks at zero fibre
velocity, at normalised fibre length 1 (Umberger) and where a clamp engages; Umberger's
`A ** 0.6` has an infinite slope at zero activation-excitation. `Bhargava2004Smoothed` replaces
every switch by a `tanh` blend: its gradient is finite everywhere. It keeps the maintenance
heat's piecewise-linear dependence on normalised fibre length (breaks at 0.5, 1.0 and 1.5).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._checks import check_positive, is_concrete
from .parameters import MuscleParameters

#: OpenSim's default muscle density [kg/m^3] and specific tension [Pa].
DENSITY = 1059.7
SPECIFIC_TENSION = 0.25e6
#: Bhargava 2004 maintenance heat's dependence on normalised fibre length (OpenSim 4.6 knots).
MAINTENANCE_LENGTH_KNOTS = ((0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (1.5, 0.0), (2.0, 0.0))
#: Minimum heat rate per muscle when enforced [W/kg].
MINIMUM_HEAT_RATE = 1.0


class MetabolicInputs(eqx.Module):
    """Muscle quantities at one instant, each `(n_muscles,)`."""

    excitation: Array
    activation: Array
    norm_fiber_length: Array
    fiber_velocity: Array  # [m/s], negative = shortening
    active_force_length_multiplier: Array
    active_fiber_force: Array  # [N]
    passive_fiber_force: Array  # [N] (includes fibre damping)

    @classmethod
    def from_outputs(cls, outputs, excitation, activation) -> "MetabolicInputs":
        """From an MTU model's `MTUOutputs` and its excitation and activation."""
        return cls(excitation, activation, outputs.norm_fiber_length, outputs.fiber_velocity,
                   outputs.active_force_length_multiplier, outputs.active_fiber_force,
                   outputs.passive_fiber_force)


class MetabolicParameters(eqx.Module):
    """Per-muscle metabolic parameters, each `(n_muscles,)`."""

    ratio_slow_twitch_fibers: Array
    muscle_mass: Array  # [kg]
    max_isometric_force: Array  # [N]
    optimal_fiber_length: Array  # [m]
    max_contraction_velocity: Array  # [optimal fibre lengths / s]
    activation_constant_slow_twitch: Array  # [W/kg] (Bhargava)
    activation_constant_fast_twitch: Array
    maintenance_constant_slow_twitch: Array
    maintenance_constant_fast_twitch: Array
    names: tuple[str, ...] = eqx.field(static=True)

    def __check_init__(self):
        for field in ("muscle_mass", "max_isometric_force", "optimal_fiber_length",
                      "max_contraction_velocity"):
            check_positive(field, getattr(self, field), self.names)
        ratio = self.ratio_slow_twitch_fibers
        if is_concrete(ratio) and not np.all((np.asarray(ratio) >= 0) & (np.asarray(ratio) <= 1)):
            bad = [n for n, r in zip(self.names, np.asarray(ratio), strict=True) if not 0 <= r <= 1]
            raise ValueError(f"`ratio_slow_twitch_fibers` must lie in [0, 1]; offending muscles: "
                             f"{bad}")

    @classmethod
    def from_muscles(cls, params: MuscleParameters, *, ratio_slow_twitch_fibers=0.5,
                     specific_tension=SPECIFIC_TENSION, density=DENSITY, muscle_mass=None,
                     activation_constants=(40.0, 133.0),
                     maintenance_constants=(74.0, 111.0)) -> "MetabolicParameters":
        """From muscle parameters.

        The mass [kg] is `max_isometric_force / specific_tension [Pa] * density [kg/m^3] *
        optimal_fiber_length` unless given (OpenSim's rule).
        """
        n = params.n_muscles
        full = lambda x: jnp.broadcast_to(jnp.asarray(x, dtype=float), (n,))
        if muscle_mass is None:
            muscle_mass = (params.max_isometric_force / full(specific_tension) * full(density)
                           * params.optimal_fiber_length)
        return cls(full(ratio_slow_twitch_fibers), full(muscle_mass), params.max_isometric_force,
                   params.optimal_fiber_length, params.max_contraction_velocity,
                   *(full(c) for c in (*activation_constants, *maintenance_constants)),
                   names=params.names)


class MetabolicRates(eqx.Module):
    """Heat and work rates [W] per muscle; `total` includes the clamps the model applies.

    Umberger 2010 does not split activation and maintenance heat: it reports both in
    `activation` and zero `maintenance`.
    """

    activation: Array
    maintenance: Array
    shortening: Array
    mechanical_work: Array
    total: Array

    def summed(self) -> "MetabolicRates":
        """Rates of all muscles together [W]: each field summed over its last (muscle) axis."""
        return jax.tree.map(lambda rate: jnp.sum(rate, axis=-1), self)

    def per_kilogram(self, mass) -> "MetabolicRates":
        """Every rate divided by `mass` [kg], giving W/kg.

        Pass muscle masses for per-muscle rates, or the body mass (scalar, or per env
        broadcast against the rates) after `summed`.
        """
        mass = jnp.asarray(mass, dtype=float)
        return jax.tree.map(lambda rate: rate / jnp.broadcast_to(mass, rate.shape), self)


def basal_rate(body_mass, coefficient: float = 1.2, exponent: float = 1.0):
    """Whole-body basal metabolic rate [W]: `coefficient * body_mass**exponent` (mass in kg)."""
    return coefficient * jnp.asarray(body_mass, dtype=float) ** exponent


def _fiber_type_excitations(params: MetabolicParameters, excitation):
    """Bhargava's slow- and fast-twitch recruitment: `r sin(pi u / 2)`, `(1 - r)(1 - cos(pi u / 2))`."""
    r = params.ratio_slow_twitch_fibers
    return r * jnp.sin(0.5 * jnp.pi * excitation), (1 - r) * (1 - jnp.cos(0.5 * jnp.pi * excitation))


def _clamped_heat(heat, shortening, work, mass, enforce_minimum, forbid_negative):
    """OpenSim's clamps: raise shortening heat until heat + work >= 0; heat >= 1 W/kg * mass.

    Returns (shortening heat, total heat) [W].
    """
    if forbid_negative:
        total = heat + work
        shortening = jnp.where(total < 0, shortening - total, shortening)
        heat = jnp.where(total < 0, heat - total, heat)
    if enforce_minimum:
        heat = jnp.maximum(heat, MINIMUM_HEAT_RATE * mass)
    return shortening, heat


class Umberger2010(eqx.Module):
    """Umberger et al. 2003/2010 as OpenSim's `Umberger2010MuscleMetabolicsProbe` computes it.

    OpenSim 4.6 defaults: Bhargava's recruitment model and negative mechanical work included.
    """

    aerobic_factor: float = eqx.field(static=True, default=1.5)
    enforce_minimum_heat_rate: bool = eqx.field(static=True, default=True)
    forbid_negative_total_power: bool = eqx.field(static=True, default=True)

    def __call__(self, params: MetabolicParameters, inputs: MetabolicInputs) -> MetabolicRates:
        """Rates [W] per muscle."""
        u, a = inputs.excitation, inputs.activation
        scale = jnp.where(u > a, u, 0.5 * (u + a))
        slow, fast = _fiber_type_excitations(params, u)
        recruited = jnp.where(u == 0, 1.0, slow / jnp.where(u == 0, 1.0, slow + fast))
        long_fiber = inputs.norm_fiber_length > 1.0
        length_factor = jnp.where(long_fiber, 0.4 + 0.6 * inputs.active_force_length_multiplier,
                                  1.0)
        heat_am = (self.aerobic_factor * scale**0.6 * (128 * (1 - recruited) + 25)) * length_factor
        velocity = inputs.fiber_velocity / params.optimal_fiber_length
        alpha_slow = 100 / (params.max_contraction_velocity / 2.5)
        alpha_fast = 153 / params.max_contraction_velocity
        shortening_rate = scale**2 * (jnp.minimum(-alpha_slow * velocity, 100.0) * recruited
                                      - alpha_fast * velocity * (1 - recruited))
        lengthening_rate = scale * 4 * alpha_slow * velocity
        heat_s = self.aerobic_factor * jnp.where(velocity <= 0, shortening_rate, lengthening_rate)
        heat_s = jnp.where(long_fiber, heat_s * inputs.active_force_length_multiplier, heat_s)
        work = -jnp.maximum(inputs.active_fiber_force, 0.0) * inputs.fiber_velocity
        mass = params.muscle_mass
        heat_am, heat_s = heat_am * mass, heat_s * mass
        heat_s, heat = _clamped_heat(heat_am + heat_s, heat_s, work, mass,
                                     self.enforce_minimum_heat_rate,
                                     self.forbid_negative_total_power)
        return MetabolicRates(heat_am, jnp.zeros_like(heat_am), heat_s, work, heat + work)


class Bhargava2004(eqx.Module):
    """Bhargava et al. 2004 as in OpenSim's `Bhargava2004MuscleMetabolicsProbe` (4.6 defaults).

    `force_dependent_shortening`: the shortening heat coefficient depends on force
    (`0.16 a f_L F_max + 0.18 F` shortening, `0.157 F` lengthening) instead of `0.25 F`
    shortening and 0 lengthening.
    """

    force_dependent_shortening: bool = eqx.field(static=True, default=False)
    enforce_minimum_heat_rate: bool = eqx.field(static=True, default=True)
    forbid_negative_total_power: bool = eqx.field(static=True, default=True)

    def __call__(self, params: MetabolicParameters, inputs: MetabolicInputs) -> MetabolicRates:
        """Rates [W] per muscle."""
        activation, maintenance = _activation_maintenance(params, inputs)
        force = inputs.active_fiber_force + inputs.passive_fiber_force
        v = inputs.fiber_velocity
        if self.force_dependent_shortening:
            alpha = jnp.where(v <= 0, 0.16 * inputs.activation
                              * inputs.active_force_length_multiplier * params.max_isometric_force
                              + 0.18 * force, 0.157 * force)
        else:
            alpha = jnp.where(v <= 0, 0.25 * force, 0.0)
        shortening = -alpha * v
        work = -inputs.active_fiber_force * v
        shortening, heat = _clamped_heat(activation + maintenance + shortening, shortening, work,
                                         params.muscle_mass, self.enforce_minimum_heat_rate,
                                         self.forbid_negative_total_power)
        return MetabolicRates(activation, maintenance, shortening, work, heat + work)


def _activation_maintenance(params: MetabolicParameters, inputs: MetabolicInputs):
    """Bhargava's activation and maintenance heat [W] (maintenance scaled by fibre length)."""
    slow, fast = _fiber_type_excitations(params, inputs.excitation)
    mass = params.muscle_mass
    activation = mass * (params.activation_constant_slow_twitch * slow
                         + params.activation_constant_fast_twitch * fast)
    knots_l, knots_g = np.asarray(MAINTENANCE_LENGTH_KNOTS).T
    length_factor = jnp.interp(inputs.norm_fiber_length, knots_l, knots_g)
    maintenance = mass * length_factor * (params.maintenance_constant_slow_twitch * slow
                                          + params.maintenance_constant_fast_twitch * fast)
    return activation, maintenance


def _blend(condition, left, right, sharpness):
    """`left` where `condition` << 0, `right` where >> 0, a tanh blend between."""
    return left + (right - left) * (0.5 + 0.5 * jnp.tanh(sharpness * condition))


class Bhargava2004Smoothed(eqx.Module):
    """OpenSim's `Bhargava2004SmoothedMuscleMetabolics` with `use_smoothing` on (tanh).

    The velocity switch, the negative-power clamp and the minimum heat rate become tanh blends
    of the given sharpness (velocity in s/m, power and heat in 1/W).
    """

    velocity_smoothing: float = 10.0
    power_smoothing: float = 10.0
    heat_rate_smoothing: float = 10.0

    def __call__(self, params: MetabolicParameters, inputs: MetabolicInputs) -> MetabolicRates:
        """Rates [W] per muscle."""
        activation, maintenance = _activation_maintenance(params, inputs)
        force = inputs.active_fiber_force + inputs.passive_fiber_force
        v = inputs.fiber_velocity + 1e-16
        shortening = -_blend(v, 0.25 * force, 0.0, self.velocity_smoothing) * v
        work = -inputs.active_fiber_force * inputs.fiber_velocity
        total = activation + maintenance + shortening + work
        shortening = shortening - _blend(-total, 0.0, total, self.power_smoothing)
        heat = activation + maintenance + shortening
        mass = params.muscle_mass
        heat = _blend(MINIMUM_HEAT_RATE * mass - heat, heat, MINIMUM_HEAT_RATE * mass,
                      self.heat_rate_smoothing)
        return MetabolicRates(activation, maintenance, shortening, work, heat + work)
