"""The MJX plant on the tiny leg: the step's stages, rollouts, batching, errors, gradients."""

import contextlib
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from mskdiff.integrate import SemiImplicitEuler, check_finite
from mskdiff.integrate.simulate import error_if_nonfinite, first_nonfinite_step
from mskdiff.models import TINY_LEG_MUSCLES, tiny_leg_mjmodel, tiny_leg_parameters
from mskdiff.muscle import FORMULATIONS, MillardCurves, make_mtu
from mskdiff.plant import (
    MJXPlant,
    MuJoCoMusclePlant,
    NonFiniteStateError,
    check_trajectory,
    cpu_env_group_size,
    rollout,
)


def tiny_plant(formulation="tendon_force") -> MJXPlant:
    params, options = tiny_leg_parameters(), {}
    if formulation.startswith("millard_"):  # damped fibres, a tendon curve per muscle
        params = eqx.tree_at(lambda p: p.fiber_damping, params, jnp.full(4, 0.1))
        options["curves"] = MillardCurves.from_parameters(
            {"TendonForceLengthCurve": {"strain_at_one_norm_force": [0.04, 0.049, 0.06, 0.049]}})
    return MJXPlant.from_mjmodel(tiny_leg_mjmodel(), make_mtu(params, formulation, **options))


def tiny_mujoco_muscle_plant() -> MuJoCoMusclePlant:
    return MuJoCoMusclePlant.from_mjmodel(tiny_leg_mjmodel())


#: A crouched pose with the foot on the floor: pelvis height, hip, knee.
CROUCH = np.array([-0.02, 0.3, 0.6])


def crouch_qpos(hip=0.3, knee=0.6) -> np.ndarray:
    """Hip and knee flexed, pelvis lowered until the foot just touches the floor."""
    model = tiny_leg_mjmodel()
    data = mujoco.MjData(model)
    data.qpos[:] = [0.0, hip, knee]
    mujoco.mj_kinematics(model, data)
    foot = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "foot")
    data.qpos[0] = -(data.geom_xpos[foot][2] - model.geom_size[foot][0]) - 1e-3
    return data.qpos.copy()


def test_construction_errors():
    model = tiny_leg_mjmodel()
    params = tiny_leg_parameters()
    with pytest.raises(ValueError, match=r"no parameters for \['hamstring'\]"):
        MJXPlant.from_mjmodel(model, make_mtu(params.select(TINY_LEG_MUSCLES[:3])))
    renamed = dataclasses.replace(params, names=("hip_flexor", "hip_extensor", "knee_extensor",
                                                 "biceps"))
    with pytest.raises(ValueError, match=r"no actuator for \['biceps'\]"):
        MJXPlant.from_mjmodel(model, make_mtu(renamed))
    model.opt.timestep = -0.001
    with pytest.raises(ValueError, match="timestep must be > 0"):
        MJXPlant.from_mjmodel(model, make_mtu(params))


def test_input_shape_errors():
    plant = tiny_plant()
    state = plant.init(crouch_qpos())
    with pytest.raises(ValueError, match="excitation"):
        plant.step(state, jnp.zeros(3))
    with pytest.raises(ValueError, match="qpos"):
        plant.init(np.zeros(5))
    with pytest.raises(ValueError, match=r"\(T, 4\) or \(T, n_envs, 4\)"):
        rollout(plant, state, jnp.zeros((10, 5)))
    with pytest.raises(ValueError, match="leading env axis of 3"):
        rollout(plant, state, jnp.zeros((10, 3, 4)))


@pytest.mark.x64
@pytest.mark.parametrize("formulation", list(FORMULATIONS))
def test_actuation_is_moment_arms_times_tendon_force(formulation):
    """qfrc_actuator = -J^T F with J from MuJoCo C, F the plant's tendon forces."""
    plant = tiny_plant(formulation)
    qpos, qvel = crouch_qpos(), np.array([0.0, 0.5, -1.0])
    state = plant.step(plant.init(qpos, qvel, activation=0.3), jnp.full(4, 0.5))
    model = tiny_leg_mjmodel()
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = qpos, qvel
    mujoco.mj_fwdPosition(model, data)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr,
                            data.moment_colind)
    force = np.asarray(plant.tendon_force(state))
    assert np.all(force > 0)
    np.testing.assert_allclose(state.data.qfrc_actuator, -moment.T @ force, rtol=1e-10, atol=1e-9)


@pytest.mark.x64
def test_mujoco_muscles_match_mujoco_c():
    """With MuJoCo's own muscles the plant reproduces mj_step (same solver iterations)."""
    plant = tiny_mujoco_muscle_plant()
    assert plant.muscle_names == TINY_LEG_MUSCLES
    model = tiny_leg_mjmodel()
    model.opt.tolerance = 0.0  # C stops early at its tolerance; the plant always runs 3
    data = mujoco.MjData(model)
    data.qpos[:] = crouch_qpos()
    excitation = np.array([0.2, 0.6, 0.8, 0.1])
    state = plant.init(data.qpos, activation=0.0)
    step = jax.jit(lambda s: plant.step(s, excitation))
    data.ctrl[:] = excitation
    for _ in range(50):
        mujoco.mj_step(model, data)
        state = step(state)
    np.testing.assert_allclose(state.data.qpos, data.qpos, atol=1e-7)
    np.testing.assert_allclose(state.data.act, data.act, atol=1e-9)


@pytest.mark.x64
def test_fixed_newton_iterations_reach_the_converged_constraint_solution():
    """3 chained one-iteration solves land on MuJoCo C's converged accelerations in contact."""
    plant = tiny_plant()
    state = plant.init(crouch_qpos(), activation=0.2)
    state = plant.step(state, jnp.full(4, 0.2))
    model = tiny_leg_mjmodel()
    model.opt.iterations, model.opt.tolerance = 100, 1e-14
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = state.data.qpos, state.data.qvel
    mujoco.mj_fwdPosition(model, data)
    mujoco.mj_fwdVelocity(model, data)
    stepped = plant.step(state, jnp.full(4, 0.2))
    data.qfrc_applied[:] = stepped.data.qfrc_actuator  # the plant's muscle forces
    model.actuator_gainprm[:] = 0.0
    model.actuator_biasprm[:] = 0.0
    mujoco.mj_forward(model, data)
    assert data.ncon >= 1
    np.testing.assert_allclose(stepped.data.qacc, data.qacc, rtol=1e-6, atol=1e-6)


def test_rollout_batch_equals_single_envs_and_checkpointing_changes_nothing():
    """A batch of 3 envs in vmap groups of 2 (as on CPU above the deadlock threshold)."""
    plant = tiny_plant()
    poses = np.stack([crouch_qpos(0.2, 0.5), crouch_qpos(0.4, 0.9), crouch_qpos(0.0, 0.3)])
    states = plant.init_batch(poses)
    # 25 steps: checkpoint segments of 5 with no remainder segment (one compile fewer).
    excitations = jnp.stack([jnp.full((25, 4), a) for a in (0.3, 0.6, 0.1)], axis=1)
    _, batch = rollout(plant, states, excitations, env_group=2)
    assert batch.qpos.shape == (25, 3, 3) and batch.tendon_force.shape == (25, 3, 4)
    for env in range(3):
        state = jax.tree.map(lambda x: x[env], states)  # noqa: B023
        _, single = rollout(plant, state, excitations[:, env], checkpoint=False)
        np.testing.assert_allclose(batch.qpos[:, env], single.qpos, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batch.fiber_length[:, env], single.fiber_length, rtol=1e-5)
    np.testing.assert_array_equal(batch.nonfinite_step, [-1, -1, -1])


def test_cpu_env_groups_stay_below_the_lapack_split():
    """jaxlib 0.10's CPU Cholesky splits a batch of n x n matrices over its thread pool (and
    can deadlock) above ceil(2e5 / (n**3 // 3)) matrices: 16 for myoLeg's nv = 34."""
    assert cpu_env_group_size(34) == 16
    assert cpu_env_group_size(35) == 14
    assert cpu_env_group_size(1) == 200_000


def test_nonfinite_state_is_reported_with_env_and_step():
    """Raised from inside the compiled rollout (`eqx.branched_error_if`), or recorded with
    `throw=False` (static: a program without the check, which the persistent cache can keep)."""
    plant = tiny_plant()
    states = plant.init_batch(np.stack([crouch_qpos()] * 3))
    poisoned = states.data.qvel.at[1, 1].set(jnp.inf)
    states = eqx.tree_at(lambda s: s.data.qvel, states, poisoned)
    excitations = jnp.full((25, 3, 4), 0.2)
    message = r"plant state \(NaN or inf\) first in env 1 at step 0"
    with pytest.raises(eqx.EquinoxRuntimeError, match=message):
        jax.block_until_ready(rollout(plant, states, excitations, env_group=2))
    _, trajectory = rollout(plant, states, excitations, env_group=2, throw=False)
    np.testing.assert_array_equal(trajectory.nonfinite_step, [-1, 0, -1])
    with pytest.raises(NonFiniteStateError, match="env 1 at step 0"):
        check_trajectory(trajectory)


def test_nonfinite_errors_name_the_step_and_env():
    """The one mechanism of `rollout` and `simulate` (`error_if_nonfinite`), on small arrays."""
    states = jnp.ones((6, 2)).at[4:, 1].set(jnp.nan)
    first_bad = first_nonfinite_step(states)
    assert int(first_bad) == 4 and int(first_nonfinite_step(jnp.ones((6, 2)))) == -1
    check = eqx.filter_jit(lambda x, bad, throw: error_if_nonfinite(x, bad, 6, "test state", throw))
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"test state \(NaN or inf\) first in step 4"):
        jax.block_until_ready(check(states, first_bad, True))
    with pytest.raises(eqx.EquinoxRuntimeError, match="first in env 2 at step 5"):
        jax.block_until_ready(check(states, jnp.array([-1, -1, 5, 1]), True))
    np.testing.assert_array_equal(check(states, jnp.array([-1, -1, 5, 1]), False), states)
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"MTU state \(NaN or inf\) first in step 4"):
        jax.block_until_ready(eqx.filter_jit(check_finite)(states, "MTU state"))


def test_sub_steps_converge():
    """With 4 sub-steps (the default) the elastic plant is closer to 16 than with 1. (25
    steps from one pose: the 4-sub-step rollout is the program the batch test compiled.)"""
    plant = tiny_plant()
    state = plant.init(crouch_qpos(), activation=0.1)
    excitations = jnp.full((25, 4), 0.7)
    run = lambda n: rollout(plant, state, excitations, integrator=SemiImplicitEuler(n),
                            checkpoint=False)[1].tendon_force
    reference = run(16)
    assert jnp.max(jnp.abs(run(4) - reference)) < jnp.max(jnp.abs(run(1) - reference))


# Compilation guard: repeated calls with new values of the same shapes reuse the compiled
# programs. It runs last in this file, so its first calls find the programs the tests above
# compiled (one process per file under `--dist loadfile`).
#: JAX's events for tracing a function to a jaxpr and lowering it for compilation.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration")


@contextlib.contextmanager
def count_compilations():
    """Yields a list that collects the trace and lowering events raised inside the block."""
    events = []
    listener = lambda event, duration, **kwargs: events.append(event) if event in COMPILE_EVENTS else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_rollout_and_step_compile_once_for_new_values_of_the_same_shapes():
    """25 steps, 4 sub-steps, no checkpointing: the program `test_plant.py` compiles."""
    plant = tiny_plant()
    states = [plant.init(crouch_qpos(hip, knee), activation=a)
              for hip, knee, a in ((0.3, 0.6, 0.1), (0.2, 0.5, 0.3), (0.4, 0.9, 0.05))]
    stronger = eqx.tree_at(lambda p: p.mtu.params.max_isometric_force, plant,
                           plant.mtu.params.max_isometric_force * 1.2)
    runs = [(plant, states[0], 0.7), (plant, states[1], 0.2), (stronger, states[2], 0.5)]
    run = lambda p, s, level: rollout(p, s, jnp.full((25, 4), level), checkpoint=False)
    step = lambda p, s, level: p.step(s, jnp.full(4, level))
    jax.block_until_ready((run(*runs[0]), step(*runs[0])))  # the first calls compile
    with count_compilations() as events:
        for args in runs[1:]:
            final, trajectory = jax.block_until_ready(run(*args))
            jax.block_until_ready(step(*args))
    assert not events, f"recompiled: {events}"
    np.testing.assert_array_equal(trajectory.nonfinite_step, -1)
    assert float(final.data.time) > 0
