"""De Groote curves: OpenSim samples, analytic derivatives vs autodiff, inverse round trips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from mskdiff.io import read_csv
from mskdiff.muscle import curves

TOL = 1e-9  # max abs error against OpenSim 4.6 (float64)


@pytest.mark.x64
def test_fiber_length_curves_match_opensim(reference_dir):
    t = read_csv(reference_dir / "dgf_fiber_length_curves.csv")
    l, w, e0 = (t["norm_fiber_length"], t["active_force_width_scale"],
                t["passive_fiber_strain_at_one_norm_force"])
    pairs = {
        "active_force_length_multiplier": curves.active_force_length_multiplier(l, w),
        "active_force_length_multiplier_derivative":
            curves.active_force_length_multiplier_derivative(l, w),
        "passive_force_multiplier": curves.passive_force_multiplier(l, e0),
        "passive_force_multiplier_derivative": curves.passive_force_multiplier_derivative(l, e0),
        "passive_force_multiplier_integral": curves.passive_force_multiplier_integral(l, e0),
    }
    for column, ours in pairs.items():
        np.testing.assert_allclose(ours, t[column], rtol=0, atol=TOL, err_msg=column)


@pytest.mark.x64
def test_tendon_and_velocity_curves_match_opensim(reference_dir):
    t = read_csv(reference_dir / "dgf_tendon_curves.csv")
    l, e = t["norm_tendon_length"], t["tendon_strain_at_one_norm_force"]
    np.testing.assert_allclose(curves.tendon_force_multiplier(l, e), t["tendon_force_multiplier"],
                               atol=TOL, rtol=0)
    np.testing.assert_allclose(curves.tendon_force_multiplier_derivative(l, e),
                               t["tendon_force_multiplier_derivative"], atol=TOL, rtol=0)
    np.testing.assert_allclose(curves.tendon_force_multiplier_integral(l, e),
                               t["tendon_force_multiplier_integral"], atol=TOL, rtol=0)
    t = read_csv(reference_dir / "dgf_tendon_inverse_curve.csv")
    np.testing.assert_allclose(
        curves.tendon_force_length_inverse(t["norm_tendon_force"],
                                           t["tendon_strain_at_one_norm_force"]),
        t["norm_tendon_length"], atol=TOL, rtol=0)
    t = read_csv(reference_dir / "dgf_force_velocity.csv")
    np.testing.assert_allclose(curves.force_velocity_multiplier(t["norm_fiber_velocity"]),
                               t["force_velocity_multiplier"], atol=TOL, rtol=0)
    t = read_csv(reference_dir / "dgf_force_velocity_inverse.csv")
    np.testing.assert_allclose(curves.force_velocity_inverse(t["force_velocity_multiplier"]),
                               t["norm_fiber_velocity"], atol=TOL, rtol=0)


@pytest.mark.x64
@pytest.mark.parametrize("value_fn, derivative_fn, xs, param", [
    (curves.active_force_length_multiplier, curves.active_force_length_multiplier_derivative,
     (0.3, 1.7), 0.8),
    (curves.passive_force_multiplier, curves.passive_force_multiplier_derivative, (0.3, 1.7), 0.7),
    (curves.tendon_force_multiplier, curves.tendon_force_multiplier_derivative, (0.96, 1.08), 0.1),
])
def test_analytic_derivatives_equal_autodiff(value_fn, derivative_fn, xs, param):
    x = jnp.linspace(*xs, 101)
    autodiff = jax.vmap(jax.grad(lambda v: value_fn(v, param)))(x)
    np.testing.assert_allclose(derivative_fn(x, param), autodiff, rtol=1e-12, atol=1e-14)


@pytest.mark.x64
def test_velocity_derivative_and_integrals():
    v = jnp.linspace(-1.0, 1.0, 41)
    np.testing.assert_allclose(curves.force_velocity_multiplier_derivative(v),
                               jax.vmap(jax.grad(curves.force_velocity_multiplier))(v), rtol=1e-12)
    l = jnp.linspace(0.5, 1.6, 41)
    d_integral = jax.vmap(jax.grad(lambda x: curves.passive_force_multiplier_integral(x, 0.6)))(l)
    np.testing.assert_allclose(d_integral, curves.passive_force_multiplier(l, 0.6), atol=1e-13)
    lt = jnp.linspace(0.96, 1.08, 41)
    d_integral = jax.vmap(jax.grad(lambda x: curves.tendon_force_multiplier_integral(x, 0.05)))(lt)
    np.testing.assert_allclose(d_integral, curves.tendon_force_multiplier(lt, 0.05), atol=1e-13)


@pytest.mark.x64
def test_inverses_round_trip():
    force = jnp.linspace(-0.15, 2.0, 51)
    length = curves.tendon_force_length_inverse(force, 0.049)
    np.testing.assert_allclose(curves.tendon_force_multiplier(length, 0.049), force, atol=1e-13)
    velocity = jnp.linspace(-1.0, 1.0, 51)
    fv = curves.force_velocity_multiplier(velocity)
    np.testing.assert_allclose(curves.force_velocity_inverse(fv), velocity, atol=1e-12)


def test_landmarks():
    assert float(curves.active_force_length_multiplier(1.0)) == pytest.approx(1.0, abs=2e-3)
    assert float(curves.force_velocity_multiplier(0.0)) == pytest.approx(1.0, abs=1e-6)
    assert float(curves.tendon_force_multiplier(1.049, 0.049)) == pytest.approx(1.0, rel=1e-5)
    assert float(curves.passive_force_multiplier(1.6, 0.6)) == pytest.approx(1.0, abs=1e-2)
    assert curves.MAX_FORCE_VELOCITY_MULTIPLIER == pytest.approx(1.794, abs=1e-3)


@pytest.mark.x64
def test_curves_pass_check_grads():
    x = jnp.asarray([0.6, 1.0, 1.3])
    check_grads(lambda l, w: curves.active_force_length_multiplier(l, w), (x, 1.2), order=1)
    check_grads(lambda l, e: curves.passive_force_multiplier(l, e), (x, 0.6), order=1)
    check_grads(curves.force_velocity_multiplier, (x - 1.0,), order=1)
    check_grads(lambda l, e: curves.tendon_force_multiplier(l, e), (x * 0.03 + 1.0, 0.05), order=1, eps=1e-6)


def test_force_velocity_inverse_is_bounded():
    """Absurd multipliers (e.g. zero activation) give finite velocities and gradients."""
    fv = jnp.asarray([-1e6, -5.0, 5.0, 1e6], dtype=jnp.float32)
    assert jnp.all(jnp.isfinite(curves.force_velocity_inverse(fv)))
    assert jnp.all(jnp.isfinite(jax.vmap(jax.grad(curves.force_velocity_inverse))(fv)))
