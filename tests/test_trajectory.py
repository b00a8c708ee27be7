"""Trajectory optimisation on the tiny leg (float64): gradients, self-consistency, defects,
resume and input errors.

Two compiled programs serve every test: the single-shooting and the 2-segment multiple-shooting
evaluation (value, gradient and motion) of one 48-step problem with every objective term. The
problem's arrays (term weights, references, the first state, the starting controls) are inputs
of those programs, so tests swap them with `eqx.tree_at` without compiling again.
"""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from helpers import directional_derivatives
from test_plant import crouch_qpos, tiny_plant

from mskdiff import RESULTS
from mskdiff.models import tiny_leg_mjmodel
from mskdiff.solvers import (
    LBFGS,
    CoordinateTracking,
    Effort,
    ForwardSpeed,
    GroundReactionTracking,
    KnotControls,
    MetabolicEnergy,
    MultipleShooting,
    Periodicity,
    ResidualActuators,
    ResidualPenalty,
    SingleShooting,
    TrajectoryProblem,
    interpolation_matrix,
    objective_and_gradient,
    qpos_weights,
    solve_trajectory,
    variable_scale,
)
from mskdiff.solvers.trajectory import _continue_starts, nonfinite_gradient

N_STEPS = 48
N_SEGMENTS = 2
TERMS = ("tracking", "grf", "effort", "metabolic", "residual", "periodicity", "speed")
#: Weight of the tracking term [1/(rad^2 or m^2)] in the self-consistency tests.
TRACKING_WEIGHT = 1e4


def _problem(plant, state, controls=None):
    model = tiny_leg_mjmodel()
    horizon = N_STEPS * plant.dt
    frames = np.linspace(0.0, horizon, N_STEPS + 1)
    knots = np.linspace(0.0, horizon, 5)
    if controls is None:
        controls = KnotControls.from_excitations(knots, np.full((5, 4), 0.2), interpolation="cubic")
    grf = {"foot": np.tile([0.0, 0.0, 400.0], (N_STEPS + 1, 1))}
    objective = {
        "tracking": CoordinateTracking(frames, np.tile(crouch_qpos(), (N_STEPS + 1, 1)),
                                       coordinate_weights=qpos_weights(plant, {"height": 100.0})),
        "grf": GroundReactionTracking(frames, grf, {"foot": [model.geom("foot").id]},
                                      model.geom("floor").id),
        "effort": Effort(quantity="activation", power=3),
        "metabolic": MetabolicEnergy(),
        "residual": ResidualPenalty(),
        "periodicity": Periodicity(),
        "speed": ForwardSpeed(0.1, "height"),
    }
    residuals = ResidualActuators.on_joints(plant, ["height", "knee"], knots, [50.0, 10.0])
    return TrajectoryProblem(plant, state, horizon, controls, objective, residuals=residuals)


@pytest.fixture(scope="module")
def setup():
    """The plant and the problem (the foot starts on the floor)."""
    with jax.enable_x64(True):
        plant = tiny_plant()
        return plant, _problem(plant, plant.init(crouch_qpos(), activation=0.1))


def _weighted(problem, **weights):
    """`problem` with the named terms' weights (others 0)."""
    values = [jnp.asarray(weights.get(n, 0.0), dtype=float) for n in problem.term_names]
    return eqx.tree_at(lambda p: [t.weight for t in p.terms], problem, values)


def _rollout_starts(problem, variables):
    """`variables` with the segment starts on a rollout of its controls (as the solver does)."""
    for _ in range(N_SEGMENTS - 1):
        evaluation = objective_and_gradient(problem, variables)[2]
        variables = eqx.tree_at(lambda v: v.starts, variables,
                                _continue_starts(problem, variables.starts, evaluation))
    return variables


def _perturbed(variables, key):
    """Random excitation and residual knots: a generic point (not at rest, not symmetric)."""
    k1, k2 = jr.split(key)
    variables = eqx.tree_at(lambda v: v.residuals.values, variables,
                            0.3 * jr.normal(k1, variables.residuals.values.shape))
    return eqx.tree_at(lambda v: v.controls.values, variables,
                       variables.controls.values + 0.5 * jr.normal(k2, (5, 4)))


def test_interpolation_matrices():
    knots = np.array([0.0, 0.1, 0.25, 0.4])
    times = np.linspace(-0.05, 0.45, 51)
    for kind in ("linear", "cubic"):
        matrix = interpolation_matrix(knots, times, kind)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)  # constants stay
        np.testing.assert_allclose(interpolation_matrix(knots, knots, kind), np.eye(4), atol=1e-12)
        np.testing.assert_allclose(matrix @ (2.0 * knots + 1.0),  # lines are reproduced
                                   2.0 * np.clip(times, 0.0, 0.4) + 1.0, atol=1e-12)
    np.testing.assert_allclose(interpolation_matrix([0.2], times, "cubic"), 1.0)


def test_residual_forces_land_on_their_dofs():
    plant = tiny_plant()
    residuals = ResidualActuators.on_joints(plant, ["knee", "height"], [0.0, 0.1], [10.0, 50.0])
    assert residuals.dofs == (2, 0) and residuals.names == ("knee", "height")
    residuals = eqx.tree_at(lambda r: r.values, residuals, jnp.asarray([[1.0, -1.0], [3.0, 1.0]]))
    forces = residuals.forces(jnp.asarray(residuals.matrix([0.0, 0.05, 0.1])), plant.mjx_model.nv)
    np.testing.assert_allclose(forces, [[-50.0, 0.0, 10.0], [0.0, 0.0, 20.0], [50.0, 0.0, 30.0]])


@pytest.mark.x64
@pytest.mark.parametrize("term", [*TERMS, "all"])
def test_single_shooting_gradient_of_each_term(setup, term, getkey):
    """d(term)/d(excitation knots, residual knots) through the rollout, foot in contact."""
    _, problem = setup
    problem = _weighted(problem, **{n: 1.0 for n in TERMS} if term == "all" else {term: 1.0})
    variables = _perturbed(problem.variables(), getkey())
    value, grad, evaluation = objective_and_gradient(problem, variables)
    assert float(value) > 0 and int(evaluation.motion.trajectory.nonfinite_step) == -1
    f = lambda v: objective_and_gradient(problem, v)[0]
    for key in jr.split(getkey(), 2):
        ad, fd = directional_derivatives(f, variables, key=key, grad=grad)
        assert abs(ad - fd) <= 1e-5 * abs(fd), (term, ad, fd)


@pytest.mark.x64
def test_multiple_shooting_gradient(setup, getkey):
    """The augmented Lagrangian (every term, multipliers, penalty) w.r.t. knots and starts.

    The starts lie on a rollout of the controls: at states at rest in contact (qvel = 0) the
    friction solve has a kink and central differences disagree at first order.
    """
    _, problem = setup
    problem = _weighted(problem, **{n: 1.0 for n in TERMS})
    variables = _rollout_starts(problem, _perturbed(problem.variables(N_SEGMENTS), getkey()))
    multipliers = 0.1 * jr.normal(getkey(), ((N_SEGMENTS - 1) * 14,))
    penalty = 2.0
    variables = eqx.tree_at(lambda v: v.starts.qvel, variables,  # open the defects
                            variables.starts.qvel + 0.1)
    value, grad, evaluation = objective_and_gradient(problem, variables, multipliers, penalty)
    assert float(jnp.max(jnp.abs(evaluation.defects))) > 0.01
    f = lambda v: objective_and_gradient(problem, v, multipliers, penalty)[0]
    for key in jr.split(getkey(), 3):
        ad, fd = directional_derivatives(f, variables, key=key, grad=grad)
        assert abs(ad - fd) <= 1e-5 * abs(fd), (ad, fd)


@pytest.fixture(scope="module")
def tracking(setup):
    """A motion from known excitation knots (the foot leaves the floor and lands again), and
    the problem of tracking it from perturbed knots: tracking weighted so that it starts near
    1, a small residual penalty."""
    _, problem = setup
    with jax.enable_x64(True):
        knots = problem.controls.knot_times
        truth = 0.15 + 0.5 * np.asarray(jr.uniform(jr.key(5), (5, 4)), dtype=float)
        known = eqx.tree_at(lambda v: v.controls, problem.variables(),
                            KnotControls.from_excitations(knots, truth, interpolation="cubic"))
        motion = objective_and_gradient(_weighted(problem), known)[2].motion
        reference = jnp.concatenate([problem.initial_state.data.qpos[None],
                                     motion.trajectory.qpos])
        problem = _weighted(problem, tracking=TRACKING_WEIGHT, residual=1.0)
        problem = eqx.tree_at(lambda p: (p.terms[0].values, p.terms[0].coordinate_weights),
                              problem, (reference, jnp.ones(3)))
        start = np.clip(truth + 0.15 * np.asarray(jr.normal(jr.key(6), (5, 4))), 0.02, 0.98)
        problem = eqx.tree_at(lambda p: p.controls, problem, KnotControls.from_excitations(
            knots, start, interpolation="cubic"))
        return problem, motion.trajectory.qpos


def _error(solution, truth) -> float:
    """The largest qpos difference (rad or m) over the horizon."""
    return float(jnp.max(jnp.abs(solution.trajectory.qpos - truth)))


@pytest.mark.x64
def test_single_shooting_tracks_a_known_motion(tracking):
    """From excitation knots perturbed by 0.15 (sd), L-BFGS recovers the motion to 1e-4 (rad,
    m) at every step in 50 iterations (the excitations themselves are not unique: 4 muscles, 2
    joints)."""
    problem, truth = tracking
    solution = solve_trajectory(problem, max_steps=50, progress=False, throw=False)
    history = solution.stats["objective_history"]
    assert history[-1] < 1e-2 * history[0]
    assert _error(solution, truth) < 1e-4, _error(solution, truth)


@pytest.mark.x64
def test_multiple_shooting_tracks_a_known_motion_and_closes_its_defects(tracking):
    """Two segments from a rollout of the perturbed knots: the augmented Lagrangian ends
    successfully with every defect below 1e-6, the motion within 1e-3 (rad, m) of the known
    one."""
    problem, truth = tracking
    solution = solve_trajectory(problem, shooting=MultipleShooting(N_SEGMENTS), max_steps=100,
                                progress=False, defect_tolerance=1e-6)
    assert solution.result == RESULTS.successful
    assert solution.stats["max_defect"] <= 1e-6
    assert float(jnp.max(jnp.abs(solution.defects))) <= 1e-6
    assert _error(solution, truth) < 1e-3, _error(solution, truth)


@pytest.mark.x64
def test_scaled_variables_step_by_the_scaled_gradient(tracking, tmp_path):
    """With `scale`, the optimiser works on `x / scale`: one gradient-descent step of rate r
    moves `x` by `-r scale**2 grad f(x)` (controls scaled 0.5, residuals 2); a checkpoint
    written with one scale does not resume with another."""
    problem, _ = tracking
    variables = problem.variables()
    scale = variable_scale(variables, controls=0.5, residuals=2.0)
    grad = objective_and_gradient(problem, variables)[1]
    solution = solve_trajectory(problem, optimiser=optax.sgd(1e-3), max_steps=1, scale=scale,
                                checkpoint_path=tmp_path / "run.ckpt", progress=False,
                                throw=False, rtol=0.0, atol=0.0)
    for name, factor in (("controls", 0.25), ("residuals", 4.0)):
        moved = getattr(solution.value, name).values - getattr(variables, name).values
        np.testing.assert_allclose(moved, -1e-3 * factor * getattr(grad, name).values,
                                   rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="another problem"):
        solve_trajectory(problem, optimiser=optax.sgd(1e-3), max_steps=2, progress=False,
                         scale=variable_scale(variables), resume=True,
                         checkpoint_path=tmp_path / "run.ckpt")
    with pytest.raises(ValueError, match="positive and finite"):
        solve_trajectory(problem, scale=variable_scale(variables, controls=0.0))


@pytest.mark.x64
@pytest.mark.parametrize("shooting", ["single", "multiple"])
def test_resume_equals_uninterrupted(tracking, tmp_path, shooting):
    """Interrupted after 3 iterations (checkpoint every 2, and at the end), resumed to 7:
    bit-identical to 7 uninterrupted iterations. Single shooting with L-BFGS (its memory is
    checkpointed); multiple shooting with Adam, across multiplier updates."""
    problem, _ = tracking
    scheme, optimiser = (SingleShooting(), LBFGS()) if shooting == "single" else (
        MultipleShooting(N_SEGMENTS, update_every=2), optax.adam(1e-2))
    run = lambda steps, path, resume=False: solve_trajectory(
        problem, shooting=scheme, optimiser=optimiser, max_steps=steps, checkpoint_path=path,
        checkpoint_every=2, resume=resume, progress=False, throw=False, rtol=0.0, atol=0.0)
    straight = run(7, tmp_path / "straight.ckpt")
    first = run(3, tmp_path / "run.ckpt")
    assert first.stats["num_steps"] == 3 and (tmp_path / "run.ckpt").is_file()
    resumed = run(7, tmp_path / "run.ckpt", resume=True)
    assert resumed.stats["num_steps"] == 7
    same = lambda a, b: jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)
    same(eqx.filter(resumed.value, eqx.is_array), eqx.filter(straight.value, eqx.is_array))
    same(resumed.trajectory.qpos, straight.trajectory.qpos)
    for key in ("objective_history", "max_defect_history", "num_evaluations", "penalty",
                "multiplier_updates"):
        same(resumed.stats[key], straight.stats[key])
    assert resumed.terms == straight.terms
    if shooting == "multiple":  # updates at iterations 2, 4 and 6: the resume fell between
        assert straight.stats["multiplier_updates"] >= 1
    with pytest.raises(ValueError, match="another problem"):
        solve_trajectory(problem, shooting=scheme, optimiser=LBFGS(memory_size=3),
                         max_steps=9, checkpoint_path=tmp_path / "run.ckpt", resume=True,
                         progress=False)


@pytest.mark.x64
def test_nonfinite_state(setup):
    _, problem = setup
    state = problem.initial_state
    broken = eqx.tree_at(lambda p: p.initial_state.data.qvel, problem,
                         state.data.qvel.at[1].set(jnp.nan))
    solution = solve_trajectory(broken, max_steps=5, progress=False, throw=False)
    assert solution.result == RESULTS.nonfinite_state
    assert solution.stats["nonfinite_step"] == 0 and solution.stats["num_steps"] == 0
    with pytest.raises(eqx.EquinoxRuntimeError, match="non-finite"):
        solve_trajectory(broken, max_steps=5, progress=False)


@pytest.mark.x64
def test_nonfinite_gradients_are_located(setup):
    """A NaN or inf in the gradient ends the solve (`RESULTS.nonfinite_gradient`, not a
    stalled line search) and is reported by variable and knot or segment start."""
    _, problem = setup
    grad = problem.variables(2)
    assert nonfinite_gradient(grad) == {}
    grad = eqx.tree_at(lambda g: g.controls.values, grad, grad.controls.values.at[2, 1].set(jnp.nan))
    grad = eqx.tree_at(lambda g: g.starts.muscle, grad, grad.starts.muscle.at[0, 3].set(jnp.inf))
    assert nonfinite_gradient(grad) == {"controls.values": [2], "starts.muscle": [0]}


@pytest.mark.x64
def test_bad_inputs(setup):
    plant, problem = setup
    state, controls = problem.initial_state, problem.controls
    horizon = N_STEPS * plant.dt
    frames = np.linspace(0.0, horizon, 10)
    build = lambda objective, **kw: TrajectoryProblem(
        plant, state, kw.pop("horizon", horizon), kw.pop("controls", controls), objective, **kw)
    with pytest.raises(ValueError, match=re.escape("`controls.knot_times` must lie within")):
        build([Effort()], controls=KnotControls(np.zeros((2, 4)), [0.0, horizon + 0.01]))
    with pytest.raises(ValueError, match="`residuals.knot_times` must lie within"):
        build([Effort()], residuals=ResidualActuators.on_joints(plant, ["knee"], [-0.1, 0.0], 1.0))
    with pytest.raises(ValueError, match="`weight` of Effort must be >= 0"):
        Effort(weight=-1.0)
    with pytest.raises(ValueError, match="`coordinate_weights` of CoordinateTracking must be >= 0"):
        CoordinateTracking(frames, {"knee": np.zeros(10)}, coordinate_weights={"knee": -2.0})
    with pytest.raises(ValueError, match="has 4 columns but the model has nq = 3"):
        build([CoordinateTracking(frames, np.zeros((10, 4)))])
    with pytest.raises(ValueError, match=r"coordinates the model lacks: \['knee_angle_r'\].*"
                                         "map_motion"):
        build([CoordinateTracking(frames, {"knee": np.zeros(10), "knee_angle_r": np.zeros(10)})])
    with pytest.raises(ValueError, match=r"`CoordinateTracking.time` covers \[0, 0.05\] s but the "
                                         r"horizon is \[0, 0.096\] s"):
        build([CoordinateTracking(np.linspace(0.0, 0.05, 10), {"knee": np.zeros(10)})])
    with pytest.raises(ValueError, match=r"`GroundReactionTracking.time` covers"):
        build([GroundReactionTracking(frames, {"foot": np.zeros((10, 3))}, {"foot": [1]}, 0)],
              start_time=0.01)
    with pytest.raises(ValueError, match="whole number of plant steps"):
        build([Effort()], horizon=0.0975)
    with pytest.raises(ValueError, match="ResidualPenalty needs residual actuators"):
        build([ResidualPenalty()])
    with pytest.raises(ValueError, match="`ForwardSpeed.joint`: the model has no joint 'pelvis_tx'"):
        build([ForwardSpeed(1.0, "pelvis_tx")])
    with pytest.raises(ValueError, match="must divide the horizon's 48 steps"):
        solve_trajectory(problem, shooting=MultipleShooting(5), progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        solve_trajectory(problem, checkpoint_path="/nonexistent/run.ckpt", resume=True,
                         progress=False)
