"""Rollouts of the plant: `lax.scan` over steps, batched with `vmap`, rematerialised for gradients.

Reverse-mode memory: the steps are grouped into segments of `segment_length` steps (default
about sqrt(T)); only segment boundaries are stored on the forward pass, and each segment is
re-run during the backward pass with its steps checkpointed. Memory therefore grows like
sqrt(T) states instead of T full MJX step residuals.

Non-finite states: every step records whether the state is still finite; with `throw=True`
the first non-finite env and step are raised through `eqx.branched_error_if` (one mechanism
with `mskdiff.integrate.simulate`; docs/plant.md says why).
"""

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..integrate.integrators import AbstractIntegrator
from ..integrate.simulate import NonFiniteStateError, error_if_nonfinite
from .batching import vmap_envs
from .plant import DEFAULT_INTEGRATOR, AbstractPlant, MJXPlant, PlantState


class PlantTrajectory(eqx.Module):
    """What a rollout records after every step (leading axes: step, then env if batched).

    Times [s], `qpos`/`qvel` (MuJoCo units), `excitation` [-] (as applied: clipped to
    [0, 1]), `muscle` (the formulation's state Module),
    `tendon_force` [N], `fiber_length` and `mtu_length` [m] (fibre length is NaN with MuJoCo's
    own muscles), `mtu_velocity` [m/s] (lengthening > 0); `nonfinite_step` is the first step
    (0-based) after which the state held a NaN or inf, per env, or -1; `extra` holds what
    `rollout`'s `record` returned after every step (None without `record`).
    """

    time: Array
    qpos: Array
    qvel: Array
    excitation: Array
    muscle: eqx.Module
    tendon_force: Array
    fiber_length: Array
    mtu_length: Array
    mtu_velocity: Array
    nonfinite_step: Array
    extra: Any = None


def _record(plant: AbstractPlant, state: PlantState, excitation: Array):
    """What the trajectory keeps of `state` (the `PlantTrajectory` fields, in order)."""
    return (state.data.time, state.data.qpos, state.data.qvel, jnp.clip(excitation, 0.0, 1.0),
            state.muscle, plant.tendon_force(state), plant.fiber_length(state),
            plant.mtu_length(state), plant.mtu_velocity(state))


def _single_rollout(plant, state, excitations, applied_forces, integrator, segment_length,
                    checkpoint, record):
    """Rollout of one env: `(final state, records, first non-finite step or -1)`.

    `records` is `(the PlantTrajectory fields, record's outputs or None)`.
    """

    def step(carry, inputs):
        state, bad_step = carry
        k, excitation, forces = inputs
        if forces is not None:
            state = PlantState(state.data.replace(qfrc_applied=forces), state.muscle)
        state = plant.step(state, excitation, integrator=integrator)
        bad_step = jnp.where((bad_step < 0) & ~state.is_finite(), k, bad_step)
        extra = None if record is None else record(plant, state)
        return (state, bad_step), (_record(plant, state, excitation), extra)

    def segment(carry, inputs):
        return jax.lax.scan(jax.checkpoint(step) if checkpoint else step, carry, inputs)

    n_steps = excitations.shape[0]
    steps = jnp.arange(n_steps)
    inputs = (steps, excitations, applied_forces)
    carry = (state, jnp.asarray(-1, dtype=steps.dtype))
    if not checkpoint or segment_length >= n_steps:
        carry, records = segment(carry, inputs)
    else:
        n_full = n_steps // segment_length * segment_length
        split = lambda x: x[:n_full].reshape(-1, segment_length, *x.shape[1:])
        carry, records = jax.lax.scan(jax.checkpoint(segment), carry,
                                      jax.tree.map(split, inputs))
        records = jax.tree.map(lambda x: x.reshape(n_full, *x.shape[2:]), records)
        if n_full < n_steps:
            carry, rest = segment(carry, jax.tree.map(lambda x: x[n_full:], inputs))
            records = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), records, rest)
    (state, bad_step) = carry
    return state, records, bad_step


def rollout(plant: AbstractPlant, state: PlantState, excitations, *,
            integrator: AbstractIntegrator = DEFAULT_INTEGRATOR,
            checkpoint: bool = True, segment_length: int | None = None,
            throw: bool = True, env_group: int | None = None,
            plant_axes=None, applied_forces=None,
            record: Callable[[AbstractPlant, PlantState], Any] | None = None,
            ) -> tuple[PlantState, PlantTrajectory]:
    """Step the plant once per row of `excitations`.

    Args:
        plant: the plant (`MJXPlant` or `MuJoCoMusclePlant`).
        state: initial state; for a batch, every leaf has a leading env axis
            (e.g. `plant.init_batch(qpos_batch)`).
        excitations: `(T, n_muscles)` for one env or `(T, n_envs, n_muscles)` for a batch.
        integrator: the MTU sub-stepping integrator.
        checkpoint: rematerialise steps for reverse mode (see the module docstring); it
            does not change the forward result.
        segment_length: steps per checkpointed segment (default `ceil(sqrt(T))`).
        throw: raise `eqx.EquinoxRuntimeError` naming the first env and its step at which
            a state went non-finite (works under `jit`; `EQX_ON_ERROR=nan|off` apply); with
            `False`, read `nonfinite_step` (or call `check_trajectory`) instead. Static:
            `False` compiles a program without the check's host callback, which JAX's
            persistent compilation cache can store (the command line uses it).
        env_group: envs vectorised together in a batch (default: all, except on CPU, where
            groups stay below a jaxlib deadlock threshold; see `vmap_envs`).
        plant_axes: for a batch of plants (one per env, e.g. from `randomize_batch`), the
            `vmap` axes of `plant`: 0 on leaves with an env axis, `None` elsewhere.
        applied_forces: generalised forces [N or N m] written to `data.qfrc_applied` before
            each step (residual or reserve actuators), `(T, nv)` or `(T, n_envs, nv)`;
            default: the state's own `qfrc_applied`, held.
        record: `record(plant, state) -> pytree`, evaluated after every step (inside the
            compiled scan); its outputs, stacked like the other records, are the trajectory's
            `extra` (e.g. ground reactions: keep only what is needed, it is stored per step).

    Returns:
        `(final state, PlantTrajectory)`; the trajectory's axes are `(T, ...)` or
        `(T, n_envs, ...)`.

    Compiled (`eqx.filter_jit`): repeated calls with the same plant structure, shapes and
    options reuse one program; inside
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
    elif plant_axes is not None:
        raise ValueError("a batch of plants (`plant_axes` given) needs batched excitations "
                         "(T, n_envs, n_muscles)")
    _check_plant_batch(plant, plant_axes, excitations.shape[1] if excitations.ndim == 3 else None)
    if applied_forces is not None:
        applied_forces = jnp.asarray(applied_forces, dtype=float)
        expected = (*excitations.shape[:-1], plant.mjx_model.nv)
        if applied_forces.shape != expected:
            raise ValueError(f"`applied_forces` must have shape {expected} (the excitations' "
                             f"leading axes, then nv), got {applied_forces.shape}")
    return _rollout(plant, state, excitations, applied_forces, plant_axes, throw=bool(throw),
                    integrator=integrator, checkpoint=checkpoint,
                    segment_length=segment_length or math.ceil(math.sqrt(n_steps)),
                    env_group=env_group, record=record)


@eqx.filter_jit
def _rollout(plant, state, excitations, applied_forces, plant_axes, *, throw, integrator,
             checkpoint, segment_length, env_group, record):
    """`rollout` after its checks."""
    run = lambda p, s, e, f: _single_rollout(p, s, e, f, integrator, segment_length, checkpoint,
                                             record)
    if excitations.ndim == 3:
        batched = vmap_envs(run, plant.mjx_model.nv, group_size=env_group,
                            in_axes=(plant_axes, 0, 0, 0))
        env_first = lambda x: None if x is None else jnp.moveaxis(x, 1, 0)
        final, records, bad_step = batched(plant, state, env_first(excitations),
                                           env_first(applied_forces))
        records = jax.tree.map(lambda x: jnp.moveaxis(x, 0, 1), records)
    else:
        final, records, bad_step = run(plant, state, excitations, applied_forces)
    fields, extra = records
    trajectory = PlantTrajectory(*fields, nonfinite_step=bad_step, extra=extra)
    # Threaded through both qpos: inside an outer `jit` the check stays while either is used.
    qpos = error_if_nonfinite((final.data.qpos, trajectory.qpos), bad_step, excitations.shape[0],
                              "plant state", throw)
    final = eqx.tree_at(lambda s: s.data.qpos, final, qpos[0])
    return final, eqx.tree_at(lambda t: t.qpos, trajectory, qpos[1])


def _check_batch(state: PlantState, n_envs: int) -> None:
    """The batched state's leading axis must match the excitations' env axis."""
    size = jnp.shape(state.data.qpos)
    if len(size) != 2 or size[0] != n_envs:
        raise ValueError(f"a batch of {n_envs} envs needs a state with a leading env axis of "
                         f"{n_envs} (qpos shape ({n_envs}, nq)), got qpos shape {size}")


def _is_batch_of_plants(plant: AbstractPlant) -> bool:
    """True when a randomisable leaf has an env axis (body or geom values; muscle parameters)."""
    m = plant.mjx_model
    ndims = [jnp.ndim(m.body_mass) - 1, jnp.ndim(m.body_inertia) - 2, jnp.ndim(m.geom_friction) - 2]
    if isinstance(plant, MJXPlant):
        ndims += [jnp.ndim(x) - 1 for x in jax.tree.leaves(plant.mtu.params)]
    return any(ndims)


def _check_plant_batch(plant: AbstractPlant, plant_axes, n_envs: int | None) -> None:
    """Raise unless the plant matches the batch.

    A batch of plants needs `plant_axes` whose mapped leaves have `n_envs` entries; a single
    plant has one row of body masses, inertias, frictions and muscle parameters.
    """
    if plant_axes is None:
        if _is_batch_of_plants(plant):
            raise ValueError("`plant` is a batch of plants (its leaves have an env axis); pass "
                             "the `plant_axes` that `randomize_batch` returned")
        return
    size = lambda a, x: None if a is None or not jnp.ndim(x) else jnp.shape(x)[0]
    sizes = jax.tree.leaves(jax.tree.map(size, plant_axes, plant, is_leaf=lambda a: a is None))
    if any(size != n_envs for size in sizes):
        raise ValueError(f"the batch of plants has {sorted(set(sizes))} envs where the "
                         f"excitations have {n_envs}")


def check_trajectory(trajectory: PlantTrajectory) -> None:
    """Raise `NonFiniteStateError` naming every env that went non-finite, and its step.

    For trajectories from `rollout(..., throw=False)`; runs on the host (not under `jit`).
    """
    bad_step = np.atleast_1d(np.asarray(trajectory.nonfinite_step))
    envs = np.flatnonzero(bad_step >= 0)
    if envs.size:
        env = int(envs[0])
        raise NonFiniteStateError(
            f"non-finite plant state (NaN or inf) in {envs.size} env(s); first: env {env} "
            f"at step {int(bad_step[env])}; all: "
            f"{ {int(e): int(bad_step[e]) for e in envs[:20]} }")
