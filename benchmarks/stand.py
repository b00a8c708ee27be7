"""The quick start's job, `mskdiff stand`, timed as a user runs it, and its gradient's price.

1. Runs `python -m mskdiff stand --video` twice in a fresh process each, with an empty
   persistent compilation cache (a fresh machine) and then with the cache it left, and records
   the wall time of the whole command and the figures of its `stand.json`.
2. Baseline, in this process: one forward rollout of the same problem (`mskdiff.solvers.simulate`,
   compiled, median of 3). The ratio printed is what a forward-difference gradient would cost,
   (variables + 1) rollouts, over the measured seconds per `jax.grad` evaluation of the stand
   run (its solve time / its evaluations, compilation included, so the ratio is a lower bound).

    python benchmarks/stand.py --out benchmarks/stand_cpu.json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from device import device_info


def run_command(out_dir: Path, cache: Path, args) -> dict:
    """`mskdiff stand` in a fresh process; its wall time [s] and `stand.json`."""
    command = [sys.executable, "-m", "mskdiff", "stand", "--video", "--no-progress",
               "--out", str(out_dir), "--model", args.model, "--seconds", str(args.seconds),
               "--iterations", str(args.iterations)]
    began = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "MSKDIFF_JAX_CACHE": str(cache)})
    wall = time.perf_counter() - began
    summary = json.loads((out_dir / "stand.json").read_text())
    for key in ("out_dir", "video", "standing_pose", "objective_history"):
        summary.pop(key, None)
    return {"command_wall_s": wall, **summary}


def forward_rollout_seconds(args) -> tuple[float, int]:
    """Median time [s] of one compiled forward rollout of the problem; its variable count."""
    import equinox as eqx
    import jax
    from jax.flatten_util import ravel_pytree

    from mskdiff.models import registry
    from mskdiff.solvers import simulate
    from mskdiff.solvers.standing import standing_problem

    plant = registry.load(args.model)
    problem = standing_problem(plant, registry.host_mjmodel(args.model), seconds=args.seconds)
    variables = problem.variables()
    forward = eqx.filter_jit(lambda p, v: simulate(p, v)[0].trajectory.qpos)
    jax.block_until_ready(forward(problem, variables))
    times = []
    for _ in range(3):
        began = time.perf_counter()
        jax.block_until_ready(forward(problem, variables))
        times.append(time.perf_counter() - began)
    n_variables = ravel_pytree(eqx.filter(variables, eqx.is_inexact_array))[0].size
    return sorted(times)[1], int(n_variables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="myolegs26")
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--out", default="stand_cpu.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        cache = Path(work) / "cache"
        runs = {"empty_cache": run_command(Path(work) / "cold", cache, args),
                "warm_cache": run_command(Path(work) / "warm", cache, args)}
    forward, n_variables = forward_rollout_seconds(args)
    warm = runs["warm_cache"]
    per_gradient = warm["wall_time_s"] / warm["evaluations"]
    ratio = (n_variables + 1) * forward / per_gradient
    record = {"device": device_info(), "model": args.model, "seconds": args.seconds,
              "iterations": args.iterations, "runs": runs,
              "forward_rollout_s": forward, "n_variables": n_variables,
              "seconds_per_gradient": per_gradient,
              "ratio_finite_difference_over_grad": ratio}
    Path(args.out).write_text(json.dumps(record, indent=1))
    for name, run in runs.items():
        print(f"{name}: {run['command_wall_s']:.0f} s for the command, {run['result']} after "
              f"{run['iterations']} iterations; pose error {run['solution']['pose_rms_deg']:.2f} "
              f"deg (first guess {run['first_guess']['pose_rms_deg']:.2f})")
    print(f"one forward rollout {forward:.2f} s, {n_variables} variables: a forward-difference "
          f"gradient would take {(n_variables + 1) * forward:.0f} s against {per_gradient:.2f} s "
          f"per jax.grad evaluation (ratio {ratio:.0f})")


if __name__ == "__main__":
    main()
