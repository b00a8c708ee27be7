"""Shared pieces of the MTU formulations: smooth bounds, pennation geometry, fiber forces."""

import jax.numpy as jnp

from . import curves
from .parameters import MuscleArray, MuscleParameters

#: Largest pennation angle the geometry allows, acos(0.1) [rad] (Millard 2012's default).
MAX_PENNATION_ANGLE = float(jnp.arccos(0.1))
# Widths of the smooth lower bounds, relative to the optimal fiber length: small enough
# that a bound changes a physical result by < 1e-9 of it, wide enough for finite gradients.
_LENGTH_BOUND_WIDTH = 1e-6
_TENDON_FORCE_FLOOR, _TENDON_FORCE_BOUND_WIDTH = -0.19, 1e-6


def smooth_max(x, floor, width):
    r"""Smooth `max(x, floor)`: $(x + m + \sqrt{(x-m)^2 + w^2})/2$; exact to $w^2/(4|x-m|)$."""
    return 0.5 * (x + floor + jnp.sqrt((x - floor) ** 2 + width**2))


def min_fiber_length(params: MuscleParameters) -> MuscleArray:
    """Shortest admissible fiber length [m]: 0.2 l_opt, or where pennation reaches its maximum."""
    by_pennation = params.fiber_width / jnp.sin(MAX_PENNATION_ANGLE)
    return jnp.maximum(curves.MIN_NORM_FIBER_LENGTH * params.optimal_fiber_length, by_pennation)


def fiber_from_length_along_tendon(params: MuscleParameters, along: MuscleArray):
    """Fiber length [m] and cos(pennation) from the fiber length projected on the tendon [m].

    The projection is bounded smoothly from below so the fiber never reaches 90 degrees
    of pennation, and every result stays finite for any input.
    """
    length_min = min_fiber_length(params)
    along_min = jnp.sqrt(length_min**2 - params.fiber_width**2)
    along = smooth_max(along, along_min, _LENGTH_BOUND_WIDTH * params.optimal_fiber_length)
    fiber_length = jnp.sqrt(along**2 + params.fiber_width**2)
    return fiber_length, along / fiber_length


def bounded_fiber_length(params: MuscleParameters, fiber_length: MuscleArray) -> MuscleArray:
    """Fiber length [m] smoothly bounded below by `min_fiber_length`."""
    return smooth_max(fiber_length, min_fiber_length(params),
                      _LENGTH_BOUND_WIDTH * params.optimal_fiber_length)


def bounded_norm_tendon_force(norm_tendon_force: MuscleArray) -> MuscleArray:
    """Normalised tendon force kept above the tendon curve's asymptote (-0.2), smoothly."""
    return smooth_max(norm_tendon_force, _TENDON_FORCE_FLOOR, _TENDON_FORCE_BOUND_WIDTH)


def tendon_length_from_force(params: MuscleParameters, norm_tendon_force: MuscleArray):
    """Tendon length [m] from the inverse tendon force-length curve."""
    norm_length = curves.tendon_force_length_inverse(
        bounded_norm_tendon_force(norm_tendon_force), params.tendon_strain_at_one_norm_force)
    return params.tendon_slack_length * norm_length


def norm_tendon_force_from_length(params: MuscleParameters, tendon_length: MuscleArray):
    """Normalised elastic tendon force from tendon length [m]."""
    return curves.tendon_force_multiplier(tendon_length / params.tendon_slack_length,
                                          params.tendon_strain_at_one_norm_force)


def fiber_multipliers(params: MuscleParameters, fiber_length: MuscleArray):
    """Active and passive force-length multipliers at a fiber length [m]."""
    norm_length = fiber_length / params.optimal_fiber_length
    active = curves.active_force_length_multiplier(norm_length, params.active_force_width_scale)
    passive = curves.passive_force_multiplier(
        norm_length, params.passive_fiber_strain_at_one_norm_force)
    return active, passive
