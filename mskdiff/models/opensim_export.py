"""A rollout as OpenSim files: coordinates `.mot`, muscle states and controls `.sto`, ground reactions.

The files open in OpenSim (its `TimeSeriesTable` reads them; tests/test_motion_files.py):

- `coordinates.mot`: OpenSim's coordinate names and conventions (`kinematics.coordinates_from_qpos`),
  rotations in degrees;
- `states.sto`: `/forceset/<muscle>/activation` and, for elastic tendons, `.../fiber_length`
  (the state of Rajagopal's Millard muscles);
- `controls.sto`: `/forceset/<muscle>`, the excitations;
- `ground_reactions.mot`: per foot, force [N], centre of pressure [m] and free torque [N m] in
  OpenSim's ground frame (y up), in the external-loads column layout of `grf_walk.mot`.

Ground reactions are recomputed on the host with MuJoCo C at each recorded state: the skeleton's
`mj_forward` with the muscles' tendon forces applied through their moment arms (MuJoCo's own
actuation switched off) and `mj_contactForce` for every floor-foot contact. MuJoCo C solves the
contacts to convergence where the plant runs a fixed number of Newton iterations, so these are the
plant's reactions to the solver's tolerance, not bit for bit.
"""

import copy
from pathlib import Path

import mujoco
import numpy as np

from ..io.opensim_results import (
    write_controls,
    write_coordinates,
    write_ground_reactions,
    write_muscle_states,
)
from .kinematics import PELVIS_COORDINATES, coordinates_from_qpos, opensim_ground_from_world
from .locomotion import SIDES, foot_geom_ids

#: File names written by `write_opensim_results`.
FILES = {"coordinates": "coordinates.mot", "states": "states.sto", "controls": "controls.sto",
         "ground_reactions": "ground_reactions.mot"}


def host_ground_reactions(mj_model: mujoco.MjModel, qpos, qvel, tendon_force, actuator_ids
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-foot ground reactions of recorded states, in MuJoCo's world frame (module docstring).

    Args:
        mj_model: the host model (a floor geom named `floor`, feet as `foot_geom_ids` finds them).
        qpos: `(T, nq)` configurations.
        qvel: `(T, nv)` velocities.
        tendon_force: `(T, n_muscles)` [N], tension positive.
        actuator_ids: the MuJoCo actuator of each muscle, `(n_muscles,)`.

    Returns:
        `(force, point, torque)`, each `(T, 2, 3)` for the sides `SIDES` (r, l): the summed
        contact force on the foot [N], its centre of pressure on the floor [m] (zero while the
        foot is off the floor) and the free torque about the vertical through it [N m].
    """
    model = _without_actuation(mj_model)
    data = mujoco.MjData(model)
    floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    feet = foot_geom_ids(model)
    out = np.zeros((3, len(qpos), len(SIDES), 3))
    for t in range(len(qpos)):
        data.qpos[:], data.qvel[:] = qpos[t], qvel[t]
        data.qfrc_applied[:] = _muscle_generalised_force(model, data, tendon_force[t], actuator_ids)
        mujoco.mj_forward(model, data)
        for k, side in enumerate(SIDES):
            out[:, t, k] = _foot_reaction(model, data, floor, set(feet[side].tolist()))
    return out[0], out[1], out[2]


def _without_actuation(mj_model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy whose own actuators apply no force (the plant's muscles are applied instead)."""
    model = copy.deepcopy(mj_model)
    model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_ACTUATION
    return model


def _muscle_generalised_force(model: mujoco.MjModel, data: mujoco.MjData, tendon_force,
                              actuator_ids) -> np.ndarray:
    r"""`qfrc` [N or N m] of tendon tensions `F` along the actuators' paths: $-J^\top F$."""
    mujoco.mj_fwdPosition(model, data)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr,
                            data.moment_colind)
    return -moment[np.asarray(actuator_ids)].T @ np.asarray(tendon_force)


def _foot_reaction(model: mujoco.MjModel, data: mujoco.MjData, floor: int, foot: set[int]
                   ) -> np.ndarray:
    """(force, centre of pressure, free torque) `(3, 3)` of the floor on one foot, world frame."""
    forces, points, torques = [], [], []
    wrench = np.zeros(6)
    for i in range(data.ncon):
        contact = data.contact[i]
        pair = {int(contact.geom1), int(contact.geom2)}
        if floor not in pair or not pair & foot:
            continue
        mujoco.mj_contactForce(model, data, i, wrench)
        frame = contact.frame.reshape(3, 3)  # rows: normal, tangents (from geom1 to geom2)
        sign = 1.0 if int(contact.geom1) == floor else -1.0  # the floor's push on the foot
        forces.append(sign * frame.T @ wrench[:3])
        torques.append(sign * frame.T @ wrench[3:])
        points.append(np.array(contact.pos))
    if not forces:
        return np.zeros((3, 3))
    forces, points, torques = np.array(forces), np.array(points), np.array(torques)
    total = forces.sum(axis=0)
    weights = forces[:, 2] / total[2] if total[2] > 1e-9 else np.full(len(forces), 1 / len(forces))
    cop = weights @ points
    cop[2] = 0.0
    moment = np.cross(points - cop, forces).sum(axis=0) + torques.sum(axis=0)
    return np.stack([total, cop, np.array([0.0, 0.0, moment[2]])])


def write_opensim_results(out_dir, mj_model: mujoco.MjModel, time, qpos, qvel, *, muscle_names,
                          actuator_ids, excitation, activation, fiber_length, tendon_force,
                          tendon_compliant, signs=None) -> dict[str, Path]:
    """Write one env's rollout as the OpenSim files of the module docstring.

    Args:
        out_dir: the folder (created).
        mj_model: the host model of the plant.
        time: `(T,)` [s].
        qpos: `(T, nq)` configurations.
        qvel: `(T, nv)` velocities.
        muscle_names: the muscles, as in OpenSim's ForceSet.
        actuator_ids: the MuJoCo actuator of each muscle.
        excitation: `(T, n_muscles)`.
        activation: `(T, n_muscles)`.
        fiber_length: `(T, n_muscles)` [m].
        tendon_force: `(T, n_muscles)` [N].
        tendon_compliant: `(n_muscles,)`, False for rigid tendons (no fibre-length state).
        signs: `kinematics.COORDINATE_SIGNS` of the model (its joints that turn the other way).

    Returns:
        The paths written, by kind (`FILES`); `ground_reactions` only for models with feet.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in FILES.items()}
    coordinates = coordinates_from_qpos(mj_model, qpos, signs=signs)
    names = list(coordinates)
    rotational = [name in PELVIS_COORDINATES[:3] or _is_hinge(mj_model, name) for name in names]
    write_coordinates(paths["coordinates"], time, names, np.column_stack(list(coordinates.values())),
                      rotational=rotational)
    write_muscle_states(paths["states"], time, muscle_names, activation, fiber_length=fiber_length,
                        tendon_compliant=tendon_compliant)
    write_controls(paths["controls"], time, muscle_names, excitation)
    try:
        feet = foot_geom_ids(mj_model)
    except ValueError:
        feet = None
    if feet is None:
        del paths["ground_reactions"]
        return paths
    force, point, torque = host_ground_reactions(mj_model, qpos, qvel, tendon_force, actuator_ids)
    write_ground_reactions(paths["ground_reactions"], time, opensim_ground_from_world(force),
                           opensim_ground_from_world(point), opensim_ground_from_world(torque))
    return paths


def _is_hinge(mj_model: mujoco.MjModel, name: str) -> bool:
    """True for a hinge joint named `name` (False for slides and non-joints)."""
    joint = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT, name)
    return joint >= 0 and int(mj_model.jnt_type[joint]) == int(mujoco.mjtJoint.mjJNT_HINGE)
