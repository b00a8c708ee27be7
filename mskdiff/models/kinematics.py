r"""OpenSim coordinates (e.g. inverse kinematics) onto a MuJoCo leg model's `qpos` and `qvel`.

Works for myo-sim's leg models (myoLeg, myolegs26) and any model whose hinge and slide joints are
named like OpenSim's coordinates:

- hinge and slide joints take the OpenSim coordinate of the same name (radians, metres), times
  the model's sign where its joint turns the other way (`COORDINATE_SIGNS`: none for myoLeg,
  whose axes carry OpenSim's signs; myolegs26 flexes its knees negative, for example);
- joints driven by an active joint-equality constraint (myoLeg's knee translations, tibia
  rotations and patella; myolegs26's knee translations and muscle via points) take the
  constraint's polynomial of their driving joint, $q_1 - q_{1,0} = \sum_k a_k (q_2 - q_{2,0})^k$,
  exactly where MuJoCo's constraint holds them, and its derivative times the driver's speed;
- the free root joint takes the pelvis pose of OpenSim's `ground_pelvis` joint
  ($R = R_z(\text{tilt}) R_x(\text{list}) R_y(\text{rotation})$, translations in the ground
  frame), turned from OpenSim's ground (y up) into MuJoCo's world (z up) by `OPENSIM_TO_WORLD`,
  so that ground y = 0 lies at z = 0 (the locomotion scenes' floor);
- coordinates the model lacks (lumbar, arms, the patella's `knee_angle_r_beta`, myolegs26's
  subtalar) set nothing; `map_motion` lists them, the model's joints that no coordinate sets,
  and the joints that a coordinate takes out of their range (a sign mismatch shows there).

Speeds come from a cubic spline through each coordinate (not-a-knot ends), differentiated
analytically; the free joint's `qvel` is MuJoCo's: the root's linear velocity in the world frame
and its angular velocity in its own (body) frame.

`coordinate_jacobian` gives $\mathrm{d}q_\text{vel}/\mathrm{d}q$ of one coordinate through those
constraints (for total derivatives such as OpenSim's moment arms).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import mujoco
import numpy as np
from scipy.interpolate import CubicSpline

from ..io.reference import read_csv
from .locomotion import joint_equalities, satisfy_joint_equalities

#: OpenSim's ground axes (x forward, y up, z right) in MuJoCo's world as myo-sim orients its leg
#: models (forward -y, up z, right -x): `world = OPENSIM_TO_WORLD @ ground`.
OPENSIM_TO_WORLD = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
#: OpenSim's pelvis (`ground_pelvis`) coordinates: tilt (z), list (x), rotation (y), body-fixed.
PELVIS_COORDINATES = ("pelvis_tilt", "pelvis_list", "pelvis_rotation",
                      "pelvis_tx", "pelvis_ty", "pelvis_tz")
#: The body whose pose the pelvis coordinates give.
PELVIS_BODY = "pelvis"

#: Coordinates whose model joint turns the other way from OpenSim's (Rajagopal 2016 / gait2392
#: `ground_pelvis` models), by model: myolegs26 (gait2392 lineage in myo-sim) flexes its knees
#: negative, has one mtp axis reversed, and does not mirror the left hip's adduction and rotation
#: axes (measured against myoLeg's joint axes, which match OpenSim's). Keys: registry names.
COORDINATE_SIGNS: dict[str, dict[str, float]] = {
    "myolegs": {},
    "myolegs26": {"knee_angle_r": -1.0, "knee_angle_l": -1.0, "mtp_angle_r": -1.0,
                  "mtp_angle_l": -1.0, "hip_adduction_l": -1.0, "hip_rotation_l": -1.0},
    "tiny_biped": {},
}

_SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
_FREE = int(mujoco.mjtJoint.mjJNT_FREE)


class MappedMotion(NamedTuple):
    """A reference motion on a MuJoCo model (`map_motion`).

    Attributes:
        time: sample times [s], shape `(n_frames,)`.
        qpos: configurations, shape `(n_frames, nq)`.
        qvel: velocities, shape `(n_frames, nv)` (free joint: world linear, body angular).
        unused_coordinates: coordinates of the input that set no joint of the model (sorted).
        missing_joints: joints of the model that no coordinate sets; they keep `qpos0` and
            zero speed (sorted).
        out_of_range_joints: limited joints that a coordinate takes outside their range
            somewhere (sorted); a sign convention the model does not share shows here (see
            `COORDINATE_SIGNS`).
    """

    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    unused_coordinates: tuple[str, ...]
    missing_joints: tuple[str, ...]
    out_of_range_joints: tuple[str, ...]


def read_ik_coordinates(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read a `<trial>_ik_coordinates.csv` (the format of `shared/reference`).

    Args:
        path: the CSV: `time` [s] and one column per coordinate (rotations [rad], translations [m]).

    Returns:
        `(time, coordinates)`: times, shape `(n_frames,)`, and name -> values `(n_frames,)`.

    Raises:
        ValueError: naming the file: no `time` column, times not strictly increasing, or a
            column that is not numeric.
    """
    name = Path(path).name
    table = read_csv(path, required=("time",))
    text = [k for k, v in table.items() if v.dtype.kind != "f"]
    if text:
        raise ValueError(f"{name}: column(s) {text} are not numeric (expected coordinates)")
    time = table.pop("time")
    if np.any(np.diff(time) <= 0):
        raise ValueError(f"{name}: `time` must be strictly increasing")
    return time, table


def qpos_from_coordinates(mj_model: mujoco.MjModel, coordinates: Mapping[str, np.ndarray], *,
                          signs: Mapping[str, float] | None = None) -> np.ndarray:
    """Map OpenSim coordinates onto the model's `qpos` (module docstring).

    Args:
        mj_model: the host model (hinge/slide joints named like OpenSim's coordinates).
        coordinates: coordinate name -> values over frames, shape `(n_frames,)`
            (rotations [rad], translations [m]). Names the model lacks set nothing.
        signs: coordinate name -> factor (+-1) for joints that turn the other way from
            OpenSim's, e.g. `COORDINATE_SIGNS["myolegs26"]` (default: none).

    Returns:
        `qpos`, shape `(n_frames, nq)`; joints without a coordinate keep `qpos0`.
    """
    values = {k: np.atleast_1d(np.asarray(v, dtype=float)) * (signs or {}).get(k, 1.0)
              for k, v in coordinates.items()}
    n = max((len(v) for v in values.values()), default=1)
    qpos = np.tile(np.asarray(mj_model.qpos0, dtype=float), (n, 1))
    for name, joint in _coordinate_joints(mj_model, values).items():
        qpos[:, mj_model.jnt_qposadr[joint]] = values[name]
    qpos = satisfy_joint_equalities(mj_model, qpos)
    if _poses_root(mj_model, values):
        position, rotation = _root_pose(mj_model, values)
        _set_root(mj_model, qpos, position, rotation)
    return qpos


def map_motion(mj_model: mujoco.MjModel, time: np.ndarray, coordinates: Mapping[str, np.ndarray],
               *, times: np.ndarray | None = None,
               signs: Mapping[str, float] | None = None) -> MappedMotion:
    """A coordinate trajectory as `qpos` and `qvel`, with speeds from cubic splines.

    Args:
        mj_model: the host model.
        time: sample times of `coordinates` [s], shape `(n_samples,)`, strictly increasing.
        coordinates: name -> values `(n_samples,)` (rotations [rad], translations [m]).
        times: output times [s] within `time` (default: `time` itself).
        signs: coordinate name -> factor (+-1) for joints that turn the other way from
            OpenSim's, e.g. `COORDINATE_SIGNS["myolegs26"]` (default: none).

    Returns:
        The `MappedMotion` at `times`; the unused coordinates and missing joints are listed.

    Raises:
        ValueError: no coordinates, fewer than 4 samples, times not increasing or outside
            `time`, a coordinate of another length, or rotations beyond 2 pi rad (degrees; the
            names are listed).
    """
    time = np.asarray(time, dtype=float)
    times = time if times is None else np.asarray(times, dtype=float)
    _check_motion(mj_model, time, times, coordinates)
    names = list(coordinates)
    signed = np.stack([np.asarray(coordinates[k], dtype=float) * (signs or {}).get(k, 1.0)
                       for k in names], axis=-1)
    spline = CubicSpline(time, signed, axis=0)
    values = dict(zip(names, spline(times).T, strict=True))
    speeds = dict(zip(names, spline(times, 1).T, strict=True))
    qpos = qpos_from_coordinates(mj_model, values)
    qvel = np.zeros((len(times), mj_model.nv))
    for name, joint in _coordinate_joints(mj_model, values).items():
        qvel[:, mj_model.jnt_dofadr[joint]] = speeds[name]
    qvel = _follower_speeds(mj_model, qpos, qvel)
    if _poses_root(mj_model, values):
        adr = mj_model.jnt_dofadr[_free_joint(mj_model)]
        qvel[:, adr:adr + 6] = _root_velocity(mj_model, values, speeds)
    unused, missing = _unmapped(mj_model, values)
    return MappedMotion(times, qpos, qvel, unused, missing, _out_of_range(mj_model, values))


def coordinates_from_qpos(mj_model: mujoco.MjModel, qpos, *,
                          signs: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """OpenSim coordinates of `qpos`: the inverse of `qpos_from_coordinates`.

    Args:
        mj_model: the host model.
        qpos: configurations, shape `(n_frames, nq)`.
        signs: as in `qpos_from_coordinates` (the same table maps back).

    Returns:
        Name -> values `(n_frames,)` (rotations [rad], translations [m]): every hinge or slide
        joint that no joint equality drives, under its own name, and, for a free root with a
        `pelvis` body, OpenSim's six `ground_pelvis` coordinates (`PELVIS_COORDINATES`).
    """
    qpos = np.atleast_2d(np.asarray(qpos, dtype=float))
    followers = {follower for follower, _, _ in joint_equalities(mj_model)}
    coordinates = {}
    for joint in range(mj_model.njnt):
        if is_scalar_joint(mj_model, joint) and joint not in followers:
            name = mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, joint)
            coordinates[name] = qpos[:, mj_model.jnt_qposadr[joint]] * (signs or {}).get(name, 1.0)
    if _free_joint(mj_model) >= 0 and mujoco.mj_name2id(
            mj_model, mujoco.mjtObj.mjOBJ_BODY, PELVIS_BODY) >= 0:
        coordinates.update(_pelvis_coordinates(mj_model, qpos))
    return coordinates


def _pelvis_coordinates(mj_model: mujoco.MjModel, qpos: np.ndarray) -> dict[str, np.ndarray]:
    r"""OpenSim's pelvis coordinates from the free root: $R = R_z(a) R_x(b) R_y(c)$ taken apart."""
    offset, in_root = _pelvis_in_root(mj_model)
    adr = mj_model.jnt_qposadr[_free_joint(mj_model)]
    rotation_root = np.empty((len(qpos), 9))
    for i, quat in enumerate(qpos[:, adr + 3:adr + 7]):
        mujoco.mju_quat2Mat(rotation_root[i], quat / np.linalg.norm(quat))
    rotation_root = rotation_root.reshape(-1, 3, 3)
    pelvis = OPENSIM_TO_WORLD.T @ rotation_root @ in_root
    origin = qpos[:, adr:adr + 3] + rotation_root @ offset
    translation = origin @ OPENSIM_TO_WORLD  # = (OPENSIM_TO_WORLD.T @ origin.T).T
    angles = {"pelvis_tilt": np.arctan2(-pelvis[:, 0, 1], pelvis[:, 1, 1]),
              "pelvis_list": np.arcsin(np.clip(pelvis[:, 2, 1], -1.0, 1.0)),
              "pelvis_rotation": np.arctan2(-pelvis[:, 2, 0], pelvis[:, 2, 2])}
    return {**angles, **dict(zip(PELVIS_COORDINATES[3:], translation.T, strict=True))}


def _check_motion(mj_model: mujoco.MjModel, time: np.ndarray, times: np.ndarray,
                  coordinates: Mapping[str, np.ndarray]) -> None:
    """Shapes, times and units of `map_motion`'s input (its Raises)."""
    if not coordinates:
        raise ValueError("no coordinates given")
    if time.ndim != 1 or len(time) < 4 or np.any(np.diff(time) <= 0):
        raise ValueError(f"`time` must be strictly increasing with >= 4 samples, got shape {time.shape}")
    if times.ndim != 1 or np.any(np.diff(times) <= 0) or times[0] < time[0] or times[-1] > time[-1]:
        raise ValueError(f"`times` must be increasing within [{time[0]}, {time[-1]}] s")
    wrong = [k for k, v in coordinates.items() if np.shape(v) != time.shape]
    if wrong:
        raise ValueError(f"coordinates {wrong} do not have the shape of `time` {time.shape}")
    large = rotations_in_degrees(mj_model, coordinates)
    if large:
        raise ValueError(f"coordinates {large} exceed 2 pi; they look like degrees "
                         "(rotations must be in radians)")


def rotations_in_degrees(mj_model: mujoco.MjModel, coordinates: Mapping[str, np.ndarray]) -> list[str]:
    """The rotational coordinates (hinges, pelvis angles) beyond 2 pi somewhere: degrees, not radians."""
    hinges = [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(mj_model.njnt)
              if int(mj_model.jnt_type[j]) == int(mujoco.mjtJoint.mjJNT_HINGE)]
    rotations = [k for k in [*hinges, *PELVIS_COORDINATES[:3]] if k in coordinates]
    return [k for k in rotations if np.nanmax(np.abs(coordinates[k])) > 2 * np.pi]


def _coordinate_joints(mj_model: mujoco.MjModel, values: Mapping) -> dict[str, int]:
    """Coordinate name -> id of the hinge/slide joint it sets (equality followers excluded)."""
    followers = {follower for follower, _, _ in joint_equalities(mj_model)}
    joints = {name: mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in values}
    return {name: j for name, j in joints.items() if is_scalar_joint(mj_model, j) and j not in followers}


def _free_joint(mj_model: mujoco.MjModel) -> int:
    """The first free joint's id, or -1."""
    free = [j for j in range(mj_model.njnt) if int(mj_model.jnt_type[j]) == _FREE]
    return free[0] if free else -1


def _poses_root(mj_model: mujoco.MjModel, values: Mapping) -> bool:
    """Whether the pelvis coordinates can pose the model's free root."""
    return (_free_joint(mj_model) >= 0 and all(c in values for c in PELVIS_COORDINATES)
            and mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, PELVIS_BODY) >= 0)


def _unmapped(mj_model: mujoco.MjModel, values: Mapping) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(coordinates that set nothing, joints that nothing sets), both sorted."""
    used = set(_coordinate_joints(mj_model, values).values())
    set_by_name = {mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in used}
    followers = {follower for follower, _, _ in joint_equalities(mj_model)}
    root = _free_joint(mj_model)
    posed = _poses_root(mj_model, values)
    unused = sorted(k for k in values if k not in set_by_name
                    and not (posed and k in PELVIS_COORDINATES))
    missing = sorted(mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j)
                     for j in range(mj_model.njnt)
                     if j not in used and j not in followers and not (j == root and posed))
    return tuple(unused), tuple(missing)


def _out_of_range(mj_model: mujoco.MjModel, values: Mapping) -> tuple[str, ...]:
    """Coordinates (sorted) that take their limited joint beyond its range by > 1e-6 rad or m."""
    joints = _coordinate_joints(mj_model, values)
    return tuple(sorted(name for name, j in joints.items() if mj_model.jnt_limited[j] and (
        np.min(values[name]) < mj_model.jnt_range[j, 0] - 1e-6
        or np.max(values[name]) > mj_model.jnt_range[j, 1] + 1e-6)))


def _pelvis_in_root(mj_model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """The pelvis frame in the root body's frame: (offset [m] (3,), rotation (3, 3)).

    myo-sim's leg models have no joint between the root body and the pelvis.
    """
    root = _free_joint(mj_model)
    adr = mj_model.jnt_qposadr[root]
    data = mujoco.MjData(mj_model)
    data.qpos[:] = mj_model.qpos0
    data.qpos[adr:adr + 7] = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    mujoco.mj_kinematics(mj_model, data)
    body = mj_model.jnt_bodyid[root]
    pelvis = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, PELVIS_BODY)
    rotation_root = data.xmat[body].reshape(3, 3)
    offset = rotation_root.T @ (data.xpos[pelvis] - data.xpos[body])
    return offset, rotation_root.T @ data.xmat[pelvis].reshape(3, 3)


def _rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about a coordinate axis, shape `(n, 3, 3)`."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {0: [[one, zero, zero], [zero, c, -s], [zero, s, c]],
            1: [[c, zero, s], [zero, one, zero], [-s, zero, c]],
            2: [[c, -s, zero], [s, c, zero], [zero, zero, one]]}[axis]
    return np.moveaxis(np.asarray(rows, dtype=float), (0, 1), (-2, -1))


def _pelvis_rotation(values: Mapping) -> np.ndarray:
    """OpenSim's pelvis orientation in its ground frame, shape `(n, 3, 3)`."""
    tilt, lst, rot = (values[c] for c in PELVIS_COORDINATES[:3])
    return _rotation(2, tilt) @ _rotation(0, lst) @ _rotation(1, rot)


def _root_pose(mj_model: mujoco.MjModel, values: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """The root body's world position [m] `(n, 3)` and rotation `(n, 3, 3)` from the pelvis pose."""
    offset, in_root = _pelvis_in_root(mj_model)
    rotation = OPENSIM_TO_WORLD @ _pelvis_rotation(values) @ in_root.T
    translation = np.stack([values[c] for c in PELVIS_COORDINATES[3:]], axis=-1)
    return translation @ OPENSIM_TO_WORLD.T - rotation @ offset, rotation


def _set_root(mj_model: mujoco.MjModel, qpos: np.ndarray, position: np.ndarray,
              rotation: np.ndarray) -> None:
    """Write the free root joint's position and quaternion into `qpos` (in place)."""
    adr = mj_model.jnt_qposadr[_free_joint(mj_model)]
    qpos[:, adr:adr + 3] = position
    for i, matrix in enumerate(rotation):
        mujoco.mju_mat2Quat(qpos[i, adr + 3:adr + 7], np.ascontiguousarray(matrix).ravel())


def _root_velocity(mj_model: mujoco.MjModel, values: Mapping, speeds: Mapping) -> np.ndarray:
    r"""The free joint's `qvel` `(n, 6)`: world linear velocity [m/s], body angular velocity [rad/s].

    With $R = R_z(a) R_x(b) R_y(c)$ the pelvis angular velocity in its own frame is
    $\omega_p = R_y^T R_x^T e_z \dot a + R_y^T e_x \dot b + e_y \dot c$; the root, rigidly attached,
    has $\omega_\text{root} = R_{p/\text{root}}\,\omega_p$, and its origin moves with
    $\dot p = W \dot t - \omega \times (R_\text{root}\,o)$ ($o$ the pelvis offset in the root).
    """
    offset, in_root = _pelvis_in_root(mj_model)
    _, list_angle, rotation_angle = (values[c] for c in PELVIS_COORDINATES[:3])
    tilt_rate, list_rate, rotation_rate = (speeds[c] for c in PELVIS_COORDINATES[:3])
    unit = np.eye(3)
    ry_t = np.swapaxes(_rotation(1, rotation_angle), -1, -2)
    rx_t = np.swapaxes(_rotation(0, list_angle), -1, -2)
    omega_pelvis = (tilt_rate[:, None] * (ry_t @ rx_t @ unit[2])
                    + list_rate[:, None] * (ry_t @ unit[0]) + rotation_rate[:, None] * unit[1])
    omega_root = omega_pelvis @ in_root.T
    _, rotation = _root_pose(mj_model, values)
    omega_world = np.einsum("nij,nj->ni", rotation, omega_root)
    translation_rate = np.stack([speeds[c] for c in PELVIS_COORDINATES[3:]], axis=-1)
    linear = translation_rate @ OPENSIM_TO_WORLD.T - np.cross(omega_world, rotation @ offset)
    return np.concatenate([linear, omega_root], axis=-1)


def _follower_speeds(mj_model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """`qvel` with every joint-equality follower's speed set: polynomial slope x leader speed."""
    qvel = np.array(qvel, dtype=float)
    for follower, leader, coefficients in joint_equalities(mj_model):
        if leader < 0:
            qvel[:, mj_model.jnt_dofadr[follower]] = 0.0
            continue
        x = qpos[:, mj_model.jnt_qposadr[leader]] - mj_model.qpos0[mj_model.jnt_qposadr[leader]]
        slope = np.polynomial.polynomial.polyval(x, np.polynomial.polynomial.polyder(coefficients))
        qvel[:, mj_model.jnt_dofadr[follower]] = slope * qvel[:, mj_model.jnt_dofadr[leader]]
    return qvel


def coordinate_jacobian(mj_model: mujoco.MjModel, qpos: np.ndarray, coordinate: str) -> np.ndarray:
    r"""$\mathrm{d}q_\text{vel}/\mathrm{d}q$ for one coordinate, through the joint equalities.

    Args:
        mj_model: the host model.
        qpos: configurations, shape `(n_frames, nq)`.
        coordinate: the name of a hinge or slide joint.

    Returns:
        Shape `(n_frames, nv)`: 1 at the coordinate's dof, the polynomial's derivative (chained)
        at the dofs of the joints it drives, 0 elsewhere.
    """
    joint = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT, coordinate)
    if not is_scalar_joint(mj_model, joint):
        raise ValueError(f"{coordinate!r} is not a hinge or slide joint of the model")
    qpos = np.atleast_2d(qpos)
    jac = np.zeros((len(qpos), mj_model.nv))
    jac[:, mj_model.jnt_dofadr[joint]] = 1.0
    return _follower_speeds(mj_model, qpos, jac)


def is_scalar_joint(mj_model: mujoco.MjModel, joint: int | str) -> bool:
    """True for a hinge or slide joint (by id or name)."""
    if isinstance(joint, str):
        joint = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT, joint)
    return joint >= 0 and int(mj_model.jnt_type[joint]) in _SCALAR_JOINTS


def opensim_ground_from_world(vectors: np.ndarray) -> np.ndarray:
    """Vectors `(..., 3)` in MuJoCo's world turned into OpenSim's ground frame (y up).

    E.g. ground reaction forces [N] for comparison with `walk_grf.csv` (`vy` vertical, `vx`
    fore-aft); positions need the same turn (ground y = 0 is world z = 0).
    """
    return np.asarray(vectors) @ OPENSIM_TO_WORLD
