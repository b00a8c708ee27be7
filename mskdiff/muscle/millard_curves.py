r"""Millard 2012 muscle curves as OpenSim 4.6 builds them: segmented quintic Bézier curves.

Each curve is a chain of "corner" segments. A segment joins two points with given slopes: its
x and y are quintic Bézier polynomials in $u \in [0, 1]$ with control points
$(p_0, m_0, m_0, m_1, m_1, p_1)$, where $m_i$ lies a fraction $c$ (the scaled curviness,
$0.1 + 0.8\,\text{curviness}$) of the way from $p_i$ to the intersection of the two tangent
lines. Outside its domain a curve continues linearly with its end slopes.

Evaluating $y(x)$ means solving $x(u) = x$ on the segment holding $x$: a fixed number of
bisection and Newton steps, with an implicit-function derivative ($du/dx = 1 / x'(u)$, a
`custom_jvp`), so gradients do not unroll the solve and are exact to every order. The
integral (from the domain's left end) is exact: the integrand $y(u)\,x'(u)$ is a polynomial.
"""

import functools
import inspect
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._solution import Solution
from ._solve import solved

#: Power-basis coefficients of the quintic Bernstein polynomials: `B(u) = sum_k (M @ p)[k] u^k`.
_BERNSTEIN_TO_POWER = np.array(
    [[math.comb(5, i) * math.comb(5 - i, k - i) * (-1) ** (k - i) if k >= i else 0
      for i in range(6)] for k in range(6)], dtype=float)
_BISECTION_STEPS = 12
_NEWTON_STEPS = 6
#: Largest |x(u) - x| the Bézier solve accepts, in eps of the segment's x scale.
_U_TOLERANCE = 256
_U_NOT_CONVERGED = (
    f"The Bézier parameter solve of a Millard curve ({_BISECTION_STEPS} bisections, "
    f"{_NEWTON_STEPS} Newton steps) missed its tolerance: is the curve's x(u) monotone? With "
    "`throw=False` on the curve it continues with the last iterate.")


def scale_curviness(curviness):
    """OpenSim's map of a curviness in [0, 1] to the control-point fraction in [0.1, 0.9]."""
    return 0.1 + 0.8 * curviness


def corner_control_points(x0, y0, dydx0, x1, y1, dydx1, c):
    """Control points `(x (6,), y (6,))` of a corner from `(x0, y0)` to `(x1, y1)`.

    `dydx0` and `dydx1` are the end slopes; `c` is the scaled curviness (0.1-0.9).
    """
    parallel = jnp.abs(dydx0 - dydx1) <= np.sqrt(np.finfo(float).eps)
    x_corner = jnp.where(parallel, 0.5 * (x0 + x1),
                         (y1 - y0 - x1 * dydx1 + x0 * dydx0)
                         / jnp.where(parallel, 1.0, dydx0 - dydx1))
    y_corner = (x_corner - x1) * dydx1 + y1
    x0_mid, y0_mid = x0 + c * (x_corner - x0), y0 + c * (y_corner - y0)
    x1_mid, y1_mid = x1 + c * (x_corner - x1), y1 + c * (y_corner - y1)
    return (jnp.stack([x0, x0_mid, x0_mid, x1_mid, x1_mid, x1]),
            jnp.stack([y0, y0_mid, y0_mid, y1_mid, y1_mid, y1]))


def _polyval(coefficients, u):
    """`sum_k coefficients[k] u^k` (Horner), coefficients along the first axis."""
    result = jnp.zeros_like(u)
    for a in coefficients[::-1]:
        result = result * u + a
    return result


def _derivative(coefficients):
    """Power-basis coefficients of the derivative (coefficients along the first axis)."""
    powers = jnp.arange(1, coefficients.shape[0])
    return coefficients[1:] * powers.reshape((-1,) + (1,) * (coefficients.ndim - 1))


class SegmentedQuinticBezierCurve(eqx.Module):
    """A curve of `S` quintic Bézier segments, linear outside `[x_start, x_end]`.

    `x_points` and `y_points` are the control points `(6, S)`; the segment boundaries are
    `x_points[0]` and `x_points[5]`. A curve per muscle has a leading muscle axis on every
    leaf (`(M, 6, S)` control points, `(M,)` slopes; build with `jax.vmap` of a builder) and
    is evaluated at inputs whose last axis is the muscle axis. `throw` (static, default off: the
    checks cost 15-30 % of a Millard acceleration sub-step): a Bézier parameter solve that
    misses its tolerance raises `EquinoxRuntimeError` (inside `jit` too); `solve_parameter`
    reports it either way.
    """

    x_points: Array
    y_points: Array
    start_slope: Array
    end_slope: Array
    throw: bool = eqx.field(static=True, default=False)

    @classmethod
    def from_corners(cls, corners, start_slope, end_slope) -> "SegmentedQuinticBezierCurve":
        """From a sequence of `corner_control_points` outputs, left to right."""
        x_points = jnp.stack([x for x, _ in corners], axis=1)
        y_points = jnp.stack([y for _, y in corners], axis=1)
        return cls(x_points, y_points, jnp.asarray(start_slope, dtype=float),
                   jnp.asarray(end_slope, dtype=float))

    @property
    def n_curves(self) -> int | None:
        """Number of muscles of a per-muscle curve; None for one shared curve."""
        return self.x_points.shape[0] if self.x_points.ndim == 3 else None

    @property
    def x_start(self) -> Array:
        """Left end of the Bézier domain (per muscle for a per-muscle curve)."""
        return self.x_points[..., 0, 0]

    @property
    def x_end(self) -> Array:
        """Right end of the Bézier domain."""
        return self.x_points[..., 5, -1]

    @property
    def y_start(self) -> Array:
        """Value at `x_start`."""
        return self.y_points[..., 0, 0]

    @property
    def y_end(self) -> Array:
        """Value at `x_end`."""
        return self.y_points[..., 5, -1]

    @property
    def _x_coefficients(self) -> Array:
        return jnp.asarray(_BERNSTEIN_TO_POWER) @ self.x_points

    @property
    def _y_coefficients(self) -> Array:
        return jnp.asarray(_BERNSTEIN_TO_POWER) @ self.y_points

    def _segment(self, x):
        """Index of the segment holding `x` (clamped to the domain)."""
        inner_bounds = self.x_points[0, 1:]
        return jnp.clip(jnp.searchsorted(inner_bounds, x, side="right"), 0,
                        self.x_points.shape[1] - 1)

    def _evaluate(self, x, order: int):
        """Value (order 0), first or second derivative at scalar `x`."""
        k = self._segment(x)
        cx, cy = self._x_coefficients[:, k], self._y_coefficients[:, k]
        u = self._parameter(cx, x)
        dx, dy = _polyval(_derivative(cx), u), _polyval(_derivative(cy), u)
        if order == 0:
            inside = _polyval(cy, u)
            below = self.y_start + self.start_slope * (x - self.x_start)
            above = self.y_end + self.end_slope * (x - self.x_end)
        elif order == 1:
            inside, below, above = dy / dx, self.start_slope, self.end_slope
        else:
            d2x = _polyval(_derivative(_derivative(cx)), u)
            d2y = _polyval(_derivative(_derivative(cy)), u)
            inside = (d2y * dx - dy * d2x) / dx**3
            below = above = jnp.zeros_like(x)
        return jnp.where(x < self.x_start, below, jnp.where(x > self.x_end, above, inside))

    def __call__(self, x) -> Array:
        """Curve value at `x` (any shape; last axis = muscles for a per-muscle curve)."""
        return self._map(lambda curve, v: curve._evaluate(v, 0), x)

    def derivative(self, x, order: int = 1) -> Array:
        """First or second derivative dy/dx, d2y/dx2 at `x` (analytic in the Bézier parameter)."""
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order}")
        return self._map(lambda curve, v: curve._evaluate(v, order), x)

    def integral(self, x) -> Array:
        """Integral of the curve from its domain's left end to `x` (exact)."""
        return self._map(lambda curve, v: curve._integral(v), x)

    def solve_parameter(self, x, *, bisection_steps: int = _BISECTION_STEPS,
                        newton_steps: int = _NEWTON_STEPS) -> Solution:
        """The Bézier parameter `u` in [0, 1] at every `x` (clamped to the domain), per segment.

        A fixed count of bisection and Newton steps (`num_steps`, their sum);
        `max_steps_reached` where `|x(u) - x|` is still above the tolerance after them.
        """
        u, converged = self._map(
            lambda curve, v: _solve_u(curve._x_coefficients[:, curve._segment(v)],
                                      _into(v, curve.x_start, curve.x_end), bisection_steps,
                                      newton_steps), x)
        steps = bisection_steps + newton_steps
        return solved(u, steps, steps, converged)

    def _parameter(self, x_coefficients, x):
        """`u` of scalar `x` on the segment of `x_coefficients`, checked when `throw`."""
        u, converged = _solve_u(x_coefficients, _into(x, self.x_start, self.x_end),
                                _BISECTION_STEPS, _NEWTON_STEPS)
        return eqx.error_if(u, ~converged, _U_NOT_CONVERGED) if self.throw else u

    def _map(self, fn, x):
        """`fn(curve, scalar)` over every element of `x`, each muscle with its own curve."""
        x = jnp.asarray(x, dtype=float)
        if self.n_curves is None:
            out = jax.vmap(lambda v: fn(self, v))(x.reshape(-1))
            return jax.tree.map(lambda y: y.reshape(x.shape), out)
        if x.ndim == 0 or x.shape[-1] != self.n_curves:
            raise ValueError(f"a curve per muscle ({self.n_curves}) needs inputs whose last axis "
                             f"is the muscle axis, got shape {x.shape}")
        per_muscle = lambda curve, column: curve._map(fn, column)
        return jax.vmap(per_muscle, in_axes=(0, -1), out_axes=-1)(self, x)

    def _integral(self, x):
        cx, cy = self._x_coefficients, self._y_coefficients
        integrand = jax.vmap(jnp.convolve, in_axes=(1, 1), out_axes=1)(
            cy, _derivative(cx))  # y(u) x'(u), degree 9 per segment
        antiderivative = jnp.concatenate(
            [jnp.zeros((1, integrand.shape[1])),
             integrand / jnp.arange(1, integrand.shape[0] + 1)[:, None]])
        full = _polyval(antiderivative, jnp.ones(()))  # (S,)
        before = jnp.concatenate([jnp.zeros(1), jnp.cumsum(full)])
        k = self._segment(x)
        u = self._parameter(cx[:, k], x)
        inside = before[k] + _polyval(antiderivative[:, k], u)
        below = (x - self.x_start) * (self.y_start + 0.5 * self.start_slope * (x - self.x_start))
        above = before[-1] + (x - self.x_end) * (self.y_end + 0.5 * self.end_slope
                                                 * (x - self.x_end))
        return jnp.where(x < self.x_start, below, jnp.where(x > self.x_end, above, inside))


def _into(x, low, high):
    """`x` limited to [low, high], with derivative 1 at the bounds (`jnp.clip` halves it there)."""
    return jnp.where(x < low, low, jnp.where(x > high, high, x))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _solve_u(x_coefficients, x, bisection_steps: int, newton_steps: int):
    """The Bézier parameter `u` in [0, 1] with `x(u) = x` on a monotone segment.

    `bisection_steps` bisections, then `newton_steps` Newton steps kept in the bisection
    bracket. Returns `u` and whether `x(u)` is within `_U_TOLERANCE` (in eps of the segment's
    x scale) of `x` (true for NaN: non-finite values are left to the callers' checks).
    """
    x_coefficients = jax.lax.stop_gradient(x_coefficients)
    dx_coefficients = _derivative(x_coefficients)

    def bisect(_, bounds):
        low, high = bounds
        mid = 0.5 * (low + high)
        right = _polyval(x_coefficients, mid) < x
        return jnp.where(right, mid, low), jnp.where(right, high, mid)

    low, high = jax.lax.fori_loop(0, bisection_steps, bisect, (jnp.zeros(()), jnp.ones(())))

    def newton(_, u):
        step = (_polyval(x_coefficients, u) - x) / _polyval(dx_coefficients, u)
        return jnp.clip(u - step, low, high)

    u = jax.lax.fori_loop(0, newton_steps, newton, 0.5 * (low + high))
    scale = jnp.abs(x_coefficients[0]) + jnp.sum(jnp.abs(x_coefficients[1:]))
    tolerance = _U_TOLERANCE * float(jnp.finfo(jnp.result_type(x)).eps) * scale
    return u, ~(jnp.abs(_polyval(x_coefficients, u) - x) > tolerance)


@_solve_u.defjvp
def _solve_u_jvp(bisection_steps, newton_steps, primals, tangents):
    """Implicit function theorem on `x(u; coefficients) = x`."""
    x_coefficients, x = primals
    d_coefficients, dx = tangents
    u, converged = _solve_u(x_coefficients, x, bisection_steps, newton_steps)
    slope = _polyval(_derivative(x_coefficients), u)
    du = (dx - _polyval(d_coefficients, u)) / slope
    return (u, converged), (du, np.zeros(np.shape(converged), dtype=jax.dtypes.float0))


def active_force_length_curve(min_norm_active_fiber_length=0.4441,
                              transition_norm_fiber_length=0.73,
                              max_norm_active_fiber_length=1.8123, shallow_ascending_slope=0.8616,
                              minimum_value=0.1) -> SegmentedQuinticBezierCurve:
    """OpenSim's `ActiveForceLengthCurve` over normalised fibre length.

    Five corners (ascending limb, shallow plateau, descending limb), optimal at length 1.
    """
    x0, x1, x3 = (jnp.asarray(v, dtype=float) for v in (
        min_norm_active_fiber_length, transition_norm_fiber_length, max_norm_active_fiber_length))
    x2, ylow, slope = jnp.ones(()), jnp.asarray(minimum_value, dtype=float), jnp.asarray(
        shallow_ascending_slope, dtype=float)
    c = scale_curviness(1.0)
    x_delta = 0.05 * x2
    xs = x2 - x_delta
    y1 = 1 - slope * (xs - x1)
    slope01 = 1.25 * y1 / (x1 - x0)
    x01, y01 = x0 + 0.5 * (x1 - x0), 0.5 * y1
    x1s, y1s = x1 + 0.5 * (xs - x1), y1 + 0.5 * (1 - y1)
    x23, y23 = (x2 + x_delta) + 0.5 * (x3 - (x2 + x_delta)), 0.5 * jnp.ones(())
    slope23 = -1 / ((x3 - x_delta) - (x2 + x_delta))
    zero = jnp.zeros(())
    corners = [corner_control_points(x0, ylow, zero, x01, y01, slope01, c),
               corner_control_points(x01, y01, slope01, x1s, y1s, slope, c),
               corner_control_points(x1s, y1s, slope, x2, jnp.ones(()), zero, c),
               corner_control_points(x2, jnp.ones(()), zero, x23, y23, slope23, c),
               corner_control_points(x23, y23, slope23, x3, ylow, zero, c)]
    return SegmentedQuinticBezierCurve.from_corners(corners, 0.0, 0.0)


def force_velocity_curve(concentric_slope_at_vmax=0.0, concentric_slope_near_vmax=0.25,
                         isometric_slope=5.0, eccentric_slope_at_vmax=0.0,
                         eccentric_slope_near_vmax=0.15,
                         max_eccentric_velocity_force_multiplier=1.4,
                         concentric_curviness=0.6, eccentric_curviness=0.9
                         ) -> SegmentedQuinticBezierCurve:
    """OpenSim's `ForceVelocityCurve` over normalised fibre velocity -1 (max shortening) to 1."""
    f = lambda v: jnp.asarray(v, dtype=float)
    slope_c, slope_near_c, slope_iso = f(concentric_slope_at_vmax), f(concentric_slope_near_vmax), f(
        isometric_slope)
    slope_e, slope_near_e = f(eccentric_slope_at_vmax), f(eccentric_slope_near_vmax)
    y_e = f(max_eccentric_velocity_force_multiplier)
    c_c, c_e = scale_curviness(f(concentric_curviness)), scale_curviness(f(eccentric_curviness))
    x_c, y_c, x_iso, y_iso, x_e = f(-1.0), f(0.0), f(0.0), f(1.0), f(1.0)
    x_near_c, x_near_e = f(-0.9), f(0.9)
    y_near_c = y_c + 0.5 * (slope_near_c + slope_c) * (x_near_c - x_c)
    y_near_e = y_e + 0.5 * (slope_near_e + slope_e) * (x_near_e - x_e)
    corners = [corner_control_points(x_c, y_c, slope_c, x_near_c, y_near_c, slope_near_c, c_c),
               corner_control_points(x_near_c, y_near_c, slope_near_c, x_iso, y_iso, slope_iso, c_c),
               corner_control_points(x_iso, y_iso, slope_iso, x_near_e, y_near_e, slope_near_e, c_e),
               corner_control_points(x_near_e, y_near_e, slope_near_e, x_e, y_e, slope_e, c_e)]
    return SegmentedQuinticBezierCurve.from_corners(corners, slope_c, slope_e)


def fiber_force_length_curve(strain_at_zero_force=0.0, strain_at_one_norm_force=0.7,
                             stiffness_at_low_force=None, stiffness_at_one_norm_force=None,
                             curviness=None) -> SegmentedQuinticBezierCurve:
    """OpenSim's `FiberForceLengthCurve` (passive fibre force over normalised fibre length).

    The last three properties are optional, all or none (`in_use_properties`).
    """
    p = in_use_properties("FiberForceLengthCurve", dict(
        strain_at_zero_force=strain_at_zero_force, strain_at_one_norm_force=strain_at_one_norm_force,
        stiffness_at_low_force=stiffness_at_low_force,
        stiffness_at_one_norm_force=stiffness_at_one_norm_force, curviness=curviness))
    f = lambda v: jnp.asarray(v, dtype=float)
    k_low, k_iso = f(p["stiffness_at_low_force"]), f(p["stiffness_at_one_norm_force"])
    c = scale_curviness(f(p["curviness"]))
    x_zero, x_iso = 1 + f(p["strain_at_zero_force"]), 1 + f(p["strain_at_one_norm_force"])
    delta = jnp.minimum(0.1 / k_iso, 0.1 * (x_iso - x_zero))
    x_low = x_zero + delta
    y_low = k_low * (x_low - (x_zero + 0.5 * delta))
    zero = jnp.zeros(())
    corners = [corner_control_points(x_zero, zero, zero, x_low, y_low, k_low, c),
               corner_control_points(x_low, y_low, k_low, x_iso, jnp.ones(()), k_iso, c)]
    return SegmentedQuinticBezierCurve.from_corners(corners, 0.0, k_iso)


def tendon_force_length_curve(strain_at_one_norm_force=0.049, stiffness_at_one_norm_force=None,
                              norm_force_at_toe_end=None, curviness=None
                              ) -> SegmentedQuinticBezierCurve:
    """OpenSim's `TendonForceLengthCurve` (normalised tendon force over normalised length).

    The last three properties are optional, all or none (`in_use_properties`).
    """
    p = in_use_properties("TendonForceLengthCurve", dict(
        strain_at_one_norm_force=strain_at_one_norm_force,
        stiffness_at_one_norm_force=stiffness_at_one_norm_force,
        norm_force_at_toe_end=norm_force_at_toe_end, curviness=curviness))
    f = lambda v: jnp.asarray(v, dtype=float)
    k_iso, y_toe = f(p["stiffness_at_one_norm_force"]), f(p["norm_force_at_toe_end"])
    c = scale_curviness(f(p["curviness"]))
    x_iso = 1 + f(p["strain_at_one_norm_force"])
    x_toe = (y_toe - 1) / k_iso + x_iso
    x_foot = 1 + (x_toe - 1) / 10
    y_toe_mid = 0.5 * y_toe
    x_toe_mid = (y_toe_mid - 1) / k_iso + x_iso
    slope_toe_mid = y_toe_mid / (x_toe_mid - x_foot)
    x_toe_ctrl = x_foot + 0.5 * (x_toe_mid - x_foot)
    y_toe_ctrl = slope_toe_mid * (x_toe_ctrl - x_foot)
    zero = jnp.zeros(())
    corners = [corner_control_points(f(1.0), zero, zero, x_toe_ctrl, y_toe_ctrl, slope_toe_mid, c),
               corner_control_points(x_toe_ctrl, y_toe_ctrl, slope_toe_mid, x_toe, y_toe, k_iso, c)]
    return SegmentedQuinticBezierCurve.from_corners(corners, 0.0, k_iso)


#: The curve builders by OpenSim class name.
CURVE_BUILDERS = {
    "ActiveForceLengthCurve": active_force_length_curve,
    "ForceVelocityCurve": force_velocity_curve,
    "FiberForceLengthCurve": fiber_force_length_curve,
    "TendonForceLengthCurve": tendon_force_length_curve,
}


def _fiber_optional_defaults(strain_at_zero_force, strain_at_one_norm_force, **_):
    return dict(stiffness_at_low_force=0.2,
                stiffness_at_one_norm_force=2.0 / (strain_at_one_norm_force - strain_at_zero_force),
                curviness=0.75)


def _tendon_optional_defaults(strain_at_one_norm_force, **_):
    return dict(stiffness_at_one_norm_force=1.375 / strain_at_one_norm_force,
                norm_force_at_toe_end=2.0 / 3.0, curviness=0.5)


#: OpenSim 4.6's values of the optional properties when none is given ("in use" values).
_OPTIONAL_DEFAULTS = {"FiberForceLengthCurve": _fiber_optional_defaults,
                      "TendonForceLengthCurve": _tendon_optional_defaults}


#: Fibre damping from which OpenSim's `Millard2012EquilibriumMuscle` uses its damped model.
MIN_NONZERO_DAMPING = 0.001


def damped_model_properties(properties: dict[str, dict]) -> dict[str, dict]:
    """The curve properties a damped `Millard2012EquilibriumMuscle` uses (OpenSim 4.6's finalize).

    With fibre damping >= `MIN_NONZERO_DAMPING` OpenSim sets the active force-length minimum
    and the force-velocity slopes at +-vmax to 0 where they are above (the damped model needs
    no non-zero floor). `properties` is `{curve class: {property: value}}` (scalars or
    per-muscle arrays); absent properties take the class defaults first.
    """
    out = {curve: in_use_properties(curve, dict(properties.get(curve, {})))
           for curve in ("ActiveForceLengthCurve", "ForceVelocityCurve")}
    out["ActiveForceLengthCurve"]["minimum_value"] = np.minimum(
        out["ActiveForceLengthCurve"]["minimum_value"], 0.0)
    for slope in ("concentric_slope_at_vmax", "eccentric_slope_at_vmax"):
        out["ForceVelocityCurve"][slope] = np.minimum(out["ForceVelocityCurve"][slope], 0.0)
    return {**properties, **out}


def in_use_properties(curve_class: str, given: dict) -> dict:
    """Every property of an OpenSim curve as OpenSim 4.6 uses it.

    Given values (None = absent) win; absent ones take the class default. The optional
    properties of the elastic curves (fibre: `stiffness_at_low_force`,
    `stiffness_at_one_norm_force`, `curviness`; tendon: `stiffness_at_one_norm_force`,
    `norm_force_at_toe_end`, `curviness`) must be given all together or not at all; when
    absent they are derived (fibre: 0.2, 2 / (strain at one - strain at zero), 0.75; tendon:
    1.375 / strain, 2/3, 0.5).

    Raises:
        ValueError: unknown curve class or property; optional properties given in part.
    """
    if curve_class not in CURVE_BUILDERS:
        raise ValueError(f"unknown Millard curve class {curve_class!r}; "
                         f"choose from {list(CURVE_BUILDERS)}")
    parameters = inspect.signature(CURVE_BUILDERS[curve_class]).parameters
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise ValueError(f"{curve_class}: unknown propert{'ies' if len(unknown) > 1 else 'y'} "
                         f"{unknown}; valid: {list(parameters)}")
    values = {name: parameters[name].default if given.get(name) is None else given[name]
              for name in parameters}
    optional = [name for name in parameters if parameters[name].default is None]
    absent = [name for name in optional if values[name] is None]
    if absent and len(absent) < len(optional):
        raise ValueError(f"{curve_class}: the optional properties {optional} must be given all "
                         f"together or not at all (OpenSim's rule); missing {absent}")
    if absent:
        values.update(_OPTIONAL_DEFAULTS[curve_class](**values))
    return values
