"""Rollouts of the plant: `lax.scan` over steps, batched with `vmap`, rematerialised for gradients.

Reverse-mode memory: the steps are grouped into segments of `segment_length` steps (default
about sqrt(T)); only segment boundaries are stored on the forward pass, and each segment is
re-run during the backward pass with its steps checkpointed. Memory therefore grows like
sqrt(T) states instead of T full MJX step residuals.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..integrate.integrators import AbstractIntegrator
from .batching import vmap_envs
from .plant import DEFAULT_INTEGRATOR, MJXPlant, PlantState


class NonFiniteStateError(RuntimeError):
    """A rollout produced a NaN or inf state; the message names the env and the step."""


class PlantTrajectory(eqx.Module):
    """What a rollout records after every step (leading axes: step, then env if batched).

    Times [s], `qpos`/`qvel` (MuJoCo units), `muscle` (the formulation's state Module),
    `tendon_force` [N], `fiber_length` and `mtu_length` [m] (fibre length is NaN with MuJoCo's
    own muscles); `nonfinite_step` is the first step (0-based) after which the state held a
    NaN or inf, per env, or -1.
    """

    time: Array
    qpos: Array
    qvel: Array
    muscle: eqx.Module
    tendon_force: Array
    fiber_length: Array
    mtu_length: Array
    nonfinite_step: Array


def _is_finite(state: PlantState) -> Array:
    """True when every float leaf of the data's state and the muscle state is finite."""
    d = state.data
    leaves = [d.qpos, d.qvel, d.qacc, *jax.tree.leaves(state.muscle)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _record(plant: MJXPlant, state: PlantState):
    """What the trajectory keeps of `state` (the `PlantTrajectory` fields, in order)."""
    if plant.mujoco_muscles:
        fiber_length = jnp.full(plant.n_muscles, jnp.nan)
    else:
        fiber_length = plant.mtu_outputs(state).fiber_length
    return (state.data.time, state.data.qpos, state.data.qvel, state.muscle,
            plant.tendon_force(state), fiber_length, plant.mtu_length(state))


def _single_rollout(plant, state, excitations, integrator, segment_length, checkpoint):
    """Rollout of one env: `(final state, records, first non-finite step or -1)`."""

    def step(carry, inputs):
        state, bad_step = carry
        k, excitation = inputs
        state = plant.step(state, excitation, integrator=integrator)
        bad_step = jnp.where((bad_step < 0) & ~_is_finite(state), k, bad_step)
        return (state, bad_step), _record(plant, state)

    def segment(carry, inputs):
        return jax.lax.scan(jax.checkpoint(step) if checkpoint else step, carry, inputs)

    n_steps = excitations.shape[0]
    steps = jnp.arange(n_steps)
    carry = (state, jnp.asarray(-1, dtype=steps.dtype))
    if not checkpoint or segment_length >= n_steps:
        carry, records = segment(carry, (steps, excitations))
    else:
        n_full = n_steps // segment_length * segment_length
        split = lambda x: x[:n_full].reshape(-1, segment_length, *x.shape[1:])
        carry, records = jax.lax.scan(jax.checkpoint(segment), carry,
                                      (split(steps), split(excitations)))
        records = jax.tree.map(lambda x: x.reshape(n_full, *x.shape[2:]), records)
        if n_full < n_steps:
            carry, rest = segment(carry, (steps[n_full:], excitations[n_full:]))
            records = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), records, rest)
    (state, bad_step) = carry
    return state, records, bad_step


def rollout(plant: MJXPlant, state: PlantState, excitations, *,
            integrator: AbstractIntegrator = DEFAULT_INTEGRATOR,
            checkpoint: bool = True, segment_length: int | None = None,
            throw: bool = True, env_group: int | None = None) -> tuple[PlantState, PlantTrajectory]:
    """Step the plant once per row of `excitations`.

    Args:
        plant: the plant.
        state: initial state; for a batch, every leaf has a leading env axis
            (e.g. `plant.init_batch(qpos_batch)`).
        excitations: `(T, n_muscles)` for one env or `(T, n_envs, n_muscles)` for a batch.
        integrator: the MTU sub-stepping integrator.
        checkpoint: rematerialise steps for reverse mode (see the module docstring); it
            does not change the forward result.
        segment_length: steps per checkpointed segment (default `ceil(sqrt(T))`).
        throw: raise `NonFiniteStateError` naming the env and step if a state goes
            non-finite (works under `jit`); with `False`, read `nonfinite_step` instead.
        env_group: envs vectorised together in a batch (default: all, except on CPU, where
            groups stay below a jaxlib deadlock threshold; see `vmap_envs`).

    Returns:
        `(final state, PlantTrajectory)`; the trajectory's axes are `(T, ...)` or
        `(T, n_envs, ...)`.

    Compiled (`eqx.filter_jit`): repeated calls with the same plant structure, shapes and
    options reuse one program (`throw` is a run-time flag, so it does not recompile); inside
    an outer `jit` it is inlined.
    """
    excitations = jnp.asarray(excitations, dtype=float)
    if excitations.ndim not in (2, 3) or excitations.shape[-1] != plant.n_muscles:
        raise ValueError(f"`excitations` must have shape (T, {plant.n_muscles}) or "
                         f"(T, n_envs, {plant.n_muscles}), got {excitations.shape}")
    n_steps = excitations.shape[0]
    if n_steps < 1:
        raise ValueError("`excitations` needs at least one step")
    if excitations.ndim == 3:
        _check_batch(state, excitations.shape[1])
    return _rollout(plant, state, excitations, jnp.asarray(throw), integrator=integrator,
                    checkpoint=checkpoint,
                    segment_length=segment_length or math.ceil(math.sqrt(n_steps)),
                    env_group=env_group)


@eqx.filter_jit
def _rollout(plant, state, excitations, throw, *, integrator, checkpoint, segment_length,
             env_group):
    """`rollout` after its checks; `throw` is a boolean array."""
    run = lambda s, e: _single_rollout(plant, s, e, integrator, segment_length, checkpoint)
    if excitations.ndim == 3:
        final, records, bad_step = vmap_envs(run, plant.mjx_model.nv, group_size=env_group)(
            state, jnp.moveaxis(excitations, 1, 0))
        records = jax.tree.map(lambda x: jnp.moveaxis(x, 0, 1), records)
    else:
        final, records, bad_step = run(state, excitations)
    jax.debug.callback(_raise_if_nonfinite, bad_step, throw)
    return final, PlantTrajectory(*records, nonfinite_step=bad_step)


def _check_batch(state: PlantState, n_envs: int) -> None:
    """The batched state's leading axis must match the excitations' env axis."""
    size = jnp.shape(state.data.qpos)
    if len(size) != 2 or size[0] != n_envs:
        raise ValueError(f"a batch of {n_envs} envs needs a state with a leading env axis of "
                         f"{n_envs} (qpos shape ({n_envs}, nq)), got qpos shape {size}")


def _raise_if_nonfinite(bad_step, throw=True) -> None:
    """Host-side: raise naming the first env (and its step) whose state went non-finite."""
    if not throw:
        return
    bad_step = np.atleast_1d(np.asarray(bad_step))
    envs = np.flatnonzero(bad_step >= 0)
    if envs.size:
        env = int(envs[0])
        raise NonFiniteStateError(
            f"non-finite plant state (NaN or inf) in {envs.size} env(s); first: env {env} "
            f"at step {int(bad_step[env])}; all: "
            f"{ {int(e): int(bad_step[e]) for e in envs[:20]} }")


def check_trajectory(trajectory: PlantTrajectory) -> None:
    """Raise `NonFiniteStateError` (env and step named) if any env went non-finite."""
    _raise_if_nonfinite(trajectory.nonfinite_step)
