r"""De Groote et al. (2016) muscle and tendon curves, as OpenSim 4.6's `DeGrooteFregly2016Muscle`.

Pure `jax.numpy` functions of normalised quantities; every one is smooth, and safe under
`jit`, `vmap` and `grad`. Parameters broadcast against the inputs.

Reference: De Groote F, Kinney AL, Rao AV, Fregly BJ (2016). Evaluation of direct
collocation optimal control problem formulations for solving the muscle redundancy
problem. Ann Biomed Eng 44:2922-2936.
"""

import math

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

# Active force-length: sum of three Gaussian-like terms (b1, b2, b3, b4) each.
_ACTIVE_FORCE_LENGTH_TERMS = (
    (0.8150671134243542, 1.055033428970575, 0.162384573599574, 0.063303448465465),
    (0.433004984392647, 0.716775413397760, -0.029947116970696, 0.200356847296188),
    (0.1, 1.0, 0.353553390593274, 0.0),
)
# Force-velocity: f_V(v) = d1 asinh(d2 v + d3) + d4.
_D1, _D2, _D3, _D4 = -0.3211346127989808, -8.149, -0.374, 0.8825327733249912
# Passive force-length exponential shape factor.
_K_PASSIVE = 4.0
#: Normalised fiber length where OpenSim's passive curve is zero (its lower length bound).
MIN_NORM_FIBER_LENGTH = 0.2
# Tendon: f_T(l) = c1 exp(kT (l - c2)) - c3, kT = ln((1 + c3)/c1) / strain.
_C1, _C2, _C3 = 0.2, 1.0, 0.2
#: Largest exponent of the passive and tendon exponentials: beyond it (fiber longer than about
#: 8 optimal lengths, tendon strain above about 1.3) the curves are held flat, so absurd states
#: give huge but finite forces and gradients instead of overflowing.
MAX_EXPONENT = 50.0


def _bounded_exp(x):
    return jnp.exp(jnp.minimum(x, MAX_EXPONENT))


#: Force-velocity multiplier at the maximum eccentric velocity (v = 1), from the curve.
MAX_FORCE_VELOCITY_MULTIPLIER = _D1 * math.asinh(_D2 + _D3) + _D4


def _gaussian_like(x: Array, b1: float, b2: float, b3: float, b4: float) -> tuple[Array, Array]:
    """Value and x-derivative of `b1 exp(-(x - b2)^2 / (2 (b3 + b4 x)^2))`."""
    s = b3 + b4 * x
    u = (x - b2) / s
    value = b1 * jnp.exp(-0.5 * u**2)
    du_dx = (s - (x - b2) * b4) / s**2
    return value, -value * u * du_dx


def _scaled_length(norm_fiber_length: ArrayLike, width_scale: ArrayLike) -> Array:
    return (jnp.asarray(norm_fiber_length) - 1.0) / width_scale + 1.0


def active_force_length_multiplier(
    norm_fiber_length: ArrayLike, active_force_width_scale: ArrayLike = 1.0
) -> Array:
    r"""Active force-length multiplier $f_L(\tilde l)$ [-].

    Args:
        norm_fiber_length: fiber length / optimal fiber length [-].
        active_force_width_scale: horizontal scaling of the curve about $\tilde l = 1$ [-].
    """
    x = _scaled_length(norm_fiber_length, active_force_width_scale)
    return sum(_gaussian_like(x, *b)[0] for b in _ACTIVE_FORCE_LENGTH_TERMS)


def active_force_length_multiplier_derivative(
    norm_fiber_length: ArrayLike, active_force_width_scale: ArrayLike = 1.0
) -> Array:
    r"""$d f_L / d\tilde l$ [-]."""
    x = _scaled_length(norm_fiber_length, active_force_width_scale)
    slope = sum(_gaussian_like(x, *b)[1] for b in _ACTIVE_FORCE_LENGTH_TERMS)
    return slope / active_force_width_scale


def _passive_terms(passive_fiber_strain_at_one_norm_force: ArrayLike):
    e0 = jnp.asarray(passive_fiber_strain_at_one_norm_force)
    offset = jnp.exp(_K_PASSIVE * (MIN_NORM_FIBER_LENGTH - 1.0) / e0)
    return e0, offset, jnp.exp(_K_PASSIVE) - offset


def passive_force_multiplier(
    norm_fiber_length: ArrayLike, passive_fiber_strain_at_one_norm_force: ArrayLike = 0.6
) -> Array:
    r"""Passive fiber force-length multiplier $f_{PE}(\tilde l)$ [-].

    As OpenSim: $f_{PE} = (e^{k(\tilde l-1)/e_0} - e^{k(0.2-1)/e_0}) / (e^k - e^{k(0.2-1)/e_0})$,
    $k = 4$, zero at $\tilde l = 0.2$. Below 0.2, where OpenSim returns 0, this smooth form
    continues (|value| < 1e-4).

    Args:
        norm_fiber_length: fiber length / optimal fiber length [-].
        passive_fiber_strain_at_one_norm_force: fiber strain at one normalised force [-].
    """
    e0, offset, denominator = _passive_terms(passive_fiber_strain_at_one_norm_force)
    numerator = _bounded_exp(_K_PASSIVE * (jnp.asarray(norm_fiber_length) - 1.0) / e0) - offset
    return numerator / denominator


def passive_force_multiplier_derivative(
    norm_fiber_length: ArrayLike, passive_fiber_strain_at_one_norm_force: ArrayLike = 0.6
) -> Array:
    r"""$d f_{PE} / d\tilde l$ [-]."""
    e0, _, denominator = _passive_terms(passive_fiber_strain_at_one_norm_force)
    growth = _bounded_exp(_K_PASSIVE * (jnp.asarray(norm_fiber_length) - 1.0) / e0)
    return _K_PASSIVE / e0 * growth / denominator


def passive_force_multiplier_integral(
    norm_fiber_length: ArrayLike, passive_fiber_strain_at_one_norm_force: ArrayLike = 0.6
) -> Array:
    r"""$\int_{0.2}^{\tilde l} f_{PE}$ [-] (normalised passive elastic energy)."""
    e0, offset, denominator = _passive_terms(passive_fiber_strain_at_one_norm_force)
    length = jnp.asarray(norm_fiber_length)
    growth = jnp.exp(_K_PASSIVE * (length - 1.0) / e0)
    exponential_part = e0 / _K_PASSIVE * (growth - offset)
    return (exponential_part - offset * (length - MIN_NORM_FIBER_LENGTH)) / denominator


def force_velocity_multiplier(norm_fiber_velocity: ArrayLike) -> Array:
    r"""Force-velocity multiplier $f_V(\tilde v) = d_1 \sinh^{-1}(d_2 \tilde v + d_3) + d_4$ [-].

    Args:
        norm_fiber_velocity: fiber velocity / (max contraction velocity x optimal fiber
            length) [-], lengthening positive; -1 is the maximum shortening velocity.
    """
    return _D1 * jnp.arcsinh(_D2 * jnp.asarray(norm_fiber_velocity) + _D3) + _D4


def force_velocity_multiplier_derivative(norm_fiber_velocity: ArrayLike) -> Array:
    r"""$d f_V / d\tilde v$ [-]."""
    z = _D2 * jnp.asarray(norm_fiber_velocity) + _D3
    return _D1 * _D2 / jnp.sqrt(1.0 + z**2)


def force_velocity_inverse(
    force_velocity_multiplier: ArrayLike, *, max_argument: float = 30.0
) -> Array:
    r"""Normalised fiber velocity $\tilde v = (\sinh((f_V - d_4)/d_1) - d_3)/d_2$ [-].

    Args:
        force_velocity_multiplier: $f_V$ [-].
        max_argument: bound on $|(f_V - d_4)/d_1|$ so `sinh` cannot overflow for absurd
            inputs (e.g. near-zero activation); 30 corresponds to $|\tilde v| \approx 6.5e11$,
            far outside any physical value, so physical results are unaffected.
    """
    argument = (jnp.asarray(force_velocity_multiplier) - _D4) / _D1
    argument = jnp.clip(argument, -max_argument, max_argument)
    return (jnp.sinh(argument) - _D3) / _D2


def _tendon_stiffness(tendon_strain_at_one_norm_force: ArrayLike) -> Array:
    return jnp.log((1.0 + _C3) / _C1) / jnp.asarray(tendon_strain_at_one_norm_force)


def tendon_force_multiplier(
    norm_tendon_length: ArrayLike, tendon_strain_at_one_norm_force: ArrayLike = 0.049
) -> Array:
    r"""Tendon force-length multiplier $f_T(\tilde l_T) = 0.2 e^{k_T(\tilde l_T - 1)} - 0.2$ [-].

    $k_T = \ln 6 / \varepsilon_0$; slightly negative for a slack tendon ($\tilde l_T < 1$).

    Args:
        norm_tendon_length: tendon length / tendon slack length [-].
        tendon_strain_at_one_norm_force: tendon strain at one normalised force $\varepsilon_0$ [-].
    """
    k = _tendon_stiffness(tendon_strain_at_one_norm_force)
    return _C1 * _bounded_exp(k * (jnp.asarray(norm_tendon_length) - _C2)) - _C3


def tendon_force_multiplier_derivative(
    norm_tendon_length: ArrayLike, tendon_strain_at_one_norm_force: ArrayLike = 0.049
) -> Array:
    r"""$d f_T / d\tilde l_T$ [-]."""
    k = _tendon_stiffness(tendon_strain_at_one_norm_force)
    return _C1 * k * _bounded_exp(k * (jnp.asarray(norm_tendon_length) - _C2))


def tendon_force_multiplier_integral(
    norm_tendon_length: ArrayLike, tendon_strain_at_one_norm_force: ArrayLike = 0.049
) -> Array:
    r"""$\int_1^{\tilde l_T} f_T$ [-] (from the length where the force is zero)."""
    k = _tendon_stiffness(tendon_strain_at_one_norm_force)
    stretch = jnp.asarray(norm_tendon_length) - _C2
    return _C1 / k * jnp.expm1(k * stretch) - _C3 * stretch


def tendon_force_length_inverse(
    norm_tendon_force: ArrayLike, tendon_strain_at_one_norm_force: ArrayLike = 0.049
) -> Array:
    r"""Normalised tendon length $\tilde l_T = \ln((f_T + 0.2)/0.2)/k_T + 1$ [-].

    Args:
        norm_tendon_force: $f_T$ [-], > -0.2 (the curve's asymptote).
        tendon_strain_at_one_norm_force: $\varepsilon_0$ [-].
    """
    k = _tendon_stiffness(tendon_strain_at_one_norm_force)
    return jnp.log1p(jnp.asarray(norm_tendon_force) / _C1) / k + _C2
