"""Rigid-tendon MTUs: the fiber follows the MTU length; state is activation only."""

import equinox as eqx

from .._solution import Solution
from ._solve import no_solve
from .activation import AbstractActivationDynamics, DeGroote2016Activation
from .mtu import AbstractMTU, MTUOutputs, output_tendon_force, rigid_tendon_outputs
from .parameters import MuscleArray, MuscleParameters


class RigidState(eqx.Module):
    """State of `RigidTendonMTU`: activation [-]."""

    activation: MuscleArray


class RigidTendonMTU(AbstractMTU):
    """Every tendon rigid (whatever `ignore_tendon_compliance` says): fast, for comparison."""

    params: MuscleParameters
    activation_dynamics: AbstractActivationDynamics = DeGroote2016Activation()

    def solve_init_state(self, mtu_length, mtu_velocity, activation) -> Solution:
        """The state is the activation; nothing to equilibrate (successful, 0 steps)."""
        del mtu_length, mtu_velocity
        return no_solve(RigidState(activation=activation))

    def derivative(self, state, excitation, mtu_length, mtu_velocity) -> RigidState:
        """Activation rate [1/s]."""
        del mtu_length, mtu_velocity
        rate = self.activation_dynamics.derivative(self.params, excitation, state.activation)
        return RigidState(activation=rate)

    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fiber kinematics from the MTU kinematics."""
        return rigid_tendon_outputs(self.params, state.activation, mtu_length, mtu_velocity)

    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        """No fiber states: returns `state` unchanged."""
        return state

    def tendon_force(self, state, mtu_length, mtu_velocity):
        """Tendon force [N] (the outputs' `tendon_force`)."""
        return output_tendon_force(self, state, mtu_length, mtu_velocity)
