r"""OpenSim coordinates (e.g. inverse kinematics) onto a MuJoCo model's `qpos` (myoLeg).

- hinge and slide joints take the OpenSim coordinate of the same name, unchanged (radians,
  metres; myoLeg's joint axes carry OpenSim's signs, e.g. knee flexion is positive in both);
- joints driven by an active joint-equality constraint (myoLeg's knee translations, tibia
  rotations and patella) take the constraint's polynomial of their driving joint,
  $q_1 - q_{1,0} = \sum_k a_k (q_2 - q_{2,0})^k$, exactly where MuJoCo's constraint holds them;
- the free root joint takes the pelvis pose of OpenSim's `ground_pelvis` joint
  ($R = R_z(\text{tilt}) R_x(\text{list}) R_y(\text{rotation})$, translations in the ground
  frame), turned from OpenSim's ground (y up) into MuJoCo's world (z up) by `OPENSIM_TO_WORLD`;
- coordinates the model lacks (lumbar, arms, the patella's `knee_angle_r_beta`) are ignored.

`coordinate_jacobian` gives $\mathrm{d}q_\text{vel}/\mathrm{d}q$ of one coordinate through those
constraints (for total derivatives such as OpenSim's moment arms).
"""

from collections.abc import Mapping

import mujoco
import numpy as np

from .myoleg import joint_equalities, satisfy_joint_equalities

#: OpenSim's ground axes (x forward, y up, z right) in MuJoCo's world as myo-sim orients myoLeg
#: (forward -y, up z, right -x): `world = OPENSIM_TO_WORLD @ ground`.
OPENSIM_TO_WORLD = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
#: OpenSim's pelvis (`ground_pelvis`) coordinates: tilt (z), list (x), rotation (y), body-fixed.
PELVIS_COORDINATES = ("pelvis_tilt", "pelvis_list", "pelvis_rotation",
                      "pelvis_tx", "pelvis_ty", "pelvis_tz")
#: The body whose pose the pelvis coordinates give.
PELVIS_BODY = "pelvis"

_SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


def _rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about a coordinate axis, shape `(n, 3, 3)`."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {0: [[one, zero, zero], [zero, c, -s], [zero, s, c]],
            1: [[c, zero, s], [zero, one, zero], [-s, zero, c]],
            2: [[c, -s, zero], [s, c, zero], [zero, zero, one]]}[axis]
    return np.moveaxis(np.asarray(rows, dtype=float), (0, 1), (-2, -1))


def qpos_from_coordinates(mj_model: mujoco.MjModel,
                          coordinates: Mapping[str, np.ndarray]) -> np.ndarray:
    """Map OpenSim coordinates onto the model's `qpos` (module docstring).

    Args:
        mj_model: the host model (hinge/slide joints named like OpenSim's coordinates).
        coordinates: coordinate name -> values over frames, shape `(n_frames,)`
            (rotations [rad], translations [m]). Unknown names are ignored.

    Returns:
        `qpos`, shape `(n_frames, nq)`; joints without a coordinate keep `qpos0`.
    """
    values = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in coordinates.items()}
    n = max((len(v) for v in values.values()), default=1)
    qpos = np.tile(np.asarray(mj_model.qpos0, dtype=float), (n, 1))
    for j in range(mj_model.njnt):
        name = mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j)
        if name in values and is_scalar_joint(mj_model, j):
            qpos[:, mj_model.jnt_qposadr[j]] = values[name]
    qpos = satisfy_joint_equalities(mj_model, qpos)
    _set_root(mj_model, qpos, values)
    return qpos


def _set_root(mj_model: mujoco.MjModel, qpos: np.ndarray, values: dict[str, np.ndarray]) -> None:
    """Pose the free root joint so that `PELVIS_BODY` has OpenSim's pelvis pose (in place)."""
    free = [j for j in range(mj_model.njnt) if int(mj_model.jnt_type[j]) == int(mujoco.mjtJoint.mjJNT_FREE)]
    pelvis = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, PELVIS_BODY)
    if not free or pelvis < 0 or not all(c in values for c in PELVIS_COORDINATES):
        return
    root, adr = free[0], mj_model.jnt_qposadr[free[0]]
    # The pelvis frame in the root body's frame (no joints between them in myoLeg).
    data = mujoco.MjData(mj_model)
    data.qpos[:] = mj_model.qpos0
    data.qpos[adr:adr + 7] = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    mujoco.mj_kinematics(mj_model, data)
    body = mj_model.jnt_bodyid[root]
    rotation_root = data.xmat[body].reshape(3, 3)
    offset = rotation_root.T @ (data.xpos[pelvis] - data.xpos[body])
    in_root = rotation_root.T @ data.xmat[pelvis].reshape(3, 3)
    tilt, lst, rot, tx, ty, tz = (values[c] for c in PELVIS_COORDINATES)
    rotation = _rotation(2, tilt) @ _rotation(0, lst) @ _rotation(1, rot)   # OpenSim ground
    rotation = OPENSIM_TO_WORLD @ rotation @ in_root.T                       # root body in world
    position = np.stack([tx, ty, tz], axis=-1) @ OPENSIM_TO_WORLD.T - rotation @ offset
    qpos[:, adr:adr + 3] = position
    for i, matrix in enumerate(np.broadcast_to(rotation, (len(qpos), 3, 3))):
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, np.ascontiguousarray(matrix).ravel())
        qpos[i, adr + 3:adr + 7] = quat


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
    for dependent, driver, coefficients in joint_equalities(mj_model):
        if driver < 0:
            continue
        x = qpos[:, mj_model.jnt_qposadr[driver]] - mj_model.qpos0[mj_model.jnt_qposadr[driver]]
        slope = np.polynomial.polynomial.polyval(x, np.polynomial.polynomial.polyder(coefficients))
        jac[:, mj_model.jnt_dofadr[dependent]] = slope * jac[:, mj_model.jnt_dofadr[driver]]
    return jac


def is_scalar_joint(mj_model: mujoco.MjModel, joint: int | str) -> bool:
    """True for a hinge or slide joint (by id or name)."""
    if isinstance(joint, str):
        joint = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT, joint)
    return joint >= 0 and int(mj_model.jnt_type[joint]) in _SCALAR_JOINTS
