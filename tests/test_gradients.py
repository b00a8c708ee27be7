"""jax.grad through MTU simulations against central finite differences (float64), and finiteness."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import directional_derivatives

from mskdiff.integrate import DiffraxIntegrator, SemiImplicitEuler, hold, simulate
from mskdiff.muscle import (
    AccelerationMTU,
    MuscleParameters,
    RigidTendonMTU,
    TendonForceMTU,
    equilibrium_norm_tendon_force,
)

FORMULATIONS = {"tendon_force": TendonForceMTU, "acceleration": AccelerationMTU.with_defaults,
                "rigid": RigidTendonMTU}
RTOL = 1e-5


def two_muscles():
    """An elastic soleus-like muscle and a rigid-tendon one, simulated together."""
    return MuscleParameters.from_dict({
        "max_isometric_force": [6194.84, 1500.0], "optimal_fiber_length": [0.044, 0.1],
        "tendon_slack_length": [0.2768, 0.2], "pennation_angle_at_optimal": [0.3814, 0.1],
        "ignore_tendon_compliance": [False, True]}, names=["soleus", "rigid"])


def make_drive(params, knots):
    """MTU length L0 + small sine; excitation interpolated through `knots` over 0.2 s."""
    length0 = params.tendon_slack_length + params.optimal_fiber_length * jnp.cos(
        params.pennation_angle_at_optimal)
    knot_times = jnp.linspace(0.0, 0.2, knots.shape[0])

    def drive(t):
        excitation = jnp.interp(t, knot_times, knots)
        return (jnp.full(length0.shape, excitation), length0 + 0.004 * jnp.sin(20 * t),
                jnp.full(length0.shape, 0.08 * jnp.cos(20 * t)))
    return drive


def mean_tendon_force(build, integrator, dt=2e-3, duration=0.2):
    """Loss(params, knots): mean normalised tendon force, simulated from init_state."""
    times = jnp.arange(round(duration / dt) + 1) * dt

    def loss(tree):
        params, knots = tree
        mtu = build(params)
        drive = make_drive(params, knots)
        _, length, velocity = drive(0.0)
        state = mtu.init_state(length, velocity, jnp.full(length.shape, knots[0]))
        out = simulate(mtu, state, times, drive, integrator=integrator).outputs
        return jnp.mean(out.tendon_force / params.max_isometric_force[None])
    return loss


def knots():
    return jnp.asarray([0.1, 0.3, 0.8, 0.6, 0.2])


@functools.cache
def euler_loss_and_grad(name):
    """Jitted `loss((params, knots))` and its gradient, semi-implicit Euler 2 ms x 4: compiled
    once per formulation and shared by the tests below."""
    loss = mean_tendon_force(FORMULATIONS[name], SemiImplicitEuler(4))
    return eqx.filter_jit(loss), eqx.filter_jit(eqx.filter_grad(loss))


@pytest.mark.x64
@pytest.mark.parametrize("name", list(FORMULATIONS))
def test_simulation_gradient_matches_finite_differences(name, getkey):
    loss, grad = euler_loss_and_grad(name)
    tree = (two_muscles(), knots())
    gradient = grad(tree)[0]
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(gradient))
    for _ in range(2):
        ad, fd = directional_derivatives(loss, tree, key=getkey(), grad=grad(tree))
        assert ad == pytest.approx(fd, rel=RTOL, abs=1e-10)


@pytest.mark.x64
@pytest.mark.parametrize("field", ["tendon_slack_length", "optimal_fiber_length",
                                   "max_isometric_force"])
def test_gradient_per_parameter(field):
    """d loss / d field for each muscle, one at a time, against central differences."""
    loss, grad = euler_loss_and_grad("tendon_force")
    params = two_muscles()
    gradient = getattr(grad((params, knots()))[0], field)
    value = getattr(params, field)

    def shifted(i, s):
        return eqx.tree_at(lambda p: getattr(p, field), params, value.at[i].add(s)), knots()

    for i in range(params.n_muscles):
        step = 1e-6 * value[i]
        fd = (loss(shifted(i, step)) - loss(shifted(i, -step))) / (2 * step)
        assert float(gradient[i]) == pytest.approx(float(fd), rel=RTOL, abs=1e-9), (field, i)


@pytest.mark.x64
def test_gradient_wrt_excitation_sequence():
    loss, grad = euler_loss_and_grad("acceleration")
    params = two_muscles()
    gradient = grad((params, knots()))[1]
    for i in range(knots().shape[0]):
        fd = (loss((params, knots().at[i].add(1e-6))) - loss((params, knots().at[i].add(-1e-6))))
        assert float(gradient[i]) == pytest.approx(float(fd) / 2e-6, rel=RTOL, abs=1e-9)


@pytest.mark.x64
@pytest.mark.parametrize("name, integrator", [
    ("tendon_force", DiffraxIntegrator()),
    ("acceleration", DiffraxIntegrator(max_steps=4096)),
])
def test_gradient_through_diffrax(name, integrator, getkey):
    loss = eqx.filter_jit(mean_tendon_force(FORMULATIONS[name], integrator, dt=5e-3,
                                            duration=0.1))
    ad, fd = directional_derivatives(loss, (two_muscles(), knots()), key=getkey())
    assert ad == pytest.approx(fd, rel=RTOL, abs=1e-10)


@pytest.mark.x64
def test_equilibrium_gradient_is_implicit_and_matches_fd(getkey):
    params = two_muscles().with_tendon_compliance("all_elastic")
    length = params.tendon_slack_length + params.optimal_fiber_length + 0.003
    inputs = (params, length, jnp.asarray([0.1, -0.2]), jnp.asarray([0.4, 0.9]))
    f = lambda tree: jnp.sum(equilibrium_norm_tendon_force(*tree) ** 2)
    ad, fd = directional_derivatives(f, inputs, key=getkey())
    assert ad == pytest.approx(fd, rel=RTOL)


def random_conditions(key, n, params):
    """Random states and inputs over and beyond the physical range."""
    keys = jr.split(key, 8)
    lopt, slack = params.optimal_fiber_length, params.tendon_slack_length
    u = lambda k, low, high: jr.uniform(k, (n,), minval=low, maxval=high)
    activation = jnp.concatenate([jnp.zeros(n // 8), jnp.full(n // 8, 1e-6),
                                  u(keys[0], 0.0, 1.0)[: n - n // 4]])
    return {
        "activation": activation,
        "excitation": u(keys[1], 0.0, 1.0),
        # From below the slack length (slack tendon, fibers at their minimum) to very long.
        "mtu_length": slack + lopt * u(keys[2], -0.6, 2.5),
        "mtu_velocity": lopt * 10 * u(keys[3], -2.0, 2.0),
        "norm_tendon_force": u(keys[4], -0.25, 3.0),
        "fiber_length": lopt * u(keys[5], 0.05, 2.5),
        "fiber_velocity": lopt * 10 * u(keys[6], -3.0, 3.0),
    }


def batch_params(n):
    p = MuscleParameters.from_dict({
        "max_isometric_force": 6194.84, "optimal_fiber_length": 0.044,
        "tendon_slack_length": 0.2768, "pennation_angle_at_optimal": 0.3814,
        "ignore_tendon_compliance": np.arange(n) % 7 == 0}, names=[f"m{i}" for i in range(n)])
    return p


@pytest.mark.x64
@pytest.mark.parametrize("name", list(FORMULATIONS))
def test_gradients_finite_over_random_states(name, getkey):
    n = 4096
    params = batch_params(n)
    mtu = FORMULATIONS[name](params)
    c = random_conditions(getkey(), n, params)
    state_fields = {"tendon_force": ("activation", "norm_tendon_force"),
                    "acceleration": ("activation", "fiber_length", "fiber_velocity"),
                    "rigid": ("activation",)}[name]
    state = type(mtu.init_state(c["mtu_length"], c["mtu_velocity"], c["activation"]))(
        *(c[f] for f in state_fields))

    def quantities(mtu, state, excitation, length, velocity):
        out = mtu.outputs(state, length, velocity)
        rate = mtu.derivative(state, excitation, length, velocity)
        stepped = SemiImplicitEuler(2).advance(mtu, state, hold(excitation, length, velocity),
                                               2e-3)
        return (out.tendon_force / params.max_isometric_force
                + sum(jax.tree.leaves(rate)) * 1e-3 + sum(jax.tree.leaves(stepped)))

    def total(args):
        values = quantities(*args)
        return jnp.sum(values), values

    args = (mtu, state, c["excitation"], c["mtu_length"], c["mtu_velocity"])
    # Muscles are independent, so the gradient of the sum holds every d(value_i)/d(input_i).
    (_, values), g = eqx.filter_jit(eqx.filter_value_and_grad(total, has_aux=True))(args)
    assert bool(jnp.all(jnp.isfinite(values)))
    for leaf in jax.tree.leaves(g):
        assert bool(jnp.all(jnp.isfinite(leaf)))


@pytest.mark.x64
@pytest.mark.parametrize("name", ["tendon_force", "acceleration"])
def test_init_state_finite_for_extreme_inputs(name, getkey):
    n = 2048
    params = batch_params(n)
    c = random_conditions(getkey(), n, params)
    def total(inputs):
        p, length = inputs
        leaves = jax.tree.leaves(FORMULATIONS[name](p).init_state(length, c["mtu_velocity"],
                                                                   c["activation"]))
        return sum(jnp.sum(x) for x in leaves), leaves

    (_, leaves), g = eqx.filter_jit(eqx.filter_value_and_grad(total, has_aux=True))(
        (params, c["mtu_length"]))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(g))


@pytest.mark.parametrize("name", list(FORMULATIONS))
def test_transforms_in_float32(name):
    """jit, vmap (over a batch of conditions) and filter_grad, default dtype."""
    params = two_muscles()
    mtu = FORMULATIONS[name](params)
    length = params.tendon_slack_length + params.optimal_fiber_length
    state = mtu.init_state(length, jnp.zeros(2), jnp.full((2,), 0.3))
    assert state.activation.dtype == jnp.float32
    step = eqx.filter_jit(lambda m, s, e: SemiImplicitEuler(4).advance(
        m, s, hold(e, length, jnp.zeros(2)), 2e-3))
    excitations = jnp.outer(jnp.linspace(0.0, 1.0, 8), jnp.ones(2))
    batched = jax.vmap(step, in_axes=(None, None, 0))(mtu, state, excitations)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(batched))
    grad = eqx.filter_grad(lambda m: jnp.sum(m.outputs(step(m, state, excitations[3]), length,
                                                       jnp.zeros(2)).tendon_force))(mtu)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(grad))


def test_nan_input_is_reported_inside_jit():
    params = two_muscles()
    mtu = TendonForceMTU(params)
    length = params.tendon_slack_length + params.optimal_fiber_length
    state = mtu.init_state(length, jnp.zeros(2), jnp.full((2,), 0.3))
    drive = lambda t: (jnp.full((2,), jnp.nan), length, jnp.zeros(2))
    run = eqx.filter_jit(lambda m, s: simulate(m, s, jnp.linspace(0, 0.01, 6), drive))
    with pytest.raises(eqx.EquinoxRuntimeError, match="non-finite MTU state"):
        jax.block_until_ready(run(mtu, state))
