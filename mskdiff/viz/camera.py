"""The cameras: which body the follow camera tracks, and how far away it stands."""

import mujoco
import numpy as np

#: Camera modes: `follow` tracks the root body, `fixed` looks where `follow` looked at frame 0.
CAMERAS = ("follow", "fixed")
#: Default camera angles [deg]: seen from the front left, slightly from above.
AZIMUTH = 135.0
ELEVATION = -10.0
#: The auto camera distance is this many times the body's reach from its centre of mass.
DISTANCE_PER_REACH = 3.2


def root_body(mj_model: mujoco.MjModel) -> int:
    """The body the follow camera tracks: the free joint's body, else the first body."""
    free = np.flatnonzero(mj_model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
    return int(mj_model.jnt_bodyid[free[0]]) if free.size else 1


def auto_distance(mj_model: mujoco.MjModel, qpos) -> float:
    """Camera distance [m] that shows the whole body in the pose `qpos [nq]`.

    It is `DISTANCE_PER_REACH` times the distance from the root's subtree centre of mass to its
    farthest body, and at least 0.3 m.
    """
    data = mujoco.MjData(mj_model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(mj_model, data)
    mujoco.mj_comPos(mj_model, data)
    root = root_body(mj_model)
    bodies = mj_model.body_rootid == mj_model.body_rootid[root]
    reach = np.linalg.norm(data.xpos[bodies] - data.subtree_com[root], axis=-1).max()
    return max(0.3, DISTANCE_PER_REACH * float(reach))
