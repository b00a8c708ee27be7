"""Simulate MTUs over a time grid: `lax.scan` over steps, one integrator call per step."""

import dataclasses
from collections.abc import Callable, Sequence

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
        A `Trajectory`; a non-finite state raises `eqx.EquinoxRuntimeError` under `jit`,
        naming the first non-finite time index (set `EQX_ON_ERROR=nan` to get NaNs instead).
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


class NonFiniteStateError(eqx.EquinoxRuntimeError):
    """A state went NaN or inf; the message names the step (and the env of a batch)."""


@dataclasses.dataclass(frozen=True)
class _NonFiniteMessages(Sequence):
    """Error messages for `eqx.branched_error_if`, written when one is raised.

    Index `env * n_steps + step` names an env (if `n_envs` is not None) and a step.
    """

    what: str
    n_envs: int | None
    n_steps: int

    def __len__(self) -> int:
        return (self.n_envs or 1) * self.n_steps

    def __getitem__(self, index: int) -> str:
        env, step = divmod(int(index), self.n_steps)
        where = f"step {step}" if self.n_envs is None else f"env {env} at step {step}"
        return f"non-finite {self.what} (NaN or inf) first in {where}"


def first_nonfinite_step(tree) -> Array:
    """Index along the leading (step) axis of the first entry with a NaN or inf leaf, or -1."""
    leaves = [jnp.reshape(x, (x.shape[0], -1)) for x in jax.tree.leaves(tree)]
    bad = jnp.any(jnp.stack([~jnp.all(jnp.isfinite(x), axis=1) for x in leaves]), axis=0)
    return jnp.where(jnp.any(bad), jnp.argmax(bad), -1)


def error_if_nonfinite(x, bad_step: Array, n_steps: int, what: str, throw=True):
    """`x`, with a run-time error (inside `jit` too) naming the first non-finite env and step.

    Args:
        x: the pytree the error is threaded through (returned unchanged).
        bad_step: first non-finite step or -1, scalar or one per env `(n_envs,)`.
        n_steps: steps in the run (static).
        what: the state's name in the message.
        throw: `False` disables the error. A Python `False` compiles no check at all: the
            check holds a host callback, and JAX's persistent compilation cache does not store
            programs with one.

    Raises `eqx.EquinoxRuntimeError` (under `eqx.filter_jit`) with a message such as
    "non-finite plant state (NaN or inf) first in env 1 at step 0"; `EQX_ON_ERROR=nan|off`
    applies. The error costs a `lax.cond` when nothing is wrong (no host callback).
    """
    if throw is False:
        return x
    bad_step = jnp.asarray(bad_step)
    n_envs = None if bad_step.ndim == 0 else bad_step.shape[0]
    if (n_envs or 1) * n_steps > jnp.iinfo(jnp.int32).max:
        raise ValueError(f"{n_envs} envs x {n_steps} steps: too many to index in one error")
    if n_envs is None:
        index = bad_step
    else:
        env = jnp.argmax(bad_step >= 0)
        index = env * n_steps + bad_step[env]
    pred = jnp.logical_and(throw, jnp.any(bad_step >= 0))
    index = jnp.where(pred, index, 0)
    return eqx.branched_error_if(x, pred, index, _NonFiniteMessages(what, n_envs, n_steps))


def check_finite(tree, what: str):
    """`tree` (leading axis: steps) unchanged; a run-time error names its first non-finite step."""
    first, *rest = jax.tree.leaves(tree)
    first = error_if_nonfinite(first, first_nonfinite_step(tree), first.shape[0], what)
    return jax.tree.unflatten(jax.tree.structure(tree), [first, *rest])
