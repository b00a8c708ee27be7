"""Metabolic cost of plant rollouts: per-muscle rates, energy and cost of transport.

The rates are those of `mskdiff.muscle.metabolic` evaluated at every recorded step of a
`PlantTrajectory` (the muscle state, MTU length and velocity at the step's end, and the
excitation applied during it). Default model: `Bhargava2004Smoothed`, the differentiable one.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from ..muscle.metabolic import (
    Bhargava2004Smoothed,
    MetabolicInputs,
    MetabolicParameters,
    MetabolicRates,
    basal_rate,
)
from .plant import MJXPlant
from .rollout import PlantTrajectory

DEFAULT_METABOLIC_MODEL = Bhargava2004Smoothed()


def metabolic_rates(plant: MJXPlant, trajectory: PlantTrajectory, *,
                    model=DEFAULT_METABOLIC_MODEL,
                    parameters: MetabolicParameters | None = None,
                    plant_axes=None) -> MetabolicRates:
    """Metabolic rates [W] per step, (env) and muscle of a rollout: fields `(T, [n_envs,] M)`.

    Args:
        plant: the plant that produced `trajectory` (a batch of plants with `plant_axes`).
        trajectory: from `rollout`, single-env or batched.
        model: a metabolic model, e.g. `Umberger2010()` or `Bhargava2004Smoothed()`.
        parameters: metabolic parameters; default `MetabolicParameters.from_muscles` of
            each env's muscle parameters (OpenSim's mass rule, half slow-twitch fibres).
        plant_axes: the `vmap` axes of a batch of plants, as given to `rollout`.

    Raises:
        ValueError: a plant that is not an `MJXPlant` (e.g. a `MuJoCoMusclePlant`: MuJoCo's
            muscles have no fibre states).
    """
    if not isinstance(plant, MJXPlant):
        raise ValueError(f"metabolic rates need mskdiff MTUs (an MJXPlant); got a "
                         f"{type(plant).__name__}: MuJoCo's muscles have no fibre states")
    return _metabolic_rates(plant, trajectory, model, parameters, plant_axes)


@eqx.filter_jit
def _metabolic_rates(plant, trajectory, model, parameters, plant_axes):
    per_step = (trajectory.muscle, trajectory.mtu_length, trajectory.mtu_velocity,
                trajectory.excitation)
    if trajectory.qpos.ndim == 2:
        return _env_metabolic_rates(plant, per_step, model, parameters)
    per_env = eqx.filter_vmap(lambda p, s: _env_metabolic_rates(p, s, model, parameters),
                              in_axes=(plant_axes, 1), out_axes=1)
    return per_env(plant, per_step)


def _env_metabolic_rates(plant, per_step, model, parameters) -> MetabolicRates:
    """Rates `(T, M)` [W] of one env.

    `per_step` is (muscle state, MTU length, MTU velocity, excitation), each with a leading
    step axis.
    """
    muscle, mtu_length, mtu_velocity, excitation = per_step
    if parameters is None:
        parameters = MetabolicParameters.from_muscles(plant.mtu.params)
    outputs = jax.vmap(plant.mtu.outputs)(muscle, mtu_length, mtu_velocity)
    inputs = MetabolicInputs.from_outputs(outputs, excitation, muscle.activation)
    return jax.vmap(model, in_axes=(None, 0))(parameters, inputs)


def metabolic_energy(rates: MetabolicRates, dt) -> Array:
    """Energy [J] of all muscles over a rollout, per env: `sum(total) * dt` (rates held per step).

    `rates` are per muscle, `(T, M)` or `(T, n_envs, M)`, as `metabolic_rates` returns them.
    """
    if rates.total.ndim not in (2, 3):
        raise ValueError(f"need per-muscle rates (T, [n_envs,] M), got shape {rates.total.shape}")
    return jnp.sum(rates.total, axis=(0, -1)) * dt


def cost_of_transport(plant: MJXPlant, trajectory: PlantTrajectory, distance, *,
                      body_mass=None, model=DEFAULT_METABOLIC_MODEL,
                      parameters: MetabolicParameters | None = None,
                      include_basal: bool = False, plant_axes=None) -> Array:
    """Metabolic cost of transport [J/(kg m)] per env: muscle energy / (body mass * distance).

    Args:
        plant: as for `metabolic_rates`.
        trajectory: as for `metabolic_rates`.
        distance: distance travelled over the rollout [m], scalar or per env.
        body_mass: [kg]; default the plant's total mass (per env for a batch of plants).
        model: as for `metabolic_rates`.
        parameters: as for `metabolic_rates`.
        include_basal: add the basal rate `basal_rate(body_mass)` over the rollout's duration.
        plant_axes: as for `metabolic_rates`.
    """
    rates = metabolic_rates(plant, trajectory, model=model, parameters=parameters,
                            plant_axes=plant_axes)
    dt = plant.mjx_model.opt.timestep
    energy = metabolic_energy(rates, dt)
    if body_mass is None:
        body_mass = plant.total_mass
    if include_basal:
        energy = energy + basal_rate(body_mass) * trajectory.time.shape[0] * dt
    return energy / (body_mass * jnp.asarray(distance, dtype=float))
