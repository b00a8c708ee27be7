"""Plant throughput: env-steps/s against batch size for MuJoCo C, MJX and the mskdiff plant.

One run measures, on the locomotion scene of each model of `--models` (default myoLeg,
`myoleg_mjmodel()`; or myolegs26, `myolegs26_mjmodel()`, 26 muscles; both: 2 ms steps, 3 Newton
iterations, 8 line-search iterations, float32):

* MuJoCo C with MuJoCo's rigid-tendon muscles: an `mj_step` loop (one thread; envs stepped in
  turn) and `mujoco.rollout` with one thread per core;
* plain MJX, `jit(vmap(mjx.step))` (MJX's own `while_loop` solve, MuJoCo's muscles);
* the mskdiff plant: rigid tendons (`myoleg(formulation='rigid')`), elastic tendons
  (`tendon_force`, Rajagopal's compliance) with `SemiImplicitEuler(1|4|8)`, and MuJoCo's muscles
  inside the plant (`MuJoCoMusclePlant`, from `myoleg(mujoco_muscles=True)`);
* `jax.grad` of a rollout loss (elastic, one env) against the forward pass, with and without
  `checkpoint=True`: compile time, run time, memory;
* physics defaults: solver iterations 2/3/4 and line-search iterations 4/8/50 (elastic, batch 16);
* OpenSim: the real-time factor of the Rajagopal 2016 model (80 muscles, no contact) at
  integrator accuracy 1e-3 and 1e-5.

JAX times exclude compilation (`lower().compile()`, reported apart): a `lax.scan` over `--steps`
steps; batch 1 is one env without `vmap`. The rows of a batch are timed in interleaved rounds
(one call of each per round, at least `--repeats` rounds, more within `--budget` s) and each keeps
its best time, so that other jobs on a shared machine slow all rows alike. On CPU the run creates
JAX's client with a one-thread intra-op pool: with jaxlib 0.10.2 a batch >= 17 can otherwise
deadlock (see `batch64.py`); `--default-pool` keeps XLA's pool and skips those batches. A full CPU
run takes ~7 min with a warm persistent compilation cache (`--cache`), ~30 min cold (31 programs
of 30-130 s each on 2 cores).

    python benchmarks/plant.py                  # CPU: batches 1,4,16,64; GPU: 1 ... 4096
    python benchmarks/plant.py --quick          # batches 1,4, 20 steps, no sweep (smoke test)
    python benchmarks/plant.py --batches 1,16 --steps 100 --out r.json --plot r.png
    python benchmarks/plant.py --no-grad --no-sweep --no-opensim
    python benchmarks/plant.py --models myoleg,myolegs26 --batches 1,8,64 --grad-steps 50 \
        --plants "mskdiff rigid,mskdiff elastic x4" --no-sweep --no-opensim \
        --out benchmarks/plant_models_cpu.json     # the two models side by side
"""

import argparse
import collections
import gc
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
from batch64 import intra_op_threads, lapack_split_batch, one_intra_op_thread
from device import device_info as common_device_info

# JAX's CPU client must be created with the one-thread pool (before mskdiff is imported).
with one_intra_op_thread(enabled="--default-pool" not in sys.argv):
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import mujoco
    from mujoco import mjx

    from mskdiff.integrate import SemiImplicitEuler
    from mskdiff.models.myoleg import myoleg, myoleg_mjmodel, standing_qpos
    from mskdiff.models.myolegs26 import myolegs26, myolegs26_mjmodel
    from mskdiff.plant.rollout import rollout

ROOT = Path(__file__).resolve().parents[1]
RAJAGOPAL_OSIM = ROOT.parent / "shared" / "data" / "rajagopal2016" / "Rajagopal2016.osim"
CPU_BATCHES = (1, 4, 16, 64)
GPU_BATCHES = (1, 4, 16, 64, 256, 1024, 4096)
#: The plant variants of the batch sweep: label -> (myoleg keyword arguments, MTU sub-steps).
PLANTS = {
    "mskdiff rigid": ({"formulation": "rigid"}, 4),
    "mskdiff elastic x1": ({}, 1),
    "mskdiff elastic x4": ({}, 4),
    "mskdiff elastic x8": ({}, 8),
    "mskdiff MuJoCo muscles": ({"mujoco_muscles": True}, 4),
}
ELASTIC = "mskdiff elastic x4"
#: The models of `--models`: name -> (plant builder, host-model builder).
MODELS = {"myoleg": (myoleg, myoleg_mjmodel), "myolegs26": (myolegs26, myolegs26_mjmodel)}
#: (solver iterations, line-search iterations) for the physics-default sweep; (3, 8) is the default.
PHYSICS = ((2, 8), (3, 8), (4, 8), (3, 4), (3, 50))
SWEEP_BATCH = 16
MAX_LOOP_ENV_STEPS = 20_000  # the mj_step loop's rate does not depend on the batch; cap its work
EXCITATION = (0.02, 0.2)  # excitations / ctrl uniform in [a, a + b], new every step and env

_EVENTS = collections.Counter()
jax.monitoring.register_event_listener(lambda event, **kwargs: _EVENTS.update([event]))


# --------------------------------------------------------------------------- helpers


def _best_of(fn, repeats: int) -> tuple[float, list[float]]:
    """Best wall time of `repeats` calls of `fn` after one untimed warm-up call."""
    jax.block_until_ready(fn())
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - start)
    return min(walls), walls


def _compile(jitted, *args) -> tuple:
    """`(compiled, seconds, persistent-cache hit, memory mappings added)` of `jitted.lower(*args)`."""
    hits, maps = _EVENTS["/jax/compilation_cache/cache_hits"], _memory_maps()
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    seconds = time.perf_counter() - start
    return compiled, seconds, _EVENTS["/jax/compilation_cache/cache_hits"] > hits, _memory_maps() - maps


def _memory_maps() -> int:
    """Memory mappings of this process (Linux caps them at vm.max_map_count, often 65530)."""
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0


def _release() -> None:
    """Free executables no longer referenced. XLA:CPU maps every compiled kernel separately
    (about 3-5k mappings per plant program); keeping a few dozen programs alive exhausts
    vm.max_map_count and LLVM then fails with "Cannot allocate memory" (and segfaults)."""
    gc.collect()
    jax.clear_caches()
    gc.collect()


def _xla_memory(compiled) -> dict:
    """XLA's buffer sizes for a compiled program [bytes] (temp = its working memory)."""
    compiled = getattr(compiled, "compiled", compiled)  # equinox wraps jax's Compiled
    try:
        stats = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return {}
    if stats is None:
        return {}
    keys = ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes",
            "alias_size_in_bytes", "generated_code_size_in_bytes")
    return {k: int(getattr(stats, k)) for k in keys if hasattr(stats, k)}


class PeakMemory:
    """Peak memory while the block runs: device `memory_stats()` when there are any, and process
    RSS (Linux's VmHWM, reset on entry through /proc/self/clear_refs)."""

    def __enter__(self):
        self.device_before = _device_stats()
        self.rss_before = _status_kb("VmRSS")
        self.hwm_reset = _reset_peak_rss()
        return self

    def __exit__(self, *exc):
        device = _device_stats()
        self.result = {
            "rss_before_mb": self.rss_before / 1024,
            "peak_rss_mb": _status_kb("VmHWM") / 1024 if self.hwm_reset else None,
            "peak_rss_increase_mb": (_status_kb("VmHWM") - self.rss_before) / 1024
            if self.hwm_reset else None,
            "device_peak_bytes_in_use": device.get("peak_bytes_in_use"),
            "device_bytes_in_use_before": self.device_before.get("bytes_in_use"),
        }


def _device_stats() -> dict:
    try:
        return jax.devices()[0].memory_stats() or {}
    except Exception:
        return {}


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _excitations(key, n_steps: int, batch: int, n: int):
    shape = (n_steps, n) if batch == 1 else (n_steps, batch, n)
    return EXCITATION[0] + EXCITATION[1] * jr.uniform(key, shape)


def _batched(tree, batch: int):
    """Broadcast every leaf to a leading env axis (batch > 1); batch 1 stays unbatched."""
    if batch == 1:
        return tree
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (batch, *jnp.shape(x))), tree)


def _row(config: str, batch: int, n_steps: int, compile_s, cache_hit, best, walls, **extra) -> dict:
    return {"config": config, "batch": batch, "steps": n_steps, "compile_s": compile_s,
            "compile_cache_hit": cache_hit, "run_s": best, "run_walls_s": walls,
            "env_steps_per_s": batch * n_steps / best,
            "us_per_env_step": 1e6 * best / (batch * n_steps), **extra}


def _print_row(r: dict) -> None:
    compile_s = ("" if r["compile_s"] is None else
                 f"{r['compile_s']:7.1f}{'*' if r['compile_cache_hit'] else ' '}")
    flag = "" if r.get("finite", True) else "  NON-FINITE"
    print(f"{r['config']:26s} {r['batch']:6d} {r['steps']:5d} {compile_s:>9s} {r['run_s']:9.4f} "
          f"{r['env_steps_per_s']:12.0f} {r['us_per_env_step']:11.1f}{flag}", flush=True)


def _print_header() -> None:
    header = (f"{'config':26s} {'batch':>6s} {'steps':>5s} {'compile s':>9s} {'run s':>9s} "
              f"{'env-steps/s':>12s} {'us/env-step':>11s}")
    print(header)
    print("-" * len(header), flush=True)


# --------------------------------------------------------------------------- measurements


class Case:
    """One cell of the batch sweep: a ready-to-run call (compiled for JAX) and its report.

    `call()` runs `steps` physics steps for `work_envs` envs (the mj_step loop may step fewer
    envs than the batch: its rate does not depend on the batch) and returns what to block on.
    """

    def __init__(self, config: str, batch: int, n_steps: int, call, *, work_envs=None,
                 compile_s=None, cache_hit=None, report=None, cleanup=None, **extra):
        self.config, self.batch, self.n_steps, self.call = config, batch, n_steps, call
        self.work_envs = work_envs or batch
        self.compile_s, self.cache_hit, self.report, self.cleanup = compile_s, cache_hit, report, cleanup
        self.extra, self.walls, self.last = extra, [], None

    def run_timed(self) -> None:
        start = time.perf_counter()
        self.last = jax.block_until_ready(self.call())
        self.walls.append(time.perf_counter() - start)

    def row(self) -> dict:
        scale = self.batch / self.work_envs
        extra = {**self.extra, **(self.report(self.last) if self.report else {})}
        if self.work_envs != self.batch:
            extra["envs_stepped"] = self.work_envs
        return _row(self.config, self.batch, self.n_steps, self.compile_s, self.cache_hit,
                    min(self.walls) * scale, [w * scale for w in self.walls], **extra)


def measure(cases: list[Case], repeats: int, budget_s: float) -> list[dict]:
    """Time the cases interleaved: a warm-up call each, then rounds that call every case once
    (so a busy moment of a shared machine hits all of them), at least `repeats` rounds and more
    while they fit in `budget_s`; each case keeps its best time."""
    for case in cases:
        jax.block_until_ready(case.call())
    start = time.perf_counter()
    for case in cases:
        case.run_timed()
    one_round = time.perf_counter() - start
    rounds = int(np.clip(budget_s // max(one_round, 1e-9), repeats, 50))
    for _ in range(rounds - 1):
        for case in cases:
            case.run_timed()
    rows = [case.row() for case in cases]
    for case in cases:
        if case.cleanup:
            case.cleanup()
    return rows


def mujoco_loop_case(mj_model, qpos, batch: int, n_steps: int) -> Case:
    """`mujoco.mj_step` in a Python loop, one thread; envs stepped in turn (capped work)."""
    envs = max(1, min(batch, MAX_LOOP_ENV_STEPS // n_steps))
    ctrl = np.asarray(_excitations(jr.key(1), n_steps, envs, mj_model.nu)).reshape(
        n_steps, envs, mj_model.nu)
    datas = [mujoco.MjData(mj_model) for _ in range(envs)]

    def call():
        for d in datas:
            mujoco.mj_resetData(mj_model, d)
            d.qpos[:] = qpos
        for t in range(n_steps):
            for b, d in enumerate(datas):
                d.ctrl[:] = ctrl[t, b]
                mujoco.mj_step(mj_model, d)

    def report(_):
        return {"finite": all(bool(np.all(np.isfinite(d.qpos))) for d in datas),
                "mean_pelvis_height": float(np.mean([d.qpos[2] for d in datas])), "threads": 1}

    return Case("MuJoCo C mj_step loop", batch, n_steps, call, work_envs=envs, report=report)


def mujoco_rollout_case(mj_model, qpos, batch: int, n_steps: int) -> Case:
    """`mujoco.rollout` (C, one thread per core) over the batch."""
    from mujoco import rollout as mj_rollout

    nthread = min(os.cpu_count() or 1, batch)
    data = mujoco.MjData(mj_model)
    data.qpos[:] = qpos
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state0 = np.zeros(mujoco.mj_stateSize(mj_model, spec))
    mujoco.mj_getState(mj_model, data, state0, spec)
    initial = np.tile(state0, (batch, 1))
    ctrl = np.asarray(_excitations(jr.key(1), n_steps, batch, mj_model.nu)).reshape(
        n_steps, batch, mj_model.nu).swapaxes(0, 1).copy()
    datas = [mujoco.MjData(mj_model) for _ in range(nthread)]
    runner = mj_rollout.Rollout(nthread=nthread)

    def report(state):
        return {"finite": bool(np.all(np.isfinite(state))), "threads": nthread}

    return Case(f"MuJoCo C rollout ({os.cpu_count()} cores)", batch, n_steps,
                lambda: runner.rollout(mj_model, datas, initial, ctrl)[0], report=report,
                cleanup=runner.close)


def mjx_case(mj_model, qpos, batch: int, n_steps: int) -> Case:
    """Plain MJX: `mjx.step` under `lax.scan`, vmapped over envs (batch > 1)."""
    m = mjx.put_model(mj_model)
    data = _batched(mjx.make_data(m).replace(qpos=jnp.asarray(qpos, dtype=float)), batch)
    ctrl = _excitations(jr.key(1), n_steps, batch, mj_model.nu)
    step = mjx.step if batch == 1 else jax.vmap(mjx.step, in_axes=(None, 0))

    def run(m, data, ctrl):
        return jax.lax.scan(lambda d, c: (step(m, d.replace(ctrl=c)), None), data, ctrl)[0]

    compiled, compile_s, hit, maps = _compile(jax.jit(run), m, data, ctrl)

    def report(final):
        return {"finite": bool(jnp.all(jnp.isfinite(final.qpos))),
                "mean_pelvis_height": float(jnp.mean(final.qpos[..., 2]))}

    return Case("plain MJX mjx.step", batch, n_steps, lambda: compiled(m, data, ctrl),
                compile_s=compile_s, cache_hit=hit, report=report,
                xla_memory=_xla_memory(compiled), memory_maps=maps)


def _plant_run(integrator, batch: int):
    def run(plant, state, excitation):
        step = lambda s, e: plant.step(s, e, integrator=integrator)
        step = step if batch == 1 else jax.vmap(step)
        return jax.lax.scan(lambda s, e: (step(s, e), None), state, excitation)[0]
    return eqx.filter_jit(run)


def plant_case(label: str, plant, qpos, substeps: int, batch: int, n_steps: int,
               finals: dict | None = None) -> Case:
    """The plant's step under `lax.scan`, vmapped over envs; the final state goes to `finals`."""
    state = _batched(plant.init(jnp.asarray(qpos, dtype=float), activation=0.05), batch)
    excitation = _excitations(jr.key(1), n_steps, batch, plant.n_muscles)
    compiled, compile_s, hit, maps = _compile(_plant_run(SemiImplicitEuler(substeps), batch),
                                              plant, state, excitation)

    def report(final):
        if finals is not None:
            finals[label] = final
        leaves = (final.data.qpos, final.data.qvel, *jax.tree.leaves(final.muscle))
        return {"finite": all(bool(jnp.all(jnp.isfinite(x))) for x in leaves),
                "mean_pelvis_height": float(jnp.mean(final.data.qpos[..., 2]))}

    return Case(label, batch, n_steps, lambda: compiled(plant, state, excitation),
                compile_s=compile_s, cache_hit=hit, report=report, substeps=substeps,
                xla_memory=_xla_memory(compiled), memory_maps=maps)


def time_gradient(plant, qpos, n_steps: int, repeats: int) -> dict:
    """Forward vs `jax.grad` of a rollout loss w.r.t. the excitations (one env)."""
    state = plant.init(jnp.asarray(qpos, dtype=float), activation=0.05)
    excitation = _excitations(jr.key(2), n_steps, 1, plant.n_muscles)

    def loss(plant, excitation, state, checkpoint):
        final, trajectory = rollout(plant, state, excitation, checkpoint=checkpoint, throw=False)
        return 1e-3 * jnp.mean(trajectory.tendon_force) + final.data.qpos[2]

    out = {"steps": n_steps, "loss": "1e-3 mean(tendon force) + final pelvis height",
           "wrt": "excitations (T, n_muscles)"}
    programs = {
        "forward": lambda p, e, s: loss(p, e, s, False),
        "grad (no checkpoint)": jax.grad(lambda p, e, s: loss(p, e, s, False), argnums=1),
        "grad (checkpoint=True)": jax.grad(lambda p, e, s: loss(p, e, s, True), argnums=1),
    }
    for label, fn in programs.items():
        compiled, compile_s, hit, maps = _compile(eqx.filter_jit(fn), plant, excitation, state)
        with PeakMemory() as memory:
            best, walls = _best_of(lambda c=compiled: c(plant, excitation, state), repeats)
        value = compiled(plant, excitation, state)
        out[label] = {"compile_s": compile_s, "compile_cache_hit": hit, "run_s": best,
                      "run_walls_s": walls, "finite": bool(jnp.all(jnp.isfinite(value))),
                      "nonfinite_entries": int(jnp.sum(~jnp.isfinite(value))),
                      "xla_memory": _xla_memory(compiled), "memory": memory.result,
                      "memory_maps": maps}
        del compiled
        _release()
        m = out[label]
        temp = m["xla_memory"].get("temp_size_in_bytes")
        peak = m["memory"]["device_peak_bytes_in_use"] or m["memory"]["peak_rss_increase_mb"]
        print(f"  {label:24s} compile {compile_s:6.1f}{'*' if hit else ' '} s  run "
              f"{best * 1e3:8.1f} ms  XLA temp {temp / 2**20 if temp else float('nan'):8.1f} MiB  "
              f"peak {'device' if m['memory']['device_peak_bytes_in_use'] else 'RSS +'} "
              f"{peak if peak is not None else float('nan'):8.1f}  finite {m['finite']}", flush=True)
    forward = out["forward"]["run_s"]
    for label in ("grad (no checkpoint)", "grad (checkpoint=True)"):
        out[label]["time_over_forward"] = out[label]["run_s"] / forward
    return out


def time_opensim(seconds: float, accuracies=(1e-3, 1e-5)) -> dict | None:
    """Real-time factor of OpenSim's forward simulation of Rajagopal 2016 (no controller)."""
    try:
        import opensim as osim
    except ImportError:
        print("OpenSim is not installed (pip install -e .[opensim]): no OpenSim baseline.")
        return None
    if not RAJAGOPAL_OSIM.is_file():
        print(f"{RAJAGOPAL_OSIM} not found: no OpenSim baseline.")
        return None
    osim.Logger.setLevelString("error")
    model = osim.Model(str(RAJAGOPAL_OSIM))
    result = {"version": osim.GetVersion(), "model": RAJAGOPAL_OSIM.name,
              "muscles": model.getMuscles().getSize(), "coordinates": model.getNumCoordinates(),
              "simulated_s": seconds, "integrator": "RungeKuttaMerson (Manager default)",
              "controls": "none (zero excitation), default pose, muscles equilibrated", "runs": {}}
    for accuracy in accuracies:
        state = model.initSystem()
        model.equilibrateMuscles(state)
        manager = osim.Manager(model)
        manager.setIntegratorAccuracy(accuracy)
        manager.initialize(state)
        start = time.perf_counter()
        manager.integrate(seconds)
        wall = time.perf_counter() - start
        result["runs"][f"{accuracy:g}"] = {
            "accuracy": accuracy, "wall_s": wall, "realtime_factor": seconds / wall,
            "integrator_steps": manager.getStatesTable().getNumRows() - 1}
        print(f"  OpenSim accuracy {accuracy:g}: {seconds:g} s simulated in {wall:.2f} s wall = "
              f"real-time factor {seconds / wall:.2f}", flush=True)
    return result


# --------------------------------------------------------------------------- report


def device_info() -> dict:
    """Device, machine, package versions and XLA's intra-op thread count."""
    info = common_device_info(("jax", "jaxlib", "mujoco", "mujoco-mjx", "equinox", "numpy",
                               "mskdiff", "opensim"))
    return {**info, "intra_op_pool_threads": intra_op_threads()}


def ratios(rows: list[dict], batches) -> dict:
    """Throughput ratios between configs measured in this run, per batch."""
    rate = {(r["config"], r["batch"]): r["env_steps_per_s"] for r in rows}
    pairs = {
        "elastic_x4_over_rigid_time": (ELASTIC, "mskdiff rigid"),
        "elastic_x1_over_rigid_time": ("mskdiff elastic x1", "mskdiff rigid"),
        "elastic_x8_over_rigid_time": ("mskdiff elastic x8", "mskdiff rigid"),
        "elastic_x4_over_plain_mjx_time": (ELASTIC, "plain MJX mjx.step"),
        "rigid_over_plain_mjx_time": ("mskdiff rigid", "plain MJX mjx.step"),
        "mujoco_muscles_plant_over_plain_mjx_time": ("mskdiff MuJoCo muscles", "plain MJX mjx.step"),
        "elastic_x4_over_mujoco_c_loop_time": (ELASTIC, "MuJoCo C mj_step loop"),
    }
    out = {}
    for name, (a, b) in pairs.items():
        out[name] = {str(n): rate[(b, n)] / rate[(a, n)] for n in batches
                     if (a, n) in rate and (b, n) in rate}
    return out


def plot(rows: list[dict], opensim: dict | None, dt: float, info: dict, path: Path,
         model: str = "myoleg") -> None:
    """Env-steps/s against batch (log-log) and the time per env-step relative to plain MJX."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, rel) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    styles = {"mj_step": ("k", "--"), "rollout": ("k", "-."), "plain MJX": ("tab:gray", "-"),
              "rigid": ("tab:blue", "-"), "x1": ("tab:olive", ":"), "x4": ("tab:red", "-"),
              "x8": ("tab:brown", ":"), "MuJoCo muscles": ("tab:purple", "-.")}
    mjx_rate = {r["batch"]: r["env_steps_per_s"] for r in rows if r["config"] == "plain MJX mjx.step"}
    for config in dict.fromkeys(r["config"] for r in rows):
        points = sorted((r["batch"], r["env_steps_per_s"]) for r in rows if r["config"] == config)
        color, line = next((v for k, v in styles.items() if k in config), ("tab:green", "-"))
        ax.plot(*zip(*points, strict=True), marker="o", color=color, linestyle=line, label=config)
        if not config.startswith("MuJoCo C") and mjx_rate:
            ratio = [(b, mjx_rate[b] / v) for b, v in points if b in mjx_rate]
            rel.plot(*zip(*ratio, strict=True), marker="o", color=color, linestyle=line,
                     label=config)
    if opensim:
        for key, run in opensim["runs"].items():
            ax.axhline(run["realtime_factor"] / dt, color="tab:cyan", linestyle=":", linewidth=1)
            ax.text(min(mjx_rate or [1]), run["realtime_factor"] / dt * 1.05,
                    f"OpenSim Rajagopal 2016 (no contact), accuracy {key}: "
                    f"real-time factor {run['realtime_factor']:.2f}", fontsize=7, color="tab:cyan")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch (envs)")
    ax.set_ylabel(f"env-steps per second ({dt * 1e3:g} ms steps)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    rel.axhline(1.15, color="tab:red", linestyle=":", linewidth=1)
    rel.text(min(mjx_rate or [1]), 1.155, "+15 %", fontsize=7, color="tab:red")
    rel.set_xscale("log")
    rel.set_xlabel("batch (envs)")
    rel.set_ylabel("time per env-step / plain MJX")
    rel.grid(True, which="both", alpha=0.3)
    where = (info["device_kind"] if info["gpu"] else
             f"CPU only, {info['cpu_count']} cores ({info['cpu_model']}), "
             f"XLA intra-op pool {info['intra_op_pool_threads']} thread(s)")
    fig.suptitle(f"{model} locomotion scene, float32: throughput against batch size\n{where}",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "device"


def compare_models(results: dict) -> dict:
    """Time per env-step of each model over the first's, per config and batch (same run)."""
    first = next(iter(results.values()))["rows"]
    base = {(r["config"], r["batch"]): r["us_per_env_step"] for r in first}
    return {model: {f"{r['config']} b{r['batch']}": r["us_per_env_step"] / base[r["config"], r["batch"]]
                    for r in result["rows"] if (r["config"], r["batch"]) in base}
            for model, result in results.items()}


def candidate_contacts(mj_model) -> int:
    """MJX's contact slots per step (every candidate pair, touching or not)."""
    from mskdiff.plant._mjx_compat import contact_distance

    return int(contact_distance(mjx.make_data(mj_model)).shape[0])


def run_model(model: str, args, batches: list[int], info: dict, wanted: list[str]) -> dict:
    """The batch sweep, gradient timing and physics sweep of one model (`MODELS`)."""
    build_plant, build_mjmodel = MODELS[model]
    mj_model = build_mjmodel()
    qpos = standing_qpos(mj_model)
    dt = float(mj_model.opt.timestep)
    split = lapack_split_batch(mj_model.nv, info["intra_op_pool_threads"])
    skipped = []
    if not info["gpu"] and split is not None:
        skipped = [b for b in batches if b >= split]
        batches = [b for b in batches if b < split]
        print(f"--default-pool: skipping batches {skipped} (>= {split} can deadlock, see batch64.py)")
    print(f"\n===== {model} locomotion scene: nv {mj_model.nv}, {mj_model.nu} muscles, dt {dt * 1e3:g} ms, "
          f"solver iterations {mj_model.opt.iterations}, line search {mj_model.opt.ls_iterations}; "
          f"batches {batches}; {args.steps} steps per run, best of >= {args.repeats} interleaved "
          f"rounds\n"
          "(compile time: * = loaded from the persistent compilation cache)\n")

    plants = {label: (build_plant(**kwargs), substeps)
              for label, (kwargs, substeps) in PLANTS.items() if label in wanted}
    rows = []
    for batch in batches:
        print(f"batch {batch}: compiling ...", flush=True)
        cases = []
        if not args.no_mujoco_c:
            cases += [mujoco_loop_case(mj_model, qpos, batch, args.steps),
                      mujoco_rollout_case(mj_model, qpos, batch, args.steps)]
        cases.append(mjx_case(mj_model, qpos, batch, args.steps))
        cases += [plant_case(label, plant, qpos, substeps, batch, args.steps)
                  for label, (plant, substeps) in plants.items()]
        batch_rows = measure(cases, args.repeats, args.budget)
        del cases
        _release()
        _print_header()
        for row in batch_rows:
            row["model"] = model
            _print_row(row)
        rows += batch_rows

    ratio = ratios(rows, batches)
    print("\nratios of time per env-step, same run (> 1: the first is slower):")
    for name, values in ratio.items():
        print(f"  {name:42s} " + "  ".join(f"b{b}: {r:5.2f}" for b, r in values.items()))
    largest = str(max(batches))
    over_mjx = ratio["elastic_x4_over_plain_mjx_time"].get(largest, float("nan"))
    over_rigid = ratio["elastic_x4_over_rigid_time"].get(largest, float("nan"))
    print(f"elastic x4 at batch {largest}: {100 * (over_mjx - 1):+.0f} % time per env-step vs plain "
          f"MJX, {100 * (over_rigid - 1):+.0f} % vs mskdiff rigid (issue 3's target on one GPU at "
          "batch 4096: <= +15 %)")

    gradient = None
    if not args.no_grad:
        print(f"\njax.grad of a {args.grad_steps}-step rollout (elastic x4, the model's default "
              "tendons, one env) vs the forward pass (memory: XLA temp buffers; peak process RSS "
              "increase or device peak):")
        gradient = time_gradient(build_plant(), qpos, args.grad_steps, args.repeats)
        for label in ("grad (no checkpoint)", "grad (checkpoint=True)"):
            print(f"  {label}: {gradient[label]['time_over_forward']:.1f}x the forward time")

    sweep = []
    if not args.no_sweep:
        print(f"\nphysics defaults, elastic x4, batch {SWEEP_BATCH} (default: 3 Newton, 8 line "
              "search); compiling ...")
        finals, cases = {}, []
        for iterations, ls in PHYSICS:
            plant = build_plant(solver_iterations=iterations, linesearch_iterations=ls)
            cases.append(plant_case(f"solver {iterations}, ls {ls}", plant, qpos, 4, SWEEP_BATCH,
                                    args.steps, finals))
        sweep = measure(cases, args.repeats, args.budget)
        del cases
        _release()
        reference = finals["solver 3, ls 8"]
        _print_header()
        for row, (iterations, ls) in zip(sweep, PHYSICS, strict=True):
            final = finals[row["config"]]
            row.update(solver_iterations=iterations, linesearch_iterations=ls,
                       max_abs_qpos_diff_vs_default=float(
                           jnp.max(jnp.abs(final.data.qpos - reference.data.qpos))))
            _print_row(row)
        print("  max |qpos - qpos(solver 3, ls 8)| after the run: " + ", ".join(
            f"({r['solver_iterations']}, {r['linesearch_iterations']}): "
            f"{r['max_abs_qpos_diff_vs_default']:.1e}" for r in sweep))
    scene = {"nq": int(mj_model.nq), "nv": int(mj_model.nv), "muscles": int(mj_model.nu),
             "equalities": int(mj_model.neq), "candidate_contacts": candidate_contacts(mj_model),
             "dt_s": dt, "solver_iterations": int(mj_model.opt.iterations),
             "linesearch_iterations": int(mj_model.opt.ls_iterations)}
    return {"scene": scene, "rows": rows, "ratios": ratio, "gradient": gradient,
            "physics_sweep": sweep, "skipped_batches": skipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", help="comma-separated batch sizes (default: CPU 1,4,16,64; "
                                          "GPU 1 ... 4096)")
    parser.add_argument("--steps", type=int, default=100, help="physics steps per timed run")
    parser.add_argument("--repeats", type=int, default=5,
                        help="least timed rounds per batch (best is kept)")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="more rounds while they fit in this many seconds per batch")
    parser.add_argument("--grad-steps", type=int, default=100, help="rollout length for the gradient")
    parser.add_argument("--opensim-seconds", type=float, default=1.0)
    parser.add_argument("--models", default="myoleg",
                        help=f"comma-separated models, each measured in turn: {', '.join(MODELS)}")
    parser.add_argument("--plants", help="comma-separated plant rows of the batch sweep "
                                         f"(default all: {', '.join(PLANTS)})")
    parser.add_argument("--quick", action="store_true",
                        help="batches 1,4 (GPU 1,64,1024), 20 steps, no sweep (smoke test)")
    parser.add_argument("--no-grad", action="store_true")
    parser.add_argument("--no-sweep", action="store_true", help="skip the physics-default sweep")
    parser.add_argument("--no-opensim", action="store_true")
    parser.add_argument("--no-mujoco-c", action="store_true")
    parser.add_argument("--default-pool", action="store_true",
                        help="keep XLA's intra-op pool (skips CPU batches that can deadlock)")
    parser.add_argument("--cache", default="~/.cache/mskdiff-jax",
                        help="persistent JAX compilation cache ('' disables it)")
    parser.add_argument("--out", help="JSON file (default benchmarks/results/plant_<device>.json)")
    parser.add_argument("--plot", help="PNG file (default: the JSON path with .png)")
    args = parser.parse_args()
    if args.cache:
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(args.cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    t_start, load_before = time.perf_counter(), os.getloadavg()
    info = device_info()
    if args.quick:
        args.steps, args.grad_steps = min(args.steps, 20), min(args.grad_steps, 20)
        args.opensim_seconds, args.no_sweep = min(args.opensim_seconds, 0.2), True
    batches = ([int(b) for b in args.batches.split(",")] if args.batches else
               list((1, 64, 1024) if args.quick else GPU_BATCHES) if info["gpu"] else
               list((1, 4) if args.quick else CPU_BATCHES))

    plants_wanted = args.plants.split(",") if args.plants else list(PLANTS)
    unknown = sorted(set(plants_wanted) - set(PLANTS))
    if unknown:
        parser.error(f"unknown --plants {unknown}; choose from {list(PLANTS)}")
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown --models {unknown}; choose from {list(MODELS)}")
    if info["gpu"]:
        print(f"device: {info['devices']} ({info['device_kind']}); MuJoCo C on "
              f"{info['cpu_count']} CPU cores")
    else:
        print(f"device: CPU only ({info['cpu_count']} cores, {info['cpu_model']}); no GPU in this run")
    v = info["versions"]
    print(f"jax {v['jax']}, mujoco {v['mujoco']}, mujoco-mjx {v['mujoco-mjx']}, equinox "
          f"{v['equinox']}, opensim {v['opensim']}; XLA intra-op pool: "
          f"{info['intra_op_pool_threads']} thread(s); load average {load_before[0]:.1f}")
    results = {model: run_model(model, args, batches, info, plants_wanted) for model in models}
    first = results[models[0]]
    dt, rows, ratio = first["scene"]["dt_s"], first["rows"], first["ratios"]

    opensim = None
    if not args.no_opensim:
        print(f"\nOpenSim, {RAJAGOPAL_OSIM.name}, {args.opensim_seconds:g} s simulated:")
        opensim = time_opensim(args.opensim_seconds)
    if opensim:
        ours = {r["batch"]: r["env_steps_per_s"] * dt for r in rows if r["config"] == ELASTIC}
        for key, run in opensim["runs"].items():
            print(f"  elastic x4 simulated seconds per wall second / OpenSim RTF (accuracy {key}): "
                  + "  ".join(f"b{b}: {rtf / run['realtime_factor']:.1f}x" for b, rtf in ours.items()))
        ratio["elastic_x4_realtime_factor"] = {str(b): v for b, v in ours.items()}

    total = time.perf_counter() - t_start
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"plant_{_slug(info['device_kind'])}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"batches": batches, "skipped_batches": first["skipped_batches"],
                "steps": args.steps, "repeats": args.repeats, "grad_steps": args.grad_steps,
                "dt_s": dt, "solver_iterations": first["scene"]["solver_iterations"],
                "linesearch_iterations": first["scene"]["linesearch_iterations"],
                "models": models, "plants": plants_wanted,
                "excitation": f"uniform in [{EXCITATION[0]}, {sum(EXCITATION)}], every step and env",
                "dtype": str(jnp.zeros(()).dtype), "persistent_cache": bool(args.cache),
                "one_thread_intra_op_pool": not args.default_pool, "quick": args.quick}
    # Top-level rows, ratios, gradient and sweep: the first model's (the single-model layout).
    out.write_text(json.dumps({
        "device": info, "settings": settings, "rows": rows, "ratios": ratio,
        "gradient": first["gradient"], "physics_sweep": first["physics_sweep"], "models": results,
        "model_comparison": compare_models(results), "opensim": opensim, "total_wall_s": total,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, indent=1, default=float))
    plot_path = Path(args.plot) if args.plot else out.with_suffix(".png")
    for k, (model, result) in enumerate(results.items()):
        path = plot_path if k == 0 else plot_path.with_stem(f"{plot_path.stem}_{model}")
        plot(result["rows"], opensim if k == 0 else None, dt, info, path, model)
    print(f"\ntotal {total:.0f} s; load average {os.getloadavg()[0]:.1f}; wrote {out} and {plot_path}")


if __name__ == "__main__":
    main()
