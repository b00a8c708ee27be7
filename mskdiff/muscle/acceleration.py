r"""Millard et al. (2012) acceleration formulation with De Groote curves.

States: activation, fiber length $l$ [m] and fiber velocity $\dot l$ [m/s]. A point mass $m$
(`fiber_mass`) sits at the fiber-tendon junction, which moves along the tendon
($x = l\cos\alpha$, constant-thickness pennation, $l \sin\alpha = w$):

$$m \ddot x = F_T(L - x) - F_{CE}\cos\alpha, \qquad
\ddot l = \frac{x\,\ddot x + \dot l^2 \tan^2\alpha}{l},$$

$F_{CE} = F_{max}(a f_L f_V + f_{PE} + \beta \tilde v) - F_{comp}$, with fiber damping $\beta$ and a
smooth compressive element $F_{comp}$ that holds the fiber above its minimum length
(pennation below 84 degrees) without a kink in the gradient. At rest the force balance is the
equilibrium of the other formulations.

Reference: Millard M, Uchida T, Seth A, Delp SL (2013). Flexing computational muscle:
modeling and simulation of musculotendon dynamics. J Biomech Eng 135:021005.
"""

import equinox as eqx
import jax.numpy as jnp

from .._solution import Solution
from . import curves
from ._geometry import (
    bounded_fiber_length,
    fiber_multipliers,
    min_fiber_length,
    norm_tendon_force_from_length,
    smooth_max,
    tendon_length_from_force,
)
from .activation import AbstractActivationDynamics, DeGroote2016Activation
from .mtu import (
    AbstractMTU,
    MTUOutputs,
    fiber_outputs,
    linearly_implicit_fiber_step,
    output_tendon_force,
    rigid_tendon_outputs,
    select_outputs,
    solve_equilibrium_norm_tendon_force,
)
from .parameters import MuscleArray, MuscleParameters, _float_array

#: Stiffness of the compressive element, in max isometric force per (optimal length)^2.
_COMPRESSIVE_STIFFNESS = 1e3


class AccelerationState(eqx.Module):
    """State of `AccelerationMTU`: activation [-], fiber length [m], fiber velocity [m/s].

    For rigid-tendon muscles the fiber states are not integrated (rates are zero); read
    kinematics from `AccelerationMTU.outputs`.
    """

    activation: MuscleArray
    fiber_length: MuscleArray
    fiber_velocity: MuscleArray


class AccelerationMTU(AbstractMTU):
    """Elastic-tendon MTUs with fiber mass (Millard 2012 acceleration formulation).

    Very stiff for small masses (eigenvalues to about -2.4e5 /s at 0.1 kg): `fiber_step`
    is linearly implicit in the fiber states, stable at 2 ms physics steps with a few
    sub-steps.
    """

    params: MuscleParameters
    fiber_mass: MuscleArray = eqx.field(converter=_float_array)  # [kg]
    activation_dynamics: AbstractActivationDynamics = DeGroote2016Activation()

    def __check_init__(self):
        from .._checks import check_positive, check_shape

        check_shape("fiber_mass", self.fiber_mass, (self.params.n_muscles,))
        check_positive("fiber_mass", self.fiber_mass, self.params.names)

    @classmethod
    def with_defaults(cls, params: MuscleParameters, fiber_mass: float = 0.1,
                      **kwargs) -> "AccelerationMTU":
        """OpenSim `Millard2012AccelerationMuscle` default mass, 0.1 kg, for every muscle."""
        return cls(params, jnp.full((params.n_muscles,), fiber_mass), **kwargs)

    def _geometry(self, fiber_length):
        p = self.params
        length = bounded_fiber_length(p, fiber_length)
        along = jnp.sqrt(length**2 - p.fiber_width**2)
        return length, along, along / length

    def _fiber_force(self, activation, fiber_length, fiber_velocity):
        """Fiber force [N] along the fiber, compressive element included."""
        p = self.params
        length, _, _ = self._geometry(fiber_length)
        active_fl, passive_fl = fiber_multipliers(p, length)
        norm_velocity = fiber_velocity / p.max_fiber_velocity
        norm_force = (activation * active_fl * curves.force_velocity_multiplier(norm_velocity)
                      + passive_fl + p.fiber_damping * norm_velocity)
        width = 1e-3 * p.optimal_fiber_length
        penetration = smooth_max(min_fiber_length(p) - fiber_length, 0.0, width)
        compressive = _COMPRESSIVE_STIFFNESS * (penetration / p.optimal_fiber_length) ** 2
        return p.max_isometric_force * (norm_force - compressive)

    def _fiber_acceleration(self, activation, fiber_length, fiber_velocity, mtu_length):
        p = self.params
        length, along, cos_pennation = self._geometry(fiber_length)
        tendon_force = p.max_isometric_force * norm_tendon_force_from_length(
            p, mtu_length - along)
        fiber_force = self._fiber_force(activation, fiber_length, fiber_velocity)
        along_acceleration = (tendon_force - fiber_force * cos_pennation) / self.fiber_mass
        tan_pennation = p.fiber_width / along
        return (along * along_acceleration + (fiber_velocity * tan_pennation) ** 2) / length

    def solve_init_state(self, mtu_length, mtu_velocity, activation, **options) -> Solution:
        """Force equilibrium with zero tendon velocity and zero fiber acceleration.

        `options` (`max_steps`, `rtol`, `atol`) go to `solve_equilibrium_norm_tendon_force`.
        """
        p = self.params
        sol = solve_equilibrium_norm_tendon_force(p, mtu_length, mtu_velocity, activation,
                                                  **options)
        along = mtu_length - tendon_length_from_force(p, sol.value)
        rigid_along = mtu_length - p.tendon_slack_length
        along = jnp.where(p.ignore_tendon_compliance, rigid_along, along)
        fiber_length = jnp.sqrt(along**2 + p.fiber_width**2)
        fiber_velocity = mtu_velocity * along / fiber_length
        return Solution(AccelerationState(activation, fiber_length, fiber_velocity), sol.result,
                        sol.stats)

    def derivative(self, state, excitation, mtu_length, mtu_velocity) -> AccelerationState:
        r"""$(\dot a, \dot l, \ddot l)$."""
        del mtu_velocity
        p = self.params
        acceleration = self._fiber_acceleration(state.activation, state.fiber_length,
                                                state.fiber_velocity, mtu_length)
        rigid = p.ignore_tendon_compliance
        return AccelerationState(
            activation=self.activation_dynamics.derivative(p, excitation, state.activation),
            fiber_length=jnp.where(rigid, 0.0, state.fiber_velocity),
            fiber_velocity=jnp.where(rigid, 0.0, acceleration),
        )

    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        """`linearly_implicit_fiber_step` on the fiber states; rigid-tendon muscles held.

        L-stable for the stiff fiber mode, so a few sub-steps per 2 ms step suffice.
        The MTU length is taken at the end of the sub-step.
        """
        mtu_length = mtu_length + dt * mtu_velocity
        accel = lambda l, v: self._fiber_acceleration(state.activation, l, v, mtu_length)
        l, v = state.fiber_length, state.fiber_velocity
        new_l, new_v = linearly_implicit_fiber_step(accel, l, v, dt)
        rigid = self.params.ignore_tendon_compliance
        return AccelerationState(
            activation=state.activation,
            fiber_length=jnp.where(rigid, l, new_l),
            fiber_velocity=jnp.where(rigid, v, new_v),
        )

    def tendon_force(self, state, mtu_length, mtu_velocity):
        """Tendon force [N] (the outputs' `tendon_force`)."""
        return output_tendon_force(self, state, mtu_length, mtu_velocity)

    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fiber kinematics; the tendon force is the elastic tendon force."""
        p = self.params
        length, along, cos_pennation = self._geometry(state.fiber_length)
        tendon_length = mtu_length - along
        tendon_velocity = mtu_velocity - state.fiber_velocity / cos_pennation
        tendon_force = p.max_isometric_force * norm_tendon_force_from_length(p, tendon_length)
        elastic = fiber_outputs(p, state.activation, length, cos_pennation,
                                state.fiber_velocity, tendon_length, tendon_velocity,
                                tendon_force)
        rigid = rigid_tendon_outputs(p, state.activation, mtu_length, mtu_velocity)
        return select_outputs(p.ignore_tendon_compliance, rigid, elastic)
