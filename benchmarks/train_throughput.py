"""Training throughput: env steps per second of each trainer against batch size and device count.

The baseline of each row, measured in the same process: the same batch of envs stepped with
zero actions for as many steps as one update takes (`BatchedEnv.step` in one compiled `scan`,
sharded the same way), no networks. The ratio `train / env` is what the learning costs on top
of the simulation. Each row times `--updates` updates after one that compiles (its time is
`first_update_s`); XLA cannot be told to use fewer devices than a process has, so every device
count runs in a child process started with `--xla_force_host_platform_device_count` (on a GPU
machine: `--devices` up to the GPUs present, without the flag).

    python benchmarks/train_throughput.py --task reach --algos ppo,apg,shac,gippo \
        --batches 64,256,1024,4096 --devices 1,2 --out benchmarks/train_throughput_cpu.json
    python benchmarks/train_throughput.py --task stand --model myolegs26 --algos ppo,apg \
        --batches 8,32 --devices 1,2 --updates 3 --out benchmarks/train_throughput_cpu.json

Rows are appended to `--out` (keyed by task, model, algorithm, batch and devices).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = "--child-devices"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="reach")
    parser.add_argument("--model", default="myolegs26")
    parser.add_argument("--algos", default="ppo,apg,shac,gippo")
    parser.add_argument("--batches", default="64,256,1024")
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--hidden", default="64,64")
    parser.add_argument("--out", default="train_throughput_cpu.json")
    parser.add_argument(CHILD, type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_child(args, devices: int) -> list[dict]:
    """This script in a child process with `devices` host devices; its rows."""
    env = dict(os.environ)
    if not _has_gpu():
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                            + f" --xla_force_host_platform_device_count={devices}").strip()
    argv = [sys.executable, __file__, *sys.argv[1:], CHILD, str(devices)]
    out = subprocess.run(argv, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _has_gpu() -> bool:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def measure(args, devices: int) -> list[dict]:
    """Every (algorithm, batch) row on the first `devices` devices."""
    from batch64 import one_intra_op_thread

    with one_intra_op_thread(args.task != "reach"):  # the CPU Cholesky deadlock (batch64.py)
        import equinox as eqx
        import jax
        import jax.numpy as jnp
        import jax.random as jr

        from mskdiff.cli.train import make_algorithm, make_env
        from mskdiff.rl.train import BatchedEnv, env_mesh
        from mskdiff.rl.train.loop import _constrain_envs, _init, _update

    env = make_env(args.task, args.model)
    hidden = tuple(int(w) for w in args.hidden.split(","))
    mesh_devices = jax.devices()[:devices]
    rows = []

    @eqx.filter_jit
    def env_only(batch, mesh, envs, key, length):
        """`length` steps with zero actions; sharded at entry and exit, as `_update` is."""
        def one(envs, key):
            actions = jnp.zeros((batch.num_envs, batch.action_size))
            envs, step = batch.step(envs, actions, key)
            return envs, step.reward

        envs, rewards = jax.lax.scan(one, _constrain_envs(envs, mesh), jr.split(key, length))
        return _constrain_envs(envs, mesh), rewards

    for algo in args.algos.split(","):
        for num_envs in (int(b) for b in args.batches.split(",")):
            algorithm = make_algorithm(algo, num_envs=num_envs, hidden=hidden)
            batch, mesh = BatchedEnv(env, num_envs), env_mesh(num_envs, mesh_devices)
            length = algorithm.steps_per_update // num_envs
            began = time.perf_counter()
            state = jax.block_until_ready(_init(algorithm, batch, mesh, jr.key(0)))
            state, _ = jax.block_until_ready(_update(algorithm, batch, mesh, state))
            first = time.perf_counter() - began
            began = time.perf_counter()
            for _ in range(args.updates):
                state, metrics = _update(algorithm, batch, mesh, state)
            jax.block_until_ready(metrics)
            train_rate = args.updates * algorithm.steps_per_update / (time.perf_counter() - began)
            envs = state.envs
            jax.block_until_ready(env_only(batch, mesh, envs, jr.key(1), length))
            began = time.perf_counter()
            for k in range(args.updates):
                envs, rewards = env_only(batch, mesh, envs, jr.key(2 + k), length)
            jax.block_until_ready(rewards)
            env_rate = args.updates * algorithm.steps_per_update / (time.perf_counter() - began)
            rows.append({"task": args.task, "model": args.model if args.task != "reach" else None,
                         "algorithm": algo, "num_envs": num_envs, "devices": devices,
                         "steps_per_update": algorithm.steps_per_update,
                         "first_update_s": first, "train_steps_per_s": train_rate,
                         "env_steps_per_s": env_rate, "train_over_env": train_rate / env_rate})
            print(f"{algo} batch {num_envs} devices {devices}: {train_rate:.0f} train steps/s, "
                  f"{env_rate:.0f} env steps/s (ratio {train_rate / env_rate:.2f}), "
                  f"first update {first:.0f} s", file=sys.stderr, flush=True)
            jax.clear_caches()
    return rows


def main() -> None:
    args = parse_args()
    if args.child_devices is not None:
        print(json.dumps(measure(args, args.child_devices)))
        return
    from device import device_info

    out = Path(args.out)
    record = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    record["device"] = device_info(("jax", "jaxlib", "mujoco-mjx", "equinox", "optax",
                                    "mskdiff"))
    for devices in (int(d) for d in args.devices.split(",")):
        new = run_child(args, devices)
        key = lambda r: (r["task"], r["model"], r["algorithm"], r["num_envs"], r["devices"])
        fresh = {key(r) for r in new}
        record["rows"] = [r for r in record["rows"] if key(r) not in fresh] + new
        out.write_text(json.dumps(record, indent=1))
    print(f"{'task':8} {'algo':6} {'batch':>6} {'dev':>4} {'train/s':>9} {'env/s':>9} "
          f"{'ratio':>6}")
    for r in record["rows"]:
        print(f"{r['task']:8} {r['algorithm']:6} {r['num_envs']:6d} {r['devices']:4d} "
              f"{r['train_steps_per_s']:9.0f} {r['env_steps_per_s']:9.0f} "
              f"{r['train_over_env']:6.2f}")


if __name__ == "__main__":
    main()
