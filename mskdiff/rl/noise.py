"""Excitation and observation noise: additive Gaussian, applied by environments, not the plant.

`Noise` holds the standard deviations of one env (scalars) or of a batch (leading env axis).
`noisy_excitations` perturbs a rollout's excitations `(T, [n_envs,] n_muscles)` before
`mskdiff.plant.rollout`, which clips them to [0, 1] and records what it applied;
`Noise.excitation` and `Noise.observation` perturb one env's step input or observation.
`sample_noise` draws the scales with the `Range`s of `mskdiff.plant.randomize`.
"""

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array

from .._checks import is_concrete
from ..muscle.parameters import _float_array
from ..plant.randomize import Range

#: Noise scales `sample_noise` may draw, and the `Noise` field each sets.
NOISE_QUANTITIES = {"excitation_noise": "excitation_std", "observation_noise": "observation_std"}


class Noise(eqx.Module):
    """Standard deviations of additive Gaussian noise; scalars, or `(n_envs,)` for a batch."""

    excitation_std: Array = eqx.field(converter=_float_array, default=0.0)  # [-]
    observation_std: Array = eqx.field(converter=_float_array, default=0.0)  # [obs units]

    def __check_init__(self):
        for name in ("excitation_std", "observation_std"):
            value = getattr(self, name)
            if is_concrete(value) and not np.all(np.isfinite(value) & (np.asarray(value) >= 0)):
                raise ValueError(f"`{name}` is a standard deviation and must be finite and "
                                 f">= 0, got {value}")

    def excitation(self, excitation, key) -> Array:
        """One env's `excitation` plus noise of std `excitation_std` (the plant clips it)."""
        excitation = jnp.asarray(excitation, dtype=float)
        return excitation + self.excitation_std * jr.normal(key, excitation.shape)

    def observation(self, observation, key) -> Array:
        """One env's `observation` plus noise of std `observation_std`."""
        observation = jnp.asarray(observation, dtype=float)
        return observation + self.observation_std * jr.normal(key, observation.shape)


def noisy_excitations(noise: Noise, excitations, *, key) -> Array:
    """Rollout excitations plus noise: a new draw for every step, muscle and env.

    Args:
        noise: one env's scales, or a batch's (`excitation_std` of shape `(n_envs,)`).
        excitations: `(T, n_muscles)`, or `(T, n_envs, n_muscles)` for a batch.
        key: PRNG key; env `i` of a batch draws from `jr.split(key, n_envs)[i]`. Rolling out
            in chunks, give each chunk its own key, or the chunks repeat the same noise.
    """
    excitations = jnp.asarray(excitations, dtype=float)
    if excitations.ndim == 2:
        if jnp.ndim(noise.excitation_std):
            raise ValueError("a batch of noise scales needs batched excitations "
                             "(T, n_envs, n_muscles)")
        return noise.excitation(excitations, key)
    if excitations.ndim != 3:
        raise ValueError(f"`excitations` must be (T, n_muscles) or (T, n_envs, n_muscles), "
                         f"got shape {excitations.shape}")
    n_envs = excitations.shape[1]
    std = jnp.broadcast_to(noise.excitation_std, (n_envs,))
    per_env = jax.vmap(lambda s, e, k: Noise(s).excitation(e, k), in_axes=(0, 1, 0), out_axes=1)
    return per_env(std, excitations, jr.split(key, n_envs))


def sample_noise(ranges: Mapping[str, Range], *, key, n_envs: int | None = None) -> Noise:
    """Noise scales drawn from absolute `ranges` (keys in `NOISE_QUANTITIES`); others stay 0.

    With `n_envs`, each field gets a leading env axis, env `i` drawn with
    `jr.split(key, n_envs)[i]`.

    Raises:
        ValueError: an unknown quantity, a relative range (noise has no nominal value to
            scale), a range below 0.
    """
    _check_noise_ranges(ranges)
    if n_envs is not None:
        return jax.vmap(lambda k: sample_noise(ranges, key=k))(jr.split(key, n_envs))
    draws = {NOISE_QUANTITIES[name]: spec.draw(jr.fold_in(key, index), ())
             for index, (name, spec) in enumerate(sorted(ranges.items()))}
    return Noise(**draws)


def _check_noise_ranges(ranges: Mapping[str, Range]) -> None:
    """Raise `ValueError` for an unknown noise quantity or a range `sample_noise` cannot draw."""
    unknown = sorted(set(ranges) - set(NOISE_QUANTITIES))
    if unknown:
        raise ValueError(f"unknown noise quantities {unknown}; known: {list(NOISE_QUANTITIES)}")
    for name, spec in ranges.items():
        if not isinstance(spec, Range):
            raise TypeError(f"ranges[{name!r}] must be a Range (`absolute(...)`), "
                            f"got {type(spec).__name__}")
        if spec.relative:
            raise ValueError(f"{name} has no nominal value to scale; give an absolute range")
        if spec.low < 0:
            raise ValueError(f"{name} must stay >= 0, but its range starts at {spec.low}")
