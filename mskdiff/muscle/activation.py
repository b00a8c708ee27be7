r"""Activation dynamics: excitation $e$ -> activation $a$, both in [0, 1].

Time constants come from `MuscleParameters` (`activation_time_constant`,
`deactivation_time_constant`); these Modules hold only the model's own settings.
"""

import abc

import equinox as eqx
import jax.numpy as jnp

from .parameters import MuscleArray, MuscleParameters


class AbstractActivationDynamics(eqx.Module):
    """Maps (excitation, activation) to $da/dt$ [1/s]."""

    @abc.abstractmethod
    def derivative(self, params: MuscleParameters, excitation: MuscleArray,
                   activation: MuscleArray) -> MuscleArray:
        """Time derivative of activation [1/s]."""


class DeGroote2016Activation(AbstractActivationDynamics):
    r"""De Groote et al. (2016) activation dynamics, exactly as OpenSim 4.6's `DeGrooteFregly2016Muscle`.

    $$\dot a = \left[\frac{f + 1/2}{\tau_a (1/2 + 3a/2)} + \frac{(1/2 - f)(1/2 + 3a/2)}{\tau_d}\right](e - a),
    \quad f = \tfrac12 \tanh(b (e - a))$$

    with $b$ = `activation_dynamics_smoothing` (OpenSim default 0.1).
    """

    activation_dynamics_smoothing: float = 0.1

    def derivative(self, params, excitation, activation):
        """Time derivative of activation [1/s]."""
        difference = excitation - activation
        switch = 0.5 * jnp.tanh(self.activation_dynamics_smoothing * difference)
        scale = 0.5 + 1.5 * activation
        rate = ((switch + 0.5) / (params.activation_time_constant * scale)
                + (0.5 - switch) * scale / params.deactivation_time_constant)
        return rate * difference


class FirstOrderActivation(AbstractActivationDynamics):
    r"""First-order Thelen (2003) / Millard (2012) activation dynamics with a hard switch.

    $\dot a = (e - a)/\tau$, $\tau = \tau_a (1/2 + 3a/2)$ if $e > a$ else
    $\tau_d / (1/2 + 3a/2)$; excitation and activation are clamped to
    [`minimum_activation`, 1] as in Millard 2012. The rate is continuous at $e = a$
    (it is zero there) but its slope is not.
    """

    def derivative(self, params, excitation, activation):
        """Time derivative of activation [1/s]."""
        low = params.minimum_activation
        e = jnp.clip(excitation, low, 1.0)
        a = jnp.clip(activation, low, 1.0)
        scale = 0.5 + 1.5 * a
        tau = jnp.where(e > a, params.activation_time_constant * scale,
                        params.deactivation_time_constant / scale)
        return (e - a) / tau


def activation_dynamics_by_name(name: str) -> AbstractActivationDynamics:
    """'degroote2016' or 'first_order'."""
    options = {"degroote2016": DeGroote2016Activation, "first_order": FirstOrderActivation}
    if name not in options:
        raise ValueError(f"unknown activation dynamics {name!r}; choose from {list(options)}")
    return options[name]()
