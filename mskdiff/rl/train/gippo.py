r"""PPO augmented with the plant's analytic action gradients (after GI-PPO, Son et al. 2024).

While collecting, each sampled action's one-step analytic gradient
$g = \partial_a [r(s, a) + \gamma V(s'(a))]$ is taken through the env step (muscle dynamics,
tendons, contact) with the critic closing the return. PPO's loss gains
$-\beta\,\overline{\hat g \cdot \mu(s)}$: the policy mean moves along the analytic
gradient (a deterministic policy gradient with a model-based one-step Q), next to the
likelihood-ratio surrogate. $\hat g$ is $g$ clipped per sample to `max_action_gradient` and
divided by the batch's RMS norm, so `action_gradient_cost` is scale-free. GI-PPO's adaptive
alpha-policy is not implemented. A non-finite $g$ (a sample whose step went non-finite) is
left out of the term and counted in `action_grad_nonfinite`.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from .common import TrainState, _check_positive, act
from .envs import BatchedEnv
from .networks import Actor, Critic, Normalizer
from .ppo import PPO


class GradientPPO(PPO):
    """PPO + the analytic action-gradient term (module docstring).

    Attributes (besides `PPO`'s):
        action_gradient_cost: beta, the weight of the analytic term.
        max_action_gradient: per-sample norm clip of the action gradient before normalising.
    """

    action_gradient_cost: float = 0.5
    max_action_gradient: float = 100.0

    def __check_init__(self):
        if not self.action_gradient_cost >= 0:
            raise ValueError("`action_gradient_cost` must be >= 0, got "
                             f"{self.action_gradient_cost}")
        _check_positive("max_action_gradient", self.max_action_gradient)

    def _collect(self, env: BatchedEnv, state: TrainState, key: Array):
        def one(envs, key):
            act_key, reset_key = jr.split(key)
            obs = envs.state.obs
            actions, log_probs = act(state.actor, state.normalizer, obs, act_key)

            def one_step_q(actions):
                after, step = env.step(envs, actions, reset_key)
                value = jax.vmap(state.critic)(state.normalizer(step.final_obs))
                q = step.reward + self.discount * (1.0 - step.terminal) * value
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
