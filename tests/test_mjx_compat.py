"""MJX's private fields that mskdiff reads (`mskdiff/plant/_mjx_compat.py`) exist on this MJX."""

import types

import jax
import jax.numpy as jnp
import jax.random as jr
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from mskdiff.models import tiny_leg_mjmodel
from mskdiff.plant import _mjx_compat


def test_private_fields_exist_on_the_installed_mjx():
    model = tiny_leg_mjmodel()
    data = mjx.make_data(mjx.put_model(model))
    _mjx_compat.check_private_fields(data)  # raises naming the MuJoCo version if one moved
    assert _mjx_compat.actuator_moment(data).shape == (model.nu, model.nv)
    assert _mjx_compat.actuator_velocity(data).shape == (model.nu,)
    assert _mjx_compat.has_constraints(data)  # joint limits and the foot contact
    assert _mjx_compat.contact_distance(data).ndim == 1


def test_a_moved_field_fails_loudly_naming_the_version():
    moved = types.SimpleNamespace(_impl=types.SimpleNamespace(actuator_moment=None))
    with pytest.raises(_mjx_compat.MJXCompatibilityError,
                       match=rf"mujoco {mujoco.__version__}.*_impl\.actuator_velocity"):
        _mjx_compat.check_private_fields(moved)
    with pytest.raises(_mjx_compat.MJXCompatibilityError, match=r"_impl\.efc_J"):
        _mjx_compat.has_constraints(types.SimpleNamespace())


def test_the_wrap_angle_patch_keeps_mjx_values_and_has_a_finite_gradient():
    """MJX's arccos wrap angle has a NaN gradient where the tangent points coincide (a tendon
    leaving its wrapping geom); the patch gives the same arc lengths with a finite gradient."""
    from mujoco.mjx._src import support

    assert support._length_circle is _mjx_compat.wrap_angle_length
    original = _mjx_compat.MJX_LENGTH_CIRCLE
    rng = np.random.default_rng(0)
    for _ in range(20):
        p0, p1 = (jnp.asarray(rng.normal(size=2)) for _ in range(2))
        for ind in (0, 1):
            np.testing.assert_allclose(_mjx_compat.wrap_angle_length(p0, p1, ind, 0.03),
                                       original(p0, p1, ind, 0.03), rtol=1e-5, atol=1e-7)
    p0 = jnp.array([0.02, 0.01])
    same = lambda length: jax.grad(lambda q: length(q, 2.0 * q, 1, 0.03))(p0)
    assert not np.all(np.isfinite(same(original)))
    assert np.all(np.isfinite(same(_mjx_compat.wrap_angle_length)))


def test_the_muscle_timescale_patch_keeps_mjx_values_and_has_a_finite_gradient(getkey):
    """MJX's muscle activation dynamics (MuJoCo's own muscles) had a NaN gradient with the
    default smoothing width 0; the patch gives the same time constants with a finite one."""
    from mujoco.mjx._src import support

    assert support.muscle_dynamics_timescale is _mjx_compat.muscle_timescale
    original = _mjx_compat.MJX_MUSCLE_TIMESCALE
    dctrl = jr.uniform(getkey(), (64,), minval=-1.0, maxval=1.0)
    tau_act, tau_deact = 0.01 * (1 + jr.uniform(getkey(), (64,))), 0.04 * jnp.ones(64)
    total = lambda f, d, width: jnp.sum(f(d, tau_act, tau_deact, width))
    for width in (0.0, 0.3):
        np.testing.assert_allclose(_mjx_compat.muscle_timescale(dctrl, tau_act, tau_deact, width),
                                   original(dctrl, tau_act, tau_deact, width), rtol=1e-6)
        patched = jax.grad(total, argnums=1)(_mjx_compat.muscle_timescale, dctrl, width)
        assert np.all(np.isfinite(patched))
    assert not np.all(np.isfinite(jax.grad(total, argnums=1)(original, dctrl, 0.0)))
    # through MJX's muscle activation dynamics: the gradient w.r.t. the excitation is finite
    prm = jnp.array([0.01, 0.04, 0.0])
    rate = jax.grad(lambda u: support.muscle_dynamics(u, 0.2, prm))(0.7)
    assert np.isfinite(rate) and rate > 0
