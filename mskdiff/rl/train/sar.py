"""Synergistic action representations (SAR, Berg et al. 2023).

1. **Play**: a policy trained on a simpler task (`play_activations`) is rolled out; the muscle
   activations of its successful episodes (no failure, return in the top half) are kept.
2. **Synergies**: PCA, then ICA on the principal components, then a min-max scaling to [-1, 1]
   (scikit-learn's `PCA`, `FastICA`, `MinMaxScaler`, as the paper). `variance_accounted_for`
   reports VAF against the number of synergies. The three maps compose into one affine map
   (`Synergies.matrix`, `.offset`) from synergy actions to activations, so the synergy space is
   differentiable and `jit`-able.
3. **Learning in the synergy space**: `SynergyEnv` acts with `phi * synergies + (1 - phi) * full`
   (the paper's phi = 0.66; phi = 1 is synergies only).

`train_sar` runs the three steps with PPO. scikit-learn is in the `train` extra.
"""

from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array

from .envs import BatchedEnv
from .networks import Policy


class Synergies(eqx.Module):
    """Activations `clip(matrix @ s + offset, 0, 1)` of a synergy action `s` in [-1, 1]^k."""

    matrix: Array
    offset: Array

    @property
    def n_synergies(self) -> int:
        """Number of synergies k."""
        return self.matrix.shape[1]

    def activations(self, synergy_action: Array) -> Array:
        """Muscle activations of a synergy action."""
        return jnp.clip(self.matrix @ synergy_action + self.offset, 0.0, 1.0)


def _sklearn():
    try:
        from sklearn.decomposition import PCA, FastICA
        from sklearn.preprocessing import MinMaxScaler
    except ImportError as error:  # the `train` extra
        raise ImportError("SAR needs scikit-learn: pip install 'mskdiff[train]'") from error
    return PCA, FastICA, MinMaxScaler


def _check_activations(activations) -> np.ndarray:
    x = np.asarray(activations, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 * x.shape[1]:
        raise ValueError(f"activations must be [samples, muscles] with samples >= 2 x muscles, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("activations contain NaN or inf")
    return x


def variance_accounted_for(activations) -> np.ndarray:
    """VAF (1 - residual / total variance) of the first k principal components, k = 1 ... muscles."""
    PCA, _, _ = _sklearn()
    x = _check_activations(activations)
    return np.cumsum(PCA().fit(x).explained_variance_ratio_)


def fit_synergies(activations, n_synergies: int, *, seed: int = 0) -> Synergies:
    """PCA -> ICA -> min-max scaling of `activations [samples, muscles]` to `n_synergies`."""
    PCA, FastICA, MinMaxScaler = _sklearn()
    x = _check_activations(activations)
    if int(n_synergies) != n_synergies or not 1 <= n_synergies <= x.shape[1]:
        raise ValueError(f"`n_synergies` must be in 1 ... {x.shape[1]}, got {n_synergies}")
    pca = PCA(n_synergies, random_state=seed).fit(x)
    components = pca.transform(x)
    ica = FastICA(n_synergies, whiten="unit-variance", random_state=seed, max_iter=1000).fit(
        components)
    scaler = MinMaxScaler((-1.0, 1.0)).fit(ica.transform(components))
    # s -> sources (scaler inverse) -> components (ICA inverse) -> activations (PCA inverse)
    to_sources = np.diag(1.0 / scaler.scale_), -scaler.min_ / scaler.scale_
    to_components = ica.mixing_, ica.mean_
    to_activations = pca.components_.T, pca.mean_
    matrix, offset = np.eye(n_synergies), np.zeros(n_synergies)
    for a, b in (to_sources, to_components, to_activations):
        matrix, offset = a @ matrix, a @ offset + b
    return Synergies(jnp.asarray(matrix), jnp.asarray(offset))


class SynergyEnv:
    """`env` acted through synergies.

    The action is `[s (k), full (muscles)]`, or `s` alone if `phi` is 1; the env gets
    `phi * (2 synergies.activations(s) - 1) + (1 - phi) * full`.
    """

    def __init__(self, env, synergies: Synergies, phi: float = 0.66):
        if not 0 < phi <= 1:
            raise ValueError(f"`phi` must be in (0, 1], got {phi}")
        if synergies.matrix.shape[0] != env.action_size:
            raise ValueError(f"synergies for {synergies.matrix.shape[0]} muscles, env has "
                             f"{env.action_size}")
        self.env, self.synergies, self.phi = env, synergies, phi

    def __getattr__(self, name):  # observation_size, dt, episode_length, mj_model, ...
        return getattr(self.env, name)

    @property
    def action_size(self) -> int:
        """Actions per step (one excitation per muscle)."""
        k = self.synergies.n_synergies
        return k if self.phi == 1 else k + self.env.action_size

    def reset(self, rng):
        """A new episode's state from `rng`."""
        return self.env.reset(rng)

    def step(self, state, action: Array):
        """The state one control step later."""
        return self.env.step(state, self.muscle_action(action))

    def muscle_action(self, action: Array) -> Array:
        """The full env action of a `[synergy, full]` action."""
        k = self.synergies.n_synergies
        synergy = 2.0 * self.synergies.activations(action[:k]) - 1.0
        return synergy if self.phi == 1 else self.phi * synergy + (1 - self.phi) * action[k:]


def play_activations(env, policy: Policy, key: Array, num_envs: int = 64,
                     activation=lambda state: state.data.muscle.activation) -> np.ndarray:
    """Activations `[samples, muscles]` of the successful episodes of `policy` on `env`.

    One episode per env (`env.episode_length` steps, deterministic actions): kept if it did
    not fail and its return is at least the median of those that did not.
    """
    batch = BatchedEnv(env, num_envs)

    @eqx.filter_jit
    def run(policy, key):
        reset_key, key = jr.split(key)
        envs = batch.reset(reset_key)

        def one(carry, key):
            envs, alive, failed, total = carry
            acts = activation(envs.state)
            envs, step = batch.step(envs, jax.vmap(policy)(envs.state.obs), key)
            failed = jnp.maximum(failed, alive * step.terminal)
            return (envs, alive * (1 - step.done), failed, total + alive * step.reward), (acts,
                                                                                          alive)

        zeros = jnp.zeros(num_envs)
        (_, _, failed, total), (acts, alive) = jax.lax.scan(
            one, (envs, zeros + 1, zeros, zeros), jr.split(key, batch.episode_length))
        return failed, total, acts, alive

    failed, total, acts, alive = map(np.asarray, run(policy, key))
    ok = failed == 0
    if not ok.any():
        raise RuntimeError("no successful play episode (every one failed): train the play "
                           "policy longer or choose a simpler play task")
    keep = ok & (total >= np.median(total[ok]))
    mask = (alive > 0) & keep[None, :]
    return acts[mask]


class SARRun(NamedTuple):
    """What `train_sar` returns.

    The synergy phase's run, the play phase's run, the synergies, the VAF curve of the play
    activations and the synergy env.
    """

    result: Any
    play: Any
    synergies: Synergies
    vaf: np.ndarray
    env: SynergyEnv


def train_sar(play_env, env, ppo, *, steps: int, play_fraction: float = 0.5,
              vaf_target: float = 0.85, phi: float = 0.66, seed: int = 0,
              out: str | Path | None = None, resume: bool = False, **train_options):
    """SAR with PPO.

    Play on `play_env` for `play_fraction` of `steps`, synergies to `vaf_target` VAF, then PPO
    on `SynergyEnv(env)` for the rest. With `resume`, the play phase resumes from `out/play`,
    and the synergy phase from `out/synergy` once it has a checkpoint (the synergies are
    refitted from the play policy, which is deterministic). Returns a `SARRun`.
    """
    from .loop import CHECKPOINT, train

    if not 0 < play_fraction < 1:
        raise ValueError(f"`play_fraction` must be in (0, 1), got {play_fraction}")
    out = Path(out) if out is not None else None
    play_steps = max(1, int(steps * play_fraction))
    play = train(play_env, ppo, steps=play_steps, seed=seed,
                 out=out / "play" if out else None, resume=resume, **train_options)
    activations = play_activations(play_env, play.policy, jr.key(seed + 1))
    vaf = variance_accounted_for(activations)
    n = int(np.searchsorted(vaf, vaf_target) + 1)
    synergies = fit_synergies(activations, min(n, activations.shape[1]), seed=seed)
    synergy_env = SynergyEnv(env, synergies, phi)
    resume_synergy = resume and (out / "synergy" / CHECKPOINT).is_file()
    result = train(synergy_env, ppo, steps=max(1, steps - play_steps), seed=seed,
                   out=out / "synergy" if out else None, resume=resume_synergy,
                   **train_options)
    return SARRun(result, play, synergies, vaf, synergy_env)
