"""`mskdiff train`: train a policy on a task with PPO, APG, SHAC, gradient-augmented PPO or SAR.

Each seed runs `mskdiff.rl.train.train` into `--out/seed_K/` (`metrics.jsonl`, `metrics.csv`,
TensorBoard logs when tensorboardX is installed, `checkpoint.eqx` for `--resume`,
`policy.eqx`/`policy.json` for `mskdiff.rl.train.load_policy`). Then `--out` gets:

- `train.json`: the options, and per seed the final deterministic evaluation (mean return and
  episode length), env steps and wall time;
- `train.png`: evaluation return against env steps and against wall time (mean and spread over
  seeds);
- `train.gif` with `--video` (leg tasks): seed 0's policy, one deterministic episode.

`--task reach` is the one-joint muscle task (`mskdiff.rl.Reach`, seconds per run on a CPU).
"""

import json
from pathlib import Path

import numpy as np

ALGORITHMS = ("ppo", "apg", "shac", "gippo", "sar")
TASKS = ("reach", "stand", "walk", "imitate")


def add_parser(commands) -> None:
    """The `train` subcommand's arguments."""
    parser = commands.add_parser("train", help="train a policy (PPO, APG, SHAC, GI-PPO, SAR)",
                                 description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="reach", choices=TASKS)
    parser.add_argument("--model", default="myolegs26",
                        help="myolegs26, myoleg or tiny_biped (leg tasks)")
    parser.add_argument("--muscles", default="elastic", help="elastic, rigid or mujoco")
    parser.add_argument("--algo", default="ppo", choices=ALGORITHMS)
    parser.add_argument("--seeds", type=int, default=1, help="runs, seeds 0 ... N-1")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per seed")
    parser.add_argument("--num-envs", type=int, default=None,
                        help="envs in parallel (default: the algorithm's)")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--hidden", default="64,64", help="hidden layer widths")
    parser.add_argument("--eval-every", type=int, default=10, help="updates between evaluations")
    parser.add_argument("--out", default="mskdiff_out/train", help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue the runs in --out")
    parser.add_argument("--video", action="store_true", help="write train.gif (leg tasks)")
    parser.add_argument("--reference-dir", default=None,
                        help="the walking trial's reference folder (imitate)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=run)


def make_env(task: str, model: str, muscles: str = "elastic", reference_dir=None):
    """The environment `mskdiff train` trains on."""
    from ..rl import make
    from ..rl.reach import Reach

    if task == "reach":
        return Reach()
    options = {"reference_dir": reference_dir} if task == "imitate" and reference_dir else {}
    return make(task, model, muscles=muscles, check_actions=False, **options)


def make_algorithm(name: str, *, num_envs=None, learning_rate=None, hidden=(64, 64)):
    """The algorithm `name` (ALGORITHMS) with the given overrides; SAR uses PPO's settings."""
    from ..rl.train import APG, PPO, SHAC, GradientPPO

    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {list(ALGORITHMS)}")
    cls = {"ppo": PPO, "sar": PPO, "apg": APG, "shac": SHAC, "gippo": GradientPPO}[name]
    options = {"hidden": tuple(hidden)}
    if num_envs is not None:
        options["num_envs"] = num_envs
    if learning_rate is not None:
        options["learning_rate"] = learning_rate
    return cls(**options)


def run(args) -> int:
    """`mskdiff train`: every seed, the summary, the plot, the video."""
    summary = run_train(task=args.task, model=args.model, muscles=args.muscles, algo=args.algo,
                        seeds=args.seeds, steps=args.steps, num_envs=args.num_envs,
                        learning_rate=args.learning_rate,
                        hidden=tuple(int(w) for w in args.hidden.split(",")),
                        eval_every=args.eval_every, out_dir=args.out, resume=args.resume,
                        video=args.video, reference_dir=args.reference_dir,
                        progress=not args.no_progress)
    finals = [run["eval_return"] for run in summary["runs"]]
    print(f"{args.algo} on {args.task}: final evaluation return {np.mean(finals):.4g} "
          f"(seeds {', '.join(f'{r:.4g}' for r in finals)}) after {summary['runs'][0]['env_steps']}"
          f" env steps per seed")
    print(f"wrote {summary['out_dir']}")
    return 0


def run_train(*, task="reach", model="myolegs26", muscles="elastic", algo="ppo", seeds=1,
              steps=100_000, num_envs=None, learning_rate=None, hidden=(64, 64), eval_every=10,
              out_dir="mskdiff_out/train", resume=False, video=False, reference_dir=None,
              progress=True) -> dict:
    """Train `seeds` runs and write the outputs (module docstring); returns `train.json`'s dict."""
    from ..rl.train import train
    from ..rl.train.sar import train_sar

    if int(seeds) != seeds or seeds < 1:
        raise ValueError(f"`--seeds` must be >= 1, got {seeds}")
    env = make_env(task, model, muscles, reference_dir)
    algorithm = make_algorithm(algo, num_envs=num_envs, learning_rate=learning_rate,
                               hidden=hidden)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, histories, policies, envs = [], [], [], []
    for seed in range(seeds):
        folder = out_dir / f"seed_{seed}"
        options = dict(steps=steps, seed=seed, out=folder, resume=resume,
                       eval_every=eval_every, progress=progress)
        if algo == "sar":
            options.pop("resume")
            result, synergies, vaf, run_env = train_sar(env, env, algorithm, **options)
            extra = {"n_synergies": synergies.n_synergies, "vaf": vaf.tolist()}
        else:
            result, run_env, extra = train(env, algorithm, **options), env, {}
        last = result.history[-1]
        runs.append({"seed": seed, "eval_return": last["eval/episode_return"],
                     "eval_episode_length": last["eval/episode_length"],
                     "env_steps": last["env_steps"], "wall_time_s": last["wall_time"], **extra})
        histories.append(result.history)
        policies.append(result.policy)
        envs.append(run_env)
    summary = {"task": task, "model": model if task != "reach" else "reach", "algo": algo,
               "steps": steps, "algorithm": repr(algorithm), "runs": runs,
               "out_dir": str(out_dir)}
    (out_dir / "train.json").write_text(json.dumps(summary, indent=1))
    plot_learning_curves(histories, out_dir / "train.png", title=f"{algo} on {task}")
    if video and task != "reach":
        write_video(envs[0], policies[0], out_dir / "train.gif")
    return summary


def plot_learning_curves(histories: list[list[dict]], path: Path, title: str = "") -> None:
    """Evaluation return against env steps and wall time; mean and min-max over runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, x_name, label in ((axes[0], "env_steps", "env steps"),
                              (axes[1], "wall_time", "wall time [s]")):
        curves = [[(row[x_name], row["eval/episode_return"]) for row in history
                   if "eval/episode_return" in row] for history in histories]
        n = min(len(c) for c in curves)
        xs = np.mean([[p[0] for p in c[:n]] for c in curves], axis=0)
        ys = np.array([[p[1] for p in c[:n]] for c in curves])
        ax.plot(xs, ys.mean(axis=0), marker="o")
        ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), alpha=0.3)
        ax.set_xlabel(label)
    axes[0].set_ylabel("evaluation return")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_video(env, policy, path: Path) -> None:
    """One deterministic episode of `policy` on a leg task, rendered to `path`."""
    import jax
    import jax.random as jr

    from ..viz import render_frames, save_video

    reset, step = jax.jit(env.reset), jax.jit(env.step)
    state, qpos = reset(jr.key(0)), []
    for _ in range(env.episode_length):
        state = step(state, policy(state.obs))
        qpos.append(np.asarray(state.data.qpos))
        if float(state.done):
            break
    frames = render_frames(env.mj_model, np.stack(qpos))
    save_video(frames, path, fps=1.0 / env.dt)
