"""myolegs26 (26 muscles) in the MJX plant: the locomotion scene, its poses, the equilibrium
start, and the gradient acceptance of a 50-step rollout in contact (float64).

Compile time rules this file (MJX programs of a minute or more each on 2 cores): one jitted
`plant.init` and one jitted `value_and_grad` serve every evaluation (the gradient, its central
differences from the value, the standing and the random poses). The gradient runs in the
feet-only scene (`body_contact=False`: 20 contact slots instead of 54, the same foot
capsules, fewer constraint rows); the body geoms stay clear of the floor in these poses.
The rollout rematerialises every step (one checkpointed segment), as the myoLeg test does, and
runs with `throw=False`: the loss returns its first non-finite step and the tests check it (a
failure then names the pose instead of raising inside the finite-difference helper). Without
`myolegs26`'s via-point armature the state diverged here within 37 steps.

The start sinks 1.75 mm, not `crouch_qpos`'s default 1 mm, into the floor. With the foot flat
(as in the crouch and standing), myoLeg's foot capsules, which myolegs26 collides through, have
their bottoms 2 mm (heel, `foot_col1/3`) and 2.5 mm (`bofoot_col1`, `foot_col4`) above the toe
capsule's (`bofoot_col2`). A contact switches on at its 1 mm margin, and its impedance has a
kink 1 mm further in (solimp width 1 mm): sinking 1 mm puts the heels exactly on the switch
(every perturbation of the initial state turns them on or off; central differences grew like
1/eps: 712 and 7333 at eps 1e-6 and 1e-7 against autodiff -3.8), 2 mm exactly on the kink
(central differences converged only like eps: relative error 3e-5 at 1e-6, 3e-6 at 1e-7).
At 1.75 mm every foot contact is 0.25 mm or more from both (measured: <= 1.7e-6 at 1e-6).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import mujoco
import numpy as np
import pytest
from helpers import assert_parts_match_finite_differences
from mujoco import mjx

from mskdiff.models.locomotion import (
    crouch_qpos,
    foot_geom_ids,
    random_standing_qpos,
    standing_qpos,
)
from mskdiff.models.myoleg import myoleg_mjmodel
from mskdiff.models.myolegs26 import myolegs26, myolegs26_mjmodel
from mskdiff.plant import PlantState, rollout
from mskdiff.plant._mjx_compat import contact_distance

N_STEPS = 50  # 0.1 s at 2 ms
#: The gradient start's depth in the floor [m] (module docstring: not the heels' margin).
PENETRATION = 1.75e-3
#: MJX's candidate contacts of a capsule against the floor.
CAPSULE_CONTACTS = 2


@pytest.fixture(scope="module")
def mj_model():
    return myolegs26_mjmodel()


def _candidate_contacts(mj_model) -> int:
    return int(contact_distance(mjx.make_data(mj_model)).shape[0])


def _floor_contacts(mj_model) -> int:
    """Candidate contacts if every colliding geom (all capsules) met the floor and nothing else."""
    colliding = [g for g in range(1, mj_model.ngeom) if mj_model.geom_contype[g]]
    assert all(mj_model.geom_type[colliding] == mujoco.mjtGeom.mjGEOM_CAPSULE)
    return CAPSULE_CONTACTS * len(colliding)


def test_locomotion_scene(mj_model):
    """Floor at z = 0 and no pedestal; the 27 body geoms (myoLeg's primitives) collide with the
    floor only, all as capsules, the bone meshes with nothing; every MJX contact slot is a
    geom-floor contact (54; 20 with the feet only, 5 capsules per foot)."""
    floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    assert floor == 0 and mj_model.geom_pos[floor][2] == 0.0
    world = [mj_model.geom_type[g] for g in range(mj_model.ngeom) if mj_model.geom_bodyid[g] == 0]
    assert mujoco.mjtGeom.mjGEOM_CYLINDER not in world
    colliding = [g for g in range(1, mj_model.ngeom) if mj_model.geom_contype[g]]
    assert len(colliding) == 27 and not any(mj_model.geom_conaffinity[colliding])
    meshes = mj_model.geom_type == mujoco.mjtGeom.mjGEOM_MESH
    assert meshes.sum() > 0 and not any(mj_model.geom_contype[meshes] | mj_model.geom_conaffinity[meshes])
    assert mj_model.nsensor == 0 and mj_model.npair == 0 and mj_model.nu == 26
    assert (mj_model.nq, mj_model.nv, mj_model.neq) == (47, 46, 28)
    assert _candidate_contacts(mj_model) == _floor_contacts(mj_model) == 54
    feet_only = myolegs26_mjmodel(body_contact=False)
    assert _candidate_contacts(feet_only) == _floor_contacts(feet_only) == 20
    feet = foot_geom_ids(feet_only)
    colliding = {g for g in range(1, feet_only.ngeom) if feet_only.geom_contype[g]}
    assert colliding == set(feet["r"]) | set(feet["l"])


@pytest.mark.parametrize("build", [myolegs26_mjmodel, myoleg_mjmodel])
def test_foot_geoms_per_side(build):
    """`foot_geom_ids` names each side's colliding foot geoms, on bodies of that side."""
    model = build()
    feet = foot_geom_ids(model)
    for side, ids in feet.items():
        assert len(ids) >= 2 and all(model.geom_contype[ids])
        bodies = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, model.geom_bodyid[g])
                  for g in ids]
        assert all(b.endswith(f"_{side}") for b in bodies), bodies
    with pytest.raises(ValueError, match="foot geoms"):
        foot_geom_ids(mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1'/>"
                                                     "</worldbody></mujoco>"))


@pytest.mark.parametrize("pose", [standing_qpos, crouch_qpos])
def test_poses_hold_the_couplings_and_touch_the_floor(mj_model, pose):
    """Joint equalities (knee translations, via points) hold; both feet touch the floor with
    1 mm penetration; the crouch flexes the knees (myolegs26: negative `knee_angle`)."""
    data = mujoco.MjData(mj_model)
    data.qpos[:] = pose(mj_model)
    mujoco.mj_forward(mj_model, data)
    equality_rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert np.max(np.abs(data.efc_pos[equality_rows])) < 1e-9
    assert min(data.contact.dist[:data.ncon]) == pytest.approx(-1e-3, abs=1e-6)
    feet = foot_geom_ids(mj_model)
    for side in ("r", "l"):
        assert any(set(data.contact.geom[k]) & set(feet[side]) for k in range(data.ncon)), side
    knees = [mj_model.jnt_qposadr[mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT,
                                                     f"knee_angle_{s}")] for s in "rl"]
    assert np.all(data.qpos[knees] <= 0)


def test_options_are_checked():
    with pytest.raises(ValueError, match="timestep"):
        myolegs26(timestep=-0.002)
    with pytest.raises(ValueError, match="do not apply"):
        myolegs26(mujoco_muscles=True, formulation="rigid")
    with pytest.raises(ValueError, match="unknown field"):
        myolegs26(overrides={"vasti_r": {"max_force": 1.0}})


def test_converted_parameters_and_the_mujoco_muscle_plant(mj_model):
    """Optimal fibre and tendon slack lengths span the MTU lengths of MuJoCo's lengthrange; the
    comparison plant drives MuJoCo's own 26 muscles."""
    params = myolegs26().mtu.params
    low, high = mj_model.actuator_lengthrange.T
    assert np.all(np.asarray(params.tendon_slack_length) < low)
    assert np.all(np.asarray(params.tendon_slack_length + 1.6 * params.optimal_fiber_length)
                  > high)
    assert not np.any(np.asarray(params.ignore_tendon_compliance))
    stronger = myolegs26(overrides={"vasti_r": {"max_isometric_force": 20_000.0}})
    assert float(stronger.mtu.params.max_isometric_force[9]) == 20_000.0
    assert myolegs26(mujoco_muscles=True).n_muscles == 26


@pytest.fixture(scope="module")
def myolegs26_problem():
    """The feet-only plant, its model, the crouch start, and the jitted
    `((loss, (final contact distances, first non-finite step)), gradient)`."""
    with jax.enable_x64(True):
        plant, mj_model = myolegs26(body_contact=False), myolegs26_mjmodel(body_contact=False)
        template = _initial_state(plant, crouch_qpos(mj_model, penetration=PENETRATION),
                                  jr.key(1))

        def loss(inputs):
            """Final pose and mean tendon force after `N_STEPS` steps; aux: the final contact
            distances [m] and the first non-finite step (-1: none), checked by the tests."""
            excitations, (qpos, qvel, muscle), params = inputs
            model = eqx.tree_at(lambda p: p.mtu.params, plant, params)
            start = PlantState(template.data.replace(qpos=qpos, qvel=qvel), muscle)
            final, trajectory = rollout(model, start, excitations, segment_length=N_STEPS,
                                        throw=False)
            value = jnp.sum(final.data.qpos ** 2) + 1e-3 * jnp.mean(trajectory.tendon_force)
            return value, (contact_distance(final.data), trajectory.nonfinite_step)

        value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss, has_aux=True))
        inputs = (0.05 + 0.2 * jr.uniform(jr.key(2), (N_STEPS, plant.n_muscles)),
                  _differentiable(template), plant.mtu.params)
        return plant, mj_model, template, inputs, value_and_grad


def _initial_state(plant, qpos, key):
    """The pose with a small random velocity [rad/s, m/s] and every muscle in equilibrium."""
    return plant.init(jnp.asarray(qpos), 0.05 * jr.normal(key, (plant.mjx_model.nv,)),
                      activation=0.05)


def _differentiable(state) -> tuple:
    """The parts of a plant state the gradient is taken with respect to."""
    return state.data.qpos, state.data.qvel, state.muscle


def _finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(x)))
               for x in jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array)))


@pytest.mark.slow
@pytest.mark.x64
def test_myolegs26_gradients_through_contact_match_finite_differences(myolegs26_problem, getkey):
    """d(loss)/d(excitations, initial state, muscle parameters): a random direction each,
    relative error <= 1e-5 (the issue asks 1e-3; myoLeg's bound); the gradient is finite. Both
    feet on the floor at the start, still within 5 mm of it at the end."""
    _, _, start, inputs, value_and_grad = myolegs26_problem
    (_, (end_contact, nonfinite_step)), grad = value_and_grad(inputs)
    assert int(nonfinite_step) == -1
    assert int(jnp.sum(contact_distance(start.data) < 0)) >= 4
    assert float(jnp.min(end_contact)) < 5e-3  # feet on or just above the floor
    assert _finite(start.muscle) and _finite(grad)
    # Measured (initial state, eps 1e-7): <= 1.1e-7; at eps 1e-6 one direction of three gave
    # 2.4e-5 (an event within 1e-6 of the start), so the differences take eps 1e-7.
    assert_parts_match_finite_differences(lambda x: value_and_grad(x)[0][0], inputs, grad,
                                          key=getkey(), rtol=1e-5, directions=1, eps=1e-7)


@pytest.mark.slow
@pytest.mark.x64
def test_myolegs26_gradients_finite_from_standing_and_random_poses(myolegs26_problem):
    """Standing (knees at their limit) and 2 random poses near it, with random velocities and
    excitations: the equilibrium start, the loss and every gradient are finite."""
    plant, mj_model, _, inputs, value_and_grad = myolegs26_problem
    rng = np.random.default_rng(3)
    poses = [standing_qpos(mj_model)] + [random_standing_qpos(mj_model, rng) for _ in range(2)]
    for k, qpos in enumerate(poses):
        start = _initial_state(plant, qpos, jr.key(10 + k))
        excitations = jr.uniform(jr.key(100 + k), inputs[0].shape)
        (value, (_, nonfinite_step)), grad = value_and_grad(
            (excitations, _differentiable(start), inputs[2]))
        assert int(nonfinite_step) == -1 and _finite((value, start.muscle, grad)), k
        # A tilted foot can rest on a single capsule end (1 contact) instead of a mesh's 2+.
        assert int(jnp.sum(contact_distance(start.data) < 0)) >= 1, k
