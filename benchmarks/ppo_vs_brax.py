"""mskdiff's PPO against Brax's PPO trainer on the same environment, budget and settings.

Both train on `mskdiff.rl.Reach` (Brax through Playground's `wrap_for_brax_training`, unchanged)
with the same envs, unroll, minibatches, epochs, learning rate, discount, entropy cost, network
widths, observation normalisation and env steps, over several seeds; both evaluate the
deterministic policy over full episodes at the end. The JSON (with device info) has every final
return, the means and the ratio of wall times.

    python benchmarks/ppo_vs_brax.py --out benchmarks/ppo_vs_brax_cpu.json
"""

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import numpy as np
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as brax_ppo
from device import device_info
from mujoco_playground import wrapper

from mskdiff.rl import Reach
from mskdiff.rl.train import PPO, train

SETTINGS = {"num_envs": 64, "unroll_length": 16, "num_minibatches": 4, "num_epochs": 4,
            "learning_rate": 1e-3, "discount": 0.99, "entropy_cost": 1e-3, "hidden": (32, 32),
            "gae_lambda": 0.95, "clip_epsilon": 0.2, "max_grad_norm": 1.0}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=61_440)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-envs", type=int, default=64)
    parser.add_argument("--out", required=True)
    return parser.parse_args()


def run_mskdiff(env, steps: int, seed: int, eval_envs: int) -> dict:
    began = time.perf_counter()
    result = train(env, PPO(**SETTINGS), steps=steps, seed=seed, num_eval_envs=eval_envs,
                   progress=False)
    return {"seed": seed, "return": result.history[-1]["eval/episode_return"],
            "env_steps": result.history[-1]["env_steps"], "wall_s": time.perf_counter() - began}


def run_brax(env, steps: int, seed: int, eval_envs: int) -> dict:
    s = SETTINGS
    network = functools.partial(ppo_networks.make_ppo_networks,
                                policy_hidden_layer_sizes=s["hidden"],
                                value_hidden_layer_sizes=s["hidden"])
    began = time.perf_counter()
    with jax.numpy_rank_promotion("allow"):
        _, _, metrics = brax_ppo.train(
            env, num_timesteps=steps, num_evals=2, episode_length=env.episode_length,
            # Brax's batch_size counts unrolls per minibatch: 16 x 4 x 16 = 1,024 steps/update
            num_envs=s["num_envs"], batch_size=s["num_envs"] // s["num_minibatches"],
            unroll_length=s["unroll_length"], num_minibatches=s["num_minibatches"],
            num_updates_per_batch=s["num_epochs"], learning_rate=s["learning_rate"],
            discounting=s["discount"], entropy_cost=s["entropy_cost"],
            gae_lambda=s["gae_lambda"], clipping_epsilon=s["clip_epsilon"],
            max_grad_norm=s["max_grad_norm"], normalize_observations=True,
            num_eval_envs=eval_envs, network_factory=network, seed=seed,
            wrap_env_fn=wrapper.wrap_for_brax_training)
    return {"seed": seed, "return": float(metrics["eval/episode_reward"]),
            "wall_s": time.perf_counter() - began}


def main() -> None:
    args = parse_args()
    env = Reach()
    results = {"device": device_info(("jax", "jaxlib", "brax", "playground", "optax",
                                      "mskdiff")),
               "env": "Reach", "steps": args.steps, "settings": {**SETTINGS,
                                                                "hidden": list(SETTINGS["hidden"])},
               "mskdiff": [], "brax": []}
    for seed in range(args.seeds):
        results["mskdiff"].append(run_mskdiff(env, args.steps, seed, args.eval_envs))
        results["brax"].append(run_brax(env, args.steps, seed, args.eval_envs))
        print(f"seed {seed}: mskdiff {results['mskdiff'][-1]['return']:.3f} "
              f"({results['mskdiff'][-1]['wall_s']:.0f} s), brax {results['brax'][-1]['return']:.3f}"
              f" ({results['brax'][-1]['wall_s']:.0f} s)", flush=True)
    for name in ("mskdiff", "brax"):
        returns = [r["return"] for r in results[name]]
        results[f"{name}_mean_return"] = float(np.mean(returns))
        results[f"{name}_min_max_return"] = [float(np.min(returns)), float(np.max(returns))]
    results["wall_ratio_brax_over_mskdiff"] = (sum(r["wall_s"] for r in results["brax"])
                                               / sum(r["wall_s"] for r in results["mskdiff"]))
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k.endswith(("return", "mskdiff"))},
                     indent=1))


if __name__ == "__main__":
    main()
