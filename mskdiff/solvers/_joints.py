"""Joint names of an `mjx.Model` and the `qpos`/`qvel` entries each joint owns.

The names are read from the MJX model itself (`names`, `name_jntadr`), so the solvers need no
host `MjModel`. All results are static NumPy integers (shapes and indices of compiled programs).
"""

import numpy as np
from mujoco import mjx

#: MuJoCo joint types (`mjtJoint`): free, ball, slide, hinge.
FREE, BALL, SLIDE, HINGE = 0, 1, 2, 3
_QPOS_SIZE = {FREE: 7, BALL: 4, SLIDE: 1, HINGE: 1}
_QVEL_SIZE = {FREE: 6, BALL: 3, SLIDE: 1, HINGE: 1}


def joint_names(mjx_model: mjx.Model) -> tuple[str, ...]:
    """Every joint's name, in joint order (unnamed joints are `''`)."""
    names = mjx_model.names
    return tuple(names[int(a):names.index(b"\0", int(a))].decode()
                 for a in np.atleast_1d(mjx_model.name_jntadr))


def joint_id(mjx_model: mjx.Model, name: str, field: str) -> int:
    """Index of the joint `name`; unknown names raise `ValueError` naming `field`."""
    names = joint_names(mjx_model)
    if name not in names:
        raise ValueError(f"`{field}`: the model has no joint {name!r}; joints: "
                         f"{[n for n in names if n]}")
    return names.index(name)


def joint_type(mjx_model: mjx.Model, joint: int) -> int:
    """MuJoCo type of joint `joint` (`FREE`, `BALL`, `SLIDE` or `HINGE`)."""
    return int(np.asarray(mjx_model.jnt_type)[joint])


def qpos_ids(mjx_model: mjx.Model, joint: int) -> np.ndarray:
    """The `qpos` entries of joint `joint` (7 for a free joint, 4 ball, 1 hinge or slide)."""
    start = int(np.asarray(mjx_model.jnt_qposadr)[joint])
    return np.arange(start, start + _QPOS_SIZE[joint_type(mjx_model, joint)])


def qvel_ids(mjx_model: mjx.Model, joint: int) -> np.ndarray:
    """The `qvel` entries (dofs) of joint `joint` (6 free, 3 ball, 1 hinge or slide)."""
    start = int(np.asarray(mjx_model.jnt_dofadr)[joint])
    return np.arange(start, start + _QVEL_SIZE[joint_type(mjx_model, joint)])


def scalar_joints(mjx_model: mjx.Model) -> dict[str, int]:
    """Name -> `qpos` index of every named hinge and slide joint (the models' coordinates)."""
    return {name: int(qpos_ids(mjx_model, j)[0]) for j, name in enumerate(joint_names(mjx_model))
            if name and joint_type(mjx_model, j) in (SLIDE, HINGE)}


def quaternion_starts(mjx_model: mjx.Model) -> tuple[int, ...]:
    """The first `qpos` index of every quaternion (free joints at +3, ball joints at +0)."""
    starts = []
    for j in range(len(np.atleast_1d(mjx_model.jnt_type))):
        kind = joint_type(mjx_model, j)
        if kind in (FREE, BALL):
            starts.append(int(qpos_ids(mjx_model, j)[0]) + (3 if kind == FREE else 0))
    return tuple(starts)
