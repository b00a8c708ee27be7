r"""Objective terms of a trajectory problem: each a weighted, time-normalised scalar.

A term reads the simulated motion (`SimulatedMotion`: the `PlantTrajectory` of every plant step,
the first state, the residual controls and anything the term asked the rollout to record) and
returns its value $J$; the problem adds $w J$ with the term's `weight` $w \ge 0$. Sums over the
$T$ steps are means, $\frac1T \sum_k$, so a weight means the same for any horizon. With $q$,
$v$ the simulated `qpos`/`qvel` after step $k$ (time $t_{k+1}$) and hats for references:

| term | $J$ | units of $J$ |
|---|---|---|
| `CoordinateTracking` | $\frac1T\sum_k \sum_j c_j (q_j - \hat q_j)^2$ | $c_j$ [1/rad$^2$ or 1/m$^2$] |
| `GroundReactionTracking` | $\frac1T\sum_k \sum_f \lvert F_f - \hat F_f \rvert^2 / (m g)^2$ | [-] |
| `Effort` | $\frac1T\sum_k \sum_i x_i^p$, $x$ excitation or activation | [-] |
| `MetabolicEnergy` | $\frac1T\sum_k \sum_i \dot E_i / m$ | [W/kg] |
| `ResidualPenalty` | $\frac1T\sum_k \sum_d r_d^2$, $r_d = \tau_d / s_d$ | [-] |
| `Periodicity` | $\lVert q_T - q_0 \rVert^2 + \lVert v_T - v_0 \rVert^2$ (+ muscle states) | mixed |
| `ForwardSpeed` | $\left((x_T - x_0)/(T \Delta t) - v^*\right)^2$ | [m$^2$/s$^2$] |

References are sampled at the plant's step times by linear interpolation inside the compiled
program. Each term's `check(plant, horizon)` validates it against the model and the horizon
when the problem is built (names, shapes, a reference that covers the horizon), so errors name
the term's field before anything compiles.
"""

import abc
import dataclasses
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree
from jaxtyping import PyTree

from .._checks import is_concrete
from ..plant.energetics import DEFAULT_METABOLIC_MODEL, metabolic_rates
from ..plant.ground_reactions import ground_reactions
from ..plant.plant import AbstractPlant, MJXPlant, PlantState
from ..plant.rollout import PlantTrajectory
from ._joints import (
    FREE,
    HINGE,
    SLIDE,
    joint_id,
    joint_names,
    joint_type,
    qpos_ids,
    qvel_ids,
    scalar_joints,
)

#: Quantities `Effort` can penalise.
EFFORT_QUANTITIES = ("excitation", "activation")


@dataclasses.dataclass(frozen=True)
class Horizon:
    """The time grid of a problem.

    Attributes:
        n_steps: plant steps.
        dt: plant step [s].
        start_time: time [s] of the first state on the references' clock.
        n_residuals: residual dofs (0 without residual actuators).
    """

    n_steps: int
    dt: float
    start_time: float
    n_residuals: int

    @property
    def duration(self) -> float:
        """Length of the horizon [s]."""
        return self.n_steps * self.dt

    @property
    def end_time(self) -> float:
        """Time [s] of the last state on the references' clock."""
        return self.start_time + self.duration

    def check_covered(self, time: np.ndarray, what: str) -> None:
        """Raise `ValueError` naming `what` unless `time` [s] is increasing and covers the horizon."""
        resolution = max(1e-9, 4 * float(np.finfo(np.asarray(time).dtype).eps))  # float32 too
        time = np.asarray(time, dtype=float)
        if time.ndim != 1 or len(time) < 2 or np.any(np.diff(time) <= 0):
            raise ValueError(f"`{what}` must be strictly increasing with at least 2 samples")
        slack = resolution * max(1.0, abs(self.end_time))
        if time[0] > self.start_time + slack or time[-1] < self.end_time - slack:
            raise ValueError(f"`{what}` covers [{time[0]:g}, {time[-1]:g}] s but the horizon is "
                             f"[{self.start_time:g}, {self.end_time:g}] s")


class SimulatedMotion(eqx.Module):
    """A simulated horizon as the objective terms read it.

    Attributes:
        time: time [s] after every step on the references' clock, `(n_steps,)`.
        dt: plant step [s].
        initial_qpos: `qpos` of the first state, `(nq,)`.
        initial_qvel: `qvel` of the first state, `(nv,)`.
        initial_muscle: muscle state of the first state.
        trajectory: the rollout of every step (shooting segments joined), leading axis `n_steps`.
        residual_controls: residual forces over their scales [-], `(n_steps, n_residual_dofs)`.
        record: what the term being evaluated asked the rollout to keep per step
            (`AbstractRecordingTerm.record`), else None.
    """

    time: Array
    dt: float = eqx.field(static=True)
    initial_qpos: Array
    initial_qvel: Array
    initial_muscle: PyTree
    trajectory: PlantTrajectory
    residual_controls: Array
    record: PyTree = None


def _weight(x) -> Array:
    return jnp.asarray(x, dtype=float)


def _check_non_negative(term: eqx.Module, field: str, value) -> None:
    """Raise `ValueError` unless every entry of `value` is >= 0 and finite."""
    if not is_concrete(value):
        return
    value = np.asarray(value)
    if not np.all(np.isfinite(value) & (value >= 0)):
        raise ValueError(f"`{field}` of {type(term).__name__} must be >= 0 and finite, got "
                         f"{value.tolist()}")


def _sample(time: Array, values: Array, at: Array) -> Array:
    """`values` `(n_frames, ...)` at times `at`, linearly interpolated: `(len(at), ...)`."""
    flat = values.reshape(values.shape[0], -1)
    sampled = jax.vmap(jnp.interp, in_axes=(None, None, 1), out_axes=1)(at, time, flat)
    return sampled.reshape(at.shape[0], *values.shape[1:])


class AbstractTerm(eqx.Module):
    """A term of the objective: `weight * value(plant, motion)`."""

    weight: eqx.AbstractVar[Array]

    def __check_init__(self):
        _check_non_negative(self, "weight", self.weight)

    @abc.abstractmethod
    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """Raise `ValueError` naming the field when the term does not fit the plant or horizon."""

    @abc.abstractmethod
    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """The unweighted value (a scalar)."""


class AbstractRecordingTerm(AbstractTerm):
    """A term that needs something of every step's full state (e.g. contact forces).

    `record(plant, state)` runs inside the rollout after every step; the stacked outputs reach
    `value` as `motion.record`. Keep the record small: it is stored for every step.
    """

    @abc.abstractmethod
    def record(self, plant: AbstractPlant, state: PlantState) -> PyTree:
        """What to keep of the state after a step."""


def qpos_weights(plant: AbstractPlant, weights: Mapping[str, float], *,
                 default: float = 1.0) -> np.ndarray:
    """Per-`qpos` weights `(nq,)` for `CoordinateTracking` of a full `qpos` reference.

    Args:
        plant: the plant (its joint names).
        weights: joint name -> weight [1/rad^2 or 1/m^2], given to all `qpos` entries of the
            joint (a free joint's position and quaternion alike).
        default: weight of the joints not named.
    """
    out = np.full(plant.mjx_model.nq, float(default))
    for name, w in weights.items():
        out[qpos_ids(plant.mjx_model, joint_id(plant.mjx_model, name, "weights"))] = float(w)
    return out


class CoordinateTracking(AbstractTerm):
    r"""Tracking of reference coordinates: $\frac1T\sum_k \sum_j c_j (q_j(t_k) - \hat q_j(t_k))^2$.

    The reference is either a full `qpos` array `(n_frames, nq)` (e.g. `map_motion(...).qpos`;
    quaternions are compared component-wise) or named hinge/slide joints, name -> values
    `(n_frames,)` [rad or m]. OpenSim coordinates go through
    `mskdiff.models.kinematics.map_motion` first.

    Attributes:
        time: reference times [s], `(n_frames,)`, covering the horizon.
        values: reference values, `(n_frames, n)`.
        coordinate_weights: $c_j$ [1/rad^2 or 1/m^2], `(n,)`, >= 0.
        weight: the term's weight, >= 0.
        coordinates: the joint name of each column, or None for a full `qpos` reference.
    """

    time: Array
    values: Array
    coordinate_weights: Array
    weight: Array
    coordinates: tuple[str, ...] | None = eqx.field(static=True)

    def __init__(self, time, reference, *, coordinate_weights=None, weight=1.0):
        """Build the term; the model is checked when the problem is built.

        Args:
            time: reference times [s], `(n_frames,)`.
            reference: `(n_frames, nq)` `qpos`, or joint name -> `(n_frames,)` [rad or m].
            coordinate_weights: `(n,)`, or name -> weight for a named reference (others 1).
            weight: the term's weight, >= 0.
        """
        if isinstance(reference, Mapping):
            self.coordinates = tuple(reference)
            values = jnp.stack([jnp.asarray(reference[k], dtype=float) for k in self.coordinates],
                               axis=-1)
        else:
            self.coordinates = None
            values = jnp.asarray(reference, dtype=float)
        if isinstance(coordinate_weights, Mapping):
            if self.coordinates is None:
                raise ValueError("`coordinate_weights` by name needs a named reference; for a "
                                 "qpos reference build them with `qpos_weights(plant, {...})`")
            unknown = [k for k in coordinate_weights if k not in self.coordinates]
            if unknown:
                raise ValueError(f"`coordinate_weights` names {unknown}, which are not "
                                 f"reference coordinates {list(self.coordinates)}")
            coordinate_weights = [coordinate_weights.get(k, 1.0) for k in self.coordinates]
        self.time = jnp.asarray(time, dtype=float)
        self.values = values
        n = values.shape[-1] if values.ndim == 2 else 0
        self.coordinate_weights = (jnp.ones(n) if coordinate_weights is None
                                   else jnp.asarray(coordinate_weights, dtype=float))
        self.weight = _weight(weight)

    def __check_init__(self):
        if self.values.ndim != 2 or self.values.shape[0] != self.time.shape[0]:
            raise ValueError(f"`reference` must have shape (n_frames={self.time.shape[0]}, n), "
                             f"got {self.values.shape}")
        if self.coordinate_weights.shape != self.values.shape[1:]:
            raise ValueError(f"`coordinate_weights` must have shape {self.values.shape[1:]}, got "
                             f"{self.coordinate_weights.shape}")
        _check_non_negative(self, "coordinate_weights", self.coordinate_weights)

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """The reference's columns exist in the model; its time covers the horizon."""
        self._qpos_ids(plant)
        horizon.check_covered(self.time, "CoordinateTracking.time")

    def _qpos_ids(self, plant: AbstractPlant) -> np.ndarray:
        nq = plant.mjx_model.nq
        if self.coordinates is None:
            if self.values.shape[1] != nq:
                raise ValueError(
                    f"CoordinateTracking `reference` has {self.values.shape[1]} columns but the "
                    f"model has nq = {nq} qpos entries; pass a full qpos reference or named "
                    "coordinates (OpenSim coordinates: map them with "
                    "mskdiff.models.kinematics.map_motion)")
            return np.arange(nq)
        joints = scalar_joints(plant.mjx_model)
        unknown = [k for k in self.coordinates if k not in joints]
        if unknown:
            raise ValueError(
                f"CoordinateTracking `reference` names coordinates the model lacks: {unknown}; "
                f"its hinge/slide joints are {sorted(joints)} (map OpenSim coordinates onto the "
                "model with mskdiff.models.kinematics.map_motion)")
        return np.asarray([joints[k] for k in self.coordinates])

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Weighted mean squared coordinate error."""
        error = motion.trajectory.qpos[:, self._qpos_ids(plant)] - _sample(
            self.time, self.values, motion.time)
        return jnp.mean(error**2 @ self.coordinate_weights)


class GroundReactionTracking(AbstractRecordingTerm):
    r"""Tracking of ground reaction forces per foot, in body weights.

    $\frac1T\sum_k \sum_f \lvert F_f(t_k) - \hat F_f(t_k) \rvert^2 / (m g)^2$, with $F_f$ the
    floor's force on foot $f$ in the world frame (`mskdiff.plant.ground_reactions`), $m$ the
    plant's total mass and $g$ the model's gravity. The contact forces of a step are those of
    its constraint solve, at the step's start: they are compared with the reference at the
    step's start time.

    Attributes:
        time: reference times [s], `(n_frames,)`, covering the horizon.
        forces: reference forces [N], `(n_frames, n_feet, 3)` (world frame).
        weight: the term's weight, >= 0.
        feet: foot names, in the order of `forces`.
        foot_geoms: each foot's collision geom ids.
        floor_geom: the floor geom's id.
    """

    time: Array
    forces: Array
    weight: Array
    feet: tuple[str, ...] = eqx.field(static=True)
    foot_geoms: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    floor_geom: int = eqx.field(static=True)

    def __init__(self, time, forces: Mapping[str, Array], foot_geoms: Mapping[str, Array],
                 floor_geom: int, *, weight=1.0):
        """Build the term; the model is checked when the problem is built.

        Args:
            time: reference times [s], `(n_frames,)`.
            forces: foot name -> reference force on the foot [N], `(n_frames, 3)`, world frame.
            foot_geoms: foot name -> its collision geom ids (e.g.
                `mskdiff.models.locomotion.foot_geom_ids(mj_model)`).
            floor_geom: the floor geom's id.
            weight: the term's weight, >= 0.
        """
        if set(forces) != set(foot_geoms):
            raise ValueError(f"`forces` and `foot_geoms` must name the same feet, got "
                             f"{sorted(forces)} and {sorted(foot_geoms)}")
        self.feet = tuple(forces)
        self.foot_geoms = tuple(tuple(int(g) for g in np.atleast_1d(foot_geoms[f]))
                                for f in self.feet)
        self.floor_geom = int(floor_geom)
        self.time = jnp.asarray(time, dtype=float)
        self.forces = jnp.stack([jnp.asarray(forces[f], dtype=float) for f in self.feet], axis=1)
        self.weight = _weight(weight)

    def __check_init__(self):
        if self.forces.shape != (self.time.shape[0], len(self.feet), 3):
            raise ValueError(f"`forces` must be foot -> (n_frames={self.time.shape[0]}, 3) [N], "
                             f"got shape {self.forces.shape} (n_frames, n_feet, 3)")

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """Geom ids within the model; the reference time covers the horizon."""
        n_geoms = plant.mjx_model.ngeom
        bad = [g for g in (self.floor_geom, *sum(self.foot_geoms, ())) if not 0 <= g < n_geoms]
        if bad:
            raise ValueError(f"GroundReactionTracking: geom ids {bad} are not in the model "
                             f"(ngeom = {n_geoms})")
        horizon.check_covered(self.time, "GroundReactionTracking.time")

    def record(self, plant: AbstractPlant, state: PlantState) -> Array:
        """The floor's force on each foot [N], `(n_feet, 3)`."""
        feet = {f: np.asarray(g) for f, g in zip(self.feet, self.foot_geoms, strict=True)}
        reactions = ground_reactions(plant.mjx_model, state.data, self.floor_geom, feet)
        return jnp.stack([reactions[f].force for f in self.feet])

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Mean squared force error over body weight squared."""
        target = _sample(self.time, self.forces, motion.time - motion.dt)
        body_weight = plant.total_mass * jnp.linalg.norm(plant.mjx_model.opt.gravity)
        return jnp.mean(jnp.sum((motion.record - target) ** 2, axis=(1, 2))) / body_weight**2


class Effort(AbstractTerm):
    r"""Muscle effort: $\frac1T\sum_k \sum_i x_i(t_k)^p$, $x$ the excitation or activation.

    Attributes:
        weight: the term's weight, >= 0.
        quantity: `'excitation'` (as applied, in [0, 1]) or `'activation'`.
        power: the exponent $p$ (2 or 3 are usual), >= 1.
    """

    weight: Array = eqx.field(default=1.0, converter=_weight)
    quantity: str = eqx.field(static=True, default="excitation")
    power: float = eqx.field(static=True, default=2.0)

    def __check_init__(self):
        if self.quantity not in EFFORT_QUANTITIES:
            raise ValueError(f"`quantity` of Effort must be one of {EFFORT_QUANTITIES}, got "
                             f"{self.quantity!r}")
        if not self.power >= 1:
            raise ValueError(f"`power` of Effort must be >= 1, got {self.power}")

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """Nothing to check against the plant."""

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Mean over steps of the summed powers."""
        trajectory = motion.trajectory
        x = trajectory.excitation if self.quantity == "excitation" else trajectory.muscle.activation
        return jnp.mean(jnp.sum(x**self.power, axis=-1))


class MetabolicEnergy(AbstractTerm):
    r"""Metabolic power per body mass: $\frac1T\sum_k \sum_i \dot E_i(t_k) / m$ [W/kg].

    $\dot E_i$ from `mskdiff.plant.energetics.metabolic_rates` (default model: smoothed
    Bhargava 2004, differentiable); $m$ the plant's total mass. Needs an `MJXPlant`.

    Attributes:
        weight: the term's weight, >= 0.
        model: the metabolic model.
        parameters: metabolic parameters (default: from the muscle parameters).
    """

    weight: Array = eqx.field(default=1.0, converter=_weight)
    model: eqx.Module = DEFAULT_METABOLIC_MODEL
    parameters: eqx.Module | None = None

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """The plant has mskdiff MTUs (fibre states)."""
        if not isinstance(plant, MJXPlant):
            raise ValueError(f"MetabolicEnergy needs an MJXPlant (fibre states), got a "
                             f"{type(plant).__name__}")

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Mean total metabolic rate over body mass [W/kg]."""
        rates = metabolic_rates(plant, motion.trajectory, model=self.model,
                                parameters=self.parameters)
        return jnp.mean(jnp.sum(rates.total, axis=-1)) / plant.total_mass


class ResidualPenalty(AbstractTerm):
    r"""Residual actuators: $\frac1T\sum_k \sum_d (\tau_d(t_k) / s_d)^2$ (scales $s_d$ [N or N m]).

    Attributes:
        weight: the term's weight, >= 0.
    """

    weight: Array = eqx.field(default=1.0, converter=_weight)

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """The problem has residual actuators."""
        if horizon.n_residuals == 0:
            raise ValueError("ResidualPenalty needs residual actuators (`residuals=` of the "
                             "problem)")

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Mean over steps of the summed squared normalised residuals."""
        return jnp.mean(jnp.sum(motion.residual_controls**2, axis=-1))


class Periodicity(AbstractTerm):
    r"""Periodicity: $\sum_j (q_j(T) - q_j(0))^2 + \sum_j (v_j(T) - v_j(0))^2$ (+ muscle states).

    Between the first state and the state after the last step. A free joint contributes its
    quaternion (component-wise), its 6 velocities and the world-frame position components in
    `free_translation_axes` only (by default the vertical: a walker moves on). Units mix rad,
    m, rad/s, m/s and the muscle states' own (activation [-], normalised tendon force [-], ...).

    Attributes:
        weight: the term's weight, >= 0.
        joints: joint names (default: every joint).
        free_translation_axes: world axes (0, 1, 2) of a free joint's position held periodic.
        muscles: include every muscle-state component.
    """

    weight: Array = eqx.field(default=1.0, converter=_weight)
    joints: tuple[str, ...] | None = eqx.field(static=True, default=None)
    free_translation_axes: tuple[int, ...] = eqx.field(static=True, default=(2,))
    muscles: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not set(self.free_translation_axes) <= {0, 1, 2}:
            raise ValueError(f"`free_translation_axes` of Periodicity must be among (0, 1, 2), "
                             f"got {self.free_translation_axes}")

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """The joints exist."""
        self._ids(plant)

    def _ids(self, plant: AbstractPlant) -> tuple[np.ndarray, np.ndarray]:
        m = plant.mjx_model
        names = joint_names(m)
        joints = (range(len(names)) if self.joints is None
                  else [joint_id(m, j, "Periodicity.joints") for j in self.joints])
        qpos, qvel = [], []
        for j in joints:
            ids = qpos_ids(m, j)
            if joint_type(m, j) == FREE:
                ids = np.concatenate([ids[list(self.free_translation_axes)], ids[3:]])
            qpos.append(ids)
            qvel.append(qvel_ids(m, j))
        return np.concatenate(qpos), np.concatenate(qvel)

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Sum of squared differences between the last and the first state."""
        qpos, qvel = self._ids(plant)
        trajectory = motion.trajectory
        total = (jnp.sum((trajectory.qpos[-1, qpos] - motion.initial_qpos[qpos]) ** 2)
                 + jnp.sum((trajectory.qvel[-1, qvel] - motion.initial_qvel[qvel]) ** 2))
        if self.muscles:
            last = jax.tree.map(lambda x: x[-1], trajectory.muscle)
            total = total + jnp.sum((ravel_pytree(last)[0]
                                     - ravel_pytree(motion.initial_muscle)[0]) ** 2)
        return total


class ForwardSpeed(AbstractTerm):
    r"""Average speed along a translation: $\left((x_T - x_0)/(T\Delta t) - v^*\right)^2$.

    $x$ is a slide joint's position, or a free joint's world position along `axis` (myo-sim's
    leg models walk along -y: `axis=1` with a negative target).

    Attributes:
        target: the target speed $v^*$ [m/s].
        joint: a slide or free joint's name.
        axis: the world axis (0, 1, 2) of a free joint; None for a slide joint.
        weight: the term's weight, >= 0.
    """

    target: Array = eqx.field(converter=_weight)
    joint: str = eqx.field(static=True)
    axis: int | None = eqx.field(static=True, default=None)
    weight: Array = eqx.field(default=1.0, converter=_weight)

    def check(self, plant: AbstractPlant, horizon: Horizon) -> None:
        """A slide joint, or a free joint with an axis."""
        self._qpos_id(plant)

    def _qpos_id(self, plant: AbstractPlant) -> int:
        m = plant.mjx_model
        j = joint_id(m, self.joint, "ForwardSpeed.joint")
        kind = joint_type(m, j)
        if kind == SLIDE and self.axis is None:
            return int(qpos_ids(m, j)[0])
        if kind == FREE and self.axis in (0, 1, 2):
            return int(qpos_ids(m, j)[self.axis])
        what = "hinge" if kind == HINGE else "ball" if kind != FREE else "free"
        raise ValueError(f"ForwardSpeed `joint` must be a slide joint (axis None) or a free joint "
                         f"with `axis` in (0, 1, 2); {self.joint!r} is a {what} joint, axis "
                         f"{self.axis}")

    def value(self, plant: AbstractPlant, motion: SimulatedMotion) -> Array:
        """Squared error of the average speed [m^2/s^2]."""
        i = self._qpos_id(plant)
        duration = motion.time.shape[0] * motion.dt
        speed = (motion.trajectory.qpos[-1, i] - motion.initial_qpos[i]) / duration
        return (speed - self.target) ** 2
