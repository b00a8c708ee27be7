"""Simulate MTUs over a time grid: `lax.scan` over steps, one integrator call per step."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from ..muscle.mtu import AbstractMTU, MTUOutputs
from .integrators import AbstractIntegrator, SemiImplicitEuler

#: Inputs as functions of absolute time [s]: `t -> (excitation, mtu_length, mtu_velocity)`.
TimeDrive = Callable[[Array], tuple[Array, Array, Array]]


class Trajectory(eqx.Module):
    """States and outputs at every time of the grid (leading axis `n_times`)."""

    times: Array
    states: eqx.Module
    outputs: MTUOutputs
    excitation: Array
    mtu_length: Array
    mtu_velocity: Array


def simulate(mtu: AbstractMTU, state0, times: Array, drive: TimeDrive, *,
             integrator: AbstractIntegrator | None = None) -> Trajectory:
    """Integrate from `state0` at `times[0]` and report at every entry of `times` [s].

    Args:
        mtu: the muscle-tendon model.
        state0: the state at `times[0]` (e.g. `mtu.init_state(...)`).
        times: increasing output times [s], shape `(n_times,)`; each interval is one
            integrator step.
        drive: inputs as functions of absolute time.
        integrator: `SemiImplicitEuler(n_substeps)` (default, 4 sub-steps) or
            `DiffraxIntegrator(...)`.

    Returns:
        A `Trajectory`; a non-finite state raises `EquinoxRuntimeError` under `jit`
        (set `EQX_ON_ERROR=nan` to get NaNs instead).
    """
    integrator = SemiImplicitEuler() if integrator is None else integrator
    times = jnp.asarray(times, dtype=float)
    if times.ndim != 1 or times.shape[0] < 2:
        raise ValueError(f"`times` must be 1-D with >= 2 entries, got shape {times.shape}")

    def step(state, interval):
        t0, t1 = interval
        state = integrator.advance(mtu, state, lambda s: drive(t0 + s), t1 - t0)
        return state, state

    _, states = jax.lax.scan(step, state0, (times[:-1], times[1:]))
    states = jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), state0, states)
    states = check_finite(states, "MTU state")
    excitation, mtu_length, mtu_velocity = jax.vmap(drive)(times)
    outputs = jax.vmap(mtu.outputs)(states, mtu_length, mtu_velocity)
    return Trajectory(times, states, outputs, excitation, mtu_length, mtu_velocity)


def check_finite(tree, what: str):
    """`tree` unchanged; raises at run time (inside `jit` too) if any leaf is not finite."""
    leaves = jax.tree.leaves(tree)
    bad = jnp.logical_not(jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])))
    first, *rest = leaves
    first = eqx.error_if(first, bad, f"non-finite {what} (NaN or inf)")
    return jax.tree.unflatten(jax.tree.structure(tree), [first, *rest])
