"""MTU formulations: OpenSim state derivatives pointwise, invariants, per-muscle compliance."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.integrate import DiffraxIntegrator, SemiImplicitEuler, hold, simulate
from mskdiff.io import find_isolated_mtu_cases
from mskdiff.muscle import (
    AccelerationMTU,
    DeGroote2016Activation,
    FirstOrderActivation,
    MuscleParameters,
    RigidTendonMTU,
    TendonForceMTU,
    TendonForceState,
    equilibrium_norm_tendon_force,
    make_mtu,
)
from mskdiff.muscle.implicit import implicit_residual


def soleus_like(n=1, rigid=None):
    rigid = [False] * n if rigid is None else rigid
    return MuscleParameters.from_dict({
        "max_isometric_force": [6194.84 * (1 + 0.1 * i) for i in range(n)],
        "optimal_fiber_length": [0.044 + 0.01 * i for i in range(n)],
        "tendon_slack_length": [0.2768 - 0.02 * i for i in range(n)],
        "pennation_angle_at_optimal": [0.3814 - 0.1 * i for i in range(n)],
        "ignore_tendon_compliance": rigid,
    }, names=[f"m{i}" for i in range(n)])


def isometric_length(p):
    return p.tendon_slack_length + p.optimal_fiber_length * jnp.cos(p.pennation_angle_at_optimal)


def dgf_cases(reference_dir):
    return [c for c in find_isolated_mtu_cases(reference_dir)
            if c.muscle_class == "DeGrooteFregly2016Muscle"]


@pytest.mark.x64
def test_derivatives_equal_opensim_at_reference_states(reference_dir):
    """At every 1 ms reference state, d(activation)/dt and d(norm tendon force)/dt equal OpenSim's."""
    cases = dgf_cases(reference_dir)
    assert len(cases) >= 5
    for case in cases:
        ref = case.reference()
        mtu = TendonForceMTU(case.parameters())
        state = TendonForceState(jnp.asarray(ref["state_activation"])[:, None],
                                 jnp.asarray(ref["state_normalized_tendon_force"])[:, None])
        inputs = [jnp.asarray(ref[k])[:, None] for k in ("excitation", "mtu_length", "mtu_velocity")]
        rate = jax.vmap(mtu.derivative)(state, *inputs)
        np.testing.assert_allclose(rate.activation[:, 0], ref["deriv_state_activation"],
                                   rtol=1e-9, atol=1e-9, err_msg=case.name)
        np.testing.assert_allclose(rate.norm_tendon_force[:, 0],
                                   ref["deriv_state_normalized_tendon_force"],
                                   rtol=1e-7, atol=1e-7, err_msg=case.name)
        out = jax.vmap(mtu.outputs)(state, inputs[1], inputs[2])
        for column in ("fiber_length", "fiber_velocity", "pennation_angle", "tendon_length",
                       "active_fiber_force", "passive_fiber_force", "fiber_force_along_tendon"):
            np.testing.assert_allclose(getattr(out, column)[:, 0], ref[column], rtol=1e-8,
                                       atol=1e-8, err_msg=f"{case.name}: {column}")


@pytest.mark.x64
def test_initialisation_reproduces_row_zero(reference_dir):
    for case in dgf_cases(reference_dir):
        ref = case.reference()
        _, length, velocity = case.drive(jnp.asarray(0.0))
        state = TendonForceMTU(case.parameters()).init_state(
            length, velocity, jnp.asarray([case.initial_activation]))
        assert float(state.norm_tendon_force[0]) == pytest.approx(
            ref["state_normalized_tendon_force"][0], abs=1e-8)


@pytest.mark.x64
def test_equilibrium_residual_is_zero_after_init():
    p = soleus_like(3)
    length = isometric_length(p) + jnp.asarray([0.0, 0.01, -0.005])
    velocity = jnp.asarray([0.0, 0.2, -0.3])
    activation = jnp.asarray([0.01, 0.5, 1.0])
    force = equilibrium_norm_tendon_force(p, length, velocity, activation)
    residual = implicit_residual(p, length, velocity, activation, force, jnp.zeros_like(force))
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)
    for mtu in (TendonForceMTU(p), AccelerationMTU.with_defaults(p)):
        state = mtu.init_state(length, velocity, activation)
        out = mtu.outputs(state, length, velocity)
        np.testing.assert_allclose(out.tendon_force / p.max_isometric_force, force, atol=1e-9)


@pytest.mark.x64
def test_rigid_muscles_mixed_in_one_batch_equal_separate_runs():
    """Per-muscle compliance: an elastic+rigid batch equals each muscle simulated alone."""
    p = soleus_like(2, rigid=[False, True])
    length = isometric_length(p)
    drive = lambda t: (jnp.full((2,), 0.3 + 0.5 * jnp.sin(8 * t) ** 2),
                       length + 0.005 * jnp.sin(6 * t), jnp.full((2,), 0.03 * jnp.cos(6 * t)))
    times = jnp.arange(101) * 2e-3
    for build in (TendonForceMTU, AccelerationMTU.with_defaults):
        mtu = build(p)
        state = mtu.init_state(*drive(0.0)[1:], jnp.full((2,), 0.3))
        both = simulate(mtu, state, times, drive)
        rigid_alone = RigidTendonMTU(p.select(["m1"]))
        one = simulate(rigid_alone, rigid_alone.init_state(None, None, jnp.full((1,), 0.3)), times,
                       lambda t: tuple(x[1:] for x in drive(t)))
        np.testing.assert_allclose(both.outputs.tendon_force[:, 1], one.outputs.tendon_force[:, 0],
                                   rtol=1e-12)
        elastic_alone = build(p.select(["m0"]))
        sub = lambda t: tuple(x[:1] for x in drive(t))
        two = simulate(elastic_alone, elastic_alone.init_state(*sub(0.0)[1:], jnp.full((1,), 0.3)),
                       times, sub)
        np.testing.assert_allclose(both.outputs.tendon_force[:, 0], two.outputs.tendon_force[:, 0],
                                   rtol=1e-12)


@pytest.mark.x64
def test_formulations_agree_in_isometric_steady_state():
    """Held excitation, isometric: all three formulations settle to the same tendon force."""
    p = soleus_like(1)
    length = isometric_length(p)
    drive = lambda t: (jnp.full((1,), 0.7), length, jnp.zeros(1))
    times = jnp.linspace(0.0, 0.6, 301)
    forces = {}
    for name in ("tendon_force", "acceleration", "rigid"):
        mtu = make_mtu(p, name)
        state = mtu.init_state(length, jnp.zeros(1), jnp.full((1,), 0.05))
        forces[name] = float(simulate(mtu, state, times, drive).outputs.tendon_force[-1, 0])
    assert forces["acceleration"] == pytest.approx(forces["tendon_force"], rel=1e-6)
    # A rigid tendon cannot stretch, so the fiber stays near optimal length: more force.
    assert forces["tendon_force"] < forces["rigid"] < 1.5 * forces["tendon_force"]


@pytest.mark.x64
def test_euler_converges_to_diffrax():
    p = soleus_like(1)
    length = isometric_length(p)
    drive = lambda t: (jnp.full((1,), 0.2 + 0.6 * (t > 0.05)), length + 0.01 * jnp.sin(10 * t),
                       0.1 * jnp.cos(10 * t))
    times = jnp.linspace(0.0, 0.2, 101)
    mtu = TendonForceMTU(p)
    state = mtu.init_state(*drive(0.0)[1:], jnp.full((1,), 0.2))
    exact = simulate(mtu, state, times, drive, integrator=DiffraxIntegrator()).outputs.tendon_force
    errors = [float(jnp.max(jnp.abs(simulate(mtu, state, times, drive,
                                             integrator=SemiImplicitEuler(n)).outputs.tendon_force
                                    - exact))) for n in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 * errors[0]


@pytest.mark.x64
def test_acceleration_substeps_are_stable_where_explicit_euler_is_not():
    """Linearly implicit fiber update: stable at 2 ms / 4 sub-steps for a 0.1 kg fiber mass."""
    p = soleus_like(1)
    mtu = AccelerationMTU.with_defaults(p)
    length = isometric_length(p)
    state = mtu.init_state(length, jnp.zeros(1), jnp.full((1,), 1.0))
    drive = hold(jnp.ones(1), length, jnp.zeros(1))
    advanced = SemiImplicitEuler(4).advance(mtu, state, drive, 2e-3)
    assert jnp.all(jnp.isfinite(advanced.fiber_length))
    assert float(jnp.abs(advanced.fiber_length - state.fiber_length)[0]) < 1e-6
    h = 2e-3 / 4
    y = state
    for _ in range(4):  # plain explicit Euler on the same ODE blows up
        rate = mtu.derivative(y, jnp.ones(1), length, jnp.zeros(1))
        y = jax.tree.map(lambda a, b: a + h * b, y, rate)
    assert not bool(jnp.all(jnp.abs(y.fiber_velocity) < 1e-3))


def test_activation_dynamics():
    p = soleus_like(1)
    dgf = DeGroote2016Activation()
    a = jnp.asarray([0.2])
    assert float(dgf.derivative(p, jnp.asarray([0.2]), a)[0]) == 0.0
    assert float(dgf.derivative(p, jnp.asarray([1.0]), a)[0]) > 0
    assert float(dgf.derivative(p, jnp.asarray([0.0]), a)[0]) < 0
    first = FirstOrderActivation()
    up = float(first.derivative(p, jnp.asarray([1.0]), a)[0])
    assert up == pytest.approx(0.8 / (0.015 * (0.5 + 1.5 * 0.2)), rel=1e-5)
    down = float(first.derivative(p, jnp.asarray([0.0]), a)[0])  # clamped to minimum 0.01
    assert down == pytest.approx((0.01 - 0.2) * (0.5 + 1.5 * 0.2) / 0.06, rel=1e-5)


def test_integrators_return_same_state_type():
    p = soleus_like(2)
    length = isometric_length(p)
    for mtu in (TendonForceMTU(p), AccelerationMTU.with_defaults(p), RigidTendonMTU(p)):
        state = mtu.init_state(length, jnp.zeros(2), jnp.full((2,), 0.1))
        for integrator in (SemiImplicitEuler(2), DiffraxIntegrator()):
            new = integrator.advance(mtu, state, hold(jnp.full((2,), 0.5), length, jnp.zeros(2)),
                                     1e-3)
            assert jax.tree.structure(new) == jax.tree.structure(state)
            assert type(new) is type(state)


def test_bad_construction():
    p = soleus_like(2)
    with pytest.raises(ValueError, match="fiber_mass"):
        AccelerationMTU(p, jnp.asarray([0.1, -1.0]))
    with pytest.raises(ValueError, match="fiber_mass"):
        AccelerationMTU(p, jnp.asarray([0.1]))
    with pytest.raises(ValueError, match="unknown formulation"):
        make_mtu(p, "implicit")
    with pytest.raises(ValueError, match="n_substeps"):
        SemiImplicitEuler(0)
    with pytest.raises(ValueError, match="times"):
        simulate(TendonForceMTU(p), None, jnp.zeros(1), None)


def test_simulate_compiles_once():
    p = soleus_like(2)
    mtu = TendonForceMTU(p)
    length = isometric_length(p)
    times = jnp.linspace(0.0, 0.02, 11)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def run(mtu, state, level):
        return simulate(mtu, state, times, lambda t: (level, length, jnp.zeros(2)))

    state = mtu.init_state(length, jnp.zeros(2), jnp.full((2,), 0.1))
    for level in (0.2, 0.5, 0.9):
        run(mtu, state, jnp.full((2,), level))
