"""What the algorithms share.

The configuration base, the train state, optimisers with fault counting, rollouts and
generalised advantage estimation.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jax import Array

from .envs import BatchedEnv, EnvBatch, Step
from .networks import Actor, Critic, Normalizer, Policy


class TrainState(eqx.Module):
    """Everything a training run carries from one update to the next (checkpointed whole).

    `coefficients` holds an algorithm's adapted loss weights (`GradientPPO`'s
    `action_gradient_cost`), empty for the others.
    """

    actor: Actor
    critic: Critic | None
    target_critic: Critic | None
    normalizer: Normalizer
    opt_state: Any
    critic_opt_state: Any
    envs: EnvBatch
    key: Array
    env_steps: Array
    coefficients: dict[str, Array] = eqx.field(default_factory=dict)

    def policy(self) -> Policy:
        """The current policy (normaliser and actor) for evaluation."""
        return Policy(self.normalizer, self.actor)


class AbstractAlgorithm(eqx.Module):
    """Options every algorithm has; each checks its own at construction.

    Attributes:
        num_envs: environments stepped in parallel (a multiple of the device count).
        learning_rate: Adam's step size (actor and critic).
        hidden: hidden layer widths of the actor and the critic.
        discount: per control step.
        max_grad_norm: gradients are clipped to this global norm (clips are counted).
        normalize_observations: keep running observation statistics and normalise with them.
        init_log_std: the Gaussian policy's initial log standard deviation.
    """

    num_envs: int = 64
    learning_rate: float = 3e-4
    hidden: tuple[int, ...] = (64, 64)
    discount: float = 0.99
    max_grad_norm: float = 1.0
    normalize_observations: bool = True
    init_log_std: float = -0.5

    def __check_init__(self):
        _check_whole("num_envs", self.num_envs)
        for name in ("learning_rate", "max_grad_norm"):
            _check_positive(name, getattr(self, name))
        if not 0 < self.discount <= 1:
            raise ValueError(f"`discount` must be in (0, 1], got {self.discount}")
        if not self.hidden or any(int(w) != w or w < 1 for w in self.hidden):
            raise ValueError(f"`hidden` must be positive layer widths, got {self.hidden}")

    @property
    def steps_per_update(self) -> int:
        """Environment steps one `update` takes."""
        raise NotImplementedError

    def init(self, env: BatchedEnv, key: Array) -> TrainState:
        """The train state at the start: networks, optimiser states, env batch, key."""
        raise NotImplementedError

    def update(self, env: BatchedEnv, state: TrainState) -> tuple[TrainState, dict[str, Array]]:
        """One update: rollout, gradients, optimiser step; returns the state and metrics."""
        raise NotImplementedError

    def _networks(self, env: BatchedEnv, key: Array, *, critic: bool = True):
        actor_key, critic_key = jr.split(key)
        actor = Actor(env.observation_size, env.action_size, self.hidden, key=actor_key,
                      init_log_std=self.init_log_std)
        return actor, (Critic(env.observation_size, self.hidden, key=critic_key)
                       if critic else None)

    def optimizer(self) -> optax.GradientTransformation:
        """Adam after clipping to `max_grad_norm`.

        A non-finite gradient skips the update and is counted (`optax.apply_if_finite`),
        never applied.
        """
        return optax.apply_if_finite(
            optax.chain(optax.clip_by_global_norm(self.max_grad_norm),
                        optax.adam(self.learning_rate)), max_consecutive_errors=1_000_000)


def _check_whole(name: str, value) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"`{name}` must be a whole number >= 1, got {value}")


def _check_positive(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and > 0, got {value}")


def apply_gradients(model, opt_state, grads, optimizer: optax.GradientTransformation,
                    max_grad_norm: float, prefix: str = ""):
    """`model` after one optimiser step, and metrics.

    The metrics: the gradient's norm, whether it was clipped and whether it was non-finite
    (then the step is skipped).
    """
    params = eqx.filter(model, eqx.is_inexact_array)
    grads = eqx.filter(grads, eqx.is_inexact_array)
    norm = optax.tree.norm(grads)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    metrics = {f"{prefix}grad_norm": norm,
               f"{prefix}grad_clipped": (norm > max_grad_norm).astype(float),
               f"{prefix}grad_nonfinite": (~jnp.isfinite(norm)).astype(float)}
    return eqx.apply_updates(model, updates), opt_state, metrics


def initial_state(env: BatchedEnv, env_key: Array, key: Array, actor: Actor, *,
                  opt_state, critic: Critic | None = None, target_critic: Critic | None = None,
                  critic_opt_state=None) -> TrainState:
    """A train state at step 0: fresh normaliser, the envs reset with `env_key`."""
    return TrainState(actor=actor, critic=critic, target_critic=target_critic,
                      normalizer=Normalizer.init(env.observation_size), opt_state=opt_state,
                      critic_opt_state=critic_opt_state, envs=env.reset(env_key), key=key,
                      env_steps=jnp.zeros((), int))


def init_optimizer(optimizer: optax.GradientTransformation, model):
    """The optimiser state for `model`'s inexact arrays."""
    return optimizer.init(eqx.filter(model, eqx.is_inexact_array))


def act(actor: Actor, normalizer: Normalizer, obs: Array, key: Array) -> tuple[Array, Array]:
    """Sampled actions and log-probabilities for a batch of observations."""
    return jax.vmap(actor.sample)(normalizer(obs), jr.split(key, obs.shape[0]))


def collect(env: BatchedEnv, policy, envs: EnvBatch, key: Array, length: int):
    """`length` steps of `policy(obs [n, obs], key) -> (actions, extras)`.

    Returns the final `EnvBatch` and `(obs, actions, extras, Step)` stacked `[length, n, ...]`.
    """

    def one(envs, key):
        act_key, reset_key = jr.split(key)
        obs = envs.state.obs
        actions, extras = policy(obs, act_key)
        envs, step = env.step(envs, actions, reset_key)
        return envs, (obs, actions, extras, step)

    return jax.lax.scan(one, envs, jr.split(key, length))


def gae(step: Step, values: Array, next_values: Array, discount: float, lam: float):
    """Generalised advantage estimates and value targets, `[T, n]` each.

    `values` are V(obs_t); `next_values` V of the observation each step reached *before* any
    reset (`Step.final_obs`): a time-out bootstraps from it, a failure (`terminal`) does not,
    and an episode's end stops the trace.
    """
    deltas = step.reward + discount * (1.0 - step.terminal) * next_values - values

    def backward(next_advantage, inputs):
        delta, done = inputs
        advantage = delta + discount * lam * (1.0 - done) * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, step.done),
                                 reverse=True)
    return advantages, advantages + values


def episode_metrics(step: Step) -> dict[str, Array]:
    """Mean return and length of the finished episodes, their count, every env metric's mean.

    Return and length are NaN when no episode finished.
    """
    finished = jnp.sum(step.done)
    safe = jnp.maximum(finished, 1.0)
    metrics = {f"env/{name}": jnp.mean(value) for name, value in step.metrics.items()}
    return {"episode_return": jnp.where(finished > 0, jnp.sum(step.finished_return) / safe,
                                        jnp.nan),
            "episode_length": jnp.where(finished > 0, jnp.sum(step.finished_length) / safe,
                                        jnp.nan),
            "episodes": finished, **metrics}
