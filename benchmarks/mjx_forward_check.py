"""Does plain MJX (no mskdiff) run a model's position stage? The reason for the plant's "no" rows.

For each model of `mskdiff.models.registry.MODELS`, a fresh subprocess compiles
`jax.jit(mujoco.mjx.fwd_position)` on the host model (MuJoCo's own muscles, `qpos0`, float32)
and runs it twice; a run that has not returned `--timeout` seconds after compiling is recorded
as not returning (the subprocess is killed). The mskdiff plant calls the same function first in
every step, so a model that fails here cannot run in the plant either.

    python benchmarks/mjx_forward_check.py --out benchmarks/mjx_forward_check_cpu.json
    python benchmarks/mjx_forward_check.py --models myoarm_r,myohand_r --timeout 120
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from device import device_info

CHILD = """
import json, sys, time
import jax
from mujoco import mjx
from mskdiff.models import registry
model = registry.host_mjmodel(sys.argv[1])
m, d = mjx.put_model(model), mjx.make_data(model)
start = time.perf_counter()
compiled = jax.jit(mjx.fwd_position).lower(m, d).compile()
print(json.dumps({"compile_s": time.perf_counter() - start}), flush=True)
for _ in range(2):
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(m, d))
    print(json.dumps({"run_s": time.perf_counter() - start,
                      "finite": bool(jax.numpy.isfinite(out.xpos).all())}), flush=True)
"""


def check(name: str, timeout: float) -> dict:
    """Compile and run `fwd_position` in a subprocess; stop it `timeout` s after compiling."""
    errors = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, "-c", CHILD, name], stdout=subprocess.PIPE,
                               stderr=errors, text=True)
    row = {"name": name, "runs": []}
    compiled = False
    start = time.perf_counter()
    while True:
        line = process.stdout.readline()
        if not line:
            break
        if not line.startswith("{"):  # MJX's own messages ("Failed to import warp")
            continue
        record = json.loads(line)
        if "compile_s" in record:
            row["compile_s"] = record["compile_s"]
            compiled = True
            _stop_after(process, timeout)
        else:
            row["runs"].append(record)
    killed = process.wait() == -signal.SIGKILL
    row["returns"] = len(row["runs"]) == 2
    if killed:
        row["reason"] = f"mjx.fwd_position did not return within {timeout:.0f} s of compiling"
    elif not row["returns"]:
        errors.seek(0)
        last = [line for line in errors.read().splitlines() if line.strip()][-1:]
        row["reason"] = (f"the subprocess failed {'after' if compiled else 'before'} compiling: "
                         f"{last[0] if last else '?'}")
    row["wall_s"] = time.perf_counter() - start
    return row


def _stop_after(process: subprocess.Popen, seconds: float) -> None:
    """Kill `process` after `seconds` unless it has ended (a daemon timer)."""
    import threading

    timer = threading.Timer(seconds, lambda: process.poll() is None and process.kill())
    timer.daemon = True
    timer.start()


def main() -> None:
    from mskdiff.models import registry

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(registry.MODELS))
    parser.add_argument("--timeout", type=float, default=180.0, help="[s] after compiling")
    parser.add_argument("--out", type=Path, default=Path("mjx_forward_check_cpu.json"))
    args = parser.parse_args()
    result = {"device": device_info(), "timeout_s": args.timeout, "rows": []}
    for name in args.models.split(","):
        row = check(name, args.timeout)
        result["rows"].append(row)
        args.out.write_text(json.dumps(result, indent=1))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
