"""Millard 2012 curves (segmented quintic Béziers): gradients, continuity, integrals.

Their match to OpenSim (`millard2012_curves.csv`) is asserted in `test_validation.py`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.muscle import millard_curves

#: A point on each side of every segment join and of each domain end, per curve (defaults).
CURVES = {name: build() for name, build in millard_curves.CURVE_BUILDERS.items()}


def _knots(curve):
    return np.concatenate([np.asarray(curve.x_points[0]), np.asarray(curve.x_points[5, -1:])])


@pytest.mark.x64
@pytest.mark.parametrize("name", list(CURVES))
def test_autodiff_matches_the_analytic_derivatives_at_joins_and_domain_ends(name):
    """`jax.grad` of the value is the first derivative and `jax.grad` of that the second, 1e-6
    either side of every join and domain end, and at random points; all finite."""
    curve = CURVES[name]
    knots = _knots(curve)
    x = np.concatenate([knots - 1e-6, knots, knots + 1e-6,
                        np.random.default_rng(0).uniform(knots[0] - 0.2, knots[-1] + 0.2, 50)])
    first = jax.vmap(jax.grad(lambda v: curve(v)))(jnp.asarray(x))
    second = jax.vmap(jax.grad(jax.grad(lambda v: curve(v))))(jnp.asarray(x))
    np.testing.assert_allclose(first, curve.derivative(x), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(second, curve.derivative(x, 2), rtol=1e-7, atol=1e-7)
    assert np.all(np.isfinite(first)) and np.all(np.isfinite(second))


@pytest.mark.x64
@pytest.mark.parametrize("name", list(CURVES))
def test_curves_are_continuous_with_continuous_slopes_at_joins(name):
    curve = CURVES[name]
    for knot in _knots(curve):
        left, right = curve(np.array([knot - 1e-9, knot + 1e-9]))
        assert abs(left - right) < 1e-7
        d_left, d_right = curve.derivative(np.array([knot - 1e-9, knot + 1e-9]))
        assert abs(d_left - d_right) < 1e-5 * max(1.0, abs(d_left))


@pytest.mark.x64
def test_gradients_with_respect_to_curve_parameters_match_finite_differences():
    """d(value at fixed x)/d(tendon stiffness, strain, curviness): the implicit Bézier solve."""
    x = jnp.array([1.005, 1.02, 1.04, 1.06])

    def total(p):
        return jnp.sum(millard_curves.tendon_force_length_curve(*p)(x))

    p = jnp.array([0.049, 28.0, 2 / 3, 0.5])
    grad = jax.grad(total)(p)
    for k in range(4):
        step = 1e-6 * jnp.zeros(4).at[k].set(p[k])
        fd = (total(p + step) - total(p - step)) / (2 * step[k])
        assert abs(grad[k] - fd) <= 1e-6 * max(1.0, abs(fd)), (k, grad[k], fd)


@pytest.mark.x64
def test_integral_is_the_antiderivative():
    curve = CURVES["FiberForceLengthCurve"]
    x = np.linspace(0.9, 1.9, 41)
    np.testing.assert_allclose(jax.vmap(jax.grad(curve.integral))(jnp.asarray(x)), curve(x),
                               rtol=1e-9, atol=1e-12)
    assert float(curve.integral(np.array([0.95]))[0]) == 0.0


@pytest.mark.x64
def test_a_curve_per_muscle_evaluates_each_muscle_with_its_own_curve():
    """`jax.vmap` of a builder gives per-muscle curves; inputs carry the muscle axis last."""
    strains = jnp.array([0.03, 0.049, 0.1])
    batched = jax.vmap(millard_curves.tendon_force_length_curve)(strains)
    assert batched.n_curves == 3 and CURVES["TendonForceLengthCurve"].n_curves is None
    x = jnp.stack([jnp.linspace(0.99, 1.12, 40)] * 3, axis=1)  # (40, 3)
    evaluate = jax.jit(lambda c, v: jnp.stack([c(v), c.derivative(v, 2), c.integral(v)]))
    together = evaluate(batched, x)
    for k, strain in enumerate(strains):
        alone = evaluate(millard_curves.tendon_force_length_curve(strain), x[:, k])
        np.testing.assert_allclose(together[:, :, k], alone, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match=r"last axis is the muscle axis, got shape \(3, 2\)"):
        batched(jnp.ones((3, 2)))


def test_opensims_optional_property_rules():
    """Elastic curves: optional properties all or none; none gives OpenSim's in-use values.

    A damped equilibrium muscle zeroes the active force-length minimum (class default 0.1)
    and the force-velocity slopes at vmax."""
    in_use = millard_curves.in_use_properties
    assert in_use("ActiveForceLengthCurve", {})["minimum_value"] == 0.1
    damped = millard_curves.damped_model_properties(
        {"ForceVelocityCurve": {"eccentric_slope_at_vmax": np.array([0.2, 0.0])}})
    assert damped["ActiveForceLengthCurve"]["minimum_value"] == 0.0
    np.testing.assert_array_equal(damped["ForceVelocityCurve"]["eccentric_slope_at_vmax"], [0, 0])
    assert in_use("TendonForceLengthCurve", {"strain_at_one_norm_force": 0.04}) == {
        "strain_at_one_norm_force": 0.04, "stiffness_at_one_norm_force": 1.375 / 0.04,
        "norm_force_at_toe_end": 2 / 3, "curviness": 0.5}
    fiber = in_use("FiberForceLengthCurve", {"strain_at_zero_force": 0.1})
    assert fiber["stiffness_at_one_norm_force"] == pytest.approx(2 / 0.6)
    assert (fiber["stiffness_at_low_force"], fiber["curviness"]) == (0.2, 0.75)
    given = {"stiffness_at_low_force": 0.3, "stiffness_at_one_norm_force": 4.0, "curviness": 0.5}
    assert in_use("FiberForceLengthCurve", given) | given == in_use("FiberForceLengthCurve", given)
    with pytest.raises(ValueError, match=r"all together or not at all.*missing \['curviness'\]"):
        millard_curves.tendon_force_length_curve(0.05, 30.0, 0.6)
    with pytest.raises(ValueError, match=r"unknown property \['slope'\]"):
        in_use("ActiveForceLengthCurve", {"slope": 1.0})
    with pytest.raises(ValueError, match="unknown Millard curve class 'Tendon'"):
        in_use("Tendon", {})
