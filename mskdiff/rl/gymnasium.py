"""Gymnasium interfaces to the JAX environments (needs the `rl` extra: `gymnasium`).

- `MuscleGymEnv`: one env as a `gymnasium.Env` (NumPy in and out, float32 observations,
  `Box(-1, 1)` actions, `render_mode='rgb_array'` through `mskdiff.viz`).
- `MuscleVectorEnv`: a batch as a `gymnasium.vector.VectorEnv`, stepped in one compiled call
  (`mskdiff.plant.vmap_envs`, safe on CPU at any batch), with Gymnasium 1.x's default
  next-step autoreset: the step after an episode ends resets that env, ignores its action and
  returns reward 0. Env `i` seeded with `seed + i` behaves as a `SyncVectorEnv` of
  `MuscleGymEnv`s seeded the same way.

An episode is *terminated* when the task's `done` is set (a fall, a non-finite state, which
`info['nonfinite']` flags) and *truncated* after `episode_length` steps. Importing `mskdiff.rl`
registers `mskdiff/<Model><Task>-v0` (e.g. `gymnasium.make("mskdiff/MyoLegs26Walk-v0")`,
`gymnasium.make_vec(..., num_envs=8)`) when Gymnasium is installed (`IDS`).
"""

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..plant.batching import vmap_envs
from .env import MuscleEnv
from .registry import make

#: Seeds drawn from a Gymnasium generator to key JAX's PRNG lie in [0, SEED_BOUND).
SEED_BOUND = 2**31 - 1


def _spaces(env: MuscleEnv) -> tuple[gymnasium.spaces.Box, gymnasium.spaces.Box]:
    """`(observation space, action space)` of one env."""
    observation = gymnasium.spaces.Box(-np.inf, np.inf, (env.observation_size,), np.float32)
    action = gymnasium.spaces.Box(-1.0, 1.0, (env.action_size,), np.float32)
    return observation, action


def _checked_actions(state, actions, space: gymnasium.spaces.Box) -> jnp.ndarray:
    """`actions` as float32 of `space`'s shape; errors before `reset` or for another shape."""
    if state is None:
        raise RuntimeError("call reset() before step()")
    actions = np.asarray(actions, dtype=np.float32)
    if actions.shape != space.shape:
        raise ValueError(f"actions must have shape {space.shape}, got {actions.shape}")
    return jnp.asarray(actions)


def _info(state) -> dict[str, Any]:
    """The metrics of a state as Python floats (reward terms, fault counters)."""
    return {k: np.asarray(v).item() for k, v in state.metrics.items()}


class MuscleGymEnv(gymnasium.Env):
    """One `MuscleEnv` as a `gymnasium.Env` (module docstring)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, env: MuscleEnv, *, render_mode: str | None = None,
                 width: int = 320, height: int = 240):
        """Wrap `env`; `render_mode` None or 'rgb_array' (frames `width` x `height`)."""
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.env = env
        self.render_mode, self._size = render_mode, (width, height)
        self.observation_space, self.action_space = _spaces(env)
        self.metadata = {**self.metadata, "render_fps": 1.0 / env.dt}
        self._reset, self._step = jax.jit(env.reset), jax.jit(env.step)
        self._state, self._steps = None, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """A new episode keyed by the env's generator (reseeded by `seed`)."""
        super().reset(seed=seed, options=options)
        key = jr.key(int(self.np_random.integers(SEED_BOUND)))
        self._state, self._steps = self._reset(key), 0
        return np.asarray(self._state.obs, dtype=np.float32), _info(self._state)

    def step(self, action):
        """One control step; `(obs, reward, terminated, truncated, info)`."""
        action = _checked_actions(self._state, action, self.action_space)
        self._state = self._step(self._state, action)
        self._steps += 1
        terminated = bool(self._state.done)
        truncated = not terminated and self._steps >= self.env.episode_length
        return (np.asarray(self._state.obs, dtype=np.float32), float(self._state.reward),
                terminated, truncated, _info(self._state))

    def render(self):
        """The current frame `(height, width, 3)` (None without `render_mode`)."""
        if self.render_mode is None or self._state is None:
            return None
        width, height = self._size
        return self.env.render([self._state], height=height, width=width)[0]


class MuscleVectorEnv(VectorEnv):
    """A batch of one `MuscleEnv` as a `gymnasium.vector.VectorEnv` (module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, env: MuscleEnv, num_envs: int, *, render_mode: str | None = None,
                 width: int = 320, height: int = 240):
        """`num_envs` copies of `env`; `render_mode` None or 'rgb_array'."""
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.env, self.num_envs = env, int(num_envs)
        self.render_mode, self._size = render_mode, (width, height)
        self.single_observation_space, self.single_action_space = _spaces(env)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**self.metadata, "render_fps": 1.0 / env.dt}
        nv = env.mj_model.nv
        self._reset = jax.jit(vmap_envs(env.reset, nv))
        self._step = jax.jit(vmap_envs(env.step, nv))
        self._generators: list[np.random.Generator] = []
        self._state = None
        self._steps = np.zeros(self.num_envs, dtype=int)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Reset every env; env `i` is seeded with `seed + i` (or `seed[i]`)."""
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"give {self.num_envs} seeds, got {len(seeds)}")
        self._generators = [gymnasium.utils.seeding.np_random(s)[0] for s in seeds]
        self._state = self._reset(self._keys())
        self._steps[:] = 0
        self._autoreset[:] = False
        return self._observations(), self._infos()

    def step(self, actions):
        """Step every env; those that ended at the last step are reset instead."""
        actions = _checked_actions(self._state, actions, self.action_space)
        stepped = self._step(self._state, actions)
        if self._autoreset.any():
            fresh = self._reset(self._keys(self._autoreset))
            mask = jnp.asarray(self._autoreset)
            where = lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
            stepped = jax.tree.map(where, fresh, stepped)
        self._state = stepped
        self._steps = np.where(self._autoreset, 0, self._steps + 1)
        done = np.asarray(stepped.done) > 0
        terminated = np.where(self._autoreset, False, done)
        truncated = ~terminated & ~self._autoreset & (self._steps >= self.env.episode_length)
        reward = np.where(self._autoreset, 0.0, np.asarray(stepped.reward, dtype=np.float64))
        self._autoreset = terminated | truncated
        return self._observations(), reward, terminated, truncated, self._infos()

    def render(self):
        """One frame per env (None without `render_mode`)."""
        if self.render_mode is None or self._state is None:
            return None
        width, height = self._size
        frames = self.env.render_qpos(np.asarray(self._state.data.qpos), height=height, width=width)
        return tuple(frames)

    def _keys(self, which: np.ndarray | None = None):
        """One PRNG key per env, drawn from the generators of `which` (all by default)."""
        seeds = [int(g.integers(SEED_BOUND)) if which is None or which[i] else 0
                 for i, g in enumerate(self._generators)]
        return jax.vmap(jr.key)(jnp.asarray(seeds, dtype=jnp.uint32))

    def _observations(self) -> np.ndarray:
        return np.asarray(self._state.obs, dtype=np.float32)

    def _infos(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self._state.metrics.items()}


#: Gymnasium ids -> `(task, model)` of `mskdiff.rl.make`.
IDS: dict[str, tuple[str, str]] = {
    f"mskdiff/{label}{task.capitalize()}-v0": (task, model)
    for label, model in (("MyoLegs26", "myolegs26"), ("MyoLeg", "myoleg"),
                         ("TinyBiped", "tiny_biped"))
    for task in ("stand", "walk", "imitate")}


def make_env(task: str, model: str, render_mode: str | None = None, **options) -> MuscleGymEnv:
    """`MuscleGymEnv(make(task, model, **options))` (the registered entry point)."""
    return MuscleGymEnv(make(task, model, **options), render_mode=render_mode)


def make_vector_env(task: str, model: str, num_envs: int = 1, render_mode: str | None = None,
                    **options) -> MuscleVectorEnv:
    """`MuscleVectorEnv(make(task, model, **options), num_envs)` (the vector entry point)."""
    return MuscleVectorEnv(make(task, model, **options), num_envs, render_mode=render_mode)


def register() -> None:
    """Register `IDS` with Gymnasium (`gymnasium.make` and `gymnasium.make_vec`)."""
    for env_id, (task, model) in IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(env_id, entry_point=f"{__name__}:make_env",
                           vector_entry_point=f"{__name__}:make_vector_env",
                           kwargs={"task": task, "model": model})
