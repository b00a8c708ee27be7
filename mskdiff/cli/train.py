"""`mskdiff train`: train a policy on a task with PPO, APG, SHAC, gradient-augmented PPO or SAR.

Each seed runs `mskdiff.rl.train.train` into `--out/seed_K/` (`metrics.jsonl`, `metrics.csv`,
TensorBoard logs when tensorboardX is installed, `checkpoint.eqx` for `--resume`,
`policy.eqx`/`policy.json` for `mskdiff.rl.train.load_policy`); SAR's two phases go into
`seed_K/play/` and `seed_K/synergy/` (its policy; the play task is `make_play_env`'s). Then
`--out` gets:

- `train.json`: the options, and per seed the final deterministic evaluation (mean return and
  episode length), env steps and wall time;
- `train.png`: evaluation return against env steps and against wall time (mean and spread over
  seeds);
- for leg tasks, seed 0's policy walks one deterministic episode: `train.gif` with `--video`,
  and for walk and imitate the episode as OpenSim files with the gait report against the
  walking trial (`gait/`, `gait/report/report.md`: joint angles, GRF, EMG on/off), over the
  policy's first two right heel strikes.

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
    parser.add_argument("--task", default="reach", choices=TASKS,
                        help="reach (one joint, no MJX) or a leg task")
    parser.add_argument("--model", default="myolegs26",
                        help="myolegs26, myoleg or tiny_biped (leg tasks)")
    parser.add_argument("--muscles", default="elastic", help="elastic, rigid or mujoco")
    parser.add_argument("--algo", default="ppo", choices=ALGORITHMS, help="the trainer")
    parser.add_argument("--seeds", type=int, default=1, help="runs, seeds 0 ... N-1")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per seed")
    parser.add_argument("--num-envs", type=int, default=None,
                        help="envs in parallel (default: the algorithm's)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="Adam step size (default: the algorithm's)")
    parser.add_argument("--hidden", default="64,64", help="hidden layer widths")
    parser.add_argument("--eval-every", type=int, default=10, help="updates between evaluations")
    parser.add_argument("--out", default="mskdiff_out/train", help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue the runs in --out")
    parser.add_argument("--video", action="store_true", help="write train.gif (leg tasks)")
    parser.add_argument("--reference-dir", default=None,
                        help="the walking trial's reference folder (imitate)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def make_env(task: str, model: str, muscles: str = "elastic", reference_dir=None, **config):
    """The environment `mskdiff train` trains on (`config`: `mskdiff.rl.make` options)."""
    from ..rl import make
    from ..rl.reach import Reach

    if task == "reach":
        return Reach()
    options = {"reference_dir": reference_dir} if task == "imitate" and reference_dir else {}
    return make(task, model, muscles=muscles, check_actions=False, **options, **config)


#: SAR's play task for a leg task: the same task in 1 s episodes, Stand without pushes, so that an
#: early policy's episodes can succeed (Berg et al. 2023 play on a simpler task).
PLAY_SECONDS = 1.0


def make_play_env(task: str, model: str, muscles: str = "elastic", reference_dir=None):
    """SAR's play environment for `task` (`PLAY_SECONDS` episodes; Stand without pushes)."""
    if task == "reach":
        return make_env(task, model)
    config = {"push_fraction": 0.0} if task == "stand" else {}
    return make_env(task, model, muscles, reference_dir, episode_seconds=PLAY_SECONDS, **config)


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
            play_env = make_play_env(task, model, muscles, reference_dir)
            sar = train_sar(play_env, env, algorithm, **options)
            result, run_env = sar.result, sar.env
            extra = {"n_synergies": sar.synergies.n_synergies, "vaf": sar.vaf.tolist(),
                     "play_env_steps": sar.play.history[-1]["env_steps"]}
            free_compiled_programs()  # each seed's synergy env compiles its own
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
    plot_learning_curves(histories, out_dir / "train.png", title=f"{algo} on {task}")
    if task != "reach" and muscles != "mujoco":  # mskdiff's MTUs report fibre lengths
        episode = evaluation_episode(envs[0], policies[0])
        if video:
            write_video(envs[0], episode, out_dir / "train.gif")
        if task in ("walk", "imitate"):
            summary["gait_report"] = write_gait_report_of(envs[0], model, episode,
                                                          out_dir / "gait", reference_dir)
    (out_dir / "train.json").write_text(json.dumps(summary, indent=1))
    return summary


def free_compiled_programs() -> None:
    """Drop JAX's in-memory compiled programs (the persistent cache keeps what it stored).

    XLA:CPU maps every kernel of a program into memory on its own. SAR compiles new programs
    per seed (its synergy env), and on myolegs26 the second seed ran out of Linux's default
    65,530 memory maps per process ('LLVM compilation error: Cannot allocate memory').
    """
    import jax

    jax.clear_caches()


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


def evaluation_episode(env, policy) -> dict[str, np.ndarray]:
    """One deterministic episode of `policy` on a leg task (until it ends or falls).

    Returns per control step: `time` [s], `qpos`, `qvel`, `excitation`, `activation`,
    `fiber_length` [m], `tendon_force` [N] and `foot_forces` (r then l, world, / body weight).
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    to_muscles = getattr(env, "muscle_action", lambda action: action)  # SAR's synergy env
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    outputs = eqx.filter_jit(lambda data: env.plant.mtu_outputs(data))
    feet = env.observation_layout["foot_forces"]
    state, rows = reset(jr.key(0)), []
    for k in range(env.episode_length):
        action = policy(state.obs)
        state = step(state, action)
        out = outputs(state.data)
        rows.append({"time": (k + 1) * env.dt, "qpos": state.data.qpos, "qvel": state.data.qvel,
                     "excitation": jnp.clip((to_muscles(action) + 1.0) / 2.0, 0.0, 1.0),
                     "activation": state.data.muscle.activation,
                     "fiber_length": out.fiber_length, "tendon_force": out.tendon_force,
                     "foot_forces": state.obs[feet]})
        if float(state.done):
            break
    return {name: np.stack([np.asarray(row[name]) for row in rows]) for name in rows[0]}


def right_heel_strikes(episode: dict[str, np.ndarray], threshold: float = 0.05,
                       min_interval: float = 0.4) -> np.ndarray:
    """Times [s] where the right foot's vertical force rises through `threshold` body weights.

    A rise within `min_interval` [s] of the last strike kept is contact chatter, not a new
    cycle (a walking cycle lasts about 1 s), and is left out.
    """
    vertical = episode["foot_forces"][:, 2]
    rising = np.nonzero((vertical[1:] >= threshold) & (vertical[:-1] < threshold))[0] + 1
    strikes: list[float] = []
    for time in episode["time"][rising]:
        if not strikes or time - strikes[-1] >= min_interval:
            strikes.append(float(time))
    return np.asarray(strikes)


def write_gait_report_of(env, model: str, episode: dict[str, np.ndarray], folder: Path,
                         reference_dir=None) -> str:
    """The episode as OpenSim files with `result.json` and the gait report (`folder/report`).

    The cycle is the policy's first two right heel strikes (the whole episode when it took
    fewer). Returns the report's path, or why it was not written.
    """
    from ..models.kinematics import COORDINATE_SIGNS
    from ..models.opensim_export import write_opensim_results
    from .gait_report import DEFAULT_REFERENCE_DIR, write_gait_report

    plant = env.plant
    write_opensim_results(
        folder, env.mj_model, episode["time"], episode["qpos"], episode["qvel"],
        muscle_names=plant.muscle_names, actuator_ids=np.asarray(plant.actuator_ids),
        excitation=episode["excitation"], activation=episode["activation"],
        fiber_length=episode["fiber_length"], tendon_force=episode["tendon_force"],
        tendon_compliant=~np.asarray(plant.mtu.params.ignore_tendon_compliance),
        signs=COORDINATE_SIGNS[model])
    strikes = right_heel_strikes(episode)
    cycle = (strikes[:2].tolist() if len(strikes) >= 2
             else [float(episode["time"][0]), float(episode["time"][-1])])
    body_mass = float(np.sum(env.mj_model.body_mass))
    (folder / "result.json").write_text(json.dumps({"model": model, "body_mass": body_mass,
                                                    "gait_cycle": cycle}))
    try:
        return str(write_gait_report(folder, folder / "report",
                                     reference_dir=reference_dir or DEFAULT_REFERENCE_DIR)
                   ["markdown"])
    except (OSError, ValueError, KeyError) as error:
        return f"not written: {error}"


def write_video(env, episode: dict[str, np.ndarray], path: Path) -> None:
    """The episode's motion rendered to `path`."""
    from ..viz import render_frames, save_video

    save_video(render_frames(env.mj_model, episode["qpos"]), path, fps=1.0 / env.dt)
