"""The Millard 2012 equilibrium MTU: OpenSim's equations at OpenSim's states, gradients."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import assert_parts_match_finite_differences

from mskdiff.integrate import SemiImplicitEuler, simulate
from mskdiff.io import IsolatedMTUCase
from mskdiff.models import rajagopal2016
from mskdiff.muscle.millard_equilibrium import (
    MillardCurves,
    MillardEquilibriumMTU,
    MillardEquilibriumState,
)

CASES = ("millard_soleus_r_isometric_step", "millard_vasint_r_sine", "millard_gasmed_r_ramps")


@pytest.mark.x64
@pytest.mark.parametrize("name", CASES)
def test_outputs_at_opensims_states_match_opensim(reference_dir, name):
    """From OpenSim's own activation and fibre length at every row: fibre velocity (the damped
    force balance) to 1e-8 m/s, forces to 1e-6 N, tendon length and pennation to 1e-12."""
    case = IsolatedMTUCase(reference_dir / f"mtu_sim_{name}_setup.json")
    ref = case.reference()
    mtu = MillardEquilibriumMTU(case.parameters())
    column = lambda key: jnp.asarray(ref[key])[:, None]
    state = MillardEquilibriumState(column("activation"), column("fiber_length"))
    out = jax.jit(jax.vmap(mtu.outputs))(state, column("mtu_length"), column("mtu_velocity"))
    for key, atol in (("fiber_velocity", 1e-8), ("tendon_force", 1e-6),
                      ("active_fiber_force", 1e-5), ("passive_fiber_force", 1e-5),
                      ("tendon_length", 1e-12), ("pennation_angle", 1e-12),
                      ("force_velocity_multiplier", 1e-8),
                      ("active_force_length_multiplier", 1e-12)):
        np.testing.assert_allclose(getattr(out, key)[:, 0], ref[key], rtol=0, atol=atol,
                                   err_msg=key)


def _soleus_like(n=3):
    params = rajagopal2016(["soleus_r", "vasint_r", "gasmed_r"][:n])
    return eqx.tree_at(lambda p: p.fiber_damping, params, jnp.full(n, 0.1))


@pytest.mark.x64
def test_init_is_a_rest_state_and_gradients_match_finite_differences(getkey):
    """Static equilibrium (fibre velocity 0 at the initial state); d(mean tendon force of a
    0.1 s Euler simulation)/d(parameters, excitations) against central differences (1e-5)."""
    params = _soleus_like()
    mtu = MillardEquilibriumMTU(params, MillardCurves.rajagopal2016())
    length = params.tendon_slack_length + params.optimal_fiber_length
    state = mtu.init_state(length, jnp.zeros(3), jnp.full(3, 0.2))
    rate = mtu.derivative(state, state.activation, length, jnp.zeros(3))
    np.testing.assert_allclose(rate.fiber_length, 0.0, atol=1e-12)
    times = jnp.arange(51) * 2e-3

    def loss(inputs):
        p, excitation = inputs
        model = eqx.tree_at(lambda m: m.params, mtu, p)
        start = model.init_state(length, jnp.zeros(3), jnp.full(3, 0.2))
        drive = lambda t: (excitation, length, jnp.zeros(3))
        trajectory = simulate(model, start, times, drive, integrator=SemiImplicitEuler(4))
        return jnp.mean(trajectory.outputs.tendon_force)

    inputs = (params, jnp.array([0.3, 0.6, 0.9]))
    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))
    _, grad = value_and_grad(inputs)
    assert_parts_match_finite_differences(lambda x: value_and_grad(x)[0], inputs, grad,
                                          key=getkey(), rtol=1e-5)


@pytest.mark.x64
def test_gradients_are_finite_over_random_states(getkey):
    """Activation 0 to 1 (below the minimum too), fibres from the shortest to 1.8 optimal
    lengths, slack to strongly stretched tendons."""
    params = _soleus_like()
    mtu = MillardEquilibriumMTU(params, MillardCurves.rajagopal2016())
    n = 512
    activation = jr.uniform(getkey(), (n, 3))
    lopt, width, slack = (jnp.broadcast_to(x, (n, 3)) for x in (
        params.optimal_fiber_length, params.fiber_width, params.tendon_slack_length))
    fiber = lopt * jr.uniform(getkey(), (n, 3), minval=0.45, maxval=1.8)
    stretch = jr.uniform(getkey(), (n, 3), minval=0.97, maxval=1.06)
    length = jnp.sqrt(fiber**2 - width**2) + slack * stretch

    def force_rate(a, l_m, l_mt):
        rate = mtu.derivative(MillardEquilibriumState(a, l_m), a, l_mt, jnp.zeros(3))
        return jnp.sum(rate.fiber_length) + jnp.sum(mtu.outputs(
            MillardEquilibriumState(a, l_m), l_mt, jnp.zeros(3)).tendon_force)

    grads = jax.jit(jax.vmap(jax.grad(force_rate, argnums=(0, 1, 2))))(activation, fiber, length)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_undamped_muscles_raise():
    params = eqx.tree_at(lambda p: p.fiber_damping, rajagopal2016(["soleus_r"]), jnp.zeros(1))
    with pytest.raises(ValueError, match=r"fiber_damping > 0.*soleus_r"):
        MillardEquilibriumMTU(params)


@pytest.mark.x64
def test_per_muscle_curves_equal_each_muscle_alone():
    """Curves that differ between muscles: each muscle behaves as a one-muscle model with its
    own curves (derivative and outputs at a common random state)."""
    names = ["soleus_r", "vasint_r", "gasmed_r"]
    params = rajagopal2016(names, tendon_compliance="all_elastic")
    properties = {"TendonForceLengthCurve": {"strain_at_one_norm_force": np.array([0.04, 0.049, 0.07])},
                  "ActiveForceLengthCurve": {"minimum_value": np.array([0.0, 0.05, 0.1])},
                  "ForceVelocityCurve": {"max_eccentric_velocity_force_multiplier": 1.6}}
    mtu = MillardEquilibriumMTU(params, MillardCurves.from_parameters(properties))
    assert mtu.curves.n_muscles == 3
    length = params.tendon_slack_length * 1.03 + params.optimal_fiber_length
    state = MillardEquilibriumState(jnp.array([0.2, 0.6, 0.9]), params.optimal_fiber_length * 1.05)
    velocity = jnp.array([0.1, -0.2, 0.05])
    forces_and_rates = eqx.filter_jit(lambda mtu, state, length, velocity: jnp.stack([
        mtu.outputs(state, length, velocity).tendon_force,
        mtu.derivative(state, jnp.full_like(length, 0.5), length, velocity).fiber_length]))
    together = forces_and_rates(mtu, state, length, velocity)
    for k, name in enumerate(names):
        own = {curve: {p: np.asarray(v)[k] if np.ndim(v) else v for p, v in values.items()}
               for curve, values in properties.items()}
        alone = MillardEquilibriumMTU(params.select([name]), MillardCurves.from_parameters(own))
        pick = lambda tree, k=k: jax.tree.map(lambda x: x[k:k + 1], tree)
        np.testing.assert_allclose(
            forces_and_rates(alone.with_generic_names(), pick(state), length[k:k + 1],
                             velocity[k:k + 1]), together[:, k:k + 1], rtol=1e-10)
    with pytest.raises(ValueError, match=r"curves for \[3\] muscles given for 2 muscles"):
        MillardEquilibriumMTU(params.select(names[:2]), mtu.curves)
    with pytest.raises(ValueError, match="scalars or arrays of one common length"):
        MillardCurves.from_parameters({"TendonForceLengthCurve": {"strain_at_one_norm_force": [0.04, 0.05]},
                                       "ActiveForceLengthCurve": {"minimum_value": [0.0, 0.1, 0.0]}})


@pytest.mark.x64
def test_fiber_step_is_stable_where_explicit_euler_is_not():
    """A passively stretched fibre on a short tendon at low activation (fibre mode faster than
    the 0.5 ms sub-step): the fibre step settles on the static equilibrium, not diverging, and
    its gradient (which differentiates the fibre velocity's slope: second derivatives of the
    root) matches central differences."""
    params = rajagopal2016(["soleus_r"], tendon_compliance="all_elastic")
    params = eqx.tree_at(lambda p: p.tendon_slack_length, params, 0.3 * params.optimal_fiber_length)
    mtu = MillardEquilibriumMTU(params)
    length = params.tendon_slack_length * 1.01 + params.optimal_fiber_length * 1.5
    zero, activation, h = jnp.zeros(1), jnp.full(1, 0.02), 5e-4
    rest = mtu.init_state(length, zero, activation)
    start = MillardEquilibriumState(activation, rest.fiber_length * 0.98)
    velocity = lambda l: mtu.derivative(MillardEquilibriumState(activation, l), activation,
                                        length, zero).fiber_length
    _, slope = jax.jvp(velocity, (rest.fiber_length,), (jnp.ones(1),))
    assert h * slope[0] < -2  # explicit Euler would diverge here

    def step(state, _):
        state = mtu.fiber_step(state, length, zero, h)
        return state, state.fiber_length

    _, lengths = jax.lax.scan(step, start, None, length=100)
    assert np.all(np.isfinite(lengths))
    np.testing.assert_allclose(lengths[-1], rest.fiber_length, rtol=1e-9)

    @jax.jit
    def after_one_step(slack):
        model = eqx.tree_at(lambda m: m.params.tendon_slack_length, mtu, slack)
        return model.fiber_step(start, length, zero, h).fiber_length[0]

    slack, eps = params.tendon_slack_length, 1e-7 * params.tendon_slack_length
    gradient = jax.grad(after_one_step)(slack)
    central = (after_one_step(slack + eps) - after_one_step(slack - eps)) / (2 * eps)
    np.testing.assert_allclose(gradient, central, rtol=1e-5)
