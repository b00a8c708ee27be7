"""Brax's PPO trainer on every task through MuJoCo Playground's `wrap_for_brax_training`,
unchanged: short runs with tiny networks on the tiny biped (the learning curve on myolegs26 is a
benchmark, `benchmarks/rl_stand.py`)."""

import functools

import jax
import numpy as np
import pytest

ppo = pytest.importorskip("brax.training.agents.ppo.train",
                          reason="the `rl` extra (brax) is not installed")
from brax.training.agents.ppo import networks as ppo_networks  # noqa: E402
from mujoco_playground import wrapper  # noqa: E402

import mskdiff.rl as rl  # noqa: E402


@pytest.mark.parametrize("task", rl.TASKS)
def test_brax_ppo_trains_on_every_task(task, reference_dir):
    options = {"reference_dir": reference_dir} if task == "imitate" else {}
    env = rl.make(task, "tiny_biped", check_actions=False, **options)
    network = functools.partial(ppo_networks.make_ppo_networks,
                                policy_hidden_layer_sizes=(8,), value_hidden_layer_sizes=(8,))
    logs = []
    with jax.numpy_rank_promotion("allow"):  # Brax's normaliser broadcasts (suite: 'raise')
        make_policy, params, _ = ppo.train(
            env, num_timesteps=80, num_evals=2, episode_length=10, num_envs=4, batch_size=4,
            num_minibatches=1, unroll_length=5, num_updates_per_batch=1, network_factory=network,
            wrap_env_fn=wrapper.wrap_for_brax_training, seed=0, run_evals=False,
            log_training_metrics=True, progress_fn=lambda step, metrics: logs.append(metrics))
    episodes = [m for m in logs if "episode/sum_reward" in m]
    assert episodes, "no episode finished"
    for term in env.reward_weights:  # every reward term reaches the trainer's logs
        assert np.isfinite(float(episodes[-1][f"episode/reward/{term}"]))
    assert np.isfinite(float(episodes[-1]["episode/sum_reward"]))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
    policy = make_policy(params, deterministic=True)
    action, _ = policy(env.reset(jax.random.PRNGKey(0)).obs, jax.random.PRNGKey(1))
    assert action.shape == (env.action_size,) and np.all(np.abs(np.asarray(action)) <= 1)
