r"""PPO augmented with the plant's analytic action gradients (after GI-PPO, Son et al. 2023).

While collecting, each sampled action's one-step analytic gradient
$g = \partial_a [r(s, a) + \gamma V(s'(a))]$ is taken through the env step (muscle dynamics,
tendons, contact) with the critic closing the return (or of $r$ alone, with
`bootstrap_action_gradient=False`). PPO's loss gains
$-\beta\,\overline{\hat g \cdot \mu(s)}$: the policy mean moves along the analytic
gradient (a deterministic policy gradient with a model-based one-step Q), next to the
likelihood-ratio surrogate. $\hat g$ is $g$ clipped per sample to `max_action_gradient` and
divided by the batch's RMS norm, so `action_gradient_cost` is scale-free. A non-finite $g$
(a sample whose step went non-finite) is left out of the term and counted in
`action_grad_nonfinite`.

With `adaptive=True`, beta adapts between updates as GI-PPO's alpha does (Son et al. 2023,
Algorithm 1 and the authors' code, github.com/SonSang/gippo): measured on the batch after the
update, beta is divided by `adapt_factor` when the new policy's probability ratio to the policy
that collected the batch is out of PPO's clip range on more than `max_out_of_range` of the
samples (the analytic term leaves PPO no room) or when PPO's surrogate estimates the update as
a loss (the analytic gradients are biased), or when an action gradient was non-finite;
otherwise it is multiplied by it, within `action_gradient_cost_range`. Differences from GI-PPO:
the analytic term is a loss term next to PPO's, not a separate regression onto the
alpha-policy's actions before PPO; GI-PPO's variance check (the determinant of the
alpha-policy's Jacobian) has nothing to check here, because the term moves only the mean; the
surrogate's gain is not normalised by its running statistics.
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from .common import TrainState, _check_positive, act
from .envs import BatchedEnv
from .networks import Actor, Critic, Normalizer
from .ppo import PPO, normalised_advantage


class GradientPPO(PPO):
    """PPO + the analytic action-gradient term (module docstring).

    Attributes (besides `PPO`'s):
        action_gradient_cost: beta, the weight of the analytic term (the first, if adaptive).
        max_action_gradient: per-sample norm clip of the action gradient before normalising.
        bootstrap_action_gradient: g of r + gamma V(s') (True) or of the reward r alone.
        adaptive: adapt beta between updates (module docstring); it is checkpointed in
            `TrainState.coefficients`. Beta is logged as `action_gradient_cost` either way.
        max_out_of_range: the fraction of samples out of the clip range above which beta falls.
        adapt_factor: beta's factor per update (> 1).
        action_gradient_cost_range: beta's bounds when adaptive.
    """

    action_gradient_cost: float = 0.5
    max_action_gradient: float = 100.0
    bootstrap_action_gradient: bool = True
    adaptive: bool = False
    max_out_of_range: float = 0.5
    adapt_factor: float = 1.1
    action_gradient_cost_range: tuple[float, float] = (1e-2, 5.0)

    def __check_init__(self):
        if not self.action_gradient_cost >= 0:
            raise ValueError("`action_gradient_cost` must be >= 0, got "
                             f"{self.action_gradient_cost}")
        _check_positive("max_action_gradient", self.max_action_gradient)
        if not 0 < self.max_out_of_range <= 1:
            raise ValueError(f"`max_out_of_range` must be in (0, 1], got {self.max_out_of_range}")
        if not self.adapt_factor > 1:
            raise ValueError(f"`adapt_factor` must be > 1, got {self.adapt_factor}")
        low, high = self.action_gradient_cost_range
        if not 0 < low <= high:
            raise ValueError("`action_gradient_cost_range` must be 0 < low <= high, got "
                             f"{self.action_gradient_cost_range}")
        if self.adaptive and not low <= self.action_gradient_cost <= high:
            raise ValueError(f"`action_gradient_cost` ({self.action_gradient_cost}) must lie in "
                             f"`action_gradient_cost_range` {self.action_gradient_cost_range} "
                             "when `adaptive`")

    def init(self, env: BatchedEnv, key: Array) -> TrainState:
        """PPO's initial state; if `adaptive`, with beta in `coefficients`."""
        state = super().init(env, key)
        if not self.adaptive:
            return state
        # dataclasses.replace, as eqx.tree_at cannot replace the empty dict
        return dataclasses.replace(state, coefficients={
            "action_gradient_cost": jnp.asarray(self.action_gradient_cost, float)})

    def update(self, env: BatchedEnv, state: TrainState):
        """PPO's update with the analytic term weighted by this update's beta."""
        weighted = eqx.tree_at(lambda a: a.action_gradient_cost, self, self._cost(state))
        return PPO.update(weighted, env, state)

    def _review(self, state: TrainState, normalizer: Normalizer, batch, metrics):
        """`policy_shift` and this update's beta as metrics; beta adapts (if `adaptive`)."""
        cost = self.action_gradient_cost  # this update's beta (`update` put it in)
        shift = policy_shift(state.actor, normalizer, batch, self.clip_epsilon)
        if self.adaptive:
            state = dataclasses.replace(state, coefficients={
                "action_gradient_cost": self.adapted_cost(cost, shift, metrics)})
        return state, {**shift, "action_gradient_cost": cost}

    def _cost(self, state: TrainState) -> Array:
        """This update's beta: the state's if `adaptive`, else the configured one."""
        if self.adaptive:
            return state.coefficients["action_gradient_cost"]
        return jnp.asarray(self.action_gradient_cost, float)

    def adapted_cost(self, cost: Array, shift: dict[str, Array], metrics: dict[str, Array]):
        """Beta for the next update from this update's `policy_shift` and loss metrics."""
        worse = ((shift["out_of_range"] > self.max_out_of_range) | (shift["surrogate_gain"] < 0)
                 | (metrics["action_grad_nonfinite"] > 0))
        cost = jnp.where(worse, cost / self.adapt_factor, cost * self.adapt_factor)
        return jnp.clip(cost, *self.action_gradient_cost_range)

    def _collect(self, env: BatchedEnv, state: TrainState, key: Array):
        def one(envs, key):
            act_key, reset_key = jr.split(key)
            obs = envs.state.obs
            actions, log_probs = act(state.actor, state.normalizer, obs, act_key)

            def one_step_q(actions):
                after, step = env.step(envs, actions, reset_key)
                q = step.reward
                if self.bootstrap_action_gradient:
                    value = jax.vmap(state.critic)(state.normalizer(step.final_obs))
                    q = q + self.discount * (1.0 - step.terminal) * value
                return jnp.sum(q), (after, step)

            gradient, (envs, step) = jax.grad(one_step_q, has_aux=True)(actions)
            return envs, (obs, actions, log_probs, step, gradient)

        envs, (obs, actions, log_probs, step, gradient) = jax.lax.scan(
            one, state.envs, jr.split(key, self.unroll_length))
        return envs, (obs, actions, log_probs, step), {"action_gradient": gradient}

    def loss(self, models: tuple[Actor, Critic], normalizer: Normalizer, batch):
        """The loss to minimise and its parts."""
        total, metrics = super().loss(models, normalizer, batch)
        gradient = batch["action_gradient"]
        finite = jnp.all(jnp.isfinite(gradient), axis=-1, keepdims=True)
        gradient = jnp.where(finite, gradient, 0.0)
        norm = jnp.linalg.norm(gradient, axis=-1, keepdims=True)
        gradient = gradient * jnp.minimum(1.0, self.max_action_gradient / (norm + 1e-12))
        rms = jnp.sqrt(jnp.sum(gradient ** 2) / jnp.maximum(jnp.sum(finite), 1.0))
        direction = jax.lax.stop_gradient(gradient / (rms + 1e-12))
        mean = jax.vmap(models[0].mean)(normalizer(batch["obs"]))
        analytic = -jnp.sum(direction * mean) / jnp.maximum(jnp.sum(finite), 1.0)
        metrics = {**metrics, "analytic_loss": analytic,
                   "action_grad_norm": jnp.mean(norm),
                   "action_grad_nonfinite": jnp.sum(~finite).astype(float)}
        return total + self.action_gradient_cost * analytic, metrics


def policy_shift(actor: Actor, normalizer: Normalizer, batch, clip_epsilon: float):
    """How far an update moved the policy on its batch (GI-PPO's bias checks).

    The ratio is `actor`'s probability of each batch action over the collecting policy's
    (`batch["log_prob"]`), as in PPO's loss. `out_of_range`: the fraction of samples whose ratio
    lies outside [1 - clip_epsilon, 1 + clip_epsilon]; `surrogate_gain`: mean((ratio - 1) *
    advantage), the advantages normalised as in PPO's loss (< 0: the update made the batch's
    actions worse by PPO's own estimate).
    """
    log_ratio = (jax.vmap(actor.log_prob)(normalizer(batch["obs"]), batch["action"])
                 - batch["log_prob"])
    ratio = jnp.exp(jnp.clip(log_ratio, -16.0, 16.0))
    return {"out_of_range": jnp.mean(jnp.abs(ratio - 1.0) > clip_epsilon),
            "surrogate_gain": jnp.mean((ratio - 1.0) * normalised_advantage(batch["advantage"]))}
