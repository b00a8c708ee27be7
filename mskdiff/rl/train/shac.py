"""Short-horizon actor-critic (SHAC, Xu et al. 2022).

Analytic gradients through the plant over a short horizon, with a learned critic closing the
return beyond it.

The actor maximises, per env, the discounted reward of `horizon` differentiable steps plus the
target critic's value where the horizon ends (and where an episode times out inside it); a
failure ends the sum. The critic regresses TD(lambda) targets of the same rollout. Episode
boundaries inside the horizon cut the gradient (a reset does not depend on the policy).

With `cut_on`, the horizon is also cut per env where the watched observation part jumps (after
AHAC, Georgiev et al. 2024, which shortens the horizon at stiff contact): the gradient stops at
the state after that step, and the critic's value closes the return there, as at a time-out.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from .apg import HorizonCut, unroll
from .common import (
    AbstractAlgorithm,
    TrainState,
    _check_positive,
    _check_whole,
    apply_gradients,
    episode_metrics,
    gae,
    init_optimizer,
    initial_state,
)
from .envs import BatchedEnv, EnvBatch
from .networks import Actor, Critic, Normalizer


class SHAC(AbstractAlgorithm):
    """SHAC's actor and critic updates, with an optional AHAC-style horizon cut at contact.

    Attributes (besides `AbstractAlgorithm`'s):
        horizon: control steps differentiated through per update (SHAC: 32).
        critic_learning_rate: the critic's Adam step size.
        critic_iterations: critic minibatch steps per update.
        critic_minibatches: minibatches the rollout is split into for the critic.
        td_lambda: lambda of the critic's TD(lambda) targets.
        target_smoothing: the target critic moves this fraction towards the critic per update.
        exploration_std: Gaussian noise on the mean action while training.
        cut_on: the observation part whose jumps cut the horizon (`HorizonCut`; the leg tasks'
            `"foot_forces"`), or None for SHAC's fixed horizon.
        cut_threshold: the jump that cuts, in that part's units (body weights for foot forces).
    """

    learning_rate: float = 2e-3
    horizon: int = 32
    critic_learning_rate: float = 2e-3
    critic_iterations: int = 16
    critic_minibatches: int = 4
    td_lambda: float = 0.95
    target_smoothing: float = 0.2
    exploration_std: float = 0.0
    cut_on: str | None = None
    cut_threshold: float = 0.5

    def __check_init__(self):
        for name in ("horizon", "critic_iterations", "critic_minibatches"):
            _check_whole(name, getattr(self, name))
        if (self.num_envs * self.horizon) % self.critic_minibatches:
            raise ValueError("`num_envs * horizon` must be divisible by `critic_minibatches`")
        if not 0 < self.target_smoothing <= 1:
            raise ValueError(f"`target_smoothing` must be in (0, 1], got {self.target_smoothing}")
        if not 0 <= self.td_lambda <= 1:
            raise ValueError(f"`td_lambda` must be in [0, 1], got {self.td_lambda}")
        _check_positive("cut_threshold", self.cut_threshold)

    @property
    def steps_per_update(self) -> int:
        """Environment steps one `update` takes."""
        return self.num_envs * self.horizon

    def critic_optimizer(self):
        """Adam at `critic_learning_rate` after the same clipping and fault counting."""
        return eqx.tree_at(lambda a: a.learning_rate, self, self.critic_learning_rate).optimizer()

    def init(self, env: BatchedEnv, key: Array) -> TrainState:
        """The train state at the start: networks, optimiser states, env batch, key."""
        self._horizon_cut(env)  # an unknown observation part fails here, before compiling
        net_key, env_key, key = jr.split(key, 3)
        actor, critic = self._networks(env, net_key)
        return initial_state(env, env_key, key, actor, critic=critic, target_critic=critic,
                             opt_state=init_optimizer(self.optimizer(), actor),
                             critic_opt_state=init_optimizer(self.critic_optimizer(), critic))

    def update(self, env: BatchedEnv, state: TrainState):
        """One update: rollout, gradients, optimiser step; returns the state and metrics."""
        key, rollout_key, critic_key = jr.split(state.key, 3)
        grads, (envs, obs, step, cuts) = eqx.filter_grad(self.actor_loss, has_aux=True)(
            state.actor, state.normalizer, state.target_critic, env, state.envs, rollout_key)
        actor, opt_state, metrics = apply_gradients(state.actor, state.opt_state, grads,
                                                    self.optimizer(), self.max_grad_norm)
        obs, step = jax.lax.stop_gradient((obs, step))
        normalizer = (state.normalizer.update(obs) if self.normalize_observations
                      else state.normalizer)
        critic, critic_opt_state, critic_metrics = self._fit_critic(
            state.critic, state.target_critic, state.critic_opt_state, normalizer, obs, step,
            critic_key)
        target = jax.tree.map(lambda t, c: (1 - self.target_smoothing) * t
                              + self.target_smoothing * c if eqx.is_inexact_array(t) else t,
                              state.target_critic, critic)
        state = eqx.tree_at(
            lambda s: (s.actor, s.critic, s.target_critic, s.normalizer, s.opt_state,
                       s.critic_opt_state, s.envs, s.key, s.env_steps), state,
            (actor, critic, target, normalizer, opt_state, critic_opt_state,
             jax.lax.stop_gradient(envs), key, state.env_steps + self.steps_per_update))
        return state, {**metrics, **critic_metrics, "horizon_cuts": jnp.mean(cuts),
                       **episode_metrics(step)}

    def actor_loss(self, actor: Actor, normalizer: Normalizer, critic: Critic, env: BatchedEnv,
                   envs: EnvBatch, key: Array):
        """Minus the mean over envs of the short-horizon return closed by the critic, / horizon.

        Aux: the final `EnvBatch`, observations, `Step`s and horizon cuts (`[horizon, n_envs]`).
        """
        envs, (obs, step), cuts = unroll(actor, normalizer, env, envs, key, self.horizon,
                                         self.exploration_std, self._horizon_cut(env))
        value = jax.vmap(jax.vmap(critic))  # not differentiated: `filter_grad` takes the actor
        final_values = value(normalizer(step.final_obs))

        def accumulate(carry, inputs):
            total, discount = carry
            reward, terminal, truncated, cut, final_value = inputs
            bootstrap = jnp.maximum(truncated, (1.0 - terminal) * cut)  # the critic closes it
            total = total + discount * (reward + self.discount * bootstrap * final_value)
            done = jnp.maximum(terminal, bootstrap)
            return (total, jnp.where(done > 0, 1.0, discount * self.discount)), done

        ones = jnp.ones(env.num_envs)
        (total, discount), done = jax.lax.scan(
            accumulate, (0.0 * ones, ones),
            (step.reward, step.terminal, step.truncated, cuts, final_values))
        # the horizon's end: the critic's value of the state reached (not of a fresh reset)
        total = total + (1.0 - done[-1]) * discount * final_values[-1]
        return -jnp.mean(total) / self.horizon, (envs, obs, step, cuts)

    def _horizon_cut(self, env: BatchedEnv) -> HorizonCut | None:
        return (None if self.cut_on is None
                else HorizonCut.on(env, self.cut_on, self.cut_threshold))

    def _fit_critic(self, critic, target, opt_state, normalizer, obs, step, key):
        value = jax.vmap(jax.vmap(target))
        _, targets = gae(step, value(normalizer(obs)), value(normalizer(step.final_obs)),
                         self.discount, self.td_lambda)
        flat_obs, flat_targets = obs.reshape(-1, obs.shape[-1]), targets.reshape(-1)
        optimizer, n = self.critic_optimizer(), flat_targets.shape[0]
        params, static = eqx.partition(critic, eqx.is_array)

        def loss(critic, indices):
            predicted = jax.vmap(critic)(normalizer(flat_obs[indices]))
            return jnp.mean((predicted - flat_targets[indices]) ** 2)

        def iteration(carry, key):
            params, opt_state = carry
            indices = jr.choice(key, n, (n // self.critic_minibatches,), replace=False)
            critic = eqx.combine(params, static)
            value_loss, grads = eqx.filter_value_and_grad(loss)(critic, indices)
            critic, opt_state, metrics = apply_gradients(critic, opt_state, grads, optimizer,
                                                         self.max_grad_norm, prefix="critic_")
            return (eqx.filter(critic, eqx.is_array), opt_state), {"value_loss": value_loss,
                                                                   **metrics}

        (params, opt_state), metrics = jax.lax.scan(iteration, (params, opt_state),
                                                    jr.split(key, self.critic_iterations))
        return eqx.combine(params, static), opt_state, jax.tree.map(jnp.mean, metrics)
