"""Learning curves of mskdiff's trainers on one task with one budget: PPO (the baseline of the
same run), APG, SHAC, gradient-augmented PPO and SAR, over several seeds.

Every run trains with `mskdiff.rl.train.train` for `--steps` env steps, evaluating the
deterministic policy every `--eval-every` updates (`--eval-envs` episodes). The JSON (written
after every run, with device info) holds each run's curve (return and episode length against env
steps and wall time) and a summary per algorithm: final return (mean, min, max over seeds), the
seeds' mean largest drop below their best evaluation so far (instability), the env steps to each
`--milestones` return, and the env steps and wall time at which the seed-mean curve first
reaches PPO's final mean return, with their ratios to PPO's, and per run the training's fault
counts (clipped and non-finite gradients), mean gradient norm, horizon cuts, GradientPPO's
policy shift and beta, and env steps/s (`training`). The plot shows return against env steps and
wall time. A label
`algo:variant` in `--algos` runs `algo` with that label's `--overrides` (e.g. SHAC with its
horizon cut at foot-force jumps: `shac:cut` and `{"shac:cut": {"cut_on": "foot_forces"}}`).
SAR plays for half the budget on `mskdiff.cli.train.make_play_env` (the task in 1 s episodes,
Stand without pushes); its curve shows the synergy phase on the task, after the play steps.
With one intra-op thread per process (leg tasks), two processes can share a 2-core machine:
run each on some algorithms, then `--plot-only --merge` the second JSON into the first.

    OPTIONS='{"ppo": {"unroll_length": 16, "num_epochs": 4}, "gippo": {"unroll_length": 16,
      "num_epochs": 4}, "sar": {"unroll_length": 16, "num_epochs": 4}, "apg": {"horizon": 16},
      "shac": {"horizon": 16}, "shac:cut": {"horizon": 16, "cut_on": "foot_forces",
      "cut_threshold": 0.2}}'
    STAND="--task stand --model myolegs26 --steps 4096 --seeds 3 --num-envs 8 --eval-every 4
      --eval-envs 4"
    python benchmarks/train.py $STAND --algos ppo --overrides "$OPTIONS" \
        --out benchmarks/train_stand_cpu.json
    python benchmarks/train.py $STAND --algos apg,gippo --overrides "$OPTIONS" \
        --out benchmarks/train_stand_a_cpu.json &      # two processes side by side
    python benchmarks/train.py $STAND --algos shac:cut,shac,sar --overrides "$OPTIONS" \
        --out benchmarks/train_stand_b_cpu.json; wait
    python benchmarks/train.py --task stand --plot-only --out benchmarks/train_stand_cpu.json \
        --merge benchmarks/train_stand_a_cpu.json,benchmarks/train_stand_b_cpu.json \
        --plot docs/train_stand_cpu.png
    python benchmarks/train.py --task reach --steps 60000 --num-envs 64 --hidden 32,32 \
        --eval-every 5 --eval-envs 64 --milestones=-3,-2 \
        --algos ppo,apg,shac,gippo,gippo:adaptive,sar \
        --overrides '{"ppo": {"num_epochs": 4, "learning_rate": 1e-3}, "gippo": {"num_epochs": 4,
          "learning_rate": 1e-3}, "gippo:adaptive": {"num_epochs": 4, "learning_rate": 1e-3,
          "adaptive": true}, "sar": {"num_epochs": 4, "learning_rate": 1e-3},
          "apg": {"learning_rate": 3e-3, "horizon": 25}, "shac": {"horizon": 16}}' \
        --out benchmarks/train_reach_cpu.json --plot docs/train_reach_cpu.png
    python benchmarks/train.py --task reach --steps 60000 --num-envs 64 --hidden 32,32 \
        --eval-every 5 --eval-envs 64 --milestones=-3,-2 \
        --algos ppo,gippo:beta0.05,gippo:beta0.2,gippo:beta0.5,gippo:beta1,gippo:adaptive,\
gippo:reward0.5,gippo:reward1 \
        --overrides '{"ppo": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16},
          "gippo:beta0.05": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                             "action_gradient_cost": 0.05},
          "gippo:beta0.2": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                            "action_gradient_cost": 0.2},
          "gippo:beta0.5": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                            "action_gradient_cost": 0.5},
          "gippo:beta1": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                          "action_gradient_cost": 1.0},
          "gippo:adaptive": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                             "adaptive": true},
          "gippo:reward0.5": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                              "action_gradient_cost": 0.5, "bootstrap_action_gradient": false},
          "gippo:reward1": {"num_epochs": 4, "learning_rate": 1e-3, "unroll_length": 16,
                            "action_gradient_cost": 1.0, "bootstrap_action_gradient": false}}' \
        --out benchmarks/train_reach_gippo_cpu.json --plot docs/train_reach_gippo_cpu.png
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from batch64 import one_intra_op_thread

#: Leg tasks get JAX's CPU client with a one-thread intra-op pool (`batch64.py`): APG's gradient
#: on 8 myolegs26 envs stopped with every thread idle (0 % CPU for minutes) in a run with the
#: default pool, the CPU Cholesky deadlock of benchmarks/README.md.
LEG_TASK = "--task" not in sys.argv or sys.argv[sys.argv.index("--task") + 1] != "reach"
with one_intra_op_thread(LEG_TASK):
    import jax
    import jax.random as jr
    from device import device_info

    from mskdiff.cli.train import (
        free_compiled_programs,
        make_algorithm,
        make_env,
        make_play_env,
    )
    from mskdiff.rl.train import BatchedEnv, env_mesh, train
    from mskdiff.rl.train.loop import _evaluator, _init
    from mskdiff.rl.train.sar import train_sar

ALGORITHMS = ("ppo", "apg", "shac", "gippo", "sar")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="stand")
    parser.add_argument("--model", default="myolegs26")
    parser.add_argument("--algos", default=",".join(ALGORITHMS),
                        help="algorithms, or labels `algo:variant` whose options --overrides "
                             "gives (e.g. shac:cut)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10_240)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--hidden", default="64,64")
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--eval-envs", type=int, default=8)
    parser.add_argument("--overrides", default="{}",
                        help='JSON: algorithm -> options, e.g. {"ppo": {"num_epochs": 4}}')
    parser.add_argument("--out", required=True)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--milestones", default="",
                        type=lambda text: tuple(float(x) for x in text.split(",") if x),
                        help="returns, comma-separated: the summary gives the env steps at which "
                             "each algorithm's seed-mean curve first reaches each")
    parser.add_argument("--plot-only", action="store_true",
                        help="plot the curves already in --out (e.g. of an interrupted run)")
    parser.add_argument("--merge", default="",
                        help="with --plot-only: comma-separated JSONs of other processes of the "
                             "same run, whose algorithms join --out's (summary and plot)")
    return parser.parse_args()


def _options(algorithm) -> dict:
    """The algorithm's options as keyword arguments."""
    return {f.name: getattr(algorithm, f.name) for f in dataclasses.fields(algorithm)}


def untrained(env, algorithm, seed: int, eval_envs: int) -> dict:
    """The evaluation of the seed's initial policy (the curve's point at 0 steps)."""
    state = _init(algorithm, BatchedEnv(env, algorithm.num_envs), env_mesh(algorithm.num_envs),
                  jr.key(seed))
    scores = _evaluator(env, eval_envs)(state.policy(), jr.key(seed))
    return {"env_steps": 0, "wall_s": 0.0, "return": scores["eval/episode_return"],
            "episode_length": scores["eval/episode_length"]}


def curve(history: list[dict], start: dict | None = None) -> list[dict]:
    points = [{"env_steps": row["env_steps"], "wall_s": row["wall_time"],
               "return": row["eval/episode_return"],
               "episode_length": row["eval/episode_length"]}
              for row in history if "eval/episode_return" in row]
    return ([start] if start else []) + points


#: Training metrics summed (counts) or averaged over a run's updates, where the algorithm logs them.
SUMMED = ("grad_clipped", "grad_nonfinite", "action_grad_nonfinite", "critic_grad_nonfinite")
AVERAGED = ("grad_norm", "horizon_cuts", "action_grad_norm", "out_of_range", "surrogate_gain")


def training_summary(history: list[dict]) -> dict:
    """Per run: updates, fault counts, mean gradient norm, horizon cuts, GradientPPO's policy
    shift and beta, env steps/s."""
    summary = {"updates": len(history)}
    for name in SUMMED:
        if name in history[0]:
            summary[name] = float(sum(row[name] for row in history))
    for name in AVERAGED:
        if name in history[0]:
            summary[f"mean_{name}"] = float(np.mean([row[name] for row in history]))
    if "action_gradient_cost" in history[0]:  # GradientPPO's beta: min, max, last; falls
        costs = [row["action_gradient_cost"] for row in history]
        summary["action_gradient_cost"] = [min(costs), max(costs), costs[-1]]
        summary["action_gradient_cost_falls"] = int(np.sum(np.diff(costs) < 0))
    if len(history) > 1:  # after the first update (compilation); evaluations included
        steps = history[-1]["env_steps"] - history[0]["env_steps"]
        summary["env_steps_per_s"] = steps / (history[-1]["wall_time"] - history[0]["wall_time"])
    return summary


def _after_play(sar):
    """SAR's two phases as one run: the synergy phase's rows counted after the play phase's.

    The play phase's evaluations (on the play task, another return scale) are left out of the
    curve; its env steps and wall time count.
    """
    last = sar.play.history[-1]
    play = [{k: v for k, v in row.items() if not k.startswith("eval/")}
            for row in sar.play.history]
    shifted = [{**row, "env_steps": row["env_steps"] + last["env_steps"],
                "wall_time": row["wall_time"] + last["wall_time"]} for row in sar.result.history]
    return type(sar.result)(sar.result.policy, sar.result.state, play + shifted)


def reach_point(runs: list[list[dict]], target: float) -> tuple[float | None, float | None]:
    """Env steps and wall time where the seed-mean curve first reaches `target`."""
    n = min(len(c) for c in runs)
    mean = np.mean([[p["return"] for p in c[:n]] for c in runs], axis=0)
    hit = np.nonzero(mean >= target)[0]
    if not len(hit):
        return None, None
    k = int(hit[0])
    return (float(np.mean([c[k]["env_steps"] for c in runs])),
            float(np.mean([c[k]["wall_s"] for c in runs])))


def largest_drop(curve: list[dict]) -> float:
    """A curve's largest fall of the return below its best evaluation so far (>= 0)."""
    returns = np.array([p["return"] for p in curve])
    return float(np.max(np.maximum.accumulate(returns) - returns))


def summarise(results: dict, milestones: tuple[float, ...] = ()) -> None:
    runs = results["runs"]
    finals = {a: [c[-1]["return"] for c in curves] for a, curves in runs.items()}
    if "ppo" not in finals:
        return
    target = float(np.mean(finals["ppo"]))
    # PPO ending below its untrained start leaves nothing to reach: every curve starts there
    learned = target > float(np.mean([c[0]["return"] for c in runs["ppo"]]))
    ppo_steps, ppo_wall = reach_point(runs["ppo"], target) if learned else (None, None)
    summary = {}
    for algo, curves in runs.items():
        steps, wall = reach_point(curves, target) if learned else (None, None)
        summary[algo] = {
            "final_return_mean": float(np.mean(finals[algo])),
            "final_return_min": float(np.min(finals[algo])),
            "final_return_max": float(np.max(finals[algo])),
            "initial_return_mean": float(np.mean([c[0]["return"] for c in curves])),
            "largest_drop_mean": float(np.mean([largest_drop(c) for c in curves])),
            # env steps at which the seed-mean curve first reaches each --milestones return
            "steps_to_milestones": {str(m): reach_point(curves, m)[0] for m in milestones},
            "steps_to_ppo_final": steps, "wall_s_to_ppo_final": wall,
            "step_ratio_vs_ppo": (ppo_steps / steps) if steps and ppo_steps else None,
            "wall_ratio_vs_ppo": (ppo_wall / wall) if wall and ppo_wall else None}
    results["ppo_final_return"] = target
    results["ppo_improved"] = learned
    results["summary"] = summary


def merge(results: dict, other: dict) -> None:
    """`other`'s algorithms (runs, configurations, wall times, SAR fits) added to `results`."""
    for field in ("algorithms", "runs", "wall_s", "training"):
        results.setdefault(field, {}).update(other.get(field, {}))
    results.setdefault("sar", []).extend(other.get("sar", []))
    results.setdefault("merged_from", []).append({"algorithms": list(other["runs"]),
                                                  "device": other["device"]})


def main() -> None:
    args = parse_args()
    if args.plot_only:
        results = json.loads(Path(args.out).read_text())
        for other in filter(None, args.merge.split(",")):
            merge(results, json.loads(Path(other).read_text()))
        summarise(results, args.milestones)
        Path(args.out).write_text(json.dumps(results, indent=1))
        if args.plot:
            plot(results["runs"], Path(args.plot), f"{args.task} ({results['model']})")
        print(json.dumps(results.get("summary", {}), indent=1))
        return
    # seeds after the first, and the untrained evaluations, reuse the compiled programs
    jax.config.update("jax_compilation_cache_dir",
                      str(Path.home() / ".cache" / "mskdiff-jax-benchmarks"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    hidden = tuple(int(w) for w in args.hidden.split(","))
    overrides = json.loads(args.overrides)
    env = make_env(args.task, args.model)
    play_env = make_play_env(args.task, args.model) if "sar" in args.algos else None
    out = Path(args.out)
    results = {"device": device_info(("jax", "jaxlib", "mujoco-mjx", "equinox", "optax",
                                      "scikit-learn", "mskdiff")),
               "task": args.task, "model": args.model if args.task != "reach" else "reach",
               "steps": args.steps, "seeds": args.seeds, "num_envs": args.num_envs,
               "hidden": hidden, "overrides": overrides, "eval_every": args.eval_every,
               "eval_envs": args.eval_envs,
               "algorithms": {}, "runs": {}, "wall_s": {}}
    histories = {}
    for algo in args.algos.split(","):
        algorithm = make_algorithm(algo.split(":")[0], num_envs=args.num_envs, hidden=hidden)
        algorithm = type(algorithm)(**{**_options(algorithm), **overrides.get(algo, {})})
        results["algorithms"][algo] = repr(algorithm)
        results["runs"][algo], histories[algo], results["wall_s"][algo] = [], [], []
        for seed in range(args.seeds):
            start = untrained(env, algorithm, seed, args.eval_envs)
            began = time.perf_counter()
            options = dict(steps=args.steps, seed=seed, eval_every=args.eval_every,
                           num_eval_envs=args.eval_envs, progress=False)
            if algo.startswith("sar"):
                sar = train_sar(play_env, env, algorithm, **options)
                results.setdefault("sar", []).append({"seed": seed, "vaf": sar.vaf.tolist(),
                                                      "n_synergies": sar.synergies.n_synergies})
                result = _after_play(sar)
                free_compiled_programs()  # each seed's synergy env compiles its own
            else:
                result = train(env, algorithm, **options)
            results["runs"][algo].append(curve(result.history, start))
            results.setdefault("training", {}).setdefault(algo, []).append(
                training_summary(sar.result.history if algo.startswith("sar")
                                 else result.history))
            histories[algo].append(results["runs"][algo][-1])
            results["wall_s"][algo].append(time.perf_counter() - began)
            last = results["runs"][algo][-1][-1]
            print(f"{algo} seed {seed}: return {results['runs'][algo][-1][0]['return']:.4g} -> "
                  f"{last['return']:.4g} in {last['env_steps']} steps, "
                  f"{results['wall_s'][algo][-1]:.0f} s", flush=True)
            summarise(results, args.milestones)
            out.write_text(json.dumps(results, indent=1))
        jax.clear_caches()
    if args.plot:
        plot(histories, Path(args.plot), f"{args.task} ({results['model']})")
    print(json.dumps(results.get("summary", {}), indent=1))


def plot(histories: dict[str, list[list[dict]]], path: Path, title: str) -> None:
    """All algorithms on one figure: return against env steps and wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for algo, runs in histories.items():
        curves = runs
        n = min(len(c) for c in curves)
        for ax, key in ((axes[0], "env_steps"), (axes[1], "wall_s")):
            xs = np.mean([[p[key] for p in c[:n]] for c in curves], axis=0)
            ys = np.array([[p["return"] for p in c[:n]] for c in curves])
            ax.plot(xs, ys.mean(axis=0), label=algo)
            ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), alpha=0.2)
    axes[0].set_xlabel("env steps")
    axes[1].set_xlabel("wall time [s] (compilation included)")
    axes[0].set_ylabel("evaluation return (mean, min-max over seeds)")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
