"""Brax's analytic-policy-gradient trainer (`apg`) on Stand through Playground's wrapper,
unchanged: gradients of the summed reward flow through the plant's elastic tendons and contact."""

import functools

import jax
import numpy as np
import pytest

apg = pytest.importorskip("brax.training.agents.apg.train",
                          reason="the `rl` extra (brax) is not installed")
from brax.training.agents.apg import networks as apg_networks  # noqa: E402
from mujoco_playground import wrapper  # noqa: E402

import mskdiff.rl as rl  # noqa: E402


# Brax 0.14.2's apg calls optax.global_norm, deprecated in optax 0.2.8
@pytest.mark.filterwarnings("ignore:optax.global_norm is deprecated:DeprecationWarning")
def test_brax_apg_trains_on_stand():
    env = rl.make("stand", "tiny_biped", check_actions=False)
    network = functools.partial(apg_networks.make_apg_networks, hidden_layer_sizes=(8,))
    logs = []
    with jax.numpy_rank_promotion("allow"):  # Brax's code broadcasts (suite: 'raise')
        make_policy, params, metrics = apg.train(
            env, policy_updates=2, episode_length=10, horizon_length=5, num_envs=2,
            num_eval_envs=2, num_evals=1, network_factory=network, learning_rate=1e-3,
            wrap_env_fn=wrapper.wrap_for_brax_training, seed=0,
            progress_fn=lambda step, m: logs.append(m))
    assert len(logs) == 1  # num_evals=1: Brax evaluates once, after training
    for m in logs:  # Brax's evaluator ran the env; every reward term is in its metrics
        assert np.isfinite(float(m["eval/episode_reward"]))
        for term in env.reward_weights:
            assert np.isfinite(float(m[f"eval/episode_reward/{term}"]))
    assert np.isfinite(float(metrics["eval/episode_reward"]))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
