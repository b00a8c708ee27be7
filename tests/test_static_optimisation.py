"""Inverse dynamics and static optimisation (`mskdiff.solvers.static_optimisation`): the first
guess of `mskdiff track --first-guess static`, and the standing problem's checks."""

import copy

import mujoco
import numpy as np
import pytest
from test_plant import crouch_qpos, tiny_plant

from mskdiff.models import tiny_leg_mjmodel
from mskdiff.models.locomotion import satisfy_joint_equalities
from mskdiff.solvers.standing import StandingWeights, standing_problem
from mskdiff.solvers.static_optimisation import (
    coupling_jacobian,
    inverse_dynamics,
    mtu_kinematics,
    muscle_force_range,
    static_optimisation,
)

#: The tiny leg's muscle dofs: hip and knee (the pelvis slide has no muscle).
HINGES = [1, 2]


@pytest.fixture(scope="module")
def plant():
    return tiny_plant()


def test_inverse_dynamics_returns_the_forces_that_produced_the_accelerations():
    model = copy.deepcopy(tiny_leg_mjmodel())
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_LIMIT)
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_ACTUATION)  # MuJoCo's muscles
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    qpos, qvel, qacc, applied = [], [], [], []
    for _ in range(3):
        data.qpos[:], data.qvel[:] = crouch_qpos(), rng.normal(0.0, 1.0, model.nv)
        data.qfrc_applied[:] = rng.normal(0.0, 50.0, model.nv)
        mujoco.mj_forward(model, data)
        qpos.append(data.qpos.copy()), qvel.append(data.qvel.copy())
        qacc.append(data.qacc.copy()), applied.append(data.qfrc_applied.copy())
    moments = inverse_dynamics(tiny_leg_mjmodel(), np.array(qpos), np.array(qvel), np.array(qacc))
    np.testing.assert_allclose(moments, np.array(applied), atol=1e-6)


def _finite_difference_moment_arms(model, qpos, h=1e-6):
    data = mujoco.MjData(model)
    arms = np.zeros((model.nu, model.nv))
    for j in range(model.nv):
        lengths = []
        for sign in (1, -1):
            data.qpos[:] = qpos
            data.qpos[j] += sign * h
            mujoco.mj_fwdPosition(model, data)
            lengths.append(data.actuator_length.copy())
        arms[:, j] = (lengths[0] - lengths[1]) / (2 * h)
    return arms


def test_moment_arms_are_the_length_derivatives(plant):
    model, qpos = tiny_leg_mjmodel(), crouch_qpos()
    _, _, moments = mtu_kinematics(plant, model, qpos[None], np.zeros((1, model.nv)))
    np.testing.assert_allclose(moments[0], _finite_difference_moment_arms(model, qpos), atol=1e-7)


def test_static_optimisation_reproduces_the_moments_of_known_activations(plant):
    """Moments from known activations (moment arms by finite differences) are matched to 0.1 %
    of their size; what is left is the effort regularisation's trade-off."""
    model = tiny_leg_mjmodel()
    qpos = np.stack([crouch_qpos(0.3, 0.6), crouch_qpos(0.5, 0.9)])
    qvel = np.array([[0.0, 0.5, -1.0], [0.0, -0.3, 0.4]])
    arms = np.stack([_finite_difference_moment_arms(model, q) for q in qpos])
    lengths, velocities, _ = mtu_kinematics(plant, model, qpos, qvel)
    passive, gain = muscle_force_range(plant, lengths, velocities)
    known = np.array([[0.3, 0.1, 0.6, 0.2], [0.5, 0.2, 0.4, 0.3]])
    moments = -np.einsum("kmv,km->kv", arms, passive + known * gain)
    activation, unmatched = static_optimisation(plant, model, qpos, qvel, moments,
                                                moment_tolerance=0.01)
    assert np.all((activation >= 0.01 - 1e-12) & (activation <= 1.0))
    produced = -np.einsum("kmv,km->kv", arms, passive + activation * gain)
    np.testing.assert_allclose(produced[:, HINGES], moments[:, HINGES],
                               rtol=1e-3, atol=1e-3 * np.abs(moments[:, HINGES]).max())
    np.testing.assert_allclose(unmatched[:, 0], moments[:, 0] + np.einsum(
        "km,km->k", arms[:, :, 0], passive + activation * gain), atol=1e-9)


def test_static_optimisation_refuses_a_non_positive_tolerance(plant):
    with pytest.raises(ValueError, match="moment_tolerance"):
        static_optimisation(plant, tiny_leg_mjmodel(), crouch_qpos()[None], np.zeros((1, 3)),
                            np.zeros((1, 3)), moment_tolerance=0.0)


def test_coupling_jacobian_is_the_derivative_of_the_joint_equalities():
    """myolegs26's knee translations and moving via points follow the knee angle (and chains of
    followers); the Jacobian's leader columns equal central differences of the couplings."""
    from mskdiff.models import registry

    model = registry.host_mjmodel("myolegs26")
    qpos = satisfy_joint_equalities(model, model.qpos0)
    knee = model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "knee_angle_r")]
    qpos[knee] -= 0.6
    qpos = satisfy_joint_equalities(model, qpos)
    jacobian = coupling_jacobian(model, qpos)
    h = 1e-6
    followers = {int(model.eq_obj1id[e]) for e in range(model.neq)}
    leaders = {int(model.eq_obj2id[e]) for e in range(model.neq) if model.eq_obj2id[e] >= 0}
    assert leaders - followers
    for leader in leaders - followers:
        adr, dof = model.jnt_qposadr[leader], model.jnt_dofadr[leader]
        plus, minus = qpos.copy(), qpos.copy()
        plus[adr] += h
        minus[adr] -= h
        # hinge and slide joints only below the free root: qpos and qvel columns align by 1
        difference = (satisfy_joint_equalities(model, plus)
                      - satisfy_joint_equalities(model, minus))[7:] / (2 * h)
        np.testing.assert_allclose(jacobian[6:, dof], difference, atol=1e-6)


def test_standing_problem_checks_its_inputs(plant):
    with pytest.raises(ValueError, match="free root joint"):
        standing_problem(plant, tiny_leg_mjmodel())
    from mskdiff.models import registry

    model = registry.host_mjmodel("myolegs26")
    with pytest.raises(ValueError, match="`seconds`"):
        standing_problem(plant, model, seconds=0.0)
    with pytest.raises(ValueError, match="`weights`"):
        standing_problem(plant, model, weights=StandingWeights(effort=-1.0))
