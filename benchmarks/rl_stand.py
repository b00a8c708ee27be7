"""A learning curve of `Stand` on myolegs26 with Brax's PPO trainer, unchanged, through MuJoCo
Playground's `wrap_for_brax_training`.

The trainer's evaluations (deterministic policy, `--eval-envs` envs, full 5 s episodes) give the
curve: return and episode length against environment steps and wall time, with every reward term.
The first evaluation (step 0) is the untrained policy: the baseline of the same run. Writes the
JSON (after every evaluation, with device info) and a plot.

On CPU JAX's client is created with a one-thread intra-op pool (`batch64.one_intra_op_thread`):
Brax's wrapper `vmap`s the whole batch, and batches above 7 myolegs26 envs can otherwise deadlock
jaxlib's CPU Cholesky (benchmarks/README.md).

    python benchmarks/rl_stand.py --out benchmarks/rl_stand_cpu.json --plot docs/rl_stand_cpu.png
"""

import argparse
import functools
import json
import time
from pathlib import Path

from batch64 import one_intra_op_thread


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="myolegs26")
    parser.add_argument("--timesteps", type=int, default=300_000, help="environment steps")
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--eval-envs", type=int, default=8)
    parser.add_argument("--evals", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="rl_stand.json")
    parser.add_argument("--plot", default=None)
    return parser.parse_args()


def plot(results: dict, path: Path) -> None:
    """Return and episode length against environment steps and wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = results["curve"]
    steps = [p["env_steps"] for p in curve]
    wall = [p["wall_s"] / 60 for p in curve]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [p["eval/episode_reward"] for p in curve], "o-")
    axes[0].set(xlabel="environment steps", ylabel="evaluation return", title="return")
    axes[1].plot(wall, [p["eval/episode_reward"] for p in curve], "o-")
    axes[1].set(xlabel="wall time [min]", ylabel="evaluation return", title="return")
    axes[2].plot(steps, [p["eval/avg_episode_length"] * results["ctrl_dt"] for p in curve], "o-")
    axes[2].set(xlabel="environment steps", ylabel="episode length [s] (5 s max)",
                title="time standing")
    device = results["device"]
    fig.suptitle(f"Brax PPO on Stand, {results['model']} ({results['muscles']} tendons), "
                 f"{results['envs']} envs, {device['platform']} ({device['cpu_count']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    args = parse_args()
    with one_intra_op_thread():
        import jax
        from brax.training.agents.ppo import networks as ppo_networks
        from brax.training.agents.ppo import train as ppo
        from device import device_info
        from mujoco_playground import wrapper

        import mskdiff.rl as rl

    env = rl.make("stand", args.model, check_actions=False)
    out = Path(args.out)
    results = {"device": device_info(("jax", "jaxlib", "mujoco-mjx", "brax", "playground",
                                      "mskdiff")),
               "model": args.model, "muscles": "elastic", "task": "stand", "envs": args.envs,
               "timesteps": args.timesteps, "ctrl_dt": env.dt,
               "episode_length": env.episode_length, "reward_weights": env.reward_weights,
               "ppo": {"unroll_length": 20, "batch_size": 32, "num_minibatches": 4,
                       "num_updates_per_batch": 4, "learning_rate": 3e-4, "entropy_cost": 1e-2,
                       "discounting": 0.97, "normalize_observations": True,
                       "policy_hidden_layer_sizes": [128, 128],
                       "value_hidden_layer_sizes": [256, 256]},
               "curve": []}
    config = dict(results["ppo"])
    network = functools.partial(ppo_networks.make_ppo_networks,
                                policy_hidden_layer_sizes=tuple(config.pop("policy_hidden_layer_sizes")),
                                value_hidden_layer_sizes=tuple(config.pop("value_hidden_layer_sizes")))
    began = time.perf_counter()

    def progress(step, metrics):
        point = {"env_steps": int(step), "wall_s": time.perf_counter() - began,
                 **{k: float(v) for k, v in metrics.items() if k.startswith("eval/")}}
        results["curve"].append(point)
        out.write_text(json.dumps(results, indent=2))
        print(f"{point['wall_s']:7.0f} s  {step:8d} steps  return {point['eval/episode_reward']:8.2f}"
              f"  episode {point['eval/avg_episode_length'] * env.dt:4.2f} s", flush=True)

    ppo.train(env, num_timesteps=args.timesteps, num_evals=args.evals,
              episode_length=env.episode_length, num_envs=args.envs,
              num_eval_envs=args.eval_envs, network_factory=network,
              wrap_env_fn=wrapper.wrap_for_brax_training, seed=args.seed,
              progress_fn=progress, **config)
    results["wall_s"] = time.perf_counter() - began
    out.write_text(json.dumps(results, indent=2))
    if args.plot:
        plot(results, Path(args.plot))
    print(f"wrote {out} in {results['wall_s']:.0f} s")
    jax.clear_caches()


if __name__ == "__main__":
    main()
