r"""A trajectory problem and its evaluation: controls -> rollout (one or many segments) -> terms.

`TrajectoryProblem` holds the plant, the first state, the horizon, the control
parameterisation (with the starting guess), the objective terms and optional residual
actuators. `TrajectoryVariables` are the decision variables: the excitation knots, the
residual knots and, with multiple shooting, the start state of every segment (`StartStates`).
`evaluate(problem, variables)` simulates and returns the objective, each weighted term and the
continuity defects.

**Segments.** With $S$ segments of $L = T/S$ steps, segment $s$ starts at step $sL$ from its
own state $x_s$ and all segments advance together in one batched (`vmap`) rollout on an
accelerator; on CPU one after the other (`SEGMENTS_TOGETHER_ON_CPU`). The
defects are $c_s = x_s^\mathrm{end} - x_{s+1}$ for $s < S - 1$, with $x = (q, v, m)$: `qpos`
(quaternions compared as 4-vectors, the start's normalised), `qvel` and every muscle-state
component. Segment 0 starts from the problem's `initial_state` unless `free_initial_state`.
A start state is the first state's MJX data with `qpos`, `qvel` and `time` replaced (the step
recomputes every position-dependent quantity from them); its constraint-solver warm start is
the first state's, so a segment's first Newton iterations start from there rather than from
the previous segment's last acceleration (a difference of the solve's residual after
`opt.iterations` iterations).
"""

import dataclasses
import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree

from ..integrate.integrators import AbstractIntegrator
from ..plant.mujoco_muscles import MuJoCoMusclePlant
from ..plant.plant import DEFAULT_INTEGRATOR, AbstractPlant, PlantState
from ..plant.rollout import PlantTrajectory, rollout
from ._joints import quaternion_starts
from .controls import KnotControls, ResidualActuators
from .objectives import AbstractRecordingTerm, AbstractTerm, Horizon, SimulatedMotion


class StartStates(eqx.Module):
    """Free start states of shooting segments (decision variables), one row per segment.

    Attributes:
        qpos: generalised positions, `(n, nq)` (quaternions are normalised where used).
        qvel: generalised velocities, `(n, nv)`.
        muscle: the muscle state's leaves, flattened (`jax.flatten_util.ravel_pytree`),
            `(n, n_muscle_state)`.
    """

    qpos: Array
    qvel: Array
    muscle: Array

    @classmethod
    def from_states(cls, states: PlantState) -> "StartStates":
        """From a batch of plant states (leading axis: segment), e.g. `plant.init_batch(...)`."""
        flat = jax.vmap(lambda m: ravel_pytree(m)[0])(states.muscle)
        return cls(states.data.qpos, states.data.qvel, flat)


class TrajectoryVariables(eqx.Module):
    """The decision variables: every inexact array leaf is optimised.

    Attributes:
        controls: excitation knots.
        residuals: residual-actuator knots, or None.
        starts: segment start states, or None (single shooting from a fixed first state).
    """

    controls: KnotControls
    residuals: ResidualActuators | None
    starts: StartStates | None


class Evaluation(eqx.Module):
    """What one evaluation gives: the objective, each weighted term, defects and the motion.

    Attributes:
        objective: the sum of the weighted terms.
        terms: each term's weighted value, in the problem's order.
        defects: continuity defects, `(n_segments - 1, nq + nv + n_muscle_state)`.
        motion: the simulated motion (`SimulatedMotion`).
    """

    objective: Array
    terms: tuple[Array, ...]
    defects: Array
    motion: SimulatedMotion


def _named_terms(objective) -> tuple[tuple[str, ...], tuple[AbstractTerm, ...]]:
    """Names and terms of a mapping, or of a sequence (named after their classes)."""
    if isinstance(objective, Mapping):
        items = list(objective.items())
    else:
        items, counts = [], {}
        for term in objective:
            base = type(term).__name__
            counts[base] = counts.get(base, 0) + 1
            items.append((base if counts[base] == 1 else f"{base}_{counts[base]}", term))
    if not items:
        raise ValueError("`objective` has no terms")
    bad = [name for name, term in items if not isinstance(term, AbstractTerm)]
    if bad:
        raise TypeError(f"`objective` entries {bad} are not objective terms (AbstractTerm)")
    return tuple(n for n, _ in items), tuple(t for _, t in items)


class TrajectoryProblem(eqx.Module):
    """A trajectory-optimisation problem (module docstring).

    Attributes:
        plant: the plant.
        initial_state: the state at the start of the horizon (e.g. `plant.init(qpos, qvel)`).
        controls: excitation knots; their values are the starting guess.
        residuals: residual actuators (their values the starting guess), or None.
        term_names: a name per objective term.
        terms: the objective terms.
        excitation_matrix: interpolation of the excitation knots at the step starts, `(T, K)`.
        residual_matrix: the same for the residual knots, or None.
        horizon: the time grid.
        free_initial_state: whether the first state is a decision variable too.
        integrator: the muscle integrator of the plant steps.
    """

    plant: AbstractPlant
    initial_state: PlantState
    controls: KnotControls
    residuals: ResidualActuators | None
    term_names: tuple[str, ...] = eqx.field(static=True)
    terms: tuple[AbstractTerm, ...]
    excitation_matrix: Array
    residual_matrix: Array | None
    horizon: Horizon = eqx.field(static=True)
    free_initial_state: bool = eqx.field(static=True)
    integrator: AbstractIntegrator

    def __init__(self, plant: AbstractPlant, initial_state: PlantState, horizon: float,
                 controls: KnotControls, objective: Mapping[str, AbstractTerm] | Sequence,
                 *, residuals: ResidualActuators | None = None, start_time: float = 0.0,
                 free_initial_state: bool = False,
                 integrator: AbstractIntegrator = DEFAULT_INTEGRATOR):
        """Build and check a problem.

        Args:
            plant: the plant.
            initial_state: the first state (unbatched).
            horizon: duration [s], a whole number of plant steps.
            controls: excitation knots within `[0, horizon]`, one column per muscle.
            objective: name -> term, or a sequence of terms (named after their classes).
            residuals: residual actuators with knots within `[0, horizon]`.
            start_time: time [s] of the first state on the references' clock.
            free_initial_state: optimise the first state too (e.g. with `Periodicity`).
            integrator: the muscle integrator of the plant steps.

        Raises:
            ValueError: naming the field: a horizon that is not a whole number of steps,
                knots outside the horizon, controls for another number of muscles, a term
                that does not fit the model or whose reference does not cover the horizon.
        """
        dt = plant.dt
        n_steps = round(horizon / dt)
        if n_steps < 1 or abs(n_steps * dt - horizon) > 1e-9 * max(1.0, horizon):
            raise ValueError(f"`horizon` must be a positive whole number of plant steps of "
                             f"{dt:g} s, got {horizon!r} s")
        duration = n_steps * dt
        if jnp.shape(initial_state.data.qpos) != (plant.mjx_model.nq,):
            raise ValueError(f"`initial_state` must be one (unbatched) state, qpos shape "
                             f"({plant.mjx_model.nq},); got {jnp.shape(initial_state.data.qpos)}")
        controls.check_within(duration, "controls")
        if controls.values.shape[1] != plant.n_muscles:
            raise ValueError(f"`controls` must have one column per muscle ({plant.n_muscles}), "
                             f"got values of shape {controls.values.shape}")
        step_starts = np.arange(n_steps) * dt
        self.residual_matrix = None
        if residuals is not None:
            residuals.check_within(duration, "residuals")
            if max(residuals.dofs) >= plant.mjx_model.nv:
                raise ValueError(f"`residuals.dofs` must be qvel indices below nv = "
                                 f"{plant.mjx_model.nv}, got {residuals.dofs}")
            self.residual_matrix = jnp.asarray(residuals.matrix(step_starts), dtype=float)
        self.horizon = Horizon(n_steps, dt, float(start_time),
                               0 if residuals is None else len(residuals.dofs))
        self.term_names, self.terms = _named_terms(objective)
        for term in self.terms:
            term.check(plant, self.horizon)
        self.plant = plant
        self.initial_state = initial_state
        self.controls = controls
        self.residuals = residuals
        self.excitation_matrix = jnp.asarray(controls.matrix(step_starts), dtype=float)
        self.free_initial_state = bool(free_initial_state)
        self.integrator = integrator

    def variables(self, n_segments: int = 1) -> TrajectoryVariables:
        """The starting guess: the problem's knots; every free start at the first state.

        Raises:
            ValueError: `n_segments` does not divide the horizon's steps.
        """
        n_steps = self.horizon.n_steps
        if n_segments < 1 or n_steps % n_segments:
            raise ValueError(f"`n_segments` must divide the horizon's {n_steps} steps, got "
                             f"{n_segments}")
        n_free = n_segments - 1 + self.free_initial_state
        starts = None
        if n_free:
            one = StartStates.from_states(jax.tree.map(lambda x: x[None], self.initial_state))
            starts = jax.tree.map(lambda x: jnp.repeat(x, n_free, axis=0), one)
        return TrajectoryVariables(self.controls, self.residuals, starts)

    def n_segments(self, variables: TrajectoryVariables) -> int:
        """Shooting segments of `variables` (from the number of free starts)."""
        if variables.starts is None:
            return 1
        return variables.starts.qpos.shape[0] + (not self.free_initial_state)


def _start_state(problem: TrajectoryProblem, qpos: Array, qvel: Array, muscle: Array,
                 time: Array) -> PlantState:
    """A plant state from a free start's vectors (module docstring)."""
    template = problem.initial_state
    for i in quaternion_starts(problem.plant.mjx_model):
        qpos = qpos.at[i:i + 4].set(qpos[i:i + 4] / jnp.linalg.norm(qpos[i:i + 4]))
    muscle = ravel_pytree(template.muscle)[1](muscle)
    data = template.data.replace(qpos=qpos, qvel=qvel, time=time)
    if isinstance(problem.plant, MuJoCoMusclePlant):  # MuJoCo's muscles keep their state in act
        data = data.replace(act=data.act.at[problem.plant.actuator_ids].set(muscle.activation))
    return PlantState(data, muscle)


def _segment_starts(problem: TrajectoryProblem, starts: StartStates | None,
                    n_segments: int) -> PlantState:
    """Every segment's start state; a leading segment axis when there are several."""
    if starts is None:
        return problem.initial_state
    length = problem.horizon.n_steps // n_segments
    first = n_segments - starts.qpos.shape[0]  # 1 when the first state is fixed
    times = (problem.initial_state.data.time
             + problem.horizon.dt * length * jnp.arange(first, n_segments))
    free = jax.vmap(lambda q, v, m, t: _start_state(problem, q, v, m, t))(
        starts.qpos, starts.qvel, starts.muscle, times)
    if n_segments == 1:
        return jax.tree.map(lambda x: x[0], free)
    if first:
        return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), problem.initial_state,
                            free)
    return free


def _recorder(terms: tuple[AbstractTerm, ...]):
    """The rollout's per-step record: each recording term's record, None for the others."""
    if not any(isinstance(t, AbstractRecordingTerm) for t in terms):
        return None
    return lambda plant, state: tuple(t.record(plant, state) if isinstance(
        t, AbstractRecordingTerm) else None for t in terms)


def _join_segments(trajectory: PlantTrajectory, length: int) -> PlantTrajectory:
    """A batched trajectory `(L, S, ...)` as one `(S * L, ...)`, segment after segment."""
    fields = {f.name: getattr(trajectory, f.name) for f in dataclasses.fields(trajectory)}
    bad = fields.pop("nonfinite_step")
    join = lambda x: jnp.moveaxis(x, 1, 0).reshape(-1, *x.shape[2:])
    first = jnp.where(bad >= 0, length * jnp.arange(bad.shape[0]) + bad, jnp.iinfo(bad.dtype).max)
    return PlantTrajectory(**jax.tree.map(join, fields),
                           nonfinite_step=jnp.where(jnp.any(bad >= 0), jnp.min(first), -1))


def _state_vectors(qpos: Array, qvel: Array, muscle) -> Array:
    """`(q, v, m)` as one vector per row: muscle leaves flattened like `StartStates`."""
    flat = jax.vmap(lambda m: ravel_pytree(m)[0])(muscle)
    return jnp.concatenate([qpos, qvel, flat], axis=1)


def _defects(trajectory: PlantTrajectory, starts: PlantState, n_segments: int) -> Array:
    """End of each segment minus the start of the next, `(n_segments - 1, n_state)`."""
    if n_segments == 1:
        return jnp.zeros((0, 0))
    length = trajectory.qpos.shape[0] // n_segments
    ends = jnp.arange(1, n_segments) * length - 1
    end = _state_vectors(trajectory.qpos[ends], trajectory.qvel[ends],
                         jax.tree.map(lambda x: x[ends], trajectory.muscle))
    nxt = _state_vectors(starts.data.qpos[1:], starts.data.qvel[1:],
                         jax.tree.map(lambda x: x[1:], starts.muscle))
    return end - nxt


#: Segments vectorised together on CPU. One: batching gains nothing there (myolegs26 steps at
#: 1,564 env-steps/s alone and 1,029 at batch 8, `benchmarks/plant_models_cpu.json`), and
#: batched LAPACK kernels of jaxlib 0.10.2 deadlock on a 2-thread pool (`mskdiff.plant.batching`;
#: seen with 24 segments in groups of 7, in the batched triangular solve:
#: `benchmarks/trajopt_segments_deadlock_stacks.txt`).
SEGMENTS_TOGETHER_ON_CPU = 1


def segment_group() -> int | None:
    """Segments per `vmap` group of the batched rollout: all, or `SEGMENTS_TOGETHER_ON_CPU`."""
    return SEGMENTS_TOGETHER_ON_CPU if jax.default_backend() == "cpu" else None


def checkpoint_segment(n_steps: int) -> int:
    """Steps per checkpointed rollout segment: the divisor of `n_steps` nearest its square root.

    Memory stays ~sqrt(T) states, and with no remainder the rollout has one scan body to
    compile instead of two (`mskdiff.plant.rollout`); without a divisor between half and
    twice the root (e.g. a prime), `ceil(sqrt(n_steps))`.
    """
    root = math.sqrt(n_steps)
    divisors = [d for d in range(1, n_steps + 1) if n_steps % d == 0 and root / 2 <= d <= 2 * root]
    return min(divisors, key=lambda d: abs(d - root)) if divisors else math.ceil(root)


def simulate(problem: TrajectoryProblem, variables: TrajectoryVariables
             ) -> tuple[SimulatedMotion, Array]:
    """The motion over the horizon and the continuity defects (module docstring)."""
    plant, horizon = problem.plant, problem.horizon
    n_segments = problem.n_segments(variables)
    excitations = variables.controls.excitations(problem.excitation_matrix)
    forces, residual = None, jnp.zeros((horizon.n_steps, 0))
    if variables.residuals is not None:
        residual = variables.residuals.controls(problem.residual_matrix)
        forces = variables.residuals.forces(problem.residual_matrix, plant.mjx_model.nv)
    starts = _segment_starts(problem, variables.starts, n_segments)
    length = horizon.n_steps // n_segments
    options = dict(integrator=problem.integrator, throw=False, record=_recorder(problem.terms),
                   segment_length=checkpoint_segment(length))
    if n_segments == 1:
        _, trajectory = rollout(plant, starts, excitations, applied_forces=forces, **options)
    else:
        batch = lambda x: None if x is None else jnp.moveaxis(
            x.reshape(n_segments, length, -1), 0, 1)
        _, trajectory = rollout(plant, starts, batch(excitations),
                                applied_forces=batch(forces), env_group=segment_group(),
                                **options)
        trajectory = _join_segments(trajectory, length)
    first = starts if n_segments == 1 else jax.tree.map(lambda x: x[0], starts)
    time = horizon.start_time + horizon.dt * jnp.arange(1, horizon.n_steps + 1)
    motion = SimulatedMotion(time, horizon.dt, first.data.qpos, first.data.qvel, first.muscle,
                             trajectory, residual)
    return motion, _defects(trajectory, starts, n_segments)


def evaluate(problem: TrajectoryProblem, variables: TrajectoryVariables) -> Evaluation:
    """Simulate and evaluate every term (weighted) and the defects."""
    motion, defects = simulate(problem, variables)
    records = motion.trajectory.extra or (None,) * len(problem.terms)
    terms = tuple(term.weight * term.value(problem.plant, dataclasses.replace(motion,
                                                                             record=record))
                  for term, record in zip(problem.terms, records, strict=True))
    return Evaluation(sum(terms[1:], terms[0]), terms, defects, motion)
