"""How the muscle layer's solves end: result codes, step counts, `throw`; the MTU interface."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff._solution import RESULTS, result_name
from mskdiff.models import rajagopal2016
from mskdiff.muscle import (
    FORMULATIONS,
    AbstractMTU,
    AccelerationMTU,
    MillardAccelerationMTU,
    MillardCurves,
    MillardEquilibriumMTU,
    RigidTendonMTU,
    TendonForceMTU,
    equilibrium_norm_tendon_force,
    linearly_implicit_fiber_step,
    make_mtu,
    millard_curves,
    millard_equilibrium,
)

#: The formulations whose initial state is an iterative solve, and their default `max_steps`.
ITERATIVE = {TendonForceMTU: 200, AccelerationMTU: 200, MillardEquilibriumMTU: 40,
             MillardAccelerationMTU: 500}


def _params():
    params = rajagopal2016(["soleus_r", "vasint_r"], tendon_compliance="all_elastic")
    return eqx.tree_at(lambda p: p.fiber_damping, params, jnp.full(2, 0.1))


def _inputs(params, stretch=1.01):
    """MTU lengths [m] of a stretched tendon and optimal fibre, velocities 0, activation 0.4."""
    length = params.tendon_slack_length * stretch + params.optimal_fiber_length
    return length, jnp.zeros(2), jnp.full(2, 0.4)


@eqx.filter_jit
def _solve(mtu, activation, max_steps):
    """`solve_init_state` at `_inputs` and `activation`."""
    length, velocity, _ = _inputs(mtu.params)
    return mtu.solve_init_state(length, velocity, activation, max_steps=max_steps)


@pytest.mark.x64
@pytest.mark.parametrize("cls", list(ITERATIVE))
def test_init_solves_report_success_steps_nonfinite_states_and_too_few_steps(cls):
    """Normal inputs: `successful` in 1 to max_steps steps; a NaN activation:
    `nonfinite_state`; max_steps=1: `max_steps_reached`, finite values."""
    mtu = make_mtu(_params(), cls)
    default = ITERATIVE[cls]
    sol = _solve(mtu, jnp.full(2, 0.4), default)
    assert result_name(sol.result) == "successful"
    assert 1 <= int(sol.stats["num_steps"]) <= default == int(sol.stats["max_steps"])
    assert result_name(_solve(mtu, jnp.array([0.4, jnp.nan]), default).result) == (
        "nonfinite_state")
    short = _solve(mtu, jnp.full(2, 0.4), 1)
    assert result_name(short.result) == "max_steps_reached"
    assert int(short.stats["num_steps"]) == 1
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(short.value))


def test_rigid_init_is_successful_in_zero_steps():
    sol = RigidTendonMTU(_params()).solve_init_state(None, None, jnp.full(2, 0.3))
    assert result_name(sol.result) == "successful" and int(sol.stats["num_steps"]) == 0


@pytest.mark.x64
def test_init_state_raises_inside_jit_or_returns_the_code_under_vmap():
    """An MTU three optimal fibre lengths longer than its slack tendon has no equilibrium
    force in the bracket: `init_state` (`throw=True`, the default) raises inside `jit`;
    vmapped with `throw=False` it returns, and `solve_init_state` gives the code per
    element. Too few bisection steps raise from `equilibrium_norm_tendon_force`."""
    params = _params()
    mtu = TendonForceMTU(params)
    length, velocity, activation = _inputs(params)
    too_long = params.tendon_slack_length + 3 * params.optimal_fiber_length
    with pytest.raises(eqx.EquinoxRuntimeError, match="not bracketed"):
        jax.block_until_ready(eqx.filter_jit(mtu.init_state)(too_long, velocity, activation))
    lengths = jnp.stack([length, too_long])
    states, results = eqx.filter_jit(jax.vmap(lambda l: (
        mtu.init_state(l, velocity, activation, throw=False),
        mtu.solve_init_state(l, velocity, activation).result._value)))(lengths)
    assert states.norm_tendon_force.shape == (2, 2)
    np.testing.assert_array_equal(results, [RESULTS.successful._value,
                                            RESULTS.root_not_bracketed._value])
    with pytest.raises(eqx.EquinoxRuntimeError, match="maximum number of solver steps"):
        jax.block_until_ready(eqx.filter_jit(
            lambda l: equilibrium_norm_tendon_force(params, l, velocity, activation,
                                                    max_steps=2))(length))


def _fiber_step(mtu, state, length):
    """One 0.5 ms Millard equilibrium fibre step, jitted afresh (trace-time constants)."""
    return eqx.filter_jit(lambda m, s: m.fiber_step(s, length, jnp.full(2, 0.05), 5e-4))(
        mtu, state)


@pytest.mark.x64
def test_millard_fiber_velocity_solve_raises_in_the_step_when_it_does_not_converge(monkeypatch):
    """The fibre-velocity root solve inside `fiber_step`: the checks change no result; with one
    iteration allowed it fails, raising inside `jit` (`throw=True`) or not (`throw=False`)."""
    mtu = MillardEquilibriumMTU(_params(), MillardCurves.rajagopal2016())
    length, velocity, activation = _inputs(mtu.params)
    state = mtu.init_state(length, velocity, activation)
    state = dataclasses.replace(state, fiber_length=state.fiber_length * 1.01)
    unchecked = dataclasses.replace(mtu, throw=False)
    checked_result = _fiber_step(mtu, state, length)
    for a, b in zip(jax.tree.leaves(checked_result),
                    jax.tree.leaves(_fiber_step(unchecked, state, length)), strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(millard_equilibrium, "_ROOT_ITERATIONS", 1)
    with pytest.raises(eqx.EquinoxRuntimeError, match="fibre-velocity root solve did not"):
        jax.block_until_ready(_fiber_step(mtu, state, length))
    assert np.all(np.isfinite(_fiber_step(unchecked, state, length).fiber_length))


@pytest.mark.x64
def test_bezier_parameter_solve_reports_and_raises(monkeypatch):
    """`solve_parameter`: successful in 12 + 6 steps at points either side of every join;
    `max_steps_reached` with no Newton steps (per point under `vmap`). Inside a curve
    evaluation a failed solve raises in `jit` with `throw=True`, not with `throw=False`."""
    curve = millard_curves.active_force_length_curve()
    knots = np.asarray(curve.x_points[0])
    x = jnp.asarray(np.concatenate([knots - 1e-6, knots + 1e-6, [0.3, 2.0]]))
    sol = eqx.filter_jit(lambda c, v: c.solve_parameter(v))(curve, x)
    assert result_name(sol.result) == "successful" and int(sol.stats["num_steps"]) == 18
    assert np.all((sol.value >= 0) & (sol.value <= 1))
    rough = jax.vmap(lambda v: curve.solve_parameter(v, newton_steps=0).result._value)(x[:-2])
    assert np.all(rough == RESULTS.max_steps_reached._value)
    monkeypatch.setattr(millard_curves, "_NEWTON_STEPS", 0)
    with pytest.raises(eqx.EquinoxRuntimeError, match="Bézier parameter solve"):
        jax.block_until_ready(eqx.filter_jit(lambda c, v: c(v))(
            dataclasses.replace(curve, throw=True), x))
    assert not curve.throw  # the default: unchecked
    assert np.all(np.isfinite(eqx.filter_jit(lambda c, v: c(v))(curve, x)))


def test_abstract_mtu_methods_are_abstract_or_final():
    """No concrete method of `AbstractMTU` is overridden; `fiber_step`, `tendon_force` and
    `solve_init_state` are abstract."""
    abstract = AbstractMTU.__abstractmethods__
    assert {"fiber_step", "tendon_force", "solve_init_state", "derivative", "outputs"} <= abstract
    concrete = [name for name, value in vars(AbstractMTU).items()
                if callable(value) and not name.startswith("__")
                and not getattr(value, "__isabstractmethod__", False)]
    assert "init_state" in concrete
    for cls in {getattr(build, "__self__", build) for build in FORMULATIONS.values()}:
        for name in concrete:
            assert getattr(cls, name) is getattr(AbstractMTU, name), (cls.__name__, name)


@pytest.mark.x64
def test_linearly_implicit_fiber_step_solves_the_linearised_system():
    """For l'' = -k l - c l' the step is (I - hJ)^-1 h f exactly."""
    k, c, h = jnp.array([4e4, 10.0]), jnp.array([300.0, 0.5]), 1e-3
    l, v = jnp.array([0.01, -0.2]), jnp.array([0.3, 1.0])
    new_l, new_v = linearly_implicit_fiber_step(lambda x, y: -k * x - c * y, l, v, h)
    for m in range(2):
        jacobian = np.array([[0.0, 1.0], [-k[m], -c[m]]])
        rate = np.array([v[m], -k[m] * l[m] - c[m] * v[m]])
        delta = np.linalg.solve(np.eye(2) - h * jacobian, h * rate)
        np.testing.assert_allclose([new_l[m] - l[m], new_v[m] - v[m]], delta, rtol=1e-13)


def test_make_mtu_takes_a_formulation_class_or_its_name():
    params = _params()
    for name, build in FORMULATIONS.items():
        cls = getattr(build, "__self__", build)
        by_class, by_name = make_mtu(params, cls), make_mtu(params, name)
        assert type(by_class) is cls
        assert jax.tree.structure(by_class) == jax.tree.structure(by_name)
        for a, b in zip(jax.tree.leaves(by_class), jax.tree.leaves(by_name), strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown formulation.*AbstractMTU subclass"):
        make_mtu(params, dict)
