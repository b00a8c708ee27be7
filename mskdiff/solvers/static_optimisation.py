r"""A cheap first guess for tracking: inverse dynamics, then static optimisation per frame.

`inverse_dynamics` gives the generalised forces that produce a reference motion with the
measured ground reactions applied to the feet: MuJoCo's `mj_inverse` with contacts and joint
limits switched off, less the generalised force of each foot's measured force applied at the
foot's lowest collision geom (the trial's centre of pressure is not in `walk_grf.csv`).
Joint equalities (knee translations, moving via points) are switched off there too, and the
forces are reduced to the independent coordinates by virtual work (`coupling_jacobian`).

`static_optimisation` then finds, frame by frame, the activations $a \in [a_\min, 1]$ whose
muscle moments reproduce the joint moments $\tau$ (every dof but the free root's):

$$\min_a\ \lVert a \rVert^2 + \Big\lVert \frac{-R^\top (F_0 + a \odot \Delta F) - \tau}
  {\sigma} \Big\rVert^2,$$

with $R$ the moment arms, $F_0 + a\,\Delta F$ the rigid-tendon force at the reference MTU
length and velocity (affine in $a$: `mskdiff.muscle.mtu.rigid_tendon_outputs`) and $\sigma$
the moment tolerance [N m]: a bounded linear least-squares problem (`scipy.optimize.lsq_linear`)
per frame. What the root needs (the pelvis residual) is $\tau$ at the free joint. This is the
classic static optimisation (Anderson & Pandy 2001, OpenSim's Static Optimization tool) with
a soft moment match in place of reserve actuators, and rigid tendons in place of elastic ones:
a first guess, not a solution.
"""

import copy

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from scipy.optimize import lsq_linear

from ..models.locomotion import foot_geom_ids, joint_equalities
from ..muscle.mtu import rigid_tendon_outputs
from ..plant.plant import MJXPlant

#: Lowest activation of the static solution [-].
MIN_ACTIVATION = 0.01


def _dense_moments(mj_model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """`actuator_moment` as a dense `(nu, nv)` array [m or -]."""
    dense = np.zeros((mj_model.nu, mj_model.nv))
    mujoco.mju_sparse2dense(dense, data.actuator_moment, data.moment_rownnz, data.moment_rowadr,
                            data.moment_colind)
    return dense


def _lowest_geom(data: mujoco.MjData, geoms: np.ndarray) -> int:
    """The geom of `geoms` whose centre is lowest (world z)."""
    return int(geoms[np.argmin(data.geom_xpos[geoms, 2])])


def inverse_dynamics(mj_model: mujoco.MjModel, qpos, qvel, qacc, forces=None) -> np.ndarray:
    """Generalised forces [N, N m] that produce a motion, with measured ground reactions.

    Args:
        mj_model: the host model.
        qpos: `(n, nq)`.
        qvel: `(n, nv)`.
        qacc: `(n, nv)`, e.g. `np.gradient(qvel, time, axis=0)`.
        forces: side (`'r'`, `'l'`) -> the floor's force on that foot [N], world frame,
            `(n, 3)` (feet named as in `mskdiff.models.locomotion`), or None.

    Returns:
        `(n, nv)`: what muscles, residuals and passive joint forces other than MuJoCo's must
        add (MuJoCo's passive springs and dampers are accounted for by `mj_inverse`). Joint
        equalities are not enforced: reduce with `coupling_jacobian` (as
        `static_optimisation` does).
    """
    model = _unconstrained_copy(mj_model)
    data = mujoco.MjData(model)
    feet = {} if forces is None else foot_geom_ids(mj_model)
    out = np.zeros((len(qpos), model.nv))
    for k in range(len(qpos)):
        data.qpos[:], data.qvel[:], data.qacc[:] = qpos[k], qvel[k], qacc[k]
        mujoco.mj_inverse(model, data)
        ground = np.zeros(model.nv)
        for side, geoms in feet.items():
            geom = _lowest_geom(data, geoms)
            mujoco.mj_applyFT(model, data, np.asarray(forces[side][k], dtype=float), np.zeros(3),
                              data.geom_xpos[geom], int(model.geom_bodyid[geom]), ground)
        out[k] = data.qfrc_inverse - ground
    return out


def _unconstrained_copy(mj_model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of the model whose contacts, joint limits and equalities exert no force."""
    model = copy.deepcopy(mj_model)
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_LIMIT)
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_EQUALITY)
    return model


def coupling_jacobian(mj_model: mujoco.MjModel, qpos) -> np.ndarray:
    """`dq/dq_independent` `(nv, nv)` at `qpos (nq,)` under the model's joint equalities.

    Columns of independent dofs (leaders and free dofs) hold their dofs' identity column and
    the followers' polynomial derivatives; followers' columns are zero. `J.T @ tau` gives the
    generalised forces on the independent coordinates (virtual work).
    """
    jacobian = np.eye(mj_model.nv)
    for follower, leader, coefficients in joint_equalities(mj_model):
        row = int(mj_model.jnt_dofadr[follower])
        jacobian[:, row] = 0.0
        if leader < 0:
            jacobian[row] = 0.0
            continue
        x = qpos[mj_model.jnt_qposadr[leader]] - mj_model.qpos0[mj_model.jnt_qposadr[leader]]
        slope = np.polynomial.polynomial.polyval(x, np.polynomial.polynomial.polyder(coefficients))
        jacobian[row] = slope * jacobian[int(mj_model.jnt_dofadr[leader])]
    return jacobian


def mtu_kinematics(plant: MJXPlant, mj_model: mujoco.MjModel, qpos, qvel
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MTU lengths [m], velocities [m/s] and moment arms [m or -] along a motion.

    Shapes `(n, n_muscles)`, `(n, n_muscles)` and `(n, n_muscles, nv)`, in the plant's muscle
    order, from host MuJoCo.
    """
    data = mujoco.MjData(mj_model)
    ids = np.asarray(plant.actuator_ids)
    lengths, velocities, moments = [], [], []
    for q, v in zip(np.asarray(qpos), np.asarray(qvel), strict=True):
        data.qpos[:], data.qvel[:] = q, v
        mujoco.mj_fwdPosition(mj_model, data)
        moment = _dense_moments(mj_model, data)[ids]
        lengths.append(data.actuator_length[ids].copy())
        velocities.append(moment @ v)
        moments.append(moment)
    return np.asarray(lengths), np.asarray(velocities), np.asarray(moments)


def muscle_force_range(plant: MJXPlant, mtu_length, mtu_velocity) -> tuple[np.ndarray, np.ndarray]:
    """Rigid-tendon forces [N] at zero activation and their increase to full activation."""
    params = plant.mtu.params
    force = jax.vmap(lambda a, length, velocity: rigid_tendon_outputs(
        params, a, length, velocity).tendon_force, in_axes=(None, 0, 0))
    length, velocity = jnp.asarray(mtu_length), jnp.asarray(mtu_velocity)
    passive = np.asarray(force(jnp.zeros(plant.n_muscles), length, velocity))
    full = np.asarray(force(jnp.ones(plant.n_muscles), length, velocity))
    return passive, full - passive


def static_optimisation(plant: MJXPlant, mj_model: mujoco.MjModel, qpos, qvel,
                        generalized_forces, *, moment_tolerance: float = 1.0,
                        min_activation: float = MIN_ACTIVATION) -> tuple[np.ndarray, np.ndarray]:
    r"""Per frame, the activations whose muscle moments best give `generalized_forces`.

    Args:
        plant: the plant (its muscles and their parameters).
        mj_model: its host model.
        qpos: `(n, nq)`.
        qvel: `(n, nv)`.
        generalized_forces: `(n, nv)` [N, N m], e.g. from `inverse_dynamics`.
        moment_tolerance: $\sigma$ [N m]: a moment error of $\sigma$ costs as much as one
            fully active muscle.
        min_activation: the lower bound [-].

    Returns:
        `(activation (n, n_muscles), unmatched (n, nv))`: the activations and what the
        muscles leave to residuals [N, N m] (all of the free root joint's forces), on the
        independent coordinates (`coupling_jacobian`; zero on equality followers).
    """
    if moment_tolerance <= 0:
        raise ValueError(f"`moment_tolerance` must be > 0, got {moment_tolerance}")
    lengths, velocities, moments = mtu_kinematics(plant, mj_model, qpos, qvel)
    passive, gain = muscle_force_range(plant, lengths, velocities)
    joints = _muscle_dofs(mj_model)
    n = plant.n_muscles
    activations, unmatched = [], []
    for k in range(len(lengths)):
        reduce = coupling_jacobian(mj_model, np.asarray(qpos[k])).T
        arms = -reduce @ moments[k].T  # qfrc = -R^T F
        target = reduce @ np.asarray(generalized_forces[k]) - arms @ passive[k]
        matrix = np.vstack([arms[joints] * gain[k] / moment_tolerance, np.eye(n)])
        rhs = np.concatenate([target[joints] / moment_tolerance, np.zeros(n)])
        a = lsq_linear(matrix, rhs, bounds=(min_activation, 1.0)).x
        activations.append(a)
        unmatched.append(target - arms @ (gain[k] * a))
    return np.asarray(activations), np.asarray(unmatched)


def _muscle_dofs(mj_model: mujoco.MjModel) -> np.ndarray:
    """Every dof but those of free joints and equality followers."""
    free = [int(mj_model.jnt_dofadr[j]) + i for j in range(mj_model.njnt)
            if mj_model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE for i in range(6)]
    followers = [int(mj_model.jnt_dofadr[f]) for f, _, _ in joint_equalities(mj_model)]
    return np.setdiff1d(np.arange(mj_model.nv), free + followers)
