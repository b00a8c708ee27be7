"""The Millard 2012 acceleration MTU: OpenSim's derivatives at OpenSim's states, init, gradients."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import assert_parts_match_finite_differences

from mskdiff.integrate import SemiImplicitEuler, simulate
from mskdiff.io import IsolatedMTUCase
from mskdiff.muscle import MuscleParameters
from mskdiff.muscle.millard_acceleration import (
    MillardAccelerationMTU,
    MillardAccelerationState,
    fiber_compressive_force_cos_pennation_curve,
    fiber_compressive_force_length_curve,
)

CASE = "mtu_sim_millardacc_soleus_r_isometric_step_setup.json"


def _case(reference_dir):
    case = IsolatedMTUCase(reference_dir / CASE)
    return case, MillardAccelerationMTU.from_properties(case.parameters(), case.properties())


def _rows(ref, *keys):
    return [jnp.asarray(ref[k])[:, None] for k in keys]


@pytest.mark.x64
def test_derivative_and_outputs_match_opensim_at_every_row(reference_dir):
    """At OpenSim's state at each of the 1001 rows: the state derivative (fibre acceleration to
    1e-7 m/s^2, i.e. a force balance to 1e-12 Fmax: OpenSim's own curve solves stop at 100 eps)
    and every output column. The applied tendon force is the elastic column times
    (1 + 0.1 x normalised tendon velocity), up to 3.4e-2 Fmax above it."""
    case, mtu = _case(reference_dir)
    ref = case.reference()
    state = MillardAccelerationState(*_rows(ref, "state_activation", "state_fiber_length",
                                            "state_fiber_velocity"))
    excitation, length, velocity = _rows(ref, "excitation", "mtu_length", "mtu_velocity")

    @jax.jit
    def evaluate(state, excitation, length, velocity):
        one = lambda s, e, l, v: (mtu.derivative(s, e, l, v), mtu.outputs(s, l, v),
                                  mtu.applied_tendon_force(s, l, v))
        return jax.vmap(one)(state, excitation, length, velocity)

    rate, out, applied = evaluate(state, excitation, length, velocity)
    np.testing.assert_allclose(rate.activation[:, 0], ref["deriv_state_activation"],
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(rate.fiber_length[:, 0], ref["deriv_state_fiber_length"])
    np.testing.assert_allclose(rate.fiber_velocity[:, 0], ref["deriv_state_fiber_velocity"],
                               rtol=0, atol=1e-7)
    for key, atol in (("tendon_force", 1e-8), ("fiber_force", 1e-8),
                      ("fiber_force_along_tendon", 1e-8), ("active_fiber_force", 1e-8),
                      ("passive_fiber_force", 1e-8), ("tendon_length", 1e-14),
                      ("tendon_velocity", 1e-14), ("pennation_angle", 1e-14),
                      ("active_force_length_multiplier", 1e-12),
                      ("force_velocity_multiplier", 1e-12), ("norm_fiber_velocity", 1e-14)):
        np.testing.assert_allclose(getattr(out, key)[:, 0], ref[key], rtol=0, atol=atol,
                                   err_msg=key)
    fmax = float(mtu.params.max_isometric_force[0])
    damped = ref["tendon_force"] * (1 + 0.1 * ref["tendon_velocity"]
                                    / float(mtu.params.tendon_slack_length[0]))
    np.testing.assert_allclose(applied[:, 0], damped, rtol=1e-12, atol=1e-8)
    assert np.max(np.abs(applied[:, 0] - ref["tendon_force"])) / fmax == pytest.approx(3.41e-2, abs=1e-4)


@pytest.mark.x64
def test_init_state_is_opensims_equilibrium_iterate(reference_dir):
    """OpenSim's initial state to 1e-15 m; elsewhere (other activations, MTU moving at
    0.05 m/s) the fibre acceleration is within OpenSim's tolerance, 1e-8 Fmax (in m/s^2)."""
    case, mtu = _case(reference_dir)
    length = jnp.array([float(case.drive(jnp.asarray(0.0))[1][0])])

    @eqx.filter_jit
    def init(length, velocity, activation):
        state = mtu.init_state(length, velocity, activation)
        return state, mtu.derivative(state, activation, length, velocity).fiber_velocity

    state, _ = init(length, jnp.array([0.0]), jnp.array([0.05]))
    start = case.setup["initial_state"]
    assert abs(float(state.fiber_length[0]) - start["fiber_length"]) < 1e-15
    assert float(state.fiber_velocity[0]) == start["fiber_velocity"] == 0.0
    for velocity, activation in ((0.0, 0.3), (0.05, 0.6), (-0.05, 1.0)):
        state, acceleration = init(length, jnp.array([velocity]), jnp.array([activation]))
        assert abs(float(acceleration[0])) <= 1e-8 * float(mtu.params.max_isometric_force[0])
        assert (float(state.fiber_velocity[0]) != 0.0) == (velocity != 0.0)


def _pennated_muscles(n=4):
    """Soleus-like muscles; the state of muscle k exercises a different regime."""
    return MuscleParameters.from_dict({
        "max_isometric_force": [6194.84, 3000.0, 1500.0, 800.0][:n],
        "optimal_fiber_length": [0.044, 0.06, 0.05, 0.1][:n],
        "tendon_slack_length": [0.2768, 0.2, 0.3, 0.1][:n],
        "pennation_angle_at_optimal": [0.3814, 0.2, 0.5, 0.0][:n],
        "fiber_damping": 0.01, "minimum_activation": 0.0,
        "activation_time_constant": 0.01, "deactivation_time_constant": 0.04,
    }, names=[f"m{k}" for k in range(n)])


def _special_states(params):
    """Contraction, lengthening, pennation beyond 85 degrees (compressive pennation element),
    a fibre below half its optimal length (compressive length element)."""
    width = params.fiber_width
    fiber = jnp.array([0.04, 0.062, float(width[2] / jnp.sin(jnp.deg2rad(86.0))), 0.45 * 0.1])
    state = MillardAccelerationState(jnp.array([0.9, 0.3, 0.6, 0.05]), fiber,
                                     jnp.array([-0.05, 0.08, -0.02, 0.03]))
    mtu_length = (jnp.sqrt(fiber**2 - width**2)
                  + params.tendon_slack_length * jnp.array([1.03, 1.01, 1.02, 1.04]))
    return state, mtu_length, jnp.array([0.01, -0.2, 0.05, 0.0])


def _random_states(key, params, n):
    """Activation 0-1, pennation up to 88 degrees, fibres to 1.8 optimal lengths, +-1.5 vmax,
    slack to stretched tendons, MTU moving at up to 0.5 m/s."""
    m = params.n_muscles
    lopt, width, slack, vmax = (jnp.broadcast_to(x, (n, m)) for x in (
        params.optimal_fiber_length, params.fiber_width, params.tendon_slack_length,
        params.max_fiber_velocity))
    keys = jr.split(key, 5)
    shortest = jnp.maximum(width / jnp.sin(jnp.deg2rad(88.0)), 0.3 * lopt)
    fiber = shortest + (1.8 * lopt - shortest) * jr.uniform(keys[0], (n, m))
    state = MillardAccelerationState(jr.uniform(keys[1], (n, m)), fiber,
                                     1.5 * vmax * jr.uniform(keys[2], (n, m), minval=-1, maxval=1))
    stretch = jr.uniform(keys[3], (n, m), minval=0.98, maxval=1.06)
    return (state, jnp.sqrt(fiber**2 - width**2) + slack * stretch,
            jr.uniform(keys[4], (n, m), minval=-0.5, maxval=0.5))


@pytest.mark.x64
def test_gradients_match_finite_differences_and_are_finite_over_random_states(getkey):
    """One program: d/d(states, parameters, mass and damping) of the state derivative, the
    outputs and the applied force, summed over 4 special and 300 random
    states. Finite everywhere (per state); against central differences on the special states
    (the random ones weighted 0, as some sit at the damping saturations' kinks)."""
    params = _pennated_muscles()
    special = _special_states(params)
    random = _random_states(getkey(), params, 75)
    state, mtu_length, mtu_velocity = jax.tree.map(
        lambda a, b: jnp.concatenate([a[None], b]), special, random)
    coefficients = tuple(jnp.array([c] * 4) for c in (0.1, 0.1, 1.0, 0.01, 1.0))

    def loss(inputs, weights):
        state, params, coefficients = inputs
        mtu = MillardAccelerationMTU(params, None, *coefficients)

        def one(s, l_mt, v_mt):
            rate = mtu.derivative(s, jnp.array([0.7] * 4), l_mt, v_mt)
            out = mtu.outputs(s, l_mt, v_mt)
            applied = mtu.applied_tendon_force(s, l_mt, v_mt)
            return rate.activation + 1e-3 * rate.fiber_velocity + 1e-3 * (applied + out.fiber_force)

        return jnp.sum(weights * jax.vmap(one)(state, mtu_length, mtu_velocity))

    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))
    inputs = (state, params, coefficients)
    _, grad = value_and_grad(inputs, jnp.ones((76, 4)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grad))
    weights = jnp.zeros((76, 4)).at[0].set(1.0)
    _, grad = value_and_grad(inputs, weights)
    assert_parts_match_finite_differences(lambda x: value_and_grad(x, weights)[0], inputs, grad,
                                          key=getkey(), rtol=1e-6, directions=2, eps=1e-7)


@pytest.mark.x64
def test_semi_implicit_euler_tracks_opensim_through_the_excitation_step(reference_dir):
    """From OpenSim's state at 0.1 s, 60 ms of 2 ms steps x 4 (the activation rise, where the
    fibre mode is stiffest): tendon force within 3e-3 Fmax of OpenSim's."""
    case, mtu = _case(reference_dir)
    ref = case.reference()
    rows = slice(100, 161, 2)
    state0 = MillardAccelerationState(*(jnp.asarray(ref[k][100:101]) for k in (
        "state_activation", "state_fiber_length", "state_fiber_velocity")))
    times = jnp.asarray(ref["time"][rows])
    trajectory = eqx.filter_jit(simulate)(mtu, state0, times, case.drive,
                                          integrator=SemiImplicitEuler(4))
    fmax = float(mtu.params.max_isometric_force[0])
    error = np.abs(trajectory.outputs.tendon_force[:, 0] - ref["tendon_force"][rows]) / fmax
    assert error.max() < 3e-3, error.max()


def test_bad_construction_raises():
    params = _pennated_muscles(2)
    with pytest.raises(ValueError, match=r"`mass` must be > 0.*m1"):
        MillardAccelerationMTU(params, mass=jnp.array([0.1, 0.0]))
    with pytest.raises(ValueError, match=r"`tendon_force_length_damping` must lie in \[0.0, inf\).*m0"):
        MillardAccelerationMTU(params, tendon_force_length_damping=jnp.array([-1.0, 0.1]))
    with pytest.raises(ValueError, match=r"`fiber_force_length_damping` must have shape \(2,\)"):
        MillardAccelerationMTU(params, fiber_force_length_damping=jnp.ones(3))
    rigid = eqx.tree_at(lambda p: p.ignore_tendon_compliance, params, jnp.array([False, True]))
    with pytest.raises(NotImplementedError, match=r"rigid-tendon.*\['m1'\]"):
        MillardAccelerationMTU(rigid)
    mtu = MillardAccelerationMTU(params, mass=0.2)
    assert mtu.mass.shape == (2,) and float(mtu.mass[1]) == pytest.approx(0.2)


def test_from_properties_reads_opensims_property_table():
    props = {"mass": "0.5", "tendon_force_length_damping": 0.2, "fiber_damping": 0.03}
    mtu = MillardAccelerationMTU.from_properties(_pennated_muscles(2), props)
    assert np.all(mtu.mass == 0.5) and np.all(mtu.tendon_force_length_damping == 0.2)
    assert np.all(mtu.params.fiber_damping == 0.03) and np.all(mtu.params.minimum_activation == 0)
    assert np.all(mtu.fiber_compressive_force_length_damping == 1.0)  # OpenSim's default


@pytest.mark.x64
def test_compressive_curves_are_opensims_corners():
    """Fitted defaults: f_K from (0, 1) with slope -2/0.5 to (0.5, 0) flat; f_Cphi from (0, 1)
    with slope -2/cos(85 deg) to (cos(85 deg), 0) flat; decreasing in between, 0 beyond."""
    x1 = np.cos(np.deg2rad(85.0))
    curves = (fiber_compressive_force_length_curve(), fiber_compressive_force_cos_pennation_curve())
    ends = jnp.array([0.5, x1])

    @jax.jit
    def sample(curves, ends):
        x = jnp.stack([ends * s for s in (0.0, 1.0, 1.5)], axis=1)  # (2 curves, 3)
        inside = ends[:, None] * jnp.linspace(0.0, 1.0, 50)[None, :]
        return [(c(xk), c.derivative(xk, 1), c(ik)) for c, xk, ik in zip(curves, x, inside, strict=True)]

    for (value, slope, inside), end, start_slope in zip(sample(curves, ends), (0.5, x1), (-4.0, -2 / x1),
                                                       strict=True):
        np.testing.assert_allclose(value, [1.0, 0.0, 0.0], atol=1e-14)
        np.testing.assert_allclose(slope, [start_slope, 0.0, 0.0], rtol=1e-12, atol=1e-12)
        assert np.all(np.diff(inside) < 0), end
    with pytest.raises(ValueError, match="set both stiffness_at_zero_length and curviness"):
        fiber_compressive_force_length_curve(0.5, -5.0)
    with pytest.raises(ValueError, match="invalid stiffness_at_zero_length"):
        fiber_compressive_force_length_curve(0.5, -1.0, 0.5)
