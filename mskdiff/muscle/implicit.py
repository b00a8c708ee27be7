"""De Groote's implicit tendon-dynamics residual (OpenSim's `calcEquilibriumResidual`)."""

from . import curves
from ._geometry import fiber_from_length_along_tendon, fiber_multipliers, tendon_length_from_force
from .parameters import MuscleParameters


def implicit_residual(params: MuscleParameters, mtu_length, mtu_velocity, activation,
                      norm_tendon_force, norm_tendon_force_derivative):
    r"""Normalised force imbalance $\tilde F_T - F_{fiber}\cos\alpha / F_{max}$ [-].

    Tendon length from the inverse tendon curve at $\tilde F_T$, tendon velocity
    $= l_s\, \dot{\tilde F}_T / (df_T/d\tilde l_T)$, fiber velocity $= (v_{MTU} - v_T)\cos\alpha$,
    fiber force $= F_{max}(a f_L f_V + f_{PE} + \beta \tilde v)$. Zero at equilibrium.

    Args:
        params: muscle parameters.
        mtu_length: MTU length [m].
        mtu_velocity: MTU lengthening velocity [m/s].
        activation: activation [-].
        norm_tendon_force: normalised tendon force [-].
        norm_tendon_force_derivative: its time derivative [1/s].
    """
    tendon_length = tendon_length_from_force(params, norm_tendon_force)
    stiffness = curves.tendon_force_multiplier_derivative(
        tendon_length / params.tendon_slack_length, params.tendon_strain_at_one_norm_force)
    tendon_velocity = params.tendon_slack_length * norm_tendon_force_derivative / stiffness
    fiber_length, cos_pennation = fiber_from_length_along_tendon(
        params, mtu_length - tendon_length)
    active_fl, passive_fl = fiber_multipliers(params, fiber_length)
    norm_velocity = (mtu_velocity - tendon_velocity) * cos_pennation / params.max_fiber_velocity
    fiber_force = (activation * active_fl * curves.force_velocity_multiplier(norm_velocity)
                   + passive_fl + params.fiber_damping * norm_velocity)
    return norm_tendon_force - fiber_force * cos_pennation
