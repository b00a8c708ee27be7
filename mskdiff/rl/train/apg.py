"""Analytic policy gradients: truncated backpropagation through time, as Brax's `apg`.

The summed reward is differentiated through the plant (muscle activation dynamics, elastic
tendons, contact).

Each update unrolls `horizon` control steps from where the last one stopped (the state is
carried, its gradient cut), differentiates the mean reward with respect to the policy, and takes
one Adam step. The step is rematerialised (`jax.checkpoint`), so memory grows with the horizon
by one env state per step, not by the step's intermediates.
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
    apply_gradients,
    episode_metrics,
    init_optimizer,
    initial_state,
)
from .envs import BatchedEnv, EnvBatch, _where
from .networks import Actor, Normalizer


class APG(AbstractAlgorithm):
    """Analytic policy gradient (Brax's `apg`; Freeman et al. 2021).

    Attributes (besides `AbstractAlgorithm`'s):
        horizon: control steps differentiated through per update.
        exploration_std: Gaussian noise added to the policy's mean action while training.
    """

    learning_rate: float = 1e-3
    horizon: int = 32
    exploration_std: float = 0.0

    def __check_init__(self):
        _check_whole("horizon", self.horizon)
        if not self.exploration_std >= 0:
            raise ValueError(f"`exploration_std` must be >= 0, got {self.exploration_std}")

    @property
    def steps_per_update(self) -> int:
        """Environment steps one `update` takes."""
        return self.num_envs * self.horizon

    def init(self, env: BatchedEnv, key: Array) -> TrainState:
        """The train state at the start: networks, optimiser states, env batch, key."""
        net_key, env_key, key = jr.split(key, 3)
        actor, _ = self._networks(env, net_key, critic=False)
        return initial_state(env, env_key, key, actor,
                             opt_state=init_optimizer(self.optimizer(), actor))

    def update(self, env: BatchedEnv, state: TrainState):
        """One update: rollout, gradients, optimiser step; returns the state and metrics."""
        key, rollout_key = jr.split(state.key)
        grads, (envs, obs, step) = eqx.filter_grad(self.loss, has_aux=True)(
            state.actor, state.normalizer, env, state.envs, rollout_key)
        actor, opt_state, metrics = apply_gradients(state.actor, state.opt_state, grads,
                                                    self.optimizer(), self.max_grad_norm)
        normalizer = (state.normalizer.update(obs) if self.normalize_observations
                      else state.normalizer)
        state = eqx.tree_at(lambda s: (s.actor, s.normalizer, s.opt_state, s.envs, s.key,
                                       s.env_steps), state,
                            (actor, normalizer, opt_state, jax.lax.stop_gradient(envs), key,
                             state.env_steps + self.steps_per_update))
        return state, {**metrics, "loss": -jnp.mean(step.reward), **episode_metrics(step)}

    def loss(self, actor: Actor, normalizer: Normalizer, env: BatchedEnv, envs: EnvBatch,
             key: Array):
        """Minus the mean reward over `horizon` steps of every env, and the rollout."""
        envs, (obs, step), _ = unroll(actor, normalizer, env, envs, key, self.horizon,
                                      self.exploration_std)
        return -jnp.mean(step.reward), (envs, obs, step)


class HorizonCut(eqx.Module):
    """Where a differentiated rollout stops its gradient: a jump in part of the observation.

    AHAC (Georgiev et al. 2024) shortens the horizon where contact makes the dynamics stiff,
    since gradients through an impact are large and biased. This flags an env's step when any
    watched observation entry changes by more than `threshold` in one step (with the leg
    tasks' `foot_forces`, in body weights: a foot striking or leaving the floor).

    Attributes:
        start, stop: the watched entries of the flat observation, `obs[start:stop]`.
        threshold: the jump that cuts, in the observation's units.
    """

    start: int = eqx.field(static=True)
    stop: int = eqx.field(static=True)
    threshold: float

    @classmethod
    def on(cls, env: BatchedEnv, name: str, threshold: float) -> "HorizonCut":
        """A cut on the entries `name` of `env.observation_layout`."""
        layout = getattr(env.env, "observation_layout", {})
        if name not in layout:
            raise ValueError(f"the horizon cut watches observation part {name!r}, which this env "
                             f"does not have (it has {sorted(layout)})")
        _check_positive("threshold", threshold)
        return cls(layout[name].start, layout[name].stop, threshold)

    def __call__(self, obs: Array, next_obs: Array) -> Array:
        """1 where an env's watched entries jumped by more than the threshold, else 0."""
        part = slice(self.start, self.stop)
        jump = jnp.max(jnp.abs(next_obs[..., part] - obs[..., part]), axis=-1)
        return (jump > self.threshold).astype(obs.dtype)


def unroll(actor: Actor, normalizer: Normalizer, env: BatchedEnv, envs: EnvBatch, key: Array,
           horizon: int, exploration_std: float, cut: HorizonCut | None = None):
    """`horizon` differentiable steps of the policy's mean action (plus exploration noise).

    Each step is rematerialised; the start state's gradient is cut, and, with `cut`, the state
    after every step `cut` flags (per env). Returns the final `EnvBatch`, the stacked
    observations and `Step`s, and the `[horizon, n_envs]` cut flags (0 or 1).
    """
    params, static = eqx.partition(actor, eqx.is_array)

    @jax.checkpoint
    def one(envs, key):
        noise_key, reset_key = jr.split(key)
        obs = envs.state.obs
        mean = jax.vmap(eqx.combine(params, static).mean)(normalizer(obs))
        actions = mean + exploration_std * jr.normal(noise_key, mean.shape)
        envs, step = env.step(envs, actions, reset_key)
        if cut is None:
            return envs, (obs, step, jnp.zeros(env.num_envs))
        cuts = cut(obs, step.final_obs)
        state = jax.tree.map(
            lambda x: _where(cuts, jax.lax.stop_gradient(x), x) if eqx.is_inexact_array(x) else x,
            envs.state)
        return eqx.tree_at(lambda b: b.state, envs, state), (obs, step, cuts)

    envs, (obs, step, cuts) = jax.lax.scan(one, jax.lax.stop_gradient(envs),
                                           jr.split(key, horizon))
    return envs, (obs, step), cuts
