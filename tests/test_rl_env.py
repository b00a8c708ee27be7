"""The RL environments (`mskdiff.rl`): the Playground contract, auto-reset of the muscle state,
gradients, faults, randomisation, and every task on both leg models.

Most checks run on the tiny biped (12 muscles, compiles in seconds); the leg models are built
(not compiled) to check that every task exists on them.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import assert_parts_match_finite_differences

import mskdiff.rl as rl
from mskdiff.models import tiny_biped_mjmodel, tiny_biped_parameters
from mskdiff.muscle import make_mtu
from mskdiff.plant import MJXPlant, relative
from mskdiff.rl.reference import mirrored_name, symmetric_cycle

wrapper = pytest.importorskip("mujoco_playground._src.wrapper",
                              reason="the `rl` extra (mujoco_playground) is not installed")

TINY = "tiny_biped"


@pytest.fixture(scope="module")
def stand():
    """Stand on the tiny biped, episodes of 3 steps, no action check (one program per test)."""
    return rl.make("stand", TINY, episode_seconds=0.06, check_actions=False)


def test_make_names_the_valid_choices():
    with pytest.raises(ValueError, match="unknown task 'run'.*stand"):
        rl.make("run", TINY)
    with pytest.raises(ValueError, match="unknown model 'myoarm'.*myolegs26"):
        rl.make("stand", "myoarm")
    with pytest.raises(ValueError, match="unknown muscles 'soft'.*elastic"):
        rl.make("stand", TINY, muscles="soft")
    with pytest.raises(ValueError, match="stand: .*speed_range"):
        rl.make("stand", TINY, speed_range=(1, 2))
    with pytest.raises(ValueError, match="unknown reward terms \\['speed'\\]"):
        rl.make("stand", TINY, reward_weights={"speed": 1.0})
    with pytest.raises(ValueError, match="ctrl_dt"):
        rl.make("stand", TINY, ctrl_dt=0.003)
    with pytest.raises(ValueError, match="initial_activation"):
        rl.EnvConfig(initial_activation=2.0)
    with pytest.raises(ValueError, match="push_fraction"):
        rl.make("stand", TINY, push_fraction=-1.0)


@pytest.mark.parametrize("model, n_muscles", [("myolegs26", 26), ("myoleg", 80)])
def test_every_task_exists_on_the_leg_models(model, n_muscles, reference_dir):
    for task in rl.TASKS:
        options = {"reference_dir": reference_dir} if task == "imitate" else {}
        env = rl.make(task, model, **options)
        assert env.action_size == n_muscles
        layout = env.observation_layout
        assert env.observation_size == sum(s.stop - s.start for s in layout.values())
        assert env.episode_length == round(rl.registry.EPISODE_SECONDS[task] / env.dt)
        assert env.mj_model.nu == n_muscles and env.mjx_model.nu == n_muscles
    assert isinstance(rl.make("stand", model, muscles="rigid").plant, MJXPlant)
    assert not isinstance(rl.make("stand", model, muscles="mujoco").plant, MJXPlant)


def test_observation_layout_reads_the_state(stand):
    state = jax.jit(stand.reset)(jr.key(0))
    layout, obs, data = stand.observation_layout, np.asarray(state.obs), state.data
    np.testing.assert_allclose(obs[layout["joint_qpos"]], data.qpos[7:], atol=1e-6)
    np.testing.assert_allclose(obs[layout["pelvis_height"]], data.qpos[2:3], atol=1e-6)
    np.testing.assert_allclose(obs[layout["activation"]], stand.config.initial_activation,
                               rtol=1e-5)
    assert set(layout) == set(rl.OBSERVATIONS)
    assert obs.shape == (stand.observation_size,) and np.all(np.isfinite(obs))
    # the reset pose rests on the floor: the feet carry weight after one step
    after = jax.jit(stand.step)(state, jnp.zeros(stand.action_size))
    feet = np.asarray(after.obs[layout["foot_forces"]]).reshape(2, 3)
    assert feet[:, 2].sum() > 0.3


@pytest.mark.parametrize("full_reset", [False, True])
def test_auto_reset_restores_skeleton_and_muscles(stand, full_reset):
    """After Playground's auto-reset, the whole state (skeleton and muscle states) equals a fresh
    `reset` with the same key."""
    env = wrapper.wrap_for_brax_training(stand, episode_length=stand.episode_length,
                                         full_reset=full_reset)
    keys = jr.split(jr.PRNGKey(1), 2)  # raw keys: Brax reads their shape
    first = jax.jit(env.reset)(keys)
    step = jax.jit(env.step)
    state = first
    actions = jnp.stack([jnp.ones(stand.action_size), -jnp.ones(stand.action_size)])
    for _ in range(stand.episode_length - 1):
        state = step(state, actions)
    assert not np.any(np.asarray(state.done))
    moved = np.abs(np.asarray(state.data.muscle.activation - first.data.muscle.activation))
    assert moved.max() > 0.05  # the muscles left their reset state
    before_reset = state
    state = step(state, actions)
    assert np.all(np.asarray(state.done) == 1)
    # the keys the wrapper resets with, drawn as it draws them (`[..., 1]` of raw keys)
    wrapper_key = lambda k: jax.vmap(jr.split)(k)[..., 1]
    if full_reset:  # a new key from the wrapper's rng, through the wrapper's own reset
        fresh = jax.jit(jax.vmap(stand.reset))(
            wrapper_key(wrapper_key(before_reset.info["AutoResetWrapper_rng"])))
    else:  # the cached first state
        fresh = jax.jit(jax.vmap(stand.reset))(wrapper_key(keys))
    # equal up to float32 rounding of the two compiled programs (the wrapper's and this one)
    for got, want in zip(jax.tree.leaves(state.data), jax.tree.leaves(fresh.data), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(state.obs), np.asarray(fresh.obs), rtol=1e-5,
                               atol=1e-6)


def test_nonfinite_env_ends_its_episode_without_poisoning_the_batch(stand):
    states = jax.jit(jax.vmap(stand.reset))(jr.split(jr.key(2), 2))
    broken = eqx.tree_at(lambda s: s.data.data.qvel, states,
                         states.data.data.qvel.at[1, 0].set(jnp.nan))
    actions = jnp.full((2, stand.action_size), 0.2)
    after = jax.jit(jax.vmap(stand.step))(broken, actions)
    assert np.asarray(after.done).tolist() == [0.0, 1.0]
    assert np.asarray(after.metrics["nonfinite"]).tolist() == [0.0, 1.0]
    assert np.asarray(after.reward)[1] == 0.0
    assert np.all(np.isfinite(np.asarray(after.obs)))
    alone = jax.jit(stand.step)(jax.tree.map(lambda x: x[0], states), actions[0])
    np.testing.assert_allclose(np.asarray(after.obs[0]), np.asarray(alone.obs), rtol=1e-4, atol=1e-5)


def test_bad_actions_raise(stand):
    state = jax.jit(stand.reset)(jr.key(0))
    with pytest.raises(ValueError, match=r"shape \(12,\)"):
        stand.step(state, jnp.zeros(5))
    with pytest.raises(TypeError, match="floating point"):
        stand.step(state, jnp.zeros(12, dtype=jnp.int32))
    checked = rl.make("stand", TINY, episode_seconds=0.06)
    with pytest.raises(jax.errors.JaxRuntimeError, match="NaN or inf"):  # trainers' `jax.jit`
        jax.jit(checked.step)(state, jnp.full(12, jnp.nan)).obs.block_until_ready()


def test_domain_randomizer_gives_each_env_its_muscles(stand):
    ranges = {"max_isometric_force": relative(0.5, 1.5), "body_mass": relative(0.9, 1.1)}
    randomize = rl.domain_randomizer(stand, ranges)
    env = wrapper.wrap_for_brax_training(
        stand, episode_length=stand.episode_length,
        randomization_fn=functools.partial(randomize, rng=jr.split(jr.PRNGKey(3), 2)))
    forces = env._mjx_model_v.mtu.params.max_isometric_force
    assert forces.shape == (2, stand.action_size) and not np.allclose(forces[0], forces[1])
    state = jax.jit(env.reset)(jr.split(jr.PRNGKey(4), 2))
    state = jax.jit(env.step)(state, jnp.full((2, stand.action_size), 0.5))
    layout = stand.observation_layout["norm_tendon_force"]
    tendon = np.asarray(state.obs[:, layout])
    assert np.all(np.isfinite(tendon)) and not np.allclose(tendon[0], tendon[1])
    with pytest.raises(ValueError, match="unknown quantities"):
        rl.domain_randomizer(stand, {"height": relative(0.9, 1.1)})


def test_observation_noise_is_applied():
    noisy = rl.make("stand", TINY, noise=rl.Noise(observation_std=0.1), check_actions=False)
    clean = rl.make("stand", TINY, check_actions=False)
    difference = np.asarray(jax.jit(noisy.reset)(jr.key(0)).obs
                            - jax.jit(clean.reset)(jr.key(0)).obs)
    assert 0.05 < difference.std() < 0.2


def test_reference_cycle_mirrors_and_loops(reference_dir):
    assert mirrored_name("knee_angle_r_beta") == "knee_angle_l_beta"
    assert mirrored_name("hip_flexion_l") == "hip_flexion_r" and mirrored_name("lumbar") == "lumbar"
    time = np.linspace(0.0, 1.0, 101)
    coordinates = {"pelvis_tx": time, "pelvis_list": np.sin(time), "hip_flexion_r": time,
                   "hip_flexion_l": -time}
    times, cycle, period = symmetric_cycle(time, coordinates, 0.2, 0.6)
    assert period == pytest.approx(0.8) and times[-1] == pytest.approx(0.8)
    half = int(np.argmin(np.abs(times - 0.4)))  # the mirror's first sample: the trial at 0.2 s
    source_time = 0.2 + times[half] - 0.4
    assert cycle["hip_flexion_r"][half] == pytest.approx(-source_time)  # the left's value
    assert cycle["pelvis_list"][half] == pytest.approx(-np.sin(source_time))
    assert cycle["pelvis_tx"][-1] - cycle["pelvis_tx"][0] == pytest.approx(0.8)
    env = rl.make("imitate", TINY, reference_dir=reference_dir)
    reference = env.reference
    assert reference.qpos.shape == (env.n_frames, env.mj_model.nq)
    assert 0.5 < np.linalg.norm(reference.stride) < 2.0  # one stride of a walk [m]
    target = env._target(jnp.asarray(env.n_frames + 3))
    np.testing.assert_allclose(target["qpos"][:3], reference.qpos[3, :3] + reference.stride,
                               rtol=1e-6)
    state = env.reset(jr.key(5))  # reference-state initialisation at a random frame
    frame = int(state.info["frame"])
    np.testing.assert_allclose(state.data.qpos[7:], reference.qpos[frame, 7:], atol=0.021)


@pytest.mark.x64
def test_episode_reward_gradient_matches_central_differences(getkey):
    """d(summed reward of 3 control steps in contact)/d(linear policy, action offsets), float64:
    the policy acts `tanh(W obs) + offset`, so one program gives both gradients."""
    plant = MJXPlant.from_mjmodel(tiny_biped_mjmodel(), make_mtu(tiny_biped_parameters(),
                                                                  "tendon_force"))
    config = rl.EnvConfig(episode_seconds=0.06, check_actions=False, reset_noise=0.0)
    env = rl.Stand(plant, tiny_biped_mjmodel(), config, model_name=TINY)
    start = jax.jit(env.reset)(jr.key(0))

    def episode_return(inputs):
        weights, offsets = inputs

        def one(state, offset):
            state = env.step(state, jnp.tanh(weights @ state.obs) + offset)
            return state, state.reward

        return jnp.sum(jax.lax.scan(one, start, offsets)[1])

    inputs = (0.01 * jr.normal(getkey(), (env.action_size, env.observation_size)),
              0.4 * jr.uniform(getkey(), (3, env.action_size)) - 0.6)
    value_and_grad = jax.jit(jax.value_and_grad(episode_return))
    value, grad = value_and_grad(inputs)
    assert np.isfinite(value)
    for part in grad:
        assert np.all(np.isfinite(part)) and np.any(part != 0)
    assert_parts_match_finite_differences(lambda x: value_and_grad(x)[0], inputs, grad,
                                          key=getkey(), rtol=1e-4, directions=2)
