"""Proximal policy optimisation (Schulman et al. 2017).

With the options musculoskeletal work found to matter: one epoch per batch by default
(MuscleMimic's stable setting at scale), observation normalisation, and value bootstrapping on
time-outs (`envs.Step.final_obs`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from .common import (
    AbstractAlgorithm,
    TrainState,
    _check_positive,
    _check_whole,
    act,
    apply_gradients,
    collect,
    episode_metrics,
    gae,
    init_optimizer,
    initial_state,
)
from .envs import BatchedEnv
from .networks import Actor, Critic, Normalizer


class PPO(AbstractAlgorithm):
    """PPO's clipped surrogate with a value loss and an entropy bonus; one optimiser for both.

    Attributes (besides `AbstractAlgorithm`'s):
        unroll_length: control steps per env between updates.
        num_minibatches: minibatches per epoch (`num_envs * unroll_length` divisible by it).
        num_epochs: passes over each batch.
        gae_lambda: GAE's lambda.
        clip_epsilon: the ratio clip.
        entropy_cost, value_cost: weights of the entropy bonus and of the value loss.
    """

    unroll_length: int = 32
    num_minibatches: int = 4
    num_epochs: int = 1
    gae_lambda: float = 0.95
    clip_epsilon: float = 0.2
    entropy_cost: float = 1e-3
    value_cost: float = 0.5

    def __check_init__(self):
        for name in ("unroll_length", "num_minibatches", "num_epochs"):
            _check_whole(name, getattr(self, name))
        _check_positive("clip_epsilon", self.clip_epsilon)
        if (self.num_envs * self.unroll_length) % self.num_minibatches:
            raise ValueError(f"`num_envs * unroll_length` ({self.num_envs * self.unroll_length})"
                             f" must be divisible by `num_minibatches` ({self.num_minibatches})")
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"`gae_lambda` must be in [0, 1], got {self.gae_lambda}")

    @property
    def steps_per_update(self) -> int:
        """Environment steps one `update` takes."""
        return self.num_envs * self.unroll_length

    def init(self, env: BatchedEnv, key: Array) -> TrainState:
        """The train state at the start: networks, optimiser states, env batch, key."""
        net_key, env_key, key = jr.split(key, 3)
        actor, critic = self._networks(env, net_key)
        return initial_state(env, env_key, key, actor, critic=critic,
                             opt_state=init_optimizer(self.optimizer(), (actor, critic)))

    def update(self, env: BatchedEnv, state: TrainState):
        """One update: rollout, gradients, optimiser step; returns the state and metrics."""
        key, rollout_key, epoch_key = jr.split(state.key, 3)
        envs, (obs, actions, log_probs, step), extras = self._collect(env, state, rollout_key)
        normalizer = (state.normalizer.update(obs) if self.normalize_observations
                      else state.normalizer)
        value = jax.vmap(jax.vmap(state.critic))  # the critic before the update
        advantages, targets = gae(step, value(normalizer(obs)), value(normalizer(step.final_obs)),
                                  self.discount, self.gae_lambda)
        flat = lambda x: x.reshape(-1, *x.shape[2:])
        batch = jax.tree.map(flat, {"obs": obs, "action": actions, "log_prob": log_probs,
                                    "advantage": advantages, "target": targets, **extras})
        models, opt_state, metrics = self._epochs((state.actor, state.critic), state.opt_state,
                                                  normalizer, batch, epoch_key)
        actor, critic = models
        state = eqx.tree_at(lambda s: (s.actor, s.critic, s.normalizer, s.opt_state, s.envs,
                                       s.key, s.env_steps), state,
                            (actor, critic, normalizer, opt_state, envs, key,
                             state.env_steps + self.steps_per_update))
        state, review = self._review(state, normalizer, batch, metrics)
        return state, {**metrics, **review, **episode_metrics(step)}

    def _review(self, state: TrainState, normalizer: Normalizer, batch, metrics):
        """After the optimiser step: the state and extra metrics (none for PPO)."""
        return state, {}

    def _collect(self, env: BatchedEnv, state: TrainState, key: Array):
        """The rollout of `unroll_length` steps and extra per-sample batch entries (none)."""
        envs, data = collect(env, lambda o, k: act(state.actor, state.normalizer, o, k),
                             state.envs, key, self.unroll_length)
        return envs, data, {}

    def _epochs(self, models, opt_state, normalizer, batch, key):
        optimizer, n = self.optimizer(), self.steps_per_update
        params, static = eqx.partition(models, eqx.is_array)

        def minibatch(carry, indices):
            params, opt_state = carry
            models = eqx.combine(params, static)
            part = jax.tree.map(lambda x: x[indices], batch)
            grads, metrics = eqx.filter_grad(self.loss, has_aux=True)(models, normalizer, part)
            models, opt_state, grad_metrics = apply_gradients(models, opt_state, grads, optimizer,
                                                              self.max_grad_norm)
            return (eqx.filter(models, eqx.is_array), opt_state), {**metrics, **grad_metrics}

        def epoch(carry, key):
            order = jr.permutation(key, n).reshape(self.num_minibatches, -1)
            return jax.lax.scan(minibatch, carry, order)

        (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state),
                                                    jr.split(key, self.num_epochs))
        return eqx.combine(params, static), opt_state, jax.tree.map(jnp.mean, metrics)

    def loss(self, models: tuple[Actor, Critic], normalizer: Normalizer, batch):
        """Clipped surrogate + value_cost * value loss - entropy_cost * entropy, and its parts."""
        actor, critic = models
        obs = normalizer(batch["obs"])
        log_ratio = jax.vmap(actor.log_prob)(obs, batch["action"]) - batch["log_prob"]
        ratio = jnp.exp(log_ratio)
        advantage = normalised_advantage(batch["advantage"])
        clipped = jnp.clip(ratio, 1.0 - self.clip_epsilon, 1.0 + self.clip_epsilon)
        policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped * advantage))
        value_loss = 0.5 * jnp.mean((jax.vmap(critic)(obs) - batch["target"]) ** 2)
        entropy = actor.entropy()
        total = policy_loss + self.value_cost * value_loss - self.entropy_cost * entropy
        return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                       "approx_kl": jnp.mean(ratio - 1.0 - log_ratio)}


def normalised_advantage(advantage: Array) -> Array:
    """Advantages with zero mean and unit standard deviation over the (mini)batch."""
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)
