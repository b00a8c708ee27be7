"""Policy and value networks (Equinox MLPs) and a running observation normaliser."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

#: log(2 pi e) / 2, the entropy of a unit normal [nats].
_HALF_LOG_2PI_E = 0.5 * jnp.log(2.0 * jnp.pi * jnp.e)


class Normalizer(eqx.Module):
    """Running mean and variance of observations (Chan et al.'s parallel update)."""

    mean: Array
    var: Array
    count: Array

    @classmethod
    def init(cls, size: int) -> "Normalizer":
        """Statistics of no observations yet: mean 0, variance 1, count 0."""
        return cls(jnp.zeros(size), jnp.ones(size), jnp.zeros(()))

    def update(self, observations: Array) -> "Normalizer":
        """Statistics with a batch `[..., size]` merged in."""
        batch = observations.reshape(-1, self.mean.shape[0])
        n = batch.shape[0]
        batch_mean, batch_var = jnp.mean(batch, axis=0), jnp.var(batch, axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total
        return Normalizer(mean, m2 / total, total)

    def __call__(self, observation: Array) -> Array:
        """`(obs - mean) / std`, clipped to [-10, 10]; no gradient to the statistics."""
        mean, var = jax.lax.stop_gradient((self.mean, self.var))
        lead = (1,) * (observation.ndim - 1)  # explicit broadcasting over batch axes
        scale = jnp.sqrt(var + 1e-8).reshape(lead + var.shape)
        return jnp.clip((observation - mean.reshape(lead + mean.shape)) / scale, -10.0, 10.0)


class Actor(eqx.Module):
    """A Gaussian policy with mean `tanh(MLP(normalised obs))` in the action range [-1, 1].

    Its log standard deviation is learned and state-independent. Environments clip actions.
    """

    mlp: eqx.nn.MLP
    log_std: Array

    def __init__(self, observation_size: int, action_size: int, hidden: tuple[int, ...],
                 *, key: Array, init_log_std: float = -0.5):
        self.mlp = _mlp(observation_size, action_size, hidden, key)
        self.log_std = jnp.full(action_size, init_log_std)

    def mean(self, normalised_obs: Array) -> Array:
        """The mean action in [-1, 1]."""
        return jnp.tanh(self.mlp(normalised_obs))

    def sample(self, normalised_obs: Array, key: Array) -> tuple[Array, Array]:
        """A sampled action and its log-probability."""
        mean = self.mean(normalised_obs)
        action = mean + jnp.exp(self.log_std) * jr.normal(key, mean.shape)
        return action, self.log_prob(normalised_obs, action)

    def log_prob(self, normalised_obs: Array, action: Array) -> Array:
        """Log-probability of `action` [nats]."""
        z = (action - self.mean(normalised_obs)) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z ** 2 - self.log_std - 0.5 * jnp.log(2.0 * jnp.pi))

    def entropy(self) -> Array:
        """The Gaussian's entropy [nats] (before the env's clipping)."""
        return jnp.sum(self.log_std + _HALF_LOG_2PI_E)


class Critic(eqx.Module):
    """State value `V(normalised obs)`."""

    mlp: eqx.nn.MLP

    def __init__(self, observation_size: int, hidden: tuple[int, ...], *, key: Array):
        self.mlp = _mlp(observation_size, 1, hidden, key)

    def __call__(self, normalised_obs: Array) -> Array:
        """`__call__`."""
        return self.mlp(normalised_obs)[0]


class Policy(eqx.Module):
    """A trained policy for evaluation: `policy(obs)` is the deterministic action (the mean).

    Load one with `mskdiff.rl.train.load_policy(run_dir)`; `policy.sample(obs, key)` draws the
    stochastic action the trainer explored with.
    """

    normalizer: Normalizer
    actor: Actor

    def __call__(self, observation: Array) -> Array:
        """`__call__`."""
        return self.actor.mean(self.normalizer(observation))

    def sample(self, observation: Array, key: Array) -> Array:
        """A sampled action and its log-probability."""
        return self.actor.sample(self.normalizer(observation), key)[0]


def _mlp(in_size: int, out_size: int, hidden: tuple[int, ...], key: Array) -> eqx.nn.MLP:
    if not hidden or len(set(hidden)) != 1:
        raise ValueError(f"`hidden` must be equal layer widths, e.g. (64, 64), got {hidden}")
    mlp = eqx.nn.MLP(in_size, out_size, hidden[0], len(hidden), activation=jax.nn.swish, key=key)
    # a small last layer: actions start near 0 and values near 0 (Andrychowicz et al. 2021)
    return eqx.tree_at(lambda m: m.layers[-1].weight, mlp, mlp.layers[-1].weight * 0.01)
