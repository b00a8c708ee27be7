"""A batch of 64 myoLeg envs on a 2-core CPU: why it hung, and the workaround.

**Mechanism.** With jaxlib 0.10.2 on CPU, a batched LAPACK Cholesky (`lapack_spotrf_ffi` /
`dpotrf`, which `jax.scipy.linalg.cho_factor` lowers to) splits its batch into chunks with
`jax::ParallelBatchMap`, schedules *every* chunk on XLA's intra-op thread pool and then blocks in
`absl::BlockingCounter::Wait` without running any chunk itself. The kernel is itself running on a
thread of that same pool. When as many Cholesky kernels run at once as the pool has threads (XLA's
thunk executor runs independent kernels concurrently), every pool thread waits for chunks that
only a pool thread could run: a deadlock at 0 % CPU. The pool has one thread per schedulable core
(2 here). MJX (dense mass matrix, `nv` < 60) factorises three `nv x nv` matrices per step with it:
the mass matrix (`factor_m`), the Newton Hessian (`solver.py`, every iteration) and `M + dt D` for
implicit damping in `euler`; the last one does not depend on the constraint solve, so it can run
concurrently with the solver's Cholesky. From the kernel's disassembly, the batch is split when
the pool has >= 2 threads, B n^3/3 >= 2e5 and B > ceil(2e5 / (n^3/3)), with n = nv = 34 for myoLeg:
B >= 17. B <= 16 never splits (one chunk runs inline), which is why batch 16 worked.

**Workaround (default here, `--workaround pool1`).** Create JAX's CPU client while the process is
pinned to one core, so its intra-op pool has one thread, then give every thread all cores back.
With one pool thread the LAPACK kernels never schedule chunks (they run inline) and nothing can
wait on the pool. Alternatives: `sparse` (MJX's sparse mass matrix: `factor_m` and the damping
factorisation become pure JAX, leaving one LAPACK Cholesky at a time) and `groups` (`lax.map`
over groups of 16 envs, each batched Cholesky small enough to run inline). The library now does
`groups` by default on CPU (`mskdiff.plant.vmap_envs`, used by `rollout` and `init_batch`); the
other modes here force one `vmap` over all envs to show the mechanism.
`--xla_cpu_multi_thread_eigen=false` and `jax_cpu_enable_async_dispatch=False` do not help: the
pool handed to FFI kernels is the same either way.

The script supervises a child process: it prints the child's progress, watches its CPU time,
and if the CPU time stops growing after compilation it reports a hang, dumps native stacks
(gdb, else py-spy) and kills the child.

    python benchmarks/batch64.py                          # plant (elastic), 64 envs, 500 steps
    python benchmarks/batch64.py --steps 5000             # 10 s simulated
    python benchmarks/batch64.py --workaround none        # shows the hang (exit status 2)
    python benchmarks/batch64.py --mjx --workaround none  # plain mjx.step, myo-sim's scene, 100/50
    python benchmarks/batch64.py --mjx                    # the same with the workaround
    python benchmarks/batch64.py --workaround sparse      # or groups
"""

import argparse
import contextlib
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: LAPACK kernel constants (jaxlib 0.10.2 `CholeskyFactorization::Kernel`, from its disassembly).
LAPACK_PARALLEL_WORK = 200_000  # batch * n^3/3 at which a batch is spread over the pool


def lapack_split_batch(n: int, threads: int) -> int | None:
    """Smallest batch whose `n x n` batched Cholesky is split over a pool of `threads` threads."""
    if threads < 2:
        return None
    cost = n**3 // 3
    for batch in range(2, 1_000_000):
        chunk = max(math.ceil(batch / threads), (cost + LAPACK_PARALLEL_WORK - 1) // cost)
        if batch * cost >= LAPACK_PARALLEL_WORK and chunk < batch:
            return batch
    return None


def intra_op_threads() -> int:
    """Threads of XLA's CPU intra-op pool in this process (named `*XLAEigen`)."""
    count = 0
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):
            count += Path(f"/proc/self/task/{tid}/comm").read_text().strip().endswith("XLAEigen")
    return count


@contextlib.contextmanager
def one_intra_op_thread(enabled: bool = True):
    """Create JAX's CPU client with a one-thread intra-op pool, then restore the affinity.

    XLA sizes the pool from the CPU affinity mask when the client is created (on first use of
    JAX, which `import mskdiff` already makes). Import JAX-using modules inside the block::

        with one_intra_op_thread():
            import mskdiff

    Afterwards every thread (the pool's too) may run on all cores again; only the pool size
    stays 1. No-op when `enabled` is false or the affinity API is missing.
    """
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield
        return
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RuntimeError("JAX's backends already exist; enter one_intra_op_thread() before "
                           "anything uses JAX (importing mskdiff does)")
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
        import jax

        try:
            jax.devices("cpu")  # make sure the CPU client exists while pinned
        except RuntimeError:  # JAX_PLATFORMS without cpu
            jax.devices()
    finally:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)


# --------------------------------------------------------------------------- child process


def _child(args) -> None:
    with one_intra_op_thread(args.workaround == "pool1"):
        import jax

        jax.config.update("jax_cpu_enable_async_dispatch", not args.no_async)
        if args.cache:
            jax.config.update("jax_compilation_cache_dir", os.path.expanduser(args.cache))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        import mskdiff  # noqa: F401  (creates the CPU client inside the block)
    from mskdiff.models.myoleg import myoleg_mjmodel

    nv = myoleg_mjmodel().nv
    threads = intra_op_threads()
    split = lapack_split_batch(nv, threads)
    print(f"[child] pid {os.getpid()}, workaround {args.workaround}, intra-op pool threads "
          f"{threads}, nv {nv}: batched Cholesky split over the pool from batch "
          f"{split if split else 'never (inline)'}", flush=True)
    (_run_mjx if args.mjx else _run_plant)(args)


def _print_progress(k, n_chunks, chunk, envs, elapsed, rate):
    print(f"[child] step {(k + 1) * chunk:6d}/{n_chunks * chunk}  wall {elapsed:7.2f} s  "
          f"{rate:8.0f} env-steps/s", flush=True)


def _run_plant(args) -> None:
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import mujoco
    import numpy as np

    from mskdiff.integrate import SemiImplicitEuler
    from mskdiff.models.myoleg import myoleg, myoleg_mjmodel, standing_qpos
    from mskdiff.plant import MJXPlant
    from mskdiff.plant.rollout import rollout

    plant = myoleg()
    mj_model = myoleg_mjmodel()
    if args.workaround == "sparse":
        mj_model.opt.jacobian = mujoco.mjtJacobian.mjJAC_SPARSE
        plant = MJXPlant.from_mjmodel(mj_model, plant.mtu)
    integrator = SemiImplicitEuler(args.substeps)
    qpos = jnp.broadcast_to(jnp.asarray(standing_qpos(mj_model), dtype=float),
                            (args.envs, mj_model.nq))
    # `groups` is the library's default (`mskdiff.plant.vmap_envs`); the other modes force one
    # vmap over all envs, which is what deadlocks without a workaround.
    env_group = None if args.workaround == "groups" else args.envs
    if env_group is None:
        state = plant.init_batch(qpos, activation=0.05)
    else:
        state = jax.vmap(lambda q: plant.init(q, activation=0.05))(qpos)

    def run(plant, state, excitation):
        final, trajectory = rollout(plant, state, excitation, integrator=integrator,
                                    checkpoint=False, throw=False, env_group=env_group)
        return final, trajectory.nonfinite_step, trajectory.tendon_force[-1]

    n_chunks = max(1, math.ceil(args.steps / args.chunk))
    excitations = lambda k: jr.uniform(jr.key(k), (args.chunk, args.envs, plant.n_muscles),
                                       maxval=args.max_excitation)
    import equinox as eqx

    start = time.perf_counter()
    compiled = eqx.filter_jit(run).lower(plant, state, excitations(0)).compile()
    print(f"[child] compiled in {time.perf_counter() - start:.1f} s; RUNNING", flush=True)
    first_bad, start, after_first = None, time.perf_counter(), None
    for k in range(n_chunks):
        state, bad_step, force = jax.block_until_ready(compiled(plant, state, excitations(k)))
        bad = np.flatnonzero(np.asarray(bad_step) >= 0)
        if first_bad is None and bad.size:
            first_bad = (int(bad[0]), k * args.chunk + int(np.asarray(bad_step)[bad[0]]))
        now = time.perf_counter()
        after_first = after_first or now
        _print_progress(k, n_chunks, args.chunk, args.envs, now - start,
                        args.envs * args.chunk * (k + 1) / (now - start))
    steady = (args.envs * args.chunk * (n_chunks - 1) / (time.perf_counter() - after_first)
              if n_chunks > 1 else float("nan"))
    height = np.asarray(state.data.qpos[:, 2])
    finite = np.all(np.isfinite(np.asarray(state.data.qpos)), axis=1)
    print(f"[child] RESULT: {args.envs} envs x {n_chunks * args.chunk} steps "
          f"({n_chunks * args.chunk * plant.dt:g} s simulated) completed; finite envs "
          f"{int(finite.sum())}/{args.envs}; first non-finite (env, step): {first_bad}; pelvis "
          f"height min/mean/max {height.min():.3f}/{height.mean():.3f}/{height.max():.3f} m; "
          f"mean tendon force {float(np.mean(force)):.1f} N; {steady:.0f} env-steps/s after the "
          "first chunk", flush=True)


def _run_mjx(args) -> None:
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import mujoco
    import numpy as np
    from mujoco import mjx

    from mskdiff.models.myoleg import myoleg_mjmodel

    mj_model = myoleg_mjmodel(original_scene=True, solver_iterations=100, linesearch_iterations=50)
    if args.workaround == "sparse":
        mj_model.opt.jacobian = mujoco.mjtJacobian.mjJAC_SPARSE
    if args.workaround == "groups":
        raise SystemExit("--workaround groups is implemented for the plant only")
    m = mjx.put_model(mj_model)
    data = mjx.make_data(m).replace(qpos=jnp.asarray(mj_model.qpos0, dtype=float))
    data = jax.tree.map(lambda x: jnp.broadcast_to(x, (args.envs, *x.shape)), data)
    print(f"[child] plain MJX: myo-sim scene, iterations {mj_model.opt.iterations}, "
          f"ls_iterations {mj_model.opt.ls_iterations}, {args.envs} envs", flush=True)

    def run(m, data, ctrl):
        def body(d, c):
            return jax.vmap(mjx.step, in_axes=(None, 0))(m, d.replace(ctrl=c)), None
        return jax.lax.scan(body, data, ctrl)[0]

    n_chunks = max(1, math.ceil(args.steps / args.chunk))
    ctrl = lambda k: jr.uniform(jr.key(k), (args.chunk, args.envs, mj_model.nu),
                                maxval=args.max_excitation)
    start = time.perf_counter()
    compiled = jax.jit(run).lower(m, data, ctrl(0)).compile()
    print(f"[child] compiled in {time.perf_counter() - start:.1f} s; RUNNING", flush=True)
    start = time.perf_counter()
    for k in range(n_chunks):
        data = jax.block_until_ready(compiled(m, data, ctrl(k)))
        now = time.perf_counter()
        _print_progress(k, n_chunks, args.chunk, args.envs, now - start,
                        args.envs * args.chunk * (k + 1) / (now - start))
    finite = np.all(np.isfinite(np.asarray(data.qpos)), axis=1)
    print(f"[child] RESULT: plain MJX, {args.envs} envs x {n_chunks * args.chunk} steps completed; "
          f"finite envs {int(finite.sum())}/{args.envs}", flush=True)


# --------------------------------------------------------------------------- supervisor


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all threads) [s]."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _native_stacks(pid: int) -> str:
    """All threads' native stacks of `pid` (gdb, else py-spy), or a note why there are none."""
    if shutil.which("gdb"):
        cmd = ["gdb", "-p", str(pid), "-batch", "-ex", "set pagination off",
               "-ex", "thread apply all bt 30"]
    elif shutil.which("py-spy"):
        cmd = ["py-spy", "dump", "--native", "--pid", str(pid)]
    else:
        return "(no gdb or py-spy to read native stacks)"
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"({cmd[0]} failed: {error})"


def _summarise_stacks(stacks: str) -> list[str]:
    """One line per thread whose stack holds a LAPACK Cholesky blocked in `ParallelBatchMap`."""
    keys = ("BlockingCounter::Wait", "ParallelBatchMap", "CholeskyFactorization", "potrf_ffi")
    lines = []
    for block in re.split(r"\n(?=Thread \d+ )", stacks):
        head = re.match(r'Thread (\d+) \(.*?LWP (\d+)\) "([^"]*)"', block)
        found = [k for k in keys if k in block]
        if head and len(found) == len(keys):
            lines.append(f"thread {head[1]} (LWP {head[2]}, {head[3]}): " + " <- ".join(found))
    return lines


def supervise(args) -> int:
    """Run the child, stream its output, detect a hang (no CPU progress after compiling)."""
    cmd = [sys.executable, "-u", __file__, "--child", *sys.argv[1:]]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in child.stdout], daemon=True).start()
    print(f"supervisor: child pid {child.pid}; a hang is CPU time growing < 1 % of "
          f"{args.stall_seconds:g} s once running; timeout {args.timeout:g} s", flush=True)
    start, running, window = time.monotonic(), False, []  # window: (time, CPU s) while running
    while True:
        while not lines.empty():
            line = lines.get().rstrip()
            if line.startswith("[child]") or "Error" in line or "Traceback" in line:
                print(line, flush=True)
            running |= "RUNNING" in line
        if child.poll() is not None:
            time.sleep(0.2)
            while not lines.empty():
                print(lines.get().rstrip())
            verdict = "COMPLETED" if child.returncode == 0 else "FAILED"
            print(f"supervisor: child exited with status {child.returncode} after "
                  f"{time.monotonic() - start:.0f} s: {verdict}", flush=True)
            return 0 if child.returncode == 0 else 1
        now = time.monotonic()
        with contextlib.suppress(OSError):
            cpu = _cpu_seconds(child.pid)
            if running:
                window.append((now, cpu))
                window = [(t, c) for t, c in window if now - t <= args.stall_seconds]
        stalled = (running and window and now - window[0][0] >= 0.95 * args.stall_seconds
                   and window[-1][1] - window[0][1] < 0.01 * args.stall_seconds)
        if stalled or now - start > args.timeout:
            cpu = window[-1][1] if window else float("nan")
            reason = (f"HANG: no CPU progress for {args.stall_seconds:g} s (child CPU time "
                      f"{cpu:.1f} s in all, RSS {_rss_mb(child.pid):.0f} MB)"
                      if stalled else f"TIMEOUT after {args.timeout:g} s")
            print(f"supervisor: {reason}; reading native stacks ...", flush=True)
            stacks = _native_stacks(child.pid)
            out = Path(args.stacks_out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(stacks)
            blocked = _summarise_stacks(stacks)
            for line in blocked:
                print(f"  {line}")
            print(f"supervisor: {len(blocked)} thread(s) wait inside a batched LAPACK Cholesky "
                  f"(ParallelBatchMap); all stacks in {out}", flush=True)
            child.kill()
            child.wait()
            return 2
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=500, help="physics steps (2 ms each)")
    parser.add_argument("--chunk", type=int, default=50, help="steps per jitted rollout call")
    parser.add_argument("--substeps", type=int, default=4, help="MTU sub-steps per physics step")
    parser.add_argument("--max-excitation", type=float, default=0.3,
                        help="excitations are uniform in [0, this], new every step and env")
    parser.add_argument("--workaround", choices=("pool1", "sparse", "groups", "none"),
                        default="pool1")
    parser.add_argument("--mjx", action="store_true",
                        help="plain jit(vmap(mjx.step)) under scan on myo-sim's own scene and "
                             "options (the issue's reproducer) instead of the plant")
    parser.add_argument("--no-async", action="store_true", help="jax_cpu_enable_async_dispatch off")
    parser.add_argument("--cache", default="~/.cache/mskdiff-jax",
                        help="persistent JAX compilation cache ('' to disable)")
    parser.add_argument("--stall-seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--stacks-out", default=str(ROOT / "benchmarks" / "results" /
                                                    "batch64_stacks.txt"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
    else:
        sys.exit(supervise(args))


if __name__ == "__main__":
    main()
