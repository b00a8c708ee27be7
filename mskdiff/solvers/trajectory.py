r"""Trajectory optimisation: find the excitations (and residuals) that minimise an objective.

```python
problem = TrajectoryProblem(plant, plant.init(qpos0, qvel0), 0.5, KnotControls(...),
                            {"tracking": CoordinateTracking(time, qpos_ref), "effort": Effort(0.1)},
                            residuals=ResidualActuators.on_joints(plant, ["root"], knots, 100.0))
solution = solve_trajectory(problem, shooting=MultipleShooting(5), max_steps=500,
                            checkpoint_path="run.ckpt", checkpoint_every=10)
solution.trajectory, solution.terms, solution.defects, solution.value.controls
```

The loop runs on the host, one optimiser iteration at a time, so that it can show a progress
bar (the objective, its terms and the largest defect) and write checkpoints. Every evaluation
of the (augmented) objective is one call of one compiled program: `evaluate`'s rollout with
its reverse-mode gradient (checkpointed rollouts, `mskdiff.plant.rollout`), whose shapes are
fixed by the problem, so it compiles once per problem structure; arrays of the problem
(references, weights, the plant's parameters, the first state) are inputs, so changing them
does not recompile.

**Ending.** An iteration is converged when the objective it minimises changed by at most
`rtol * |value| + atol` (or the line search found no decrease); the solve succeeds when that
happens with every continuity defect within `defect_tolerance` (multiple shooting: see
`mskdiff.solvers.shooting` for the augmented Lagrangian), and stops with
`max_steps_reached` after `max_steps` iterations, `nonfinite_state` when the objective at
an accepted point is not finite (`stats["nonfinite_step"]`: the first step whose state went
NaN or inf), or `nonfinite_gradient` when the objective is finite there but its gradient is
not (`stats["nonfinite_gradient"]`: which variables, which knots or segment starts).

**Scaling.** The optimiser sees `variables / scale` (`variable_scale`: the typical size of
each variable's change, e.g. 1 for latent excitations and 0.01 rad for a start's `qpos`), so
that its first steps and L-BFGS's scalar initial Hessian suit variables of different units.
Scaling changes the path of the optimiser, not the problem or its compiled program.

**Checkpoints.** With `checkpoint_path`, the loop's whole state (variables, optimiser state,
multipliers, penalty, counters, histories) is written every `checkpoint_every` iterations and
at the end, atomically (a temporary file, then a rename). `resume=True` loads it and
continues: on a given machine the result is bit-identical to an uninterrupted run with the
same arguments (the evaluations are deterministic; the current point is re-evaluated on
resume).
"""

import dataclasses
import math
import os
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.flatten_util import ravel_pytree
from jaxtyping import PyTree

from .._solution import RESULTS, Solution, maybe_throw
from ..plant.rollout import PlantTrajectory
from .optimisers import LBFGS, AbstractOptimiser, OptaxOptimiser, Point
from .problem import (
    Evaluation,
    StartStates,
    TrajectoryProblem,
    TrajectoryVariables,
    evaluate,
)
from .shooting import AbstractShooting, MultipleShooting, SingleShooting

#: The default shooting scheme and optimiser of `solve_trajectory`.
DEFAULT_SHOOTING = SingleShooting()
DEFAULT_OPTIMISER = LBFGS()


class TrajectorySolution(Solution):
    """What `solve_trajectory` found: a `Solution` with the simulated horizon.

    `value` is the optimised `TrajectoryVariables`; `result` is `successful`,
    `max_steps_reached` or `nonfinite_state`; `stats` holds `num_steps` (iterations),
    `max_steps`, `num_evaluations`, `objective_history` (the objective at the start and after
    every iteration), `term_history` (name -> weighted values, likewise),
    `max_defect_history`, `max_defect`, `penalty` and `multiplier_updates` (augmented
    Lagrangian), `nonfinite_step` (-1 if none), `nonfinite_gradient` (variable path -> rows
    whose gradient is NaN or inf; empty if none) and `wall_time` [s] (this call).

    Attributes:
        trajectory: the rollout at the solution (segments joined), leading axis `n_steps`.
        excitation: the applied excitations [-], `(n_steps, n_muscles)`.
        residual_forces: the residual generalised forces [N or N m], `(n_steps, nv)`, or None.
        terms: name -> weighted value of each objective term.
        objective: their sum.
        defects: continuity defects, `(n_segments - 1, nq + nv + n_muscle_state)`.
    """

    trajectory: PlantTrajectory
    excitation: Array
    residual_forces: Array | None
    terms: dict[str, float]
    objective: float
    defects: Array


@eqx.filter_jit
def _value_and_grad(variables: TrajectoryVariables, problem: TrajectoryProblem,
                    multipliers: Array, penalty: Array):
    r"""$\mathcal L = f + \lambda^\top c + \frac\rho2 \lVert c \rVert^2$, its gradient, the evaluation."""

    def augmented(v):
        evaluation = evaluate(problem, v)
        c = evaluation.defects.ravel()
        return evaluation.objective + multipliers @ c + 0.5 * penalty * (c @ c), evaluation

    (value, evaluation), grad = eqx.filter_value_and_grad(augmented, has_aux=True)(variables)
    return value, grad, evaluation


def _on_device(tree: PyTree) -> PyTree:
    """`tree` with its arrays committed to the default device.

    JAX keys compiled programs on whether their inputs are committed, and the optimisers'
    outputs are (they come out of compiled programs): committing every input keeps one
    program for every evaluation.
    """
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.device_put(arrays, jax.devices()[0]), static)


def variable_scale(variables: TrajectoryVariables, *, controls: float = 1.0,
                   residuals: float = 1.0, qpos: float = 1.0, qvel: float = 1.0,
                   muscle: float = 1.0) -> TrajectoryVariables:
    """A `scale` for `solve_trajectory`: one value per kind of variable, in its units.

    Args:
        variables: the layout (`problem.variables(n_segments)`).
        controls: latent excitation knots [-].
        residuals: residual knots [-] (force / the actuator's scale).
        qpos: segment starts' positions [rad, m].
        qvel: segment starts' velocities [rad/s, m/s].
        muscle: segment starts' muscle states (their units: activation, m).
    """
    full = lambda x, value: jnp.full_like(x, value)
    scale = eqx.tree_at(lambda v: v.controls.values, variables,
                        full(variables.controls.values, controls))
    if variables.residuals is not None:
        scale = eqx.tree_at(lambda v: v.residuals.values, scale,
                            full(variables.residuals.values, residuals))
    if variables.starts is not None:
        starts = variables.starts
        scale = eqx.tree_at(lambda v: v.starts, scale, StartStates(
            full(starts.qpos, qpos), full(starts.qvel, qvel), full(starts.muscle, muscle)))
    return scale


@eqx.filter_jit
def _times(tree: PyTree, scale: PyTree, power: int) -> PyTree:
    """`tree * scale**power` on the inexact arrays (the rest of `tree` unchanged)."""
    arrays, static = eqx.partition(tree, eqx.is_inexact_array)
    factors = eqx.filter(scale, eqx.is_inexact_array)
    return eqx.combine(jax.tree.map(lambda x, f: x * f**power, arrays, factors), static)


def objective_and_gradient(problem: TrajectoryProblem, variables: TrajectoryVariables,
                           multipliers: Array | None = None, penalty=0.0
                           ) -> tuple[Array, TrajectoryVariables, Evaluation]:
    r"""The objective `solve_trajectory` minimises, its gradient and the evaluation.

    $\mathcal L = f + \lambda^\top c + \frac\rho2 \lVert c \rVert^2$ ($f$ alone for single
    shooting), by the same compiled program as the solver (for checks and custom loops).

    Args:
        problem: the problem.
        variables: where to evaluate (`problem.variables(n_segments)` gives the layout).
        multipliers: $\lambda$, `(n_defects,)` (default zero).
        penalty: $\rho$.
    """
    if multipliers is None:
        defects = problem.n_segments(variables) - 1
        starts = variables.starts
        multipliers = jnp.zeros(0 if not defects else defects * (
            starts.qpos.shape[1] + starts.qvel.shape[1] + starts.muscle.shape[1]))
    return _value_and_grad(*_on_device((variables, problem, jnp.asarray(multipliers, dtype=float),
                                        jnp.asarray(penalty, dtype=float))))


def _max_defect(evaluation: Evaluation) -> float:
    defects = np.asarray(evaluation.defects)
    return float(np.max(np.abs(defects))) if defects.size else 0.0


@eqx.filter_jit
def _continue_starts(problem: TrajectoryProblem, starts: StartStates,
                     evaluation: Evaluation) -> StartStates:
    """Every start after the first set to the end of the previous segment."""
    n_segments = starts.qpos.shape[0] + (not problem.free_initial_state)
    trajectory = evaluation.motion.trajectory
    ends = (jnp.arange(1, n_segments) * (problem.horizon.n_steps // n_segments)) - 1
    muscle = jax.vmap(lambda m: ravel_pytree(m)[0])(
        jax.tree.map(lambda x: x[ends], trajectory.muscle))
    new = StartStates(trajectory.qpos[ends], trajectory.qvel[ends], muscle)
    if problem.free_initial_state:
        return jax.tree.map(lambda a, b: jnp.concatenate([a[:1], b]), starts, new)
    return new


class _Checkpoint:
    """The loop's state on disk: a fingerprint, the history, then the pytree of the state."""

    def __init__(self, path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint

    def save(self, state: PyTree, history: np.ndarray) -> None:
        """Write atomically: a temporary file beside the checkpoint, then a rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "wb") as f:
            np.save(f, np.array(self.fingerprint))
            np.save(f, np.asarray(history, dtype=np.float64))
            eqx.tree_serialise_leaves(f, state)
        os.replace(temporary, self.path)

    def load(self, like: PyTree) -> tuple[PyTree, np.ndarray]:
        """`(state, history)`; raises when the file is missing or from another problem."""
        if not self.path.is_file():
            raise FileNotFoundError(f"`resume=True` but there is no checkpoint at {self.path}")
        with open(self.path, "rb") as f:
            stored = str(np.load(f))
            if stored != self.fingerprint:
                raise ValueError(f"the checkpoint {self.path} was written for another problem, "
                                 f"shooting scheme or optimiser:\n  stored: {stored}\n  now:    "
                                 f"{self.fingerprint}")
            history = np.load(f)
            return eqx.tree_deserialise_leaves(f, like), history


def _fingerprint(problem: TrajectoryProblem, variables: TrajectoryVariables,
                 optimiser: AbstractOptimiser, shooting: AbstractShooting,
                 scale: TrajectoryVariables | None) -> str:
    shapes = [(tuple(x.shape), str(x.dtype)) for x in jax.tree.leaves(variables)]
    config = repr(optimiser) if isinstance(optimiser, LBFGS) else type(optimiser).__name__
    scaled = "" if scale is None else "; scaled " + str(
        [float(np.asarray(x).ravel()[0]) for x in jax.tree.leaves(eqx.filter(
            scale, eqx.is_inexact_array))])
    return (f"{config}; {shooting!r}; {problem.horizon}; terms {problem.term_names}; "
            f"variables {shapes}{scaled}")


class _LoopState(eqx.Module):
    """Everything the host loop carries between iterations (what a checkpoint holds)."""

    variables: TrajectoryVariables
    optimiser_state: PyTree
    multipliers: Array
    penalty: float
    iteration: int
    inner_steps: int
    defect_at_update: float
    evaluations: int
    updates: int
    converged: bool
    nonfinite: bool


def _finite(point: Point) -> bool:
    """The point's value and every gradient entry are finite."""
    return math.isfinite(point.value) and not nonfinite_gradient(point.grad)


def nonfinite_gradient(grad: TrajectoryVariables) -> dict[str, list[int]]:
    """Where a gradient is not finite (empty when it is).

    Variable path -> the rows (knots, segment starts) with a NaN or inf entry.
    """
    where = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(eqx.filter(grad, eqx.is_array))[0]:
        bad = ~np.isfinite(np.asarray(leaf))
        if bad.any():
            rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1)) if bad.ndim else []
            where[jax.tree_util.keystr(path).lstrip(".")] = [int(r) for r in rows]
    return where


def _history_row(point: Point) -> list[float]:
    evaluation = point.aux
    return [float(evaluation.objective), _max_defect(evaluation),
            *(float(t) for t in evaluation.terms)]


def _show(bar, problem: TrajectoryProblem, point: Point) -> None:
    evaluation = point.aux
    shown = {"objective": f"{float(evaluation.objective):.4g}"}
    shown.update({n: f"{float(t):.3g}" for n, t in zip(problem.term_names, evaluation.terms,
                                                       strict=True)})
    shown["defect"] = f"{_max_defect(evaluation):.2g}"
    bar.set_postfix(shown, refresh=False)
    bar.update(1)


def solve_trajectory(problem: TrajectoryProblem, *,
                     shooting: AbstractShooting = DEFAULT_SHOOTING,
                     optimiser: AbstractOptimiser | optax.GradientTransformation = DEFAULT_OPTIMISER,
                     max_steps: int = 500, rtol: float = 1e-6, atol: float = 1e-12,
                     defect_tolerance: float = 1e-6, init: TrajectoryVariables | None = None,
                     checkpoint_path: str | os.PathLike | None = None,
                     checkpoint_every: int = 10, resume: bool = False, progress: bool = True,
                     throw: bool = True, scale: TrajectoryVariables | None = None
                     ) -> TrajectorySolution:
    """Optimise a trajectory problem (module docstring).

    Args:
        problem: the problem.
        shooting: `SingleShooting()` or `MultipleShooting(n_segments, ...)`.
        optimiser: `LBFGS()` (default: see `docs/trajectory.md` for the measurements behind
            it), an `OptaxOptimiser`, or an optax transformation (wrapped in one).
        max_steps: the most optimiser iterations (in total, over resumes).
        rtol: relative change of the objective below which an iteration is converged.
        atol: absolute change likewise (for objectives that go to zero).
        defect_tolerance: the largest continuity defect (state units) of a solution.
        init: starting variables (default: `problem.variables(n_segments)`, the segment
            starts from a rollout of the starting controls).
        checkpoint_path: file to write the loop's state to (None: no checkpoints).
        checkpoint_every: iterations between checkpoints.
        resume: continue from the checkpoint at `checkpoint_path` (it must exist and belong
            to this problem, shooting scheme and optimiser).
        progress: show a `tqdm` progress bar.
        throw: raise `EquinoxRuntimeError` (the result's message) unless successful.
        scale: the optimiser works on `variables / scale` (module docstring;
            `variable_scale` builds one); None: unscaled.

    Returns:
        A `TrajectorySolution`.
    """
    start = time.perf_counter()
    if isinstance(optimiser, optax.GradientTransformation):
        optimiser = OptaxOptimiser(optimiser)
    if resume and checkpoint_path is None:
        raise ValueError("`resume=True` needs a `checkpoint_path`")
    if checkpoint_every < 1:
        raise ValueError(f"`checkpoint_every` must be >= 1, got {checkpoint_every}")
    variables = problem.variables(shooting.n_segments) if init is None else init
    if problem.n_segments(variables) != shooting.n_segments:
        raise ValueError(f"`init` has {problem.n_segments(variables)} segment(s) but the shooting "
                         f"scheme has {shooting.n_segments}")
    if scale is not None:
        _check_scale(scale, variables)
    loop = _Loop(_on_device(problem), shooting, optimiser, rtol, atol, defect_tolerance,
                 None if scale is None else _on_device(scale))
    state = loop.initial_state(variables)
    checkpoint = None if checkpoint_path is None else _Checkpoint(
        checkpoint_path, _fingerprint(problem, variables, optimiser, shooting, scale))
    if resume:
        state, history = checkpoint.load(state)
        history, point = [list(row) for row in history], loop.evaluate(state.variables, state)
    else:
        state, point = loop.start(state, sweeps=init is None)
        history = [_history_row(point)]

    from tqdm.auto import tqdm

    with tqdm(total=max_steps, initial=state.iteration, desc="trajectory", disable=not progress,
              leave=False) as bar:
        while not (state.converged or state.nonfinite) and state.iteration < max_steps:
            state, point = loop.iterate(state, point, history)
            _show(bar, problem, point)
            if checkpoint is not None and state.iteration % checkpoint_every == 0:
                checkpoint.save(state, np.asarray(history))
    if checkpoint is not None:
        checkpoint.save(state, np.asarray(history))
    return _solution(loop.problem, state, point, np.asarray(history), max_steps, throw,
                     time.perf_counter() - start)


def _check_scale(scale: TrajectoryVariables, variables: TrajectoryVariables) -> None:
    """`scale` must have `variables`' layout and be positive and finite."""
    leaves = lambda t: jax.tree.leaves(eqx.filter(t, eqx.is_inexact_array))
    ours, theirs = leaves(scale), leaves(variables)
    if [np.shape(x) for x in ours] != [np.shape(x) for x in theirs]:
        raise ValueError("`scale` must have the variables' layout (build it with "
                         "`variable_scale(problem.variables(n_segments), ...)`)")
    if not all(bool(np.all(np.isfinite(x) & (np.asarray(x) > 0))) for x in ours):
        raise ValueError("`scale` must be positive and finite")


@dataclasses.dataclass(frozen=True)
class _Loop:
    """The host loop's fixed parts: evaluation, the first point, one iteration."""

    problem: TrajectoryProblem
    shooting: AbstractShooting
    optimiser: AbstractOptimiser
    rtol: float
    atol: float
    defect_tolerance: float
    scale: TrajectoryVariables | None = None

    @property
    def multiple(self) -> bool:
        return isinstance(self.shooting, MultipleShooting)

    def initial_state(self, variables: TrajectoryVariables) -> _LoopState:
        """Iteration 0 at `variables`: zero multipliers, the first penalty."""
        starts = variables.starts
        n_defects = (self.shooting.n_segments - 1) * (
            starts.qpos.shape[1] + starts.qvel.shape[1] + starts.muscle.shape[1]
        ) if self.multiple else 0
        return _LoopState(variables, self.init_optimiser(variables), jnp.zeros(n_defects),
                          self.shooting.penalty if self.multiple else 0.0, 0, 0, math.inf, 0, 0,
                          False, False)

    def evaluate(self, variables: TrajectoryVariables, state: _LoopState) -> Point:
        """The augmented objective at `variables` with the state's multipliers and penalty."""
        variables = _on_device(variables)
        value, grad, evaluation = objective_and_gradient(self.problem, variables,
                                                         state.multipliers, state.penalty)
        return Point(variables, float(value), grad, evaluation)

    def start(self, state: _LoopState, sweeps: bool) -> tuple[_LoopState, Point]:
        """The first point; with `sweeps`, segment starts continued along a rollout."""
        point = self.evaluate(state.variables, state)
        n_sweeps = self.shooting.n_segments - 1 if self.multiple and sweeps else 0
        for _ in range(n_sweeps):
            starts = _continue_starts(self.problem, point.variables.starts, point.aux)
            point = self.evaluate(dataclasses.replace(point.variables, starts=starts), state)
        state = dataclasses.replace(state, variables=point.variables,
                                    optimiser_state=self.init_optimiser(point.variables),
                                    evaluations=1 + n_sweeps, nonfinite=not _finite(point))
        return state, point

    def init_optimiser(self, variables: TrajectoryVariables) -> PyTree:
        """The optimiser's (re)started state at `variables` (scaled like its steps)."""
        return self.optimiser.init(variables if self.scale is None else
                                   _times(variables, self.scale, -1))

    def scaled(self, point: Point, power: int = -1) -> Point:
        """`point` in the optimiser's variables (`power=-1`) or back (`power=1`)."""
        if self.scale is None:
            return point
        return Point(_times(point.variables, self.scale, power), point.value,
                     _times(point.grad, self.scale, -power), point.aux)

    def step(self, state: _LoopState, point: Point) -> tuple[Point, PyTree, int, bool]:
        """The optimiser's step, on the scaled variables when there is a `scale`."""
        evaluate = lambda u: self.scaled(self.evaluate(
            u if self.scale is None else _times(u, self.scale, 1), state))
        new, optimiser_state, used, stalled = self.optimiser.step(
            evaluate, self.scaled(point), state.optimiser_state)
        return self.scaled(new, 1), optimiser_state, used, stalled

    def iterate(self, state: _LoopState, point: Point, history: list
                ) -> tuple[_LoopState, Point]:
        """One optimiser step, its history row, then the convergence and multiplier logic."""
        new, optimiser_state, used, stalled = self.step(state, point)
        converged = stalled or abs(new.value - point.value) <= (self.rtol * abs(point.value)
                                                                 + self.atol)
        state = dataclasses.replace(
            state, variables=new.variables, optimiser_state=optimiser_state,
            iteration=state.iteration + 1, inner_steps=state.inner_steps + 1,
            evaluations=state.evaluations + used, nonfinite=not _finite(new))
        history.append(_history_row(new))
        defect = history[-1][1]
        if state.nonfinite:
            return state, new
        if not self.multiple:
            return dataclasses.replace(state, converged=converged), new
        if converged and defect <= self.defect_tolerance:
            return dataclasses.replace(state, converged=True), new
        if converged or state.inner_steps >= self.shooting.update_every:
            state = _update_multipliers(state, self.shooting, new, defect, self.init_optimiser)
            new = self.evaluate(state.variables, state)
            state = dataclasses.replace(state, evaluations=state.evaluations + 1)
        return state, new


def _update_multipliers(state: _LoopState, shooting: MultipleShooting, point: Point,
                        defect: float, init_optimiser) -> _LoopState:
    """The augmented-Lagrangian update (`mskdiff.solvers.shooting`); the optimiser restarts.

    Multipliers step when the largest defect fell below `required_decrease` times its value
    at the last multiplier step; otherwise the penalty grows.
    """
    if defect <= shooting.required_decrease * state.defect_at_update:
        state = dataclasses.replace(
            state, multipliers=state.multipliers + state.penalty * point.aux.defects.ravel(),
            defect_at_update=defect, updates=state.updates + 1)
    else:
        state = dataclasses.replace(
            state, penalty=min(state.penalty * shooting.penalty_growth, shooting.max_penalty))
    return dataclasses.replace(state, inner_steps=0,
                               optimiser_state=init_optimiser(state.variables))


def _solution(problem: TrajectoryProblem, state: _LoopState, point: Point, history: np.ndarray,
              max_steps: int, throw: bool, wall_time: float) -> TrajectorySolution:
    """The `TrajectorySolution` at the last point."""
    evaluation: Evaluation = point.aux
    trajectory = evaluation.motion.trajectory
    bad_gradient = nonfinite_gradient(point.grad) if math.isfinite(point.value) else {}
    if state.nonfinite:
        result = RESULTS.nonfinite_gradient if bad_gradient else RESULTS.nonfinite_state
    elif state.converged:
        result = RESULTS.successful
    else:
        result = RESULTS.max_steps_reached
    variables = state.variables
    forces = (None if variables.residuals is None else variables.residuals.forces(
        problem.residual_matrix, problem.plant.mjx_model.nv))
    stats = {"num_steps": state.iteration, "max_steps": max_steps,
             "num_evaluations": state.evaluations, "objective_history": history[:, 0],
             "term_history": {n: history[:, 2 + k] for k, n in enumerate(problem.term_names)},
             "max_defect_history": history[:, 1], "max_defect": float(history[-1, 1]),
             "penalty": state.penalty, "multiplier_updates": state.updates,
             "nonfinite_step": int(trajectory.nonfinite_step),
             "nonfinite_gradient": bad_gradient, "wall_time": wall_time}
    maybe_throw(variables, result, throw)
    return TrajectorySolution(
        value=variables, result=result, stats=stats, trajectory=trajectory,
        excitation=trajectory.excitation, residual_forces=forces,
        terms={n: float(t) for n, t in zip(problem.term_names, evaluation.terms, strict=True)},
        objective=float(evaluation.objective), defects=evaluation.defects)
