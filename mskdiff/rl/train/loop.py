"""The host loop: `train(env, algorithm, steps=...)`.

With progress, logs, evaluation, checkpoints that resume to the same result, and data
parallelism over devices.

**Devices.** The env batch is sharded over `devices` (default every device of every process,
`jax.devices()`) on one mesh axis, `envs`; networks, optimiser states and keys are replicated,
and XLA's partitioner reduces the gradients. With `jax.distributed.initialize` called first,
`jax.devices()` spans every process, so the same call trains on many machines.
"""

import csv
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from .common import AbstractAlgorithm, TrainState
from .envs import BatchedEnv
from .networks import Actor, Normalizer, Policy

CHECKPOINT, CHECKPOINT_INFO = "checkpoint.eqx", "checkpoint.json"
POLICY, POLICY_INFO = "policy.eqx", "policy.json"


class TrainResult(eqx.Module):
    """A run's policy, its final train state and one metrics row per update."""

    policy: Policy
    state: TrainState
    history: list[dict[str, float]] = eqx.field(static=True)


def env_mesh(num_envs: int, devices: Sequence | None = None) -> Mesh:
    """A one-axis mesh (`envs`) over `devices`; `num_envs` must divide among them."""
    devices = list(devices) if devices is not None else jax.devices()
    if num_envs % len(devices):
        raise ValueError(f"`num_envs` ({num_envs}) must be divisible by the number of devices "
                         f"({len(devices)})")
    return Mesh(np.array(devices), ("envs",))


def _constrain(state: TrainState, mesh: Mesh) -> TrainState:
    """The env batch sharded on its leading axis, everything else replicated."""
    replicated = NamedSharding(mesh, PartitionSpec())
    rest = jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, replicated)
                        if eqx.is_array(x) else x, eqx.tree_at(lambda s: s.envs, state, None))
    return eqx.tree_at(lambda s: s.envs, rest, _constrain_envs(state.envs, mesh),
                       is_leaf=lambda x: x is None)


def _constrain_envs(envs, mesh: Mesh):
    """Every array of an env batch sharded on its leading (env) axis over `mesh`."""
    sharded = NamedSharding(mesh, PartitionSpec("envs"))
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharded)
                        if eqx.is_array(x) else x, envs)


def train(env, algorithm: AbstractAlgorithm, *, steps: int, seed: int = 0,
          out: str | Path | None = None, resume: bool = False, checkpoint_every: int = 10,
          eval_every: int = 0, num_eval_envs: int = 16, devices: Sequence | None = None,
          progress: bool = True) -> TrainResult:
    """Train `algorithm` on `env` (Playground's contract) for at least `steps` env steps.

    Args:
        env: the environment (`reset`, `step`, `observation_size`, `action_size`,
            `episode_length`).
        algorithm: `PPO`, `APG`, `SHAC`, `GradientPPO` or another `AbstractAlgorithm`.
        steps: environment steps (rounded up to whole updates of `algorithm.steps_per_update`).
        seed: the run's seed; a run is a deterministic function of it.
        out: folder for `metrics.jsonl`/`metrics.csv`, TensorBoard logs (tensorboardX, when
            installed), the checkpoint and the final policy (`load_policy(out)`).
        resume: continue from `out`'s checkpoint; the run ends as the uninterrupted one would.
        checkpoint_every: updates between checkpoints (and metric file writes).
        eval_every: updates between deterministic evaluations (0: only at the end).
        num_eval_envs: episodes per evaluation (0: no evaluation).
        devices: devices to shard the envs over (default `jax.devices()`).
        progress: show a progress bar (steps/s, return, episode length).
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"`steps` must be a whole number >= 1, got {steps}")
    if resume and out is None:
        raise ValueError("`resume` needs `out`, the folder of the run to resume")
    mesh = env_mesh(algorithm.num_envs, devices)
    batch = BatchedEnv(env, algorithm.num_envs)
    state, history = _init(algorithm, batch, mesh, jr.key(seed)), []
    out = Path(out) if out is not None else None
    if resume:
        state, history = load_checkpoint(out, state)
    n_updates = math.ceil(steps / algorithm.steps_per_update)
    logger = _Logger(out, history)
    bar = tqdm(total=n_updates, initial=len(history), disable=not progress, unit="update")
    evaluate_fn = _evaluator(env, num_eval_envs) if num_eval_envs else None
    start = time.perf_counter()
    for k in range(len(history), n_updates):
        state, metrics = _update(algorithm, batch, mesh, state)
        row = {"update": k + 1, "env_steps": int(_host(state.env_steps)),
               "wall_time": time.perf_counter() - start,
               **{name: float(_host(value)) for name, value in metrics.items()}}
        if evaluate_fn and (eval_every and (k + 1) % eval_every == 0 or k + 1 == n_updates):
            row.update(evaluate_fn(state.policy(), jr.fold_in(jr.key(seed), k)))
        history.append(row)
        logger.write(row)
        bar.update(1)
        bar.set_postfix(steps_per_s=f"{row['env_steps'] / max(row['wall_time'], 1e-9):.0f}",
                        ret=f"{row['episode_return']:.3g}", len=f"{row['episode_length']:.0f}")
        if out is not None and ((k + 1) % checkpoint_every == 0 or k + 1 == n_updates):
            save_checkpoint(out, state, history)
    bar.close()
    logger.close()
    policy = state.policy()
    if out is not None and jax.process_index() == 0:
        save_policy(out, policy, algorithm.hidden)
    return TrainResult(policy, state, history)


# Module-level and keyed on (algorithm, env batch, mesh), all hashable: runs of the same
# configuration (seeds, resumes, evaluations) reuse one compiled program.
@eqx.filter_jit
def _init(algorithm, batch, mesh, key):
    return _constrain(algorithm.init(batch, key), mesh)


@eqx.filter_jit
def _update(algorithm, batch, mesh, state):
    state, metrics = algorithm.update(batch, _constrain(state, mesh))
    return _constrain(state, mesh), metrics


def _host(x: Array) -> np.ndarray:
    """A replicated array's value on this process (every process holds a copy)."""
    return np.asarray(x.addressable_data(0)) if isinstance(x, jax.Array) else np.asarray(x)


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(tree):
    """Every array of `tree` as numpy on this process (keys as their data)."""
    return jax.tree.map(lambda x: _host(jr.key_data(x)) if _is_key(x) else _host(x)
                        if eqx.is_array(x) else x, tree)


def _evaluator(env, num_envs: int):
    """`evaluate(policy, key)` over `num_envs` deterministic episodes.

    It returns the mean return, length and each env metric at the episode's last step
    (`eval/final/<metric>`).
    """
    batch = BatchedEnv(env, num_envs)
    return lambda policy, key: _scores(*_evaluation(batch, policy, key))


@eqx.filter_jit
def _evaluation(batch: BatchedEnv, policy: Policy, key: Array):
    """Mean return, length and final metrics of one deterministic episode per env."""
    reset_key, key = jr.split(key)
    envs = batch.reset(reset_key)
    final = jax.tree.map(jnp.zeros_like, envs.state.metrics)

    def one(carry, key):
        envs, alive, total, length, final = carry
        envs, step = batch.step(envs, jax.vmap(policy)(envs.state.obs), key)
        total, length = total + alive * step.reward, length + alive
        ending = alive * step.done > 0
        final = jax.tree.map(lambda new, old: jnp.where(ending, new, old), step.metrics, final)
        return (envs, alive * (1.0 - step.done), total, length, final), None

    zeros = jnp.zeros(batch.num_envs)
    (_, _, total, length, final), _ = jax.lax.scan(
        one, (envs, zeros + 1.0, zeros, zeros, final), jr.split(key, batch.episode_length))
    return jnp.mean(total), jnp.mean(length), jax.tree.map(jnp.mean, final)


def _scores(total, length, final) -> dict[str, float]:
    return {"eval/episode_return": float(_host(total)),
            "eval/episode_length": float(_host(length)),
            **{f"eval/final/{name}": float(_host(v)) for name, v in final.items()}}


def save_checkpoint(out: Path, state: TrainState, history: list[dict]) -> None:
    """Write the train state and the metrics so far (process 0; written then renamed)."""
    if jax.process_index() != 0:
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (CHECKPOINT + ".tmp")
    eqx.tree_serialise_leaves(tmp, _to_host(state))
    tmp.replace(out / CHECKPOINT)
    (out / CHECKPOINT_INFO).write_text(json.dumps({"updates": len(history), "history": history}))


def load_checkpoint(out: Path, like: TrainState) -> tuple[TrainState, list[dict]]:
    """The train state and metrics saved in `out` (`like`: a state of the same run's shapes)."""
    path = out / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume at {path}")
    loaded = eqx.tree_deserialise_leaves(path, _to_host(like))
    place = lambda new, old: (jax.device_put(jr.wrap_key_data(new) if _is_key(old) else new,
                                             old.sharding)
                              if isinstance(old, jax.Array) else new)
    placed = jax.tree.map(place, loaded, like)
    return placed, json.loads((out / CHECKPOINT_INFO).read_text())["history"]


def save_policy(out: Path, policy: Policy, hidden: tuple[int, ...]) -> None:
    """Write `policy` and its sizes to `out` for `load_policy`."""
    out.mkdir(parents=True, exist_ok=True)
    eqx.tree_serialise_leaves(out / POLICY, _to_host(policy))
    (out / POLICY_INFO).write_text(json.dumps({
        "observation_size": int(policy.normalizer.mean.shape[0]),
        "action_size": int(policy.actor.log_std.shape[0]), "hidden": list(hidden)}))


def load_policy(run_dir: str | Path) -> Policy:
    """The policy a run saved in `run_dir` (then `action = policy(obs)`)."""
    run_dir = Path(run_dir)
    info_path = run_dir / POLICY_INFO
    if not info_path.is_file():
        raise FileNotFoundError(f"no trained policy in {run_dir} (missing {POLICY_INFO})")
    info = json.loads(info_path.read_text())
    like = Policy(Normalizer.init(info["observation_size"]),
                  Actor(info["observation_size"], info["action_size"], tuple(info["hidden"]),
                        key=jr.key(0)))
    return eqx.tree_deserialise_leaves(run_dir / POLICY, like)


class _Logger:
    """Metrics rows to `metrics.jsonl`, `metrics.csv` and TensorBoard (when installed)."""

    def __init__(self, out: Path | None, history: list[dict]):
        self.out, self.history = out, history
        self.board = None
        if out is None or jax.process_index() != 0:
            self.out = None
            return
        out.mkdir(parents=True, exist_ok=True)
        try:
            from tensorboardX import SummaryWriter
        except ImportError:  # TensorBoard logs are optional (the `train` extra)
            return
        self.board = SummaryWriter(str(out / "tensorboard"))

    def write(self, row: dict) -> None:
        if self.out is None:
            return
        with open(self.out / "metrics.jsonl", "a" if len(self.history) > 1 else "w") as f:
            f.write(json.dumps(row) + "\n")
        columns = sorted({name for r in self.history for name in r})
        with open(self.out / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.history)
        if self.board is not None:
            for name, value in row.items():
                if np.isfinite(value):  # no episode ended: no return this update
                    self.board.add_scalar(name, value, row["env_steps"])

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
