r"""Tracking a measured gait: the trial on the model, and the trajectory problem that tracks it.

`gait_reference` puts a walking trial onto a leg model on the plant's time grid:

- coordinates (an OpenSim `.mot`/`.sto`, or a CSV in `shared/reference`'s format) through
  `mskdiff.models.kinematics.map_motion` (cubic-spline speeds, joint couplings), with the
  model's sign conventions (`COORDINATE_SIGNS`);
- a vertical shift of the whole motion, `floor_offset`, so that the lower foot sinks
  `penetration` into the floor on the median frame: the model's feet are not the subject's
  (`mskdiff.models.kinematics`: 1.5-9 cm between them along the trial), and tracking a pelvis
  height that holds the feet in the air or deep in the floor would fight the contacts;
- ground reactions (the reference CSV's `r_vy, r_vx, l_vy, l_vx` or a `.mot` in OpenSim's
  external-loads layout) turned from OpenSim's ground frame into MuJoCo's world frame and scaled
  by the ratio of the model's mass to the subject's, so they are tracked in body weights.

`tracking_problem` builds the `TrajectoryProblem`: excitation knots every `knot_interval`,
residual forces and torques on the pelvis (the free root joint), and the objective

$$J = w_q\,\text{CoordinateTracking} + w_F\,\text{GroundReactionTracking}
      + w_e\,\text{Effort} + w_r\,\text{ResidualPenalty}.$$

`reference_starts` gives multiple shooting its segment starts from the reference (its `qpos`
and `qvel`, muscles in equilibrium): a falling rollout of the first guess is no start for a
walking cycle. `static_guess` gives the excitations and pelvis residuals a first guess from
static optimisation of the reference's inverse dynamics (`mskdiff.solvers.static_optimisation`).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import mujoco
import numpy as np

from ..io.motion import read_table
from ..io.reference import read_csv
from ..models.kinematics import (
    OPENSIM_TO_WORLD,
    PELVIS_COORDINATES,
    map_motion,
    read_ik_coordinates,
)
from ..models.locomotion import SIDES, floor_offset, foot_geom_ids
from ..plant.plant import AbstractPlant, PlantState
from .controls import KnotControls, ResidualActuators
from .objectives import (
    CoordinateTracking,
    Effort,
    GroundReactionTracking,
    ResidualPenalty,
    qpos_weights,
)
from .problem import StartStates, TrajectoryProblem, TrajectoryVariables
from .static_optimisation import inverse_dynamics, static_optimisation

#: The walking trial's subject [kg] (`shared/reference/README.md`, section 4).
TRIAL_SUBJECT_MASS = 85.0668
#: Excitation at the knots of the first guess [-].
FIRST_GUESS_EXCITATION = 0.1


class GaitReference(NamedTuple):
    """A walking trial on a model, at the plant's steps (`gait_reference`).

    Attributes:
        time: `start + k dt` [s], `(n_steps + 1,)`.
        qpos: `(n_steps + 1, nq)`, shifted by `floor_offset` vertically.
        qvel: `(n_steps + 1, nv)`.
        forces: side (`'r'`, `'l'`) -> the floor's force on the foot [N], world frame,
            `(n_steps + 1, 3)`, scaled to the model's body weight.
        floor_offset: vertical shift [m] added to the motion (negative: lowered).
        unused_coordinates: coordinates of the motion that set no joint of the model.
        missing_joints: joints of the model that no coordinate sets (held at `qpos0`).
    """

    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    forces: dict[str, np.ndarray]
    floor_offset: float
    unused_coordinates: tuple[str, ...]
    missing_joints: tuple[str, ...]


def read_coordinates(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`(time [s], name -> values)` of a coordinates file, rotations in radians.

    `.mot`/`.sto` (OpenSim; `inDegrees=yes` converted, pelvis translations kept in metres) or a
    CSV in `shared/reference`'s format (radians and metres).
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return read_ik_coordinates(path)
    table = read_table(path)
    coordinates = {name: table.column(name) for name in table.labels}
    if table.in_degrees:
        coordinates = {name: values if name in PELVIS_COORDINATES[3:] else np.radians(values)
                       for name, values in coordinates.items()}
    return table.time, coordinates


def read_ground_reactions(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`(time [s], side -> force on the foot [N] (n, 3))` in OpenSim's ground frame (y up).

    A CSV with `time, r_vx, r_vy, l_vx, l_vy` (`shared/reference/walk_grf.csv`; no lateral
    component: zero) or a `.mot` with `ground_force_{r,l}_v{x,y,z}` (OpenSim's external loads).
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        table = read_csv(path, required=("time", *(f"{s}_v{a}" for s in SIDES for a in "xy")))
        zeros = np.zeros_like(table["time"])
        forces = {s: np.column_stack([table[f"{s}_vx"], table[f"{s}_vy"],
                                      table.get(f"{s}_vz", zeros)]) for s in SIDES}
        return table["time"], forces
    table = read_table(path)
    labels = [f"ground_force_{s}_v{a}" for s in SIDES for a in "xyz"]
    missing = [label for label in labels if label not in table.labels]
    if missing:
        raise ValueError(f"{path.name}: no column(s) {missing} (OpenSim's external-loads layout)")
    return table.time, {s: np.column_stack([table.column(f"ground_force_{s}_v{a}") for a in "xyz"])
                        for s in SIDES}


def gait_reference(mj_model: mujoco.MjModel, motion_path, grf_path, start: float, end: float,
                   dt: float, *, model_mass: float, subject_mass: float = TRIAL_SUBJECT_MASS,
                   signs: Mapping[str, float] | None = None,
                   penetration: float = 1e-3) -> GaitReference:
    """The trial between `start` and `end` [s] on the model's step grid (module docstring).

    Args:
        mj_model: the host model (a leg model with a free root joint and feet).
        motion_path: coordinates file (`read_coordinates`).
        grf_path: ground reactions file (`read_ground_reactions`).
        start: first time [s].
        end: last time [s]; `end - start` is rounded to whole steps of `dt`.
        dt: the plant's step [s].
        model_mass: the model's mass [kg].
        subject_mass: the trial subject's mass [kg].
        signs: the model's `COORDINATE_SIGNS`.
        penetration: depth [m] of the lower foot in the floor on the median frame.

    Raises:
        ValueError: naming the file: a window the motion or the forces do not cover, or
            `end <= start`.
    """
    n_steps = round((end - start) / dt)
    if n_steps < 1:
        raise ValueError(f"`end` ({end} s) must be at least one step of {dt} s after `start` "
                         f"({start} s)")
    times = start + dt * np.arange(n_steps + 1)
    motion_time, coordinates = read_coordinates(motion_path)
    grf_time, grf = read_ground_reactions(grf_path)
    slack = 1e-3 * dt  # a float32 timestep is not exactly dt: 456 x 0.002 s ends 40 ns late
    _check_covers(motion_path, motion_time, times, slack)
    _check_covers(grf_path, grf_time, times, slack)
    times = np.clip(times, max(motion_time[0], grf_time[0]), min(motion_time[-1], grf_time[-1]))
    mapped = map_motion(mj_model, motion_time, coordinates, times=times, signs=signs)
    offset = floor_offset(mj_model, mapped.qpos, penetration)
    qpos = mapped.qpos.copy()
    qpos[:, _root_height_index(mj_model)] += offset
    scale = model_mass / subject_mass
    forces = {side: scale * np.column_stack([np.interp(times, grf_time, f[:, k]) for k in range(3)])
              @ OPENSIM_TO_WORLD.T for side, f in grf.items()}
    return GaitReference(times, qpos, mapped.qvel, forces, offset, mapped.unused_coordinates,
                         mapped.missing_joints)


def _check_covers(path, time: np.ndarray, times: np.ndarray, slack: float) -> None:
    if times[0] < time[0] - slack or times[-1] > time[-1] + slack:
        raise ValueError(f"{Path(path).name} covers {time[0]:g}-{time[-1]:g} s, not the "
                         f"requested {times[0]:g}-{times[-1]:g} s")


def root_joint(mj_model: mujoco.MjModel) -> int:
    """The free root joint (the pelvis); `ValueError` for a model without one."""
    free = np.flatnonzero(mj_model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
    if not len(free):
        raise ValueError("gait tracking needs a model with a free root joint (a pelvis)")
    return int(free[0])


def _root_height_index(mj_model: mujoco.MjModel) -> int:
    return int(mj_model.jnt_qposadr[root_joint(mj_model)]) + 2


class TrackingWeights(NamedTuple):
    """Weights of the tracking objective (module docstring) and its scales.

    Attributes:
        coordinates: $w_q$, on squared errors [rad^2, m^2] averaged over steps.
        translation: relative weight of the pelvis translations (per m^2 against per rad^2).
        ground_reactions: $w_F$, on squared force errors in body weights.
        effort: $w_e$, on squared excitations.
        residuals: $w_r$, on squared normalised residuals (force / `residual_scale`).
        residual_force: pelvis residual force per unit control [N].
        residual_torque: pelvis residual torque per unit control [N m].
    """

    coordinates: float = 100.0
    translation: float = 10.0
    ground_reactions: float = 1.0
    effort: float = 0.01
    residuals: float = 0.1
    residual_force: float = 100.0
    residual_torque: float = 50.0


#: The weights `mskdiff track` uses.
DEFAULT_WEIGHTS = TrackingWeights()

def tracking_problem(plant: AbstractPlant, mj_model: mujoco.MjModel, reference: GaitReference,
                     *, knot_interval: float = 0.02, interpolation: str = "linear",
                     weights: TrackingWeights = DEFAULT_WEIGHTS,
                     initial_state: PlantState | None = None) -> TrajectoryProblem:
    """The problem that tracks `reference` (module docstring).

    Args:
        plant: the plant (its step is the reference's grid step).
        mj_model: its host model.
        reference: from `gait_reference`.
        knot_interval: time between excitation and residual knots [s].
        interpolation: `'linear'` or `'cubic'`.
        weights: the objective's weights and residual scales.
        initial_state: the first state (default: the reference's first frame, muscles in
            equilibrium at the first guess's activation).
    """
    horizon = (len(reference.time) - 1) * plant.dt  # whole steps of the plant's (float32) dt
    n_knots = max(2, round(horizon / knot_interval) + 1)
    knots = np.linspace(0.0, horizon, n_knots)
    latent = np.log(FIRST_GUESS_EXCITATION / (1 - FIRST_GUESS_EXCITATION))
    controls = KnotControls(np.full((n_knots, plant.n_muscles), latent), knots, interpolation)
    root = mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, root_joint(mj_model))
    scale = [weights.residual_force] * 3 + [weights.residual_torque] * 3
    residuals = ResidualActuators.on_joints(plant, [root], knots, scale,
                                            interpolation=interpolation)
    coordinate_weights = np.asarray(qpos_weights(plant, {}))
    coordinate_weights[_root_height_index(mj_model) - 2:_root_height_index(mj_model) + 1] = \
        weights.translation
    floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    objective = {
        "coordinates": CoordinateTracking(reference.time, reference.qpos,
                                          coordinate_weights=coordinate_weights,
                                          weight=weights.coordinates),
        "ground_reactions": GroundReactionTracking(reference.time, reference.forces,
                                                   foot_geom_ids(mj_model), floor,
                                                   weight=weights.ground_reactions),
        "effort": Effort(weight=weights.effort),
        "residuals": ResidualPenalty(weight=weights.residuals),
    }
    if initial_state is None:
        initial_state = plant.init(jnp.asarray(reference.qpos[0]), jnp.asarray(reference.qvel[0]),
                                   activation=FIRST_GUESS_EXCITATION)
    return TrajectoryProblem(plant, initial_state, horizon, controls, objective,
                             residuals=residuals, start_time=float(reference.time[0]))


def reference_starts(problem: TrajectoryProblem, reference: GaitReference,
                     n_segments: int, activation=FIRST_GUESS_EXCITATION) -> StartStates:
    """Multiple shooting's free segment starts at the reference (muscles in equilibrium).

    `activation`: scalar, or per reference frame `(n_frames, n_muscles)` (e.g.
    `StaticGuess.activation`).
    """
    n_steps = problem.horizon.n_steps
    if n_segments < 2 or n_steps % n_segments:
        raise ValueError(f"`n_segments` must be >= 2 and divide the {n_steps} steps, got "
                         f"{n_segments}")
    frames = np.arange(1, n_segments) * (n_steps // n_segments)
    activation = np.asarray(activation, dtype=float)
    states = problem.plant.init_batch(jnp.asarray(reference.qpos[frames]),
                                      jnp.asarray(reference.qvel[frames]),
                                      activation=activation[frames] if activation.ndim else
                                      activation)
    return StartStates.from_states(states)


class StaticGuess(NamedTuple):
    """A first guess from the reference's inverse dynamics (`static_guess`).

    Attributes:
        variables: single-shooting variables: excitation knots at the static activations
            (residual knots as the problem's).
        activation: static activations per reference frame [-], `(n_frames, n_muscles)`.
        unmatched: generalised forces the muscles leave per frame [N, N m], `(n_frames, nv)`
            (the free root's are the pelvis residual that inverse dynamics needs).
    """

    variables: TrajectoryVariables
    activation: np.ndarray
    unmatched: np.ndarray


def static_guess(problem: TrajectoryProblem, reference: GaitReference,
                 mj_model: mujoco.MjModel, *, moment_tolerance: float = 1.0) -> StaticGuess:
    """Excitations from static optimisation of the reference's inverse dynamics.

    `mskdiff.solvers.static_optimisation`: excitation knots are set to the static activations
    at the knot times (activation dynamics' lag ignored). The residuals keep their guess: the
    root loads of inverse dynamics on the trial (0.65 body weights RMS for myolegs26 over
    0.268-1.18 s, most where the left foot's force is not measured) are no guess of a small
    residual.
    """
    plant = problem.plant
    qacc = np.gradient(reference.qvel, reference.time, axis=0)
    moments = inverse_dynamics(mj_model, reference.qpos, reference.qvel, qacc, reference.forces)
    activation, unmatched = static_optimisation(plant, mj_model, reference.qpos, reference.qvel,
                                                moments, moment_tolerance=moment_tolerance)
    frames = np.rint(np.asarray(problem.controls.knot_times) / plant.dt).astype(int)
    excitation = np.clip(activation[frames], 0.01, 0.99)
    controls = eqx.tree_at(lambda c: c.values, problem.controls,
                           jnp.asarray(np.log(excitation / (1 - excitation))))
    return StaticGuess(TrajectoryVariables(controls, problem.residuals, None), activation,
                       unmatched)
