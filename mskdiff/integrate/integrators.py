"""Integrators that advance the muscle ODE over one step; swappable like Diffrax solvers.

A *drive* is a callable `s -> (excitation, mtu_length, mtu_velocity)` giving the inputs at
time `s` [s] since the start of the step. `hold` builds the one the plant uses (excitation
held, MTU length extrapolated with its velocity).
"""

import abc
from collections.abc import Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from ..muscle.mtu import AbstractMTU

Drive = Callable[[Array], tuple[Array, Array, Array]]


def hold(excitation, mtu_length, mtu_velocity) -> Drive:
    """Drive for one step: excitation held, MTU length moving at `mtu_velocity` [m/s]."""
    return lambda s: (excitation, mtu_length + s * mtu_velocity, mtu_velocity)


class AbstractIntegrator(eqx.Module):
    """Advances an MTU state over one step of length `dt` [s]."""

    @abc.abstractmethod
    def advance(self, mtu: AbstractMTU, state, drive: Drive, dt):
        """The state at `dt` [s], from `state` at 0."""


class SemiImplicitEuler(AbstractIntegrator):
    """`n_substeps` sub-steps: activation first (explicit), then the fiber states with the new activation.

    The fiber update is each formulation's `fiber_step` (explicit Euler for the tendon-force
    formulation, linearly implicit for the stiff acceleration formulations). Inputs are
    sampled at the start of each sub-step (the acceleration formulations' implicit steps
    extrapolate the MTU length to its end). Default 4 sub-steps: at 1 the stiffest
    reference cases are at the edge of explicit stability at a 2 ms step.
    """

    n_substeps: int = eqx.field(static=True, default=4)

    def __check_init__(self):
        if self.n_substeps < 1:
            raise ValueError(f"`n_substeps` must be >= 1, got {self.n_substeps}")

    def advance(self, mtu, state, drive, dt):
        """The state after `n_substeps` sub-steps of `dt / n_substeps`."""
        h = dt / self.n_substeps

        def substep(state, k):
            excitation, mtu_length, mtu_velocity = drive(k * h)
            rate = mtu.activation_dynamics.derivative(mtu.params, excitation, state.activation)
            state = eqx.tree_at(lambda s: s.activation, state, state.activation + h * rate)
            return mtu.fiber_step(state, mtu_length, mtu_velocity, h), None

        steps = jnp.arange(self.n_substeps, dtype=jnp.result_type(float))
        state, _ = jax.lax.scan(substep, state, steps)
        return state


class DiffraxIntegrator(AbstractIntegrator):
    """Any Diffrax solver with adaptive steps; e.g. `Tsit5()`, or `Kvaerno5()` for stiff cases."""

    solver: dfx.AbstractSolver = dfx.Tsit5()
    stepsize_controller: dfx.AbstractStepSizeController = dfx.PIDController(
        rtol=1e-8, atol=1e-10)
    adjoint: dfx.AbstractAdjoint = dfx.RecursiveCheckpointAdjoint()
    max_steps: int = eqx.field(static=True, default=4096)

    def advance(self, mtu, state, drive, dt):
        """Solve from 0 to `dt`; raises (via `eqx.error_if`) if the solve fails."""

        def vector_field(t, y, args):
            excitation, mtu_length, mtu_velocity = drive(t)
            return mtu.derivative(y, excitation, mtu_length, mtu_velocity)

        solution = dfx.diffeqsolve(
            dfx.ODETerm(vector_field), self.solver, 0.0, dt, dt / 4, state,
            stepsize_controller=self.stepsize_controller, adjoint=self.adjoint,
            max_steps=self.max_steps, saveat=dfx.SaveAt(t1=True))
        return jax.tree.map(lambda x: x[-1], solution.ys)
