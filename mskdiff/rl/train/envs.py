"""A batch of environments with a time limit and automatic resets, for the trainers.

Like Playground's `wrap_for_brax_training` (episode limit, `vmap`, auto-reset), with two
differences the trainers need: each step returns the observation *before* a reset
(`final_obs`), so a time-out bootstraps its value from the state it reached, and a reset draws a
fresh start (`full_reset=True`'s behaviour) from a key the trainer passes. Batches of MJX envs
go through `mskdiff.plant.vmap_envs` (safe on CPU at any batch).
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from ...plant.batching import vmap_envs


class EnvBatch(eqx.Module):
    """Batched env states with each env's steps and return so far in its episode."""

    state: Any
    steps: Array
    episode_return: Array


class Step(eqx.Module):
    """What one batched step returns besides the next `EnvBatch`.

    All `[n_envs]` or `[n_envs, obs]`: the reward, whether the episode ended by failure (`terminal`) or by the
    time limit (`truncated`), the observation reached before any reset, the finished episodes'
    returns and lengths (0 elsewhere), and the env's metrics.
    """

    reward: Array
    terminal: Array
    truncated: Array
    final_obs: Array
    finished_return: Array
    finished_length: Array
    metrics: dict[str, Array]

    @property
    def done(self) -> Array:
        """`done`."""
        return jnp.maximum(self.terminal, self.truncated)


class BatchedEnv:
    """`num_envs` copies of `env` (Playground's contract), episodes of `episode_length` steps."""

    def __init__(self, env, num_envs: int, episode_length: int | None = None):
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"`num_envs` must be a whole number >= 1, got {num_envs}")
        self.env, self.num_envs = env, int(num_envs)
        self.episode_length = int(episode_length or env.episode_length)
        if self.episode_length < 1:
            raise ValueError(f"`episode_length` must be >= 1, got {self.episode_length}")
        mj_model = getattr(env, "mj_model", None)
        batch = (lambda fn: vmap_envs(fn, mj_model.nv)) if mj_model is not None else jax.vmap
        self._reset, self._step = batch(env.reset), batch(env.step)

    def __eq__(self, other) -> bool:
        """Equal batches of the same env object: compiled programs are shared between them."""
        return (isinstance(other, BatchedEnv) and other.env is self.env
                and (other.num_envs, other.episode_length) == (self.num_envs, self.episode_length))

    def __hash__(self) -> int:
        return hash((id(self.env), self.num_envs, self.episode_length))

    @property
    def observation_size(self) -> int:
        """Length of the observation vector."""
        return self.env.observation_size

    @property
    def action_size(self) -> int:
        """Actions per step (one excitation per muscle)."""
        return self.env.action_size

    def reset(self, key: Array) -> EnvBatch:
        """A new episode's state from `rng`."""
        zeros = jnp.zeros(self.num_envs)
        # strong types: a weakly typed leaf would make the second update compile again
        state = jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype) if eqx.is_array(x) else x,
                             self._reset(jr.split(key, self.num_envs)))
        return EnvBatch(state, zeros.astype(int), zeros)

    def step(self, batch: EnvBatch, actions: Array, key: Array) -> tuple[EnvBatch, Step]:
        """One control step of every env; envs whose episode ended start a new one."""
        after = self._step(batch.state, actions)
        steps = batch.steps + 1
        terminal = (after.done > 0).astype(after.reward.dtype)
        truncated = (1.0 - terminal) * (steps >= self.episode_length)
        done = jnp.maximum(terminal, truncated)
        episode_return = batch.episode_return + after.reward
        fresh = jax.lax.stop_gradient(self._reset(jr.split(key, self.num_envs)))
        state = jax.tree.map(lambda new, old: _where(done, new, old), fresh, after)
        step = Step(reward=after.reward, terminal=terminal, truncated=truncated,
                    final_obs=after.obs, finished_return=done * episode_return,
                    finished_length=done * steps, metrics=after.metrics)
        return EnvBatch(state, jnp.where(done > 0, 0, steps), (1.0 - done) * episode_return), step


def _where(done: Array, new: Array, old: Array) -> Array:
    mask = (done > 0).reshape(done.shape + (1,) * (old.ndim - 1))
    return jnp.where(mask, new, old)
