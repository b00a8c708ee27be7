r"""De Groote et al. (2016) explicit elastic-tendon formulation (state: normalised tendon force).

The equations of OpenSim 4.6's `DeGrooteFregly2016Muscle` with
`tendon_compliance_dynamics_mode = explicit`: tendon length from the inverse tendon curve,
fiber length from constant-thickness pennation, fiber velocity from the inverse
force-velocity curve with $f_V = (\tilde F_T/\cos\alpha - f_{PE})/(a f_L)$ (fiber damping is
not part of that inversion; it is added to the reported fiber force only), and
$d\tilde F_T/dt = \tilde v_T\, df_T/d\tilde l_T$.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._solution import Solution
from . import curves
from ._geometry import fiber_from_length_along_tendon, fiber_multipliers, tendon_length_from_force
from .activation import AbstractActivationDynamics, DeGroote2016Activation
from .mtu import (
    AbstractMTU,
    MTUOutputs,
    fiber_outputs,
    output_tendon_force,
    rigid_tendon_outputs,
    select_outputs,
    solve_equilibrium_norm_tendon_force,
)
from .parameters import MuscleArray, MuscleParameters

# Floor on a f_L in the force-velocity inversion, so zero activation gives a finite
# velocity instead of a division by zero.
_MIN_ACTIVE_FORCE = 1e-12
# |(f_V - d4)/d1| beyond which the inverse force-velocity curve continues linearly.
_MAX_SINH_ARGUMENT = 10.0
# Sharpness of the smooth switch in `fiber_step` from explicit to implicit treatment
# around h |df/dF| = 1.
_SWITCH_SHARPNESS = 8.0


def _norm_fiber_velocity(force_velocity):
    """Inverse force-velocity curve, continued linearly (C1) beyond `_MAX_SINH_ARGUMENT`.

    Equal to `curves.force_velocity_inverse` inside (|v| < 6.5e11), so physical results are
    unchanged; outside, the slope stays nonzero (a clip would make it zero), so the
    linearly implicit `fiber_step` still sees how the tendon force rate depends on the
    force, and cosh/sinh cannot overflow.
    """
    argument = (force_velocity - curves._D4) / curves._D1
    bounded = jnp.clip(argument, -_MAX_SINH_ARGUMENT, _MAX_SINH_ARGUMENT)
    sinh = jnp.sinh(bounded) + jnp.cosh(bounded) * (argument - bounded)
    return (sinh - curves._D3) / curves._D2


class TendonForceState(eqx.Module):
    """State of `TendonForceMTU`: activation [-] and normalised tendon force [-].

    For rigid-tendon muscles `norm_tendon_force` is not integrated (its rate is zero);
    read forces from `TendonForceMTU.outputs`.
    """

    activation: MuscleArray
    norm_tendon_force: MuscleArray


class TendonForceMTU(AbstractMTU):
    """Elastic-tendon MTUs in De Groote's explicit tendon-force formulation."""

    params: MuscleParameters
    activation_dynamics: AbstractActivationDynamics = DeGroote2016Activation()

    def _elastic(self, state: TendonForceState, mtu_length, mtu_velocity):
        p = self.params
        tendon_length = tendon_length_from_force(p, state.norm_tendon_force)
        fiber_length, cos_pennation = fiber_from_length_along_tendon(
            p, mtu_length - tendon_length)
        active_fl, passive_fl = fiber_multipliers(p, fiber_length)
        active = jnp.maximum(state.activation * active_fl, _MIN_ACTIVE_FORCE)
        force_velocity = (state.norm_tendon_force / cos_pennation - passive_fl) / active
        fiber_velocity = _norm_fiber_velocity(force_velocity) * p.max_fiber_velocity
        tendon_velocity = mtu_velocity - fiber_velocity / cos_pennation
        return tendon_length, fiber_length, cos_pennation, fiber_velocity, tendon_velocity

    def solve_init_state(self, mtu_length, mtu_velocity, activation, **options) -> Solution:
        """Equilibrium with zero tendon velocity (OpenSim's `equilibrateMuscles`).

        `options` (`max_steps`, `rtol`, `atol`) go to `solve_equilibrium_norm_tendon_force`.
        """
        sol = solve_equilibrium_norm_tendon_force(self.params, mtu_length, mtu_velocity,
                                                  activation, **options)
        return Solution(TendonForceState(activation=activation, norm_tendon_force=sol.value),
                        sol.result, sol.stats)

    def _force_rate(self, state, mtu_length, mtu_velocity):
        r"""$d\tilde F_T/dt$ [1/s]; zero for rigid-tendon muscles."""
        p = self.params
        tendon_length, *_, tendon_velocity = self._elastic(state, mtu_length, mtu_velocity)
        stiffness = curves.tendon_force_multiplier_derivative(
            tendon_length / p.tendon_slack_length, p.tendon_strain_at_one_norm_force)
        force_rate = tendon_velocity / p.tendon_slack_length * stiffness
        return jnp.where(p.ignore_tendon_compliance, 0.0, force_rate)

    def derivative(self, state, excitation, mtu_length, mtu_velocity) -> TendonForceState:
        r"""$(\dot a, d\tilde F_T/dt)$ [1/s]."""
        activation_rate = self.activation_dynamics.derivative(self.params, excitation,
                                                              state.activation)
        return TendonForceState(activation=activation_rate,
                                norm_tendon_force=self._force_rate(state, mtu_length, mtu_velocity))

    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        r"""Explicit Euler on $\tilde F_T$, made implicit where the tendon-force ODE is stiff.

        $\Delta = h f / d$ with $d = 1 + \mathrm{softplus}(k(s - 1))/k$, $s = -h\,\partial f/\partial
        \tilde F_T$, $k = 8$: $d \approx 1$ (explicit Euler, as before) while $s < 1$, and
        $d \approx s$ (a Newton step onto the quasi-static fiber-tendon balance) when
        $s \gg 1$. The slope scales like $-1/a$ (about -7e3 /s at $a = 10^{-3}$ for a soleus),
        so once the excitation has been off for a while plain explicit Euler diverges. For a
        linear ODE the update multiplies the distance to equilibrium by $1 - s/d \in (0, 1)$:
        never amplified, never overshooting.
        """
        rate = lambda force: self._force_rate(
            TendonForceState(state.activation, force), mtu_length, mtu_velocity)
        force = state.norm_tendon_force
        f, slope = jax.jvp(rate, (force,), (jnp.ones_like(force),))  # muscles independent
        stiffness = -dt * slope
        d = 1.0 + jax.nn.softplus(_SWITCH_SHARPNESS * (stiffness - 1.0)) / _SWITCH_SHARPNESS
        return TendonForceState(state.activation, force + dt * f / d)

    def tendon_force(self, state, mtu_length, mtu_velocity):
        """Tendon force [N] (the outputs' `tendon_force`)."""
        return output_tendon_force(self, state, mtu_length, mtu_velocity)

    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fiber kinematics; the tendon force is the state times max force."""
        p = self.params
        tendon_length, fiber_length, cos_pennation, fiber_velocity, tendon_velocity = (
            self._elastic(state, mtu_length, mtu_velocity))
        elastic = fiber_outputs(p, state.activation, fiber_length, cos_pennation,
                                fiber_velocity, tendon_length, tendon_velocity,
                                p.max_isometric_force * state.norm_tendon_force)
        rigid = rigid_tendon_outputs(p, state.activation, mtu_length, mtu_velocity)
        return select_outputs(p.ignore_tendon_compliance, rigid, elastic)
