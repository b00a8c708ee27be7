r"""Environments on MuJoCo Playground's `MjxEnv` contract, with mskdiff's muscles inside.

`MuscleEnv` is the base of every task (`mskdiff.rl.tasks`). It has Playground's interface,
`reset(rng) -> State`, `step(state, action) -> State`, `action_size`, `observation_size`, `dt`,
`mj_model`, `mjx_model`, `xml_path`, `unwrapped`, so Brax's training agents take it through
`mujoco_playground.wrapper.wrap_for_brax_training` unchanged.

**Where the muscle state lives.** `State.data` is a `mskdiff.plant.PlantState` (the MJX data
*and* the muscle states), so Playground's auto-reset wrapper, which resets `data` and `obs` on
episode end (`full_reset=False`), resets the muscles too. `PlantState` reads `mjx.Data`'s fields
through (`state.data.qpos`), so Playground's renderer works on it.

**Actions** are excitations: `action_size = n_muscles`, each action in [-1, 1] (Brax's
tanh-squashed policies, Gymnasium's `Box(-1, 1)`) mapped to an excitation $u = (a + 1)/2$ and
clipped to [0, 1]; excitation noise (`EnvConfig.noise`) is added before the clip. One action is
held for `n_substeps` physics steps (`dt = ctrl_dt`).

**Observations** are one flat float vector; `observation_layout` names its slices (module
`OBSERVATIONS` lists them with units). Observation noise is added to the whole vector.

**Faults.** A wrong action shape raises at trace time, an integer or boolean action raises
`TypeError`, a NaN or inf action raises inside `jit` (`eqx.error_if`, `EnvConfig.check_actions`).
A non-finite physics state ends the episode: the step returns the last finite state with
`done = 1`, reward 0 and `metrics["nonfinite"] = 1`, so one env never poisons a batch.

**Domain randomisation** (`domain_randomizer`) follows Brax/Playground's `randomization_fn(model,
rng) -> (batched model, in_axes)`; mskdiff's puts a whole plant (muscle parameters too) where
Playground puts the `mjx.Model`, and an env reads either.
"""

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import mujoco
import numpy as np
from jax import Array
from mujoco import mjx

from ..models.locomotion import foot_geom_ids, standing_qpos
from ..plant import AbstractPlant, MJXPlant, PlantState, ground_reactions
from ..plant.randomize import Range, apply_sample, batched_axes, check_ranges, sample
from .noise import Noise

#: The observation's parts in order: name -> (what, unit). Sizes depend on the model.
OBSERVATIONS: dict[str, tuple[str, str]] = {
    "joint_qpos": ("joint positions, root excluded (qpos[7:])", "rad or m"),
    "joint_qvel": ("joint velocities, root excluded (qvel[6:])", "rad/s or m/s"),
    "pelvis_height": ("root height above the floor", "m"),
    "pelvis_orientation": ("root orientation quaternion (w, x, y, z)", "-"),
    "pelvis_velocity": ("root linear velocity (world) and angular velocity (body)", "m/s, rad/s"),
    "activation": ("muscle activations", "-"),
    "norm_fiber_length": ("fibre length / optimal fibre length", "-"),
    "norm_fiber_velocity": ("fibre velocity / (optimal length x max contraction velocity)", "-"),
    "norm_tendon_force": ("tendon force / max isometric force", "-"),
    "foot_forces": ("the floor's force on each foot (r, l), world frame, / body weight", "-"),
}
#: Gravity [m/s^2] for body-weight normalisation.
GRAVITY = 9.81


class State(eqx.Module):
    """One env's state on Playground's contract (`mujoco_playground.State`'s fields).

    `data` is the plant state (skeleton and muscles); `metrics` hold every reward term as
    `reward/<term>` and the fault counters; `info` the task's variables and the PRNG key.
    """

    data: PlantState
    obs: Array
    reward: Array
    done: Array
    metrics: dict[str, Array]
    info: dict[str, Any]

    def replace(self, **changes) -> "State":
        """A copy with `changes` (flax's `struct.dataclass` method, which Brax's wrappers call)."""
        return dataclasses.replace(self, **changes)


def _check_positive(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and > 0, got {value}")


class EnvConfig(eqx.Module):
    """Options every task shares; checked at construction.

    Attributes:
        ctrl_dt: control period [s], a whole number of physics steps.
        episode_seconds: episode length [s] that trainers should use (`episode_length` steps).
        noise: excitation and observation noise standard deviations.
        initial_activation: muscle activation at reset [-].
        reset_noise: uniform noise on joint positions at reset [rad or m] (root excluded).
        min_height_fraction: the episode ends when the pelvis falls below this fraction of its
            standing height.
        max_tilt: the episode ends when the pelvis tilts more than this from standing [rad].
        check_actions: raise inside `jit` on a NaN or inf action (a host callback; `False`
            compiles none, so the program can go to JAX's persistent cache).
        reward_weights: term -> weight of the task's reward terms (the task's defaults for
            the terms not given).
    """

    ctrl_dt: float = 0.02
    episode_seconds: float = 5.0
    noise: Noise = Noise()
    initial_activation: float = 0.05
    reset_noise: float = 0.02
    min_height_fraction: float = 0.6
    max_tilt: float = 1.0
    check_actions: bool = True
    reward_weights: dict[str, float] = eqx.field(default_factory=dict)

    def __check_init__(self):
        for name in ("ctrl_dt", "episode_seconds", "max_tilt"):
            _check_positive(name, getattr(self, name))
        if not 0 <= self.initial_activation <= 1:
            raise ValueError(f"`initial_activation` must be in [0, 1], got {self.initial_activation}")
        if not (np.isfinite(self.reset_noise) and self.reset_noise >= 0):
            raise ValueError(f"`reset_noise` must be finite and >= 0, got {self.reset_noise}")
        if not 0 <= self.min_height_fraction < 1:
            raise ValueError("`min_height_fraction` must be in [0, 1), got "
                             f"{self.min_height_fraction}")
        bad = {k: v for k, v in self.reward_weights.items() if not np.isfinite(v)}
        if bad:
            raise ValueError(f"`reward_weights` must be finite, got {bad}")


def _quaternion_to_matrix(quat: Array) -> Array:
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = quat / jnp.linalg.norm(quat)
    return jnp.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _tree_where(condition: Array, on_true, on_false):
    """`jnp.where` leaf by leaf (one env: a scalar condition)."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


class MuscleEnv:
    """A musculoskeletal task on MuJoCo Playground's `MjxEnv` contract (module docstring).

    Subclasses (the tasks) implement `_task_reset`, `_rewards`, `_task_observation` and may
    override `_terminated`, `_applied_forces` and `_advance_info`. Build them with
    `mskdiff.rl.make`.
    """

    #: The task's reward terms and their default weights.
    REWARD_WEIGHTS: dict[str, float] = {}
    #: The task's own observation parts: name -> size.
    TASK_OBSERVATIONS: dict[str, int] = {}

    def __init__(self, plant: AbstractPlant, mj_model: mujoco.MjModel, config: EnvConfig, *,
                 model_name: str):
        """An env on `plant` (built on the host model `mj_model`, named `model_name`).

        Raises:
            ValueError: a `ctrl_dt` that is not a whole number of physics steps, reward
                weights for terms the task does not have, a model without a free root joint.
        """
        if not isinstance(config, EnvConfig):
            raise TypeError(f"`config` must be an EnvConfig, got {type(config).__name__}")
        unknown = sorted(set(config.reward_weights) - set(self.REWARD_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown reward terms {unknown} for {type(self).__name__}; "
                             f"its terms: {list(self.REWARD_WEIGHTS)}")
        substeps = config.ctrl_dt / plant.dt
        if abs(substeps - round(substeps)) > 1e-6 or round(substeps) < 1:
            raise ValueError(f"`ctrl_dt` ({config.ctrl_dt} s) must be a whole number of physics "
                             f"steps of {plant.dt} s")
        if mj_model.njnt == 0 or mj_model.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError("the model's first joint must be a free root joint (a leg model)")
        self._plant = plant
        self._mjx_model = plant.mjx_model
        self._mj_model = mj_model
        self._config = config
        self._model_name = model_name
        self._n_substeps = int(round(substeps))
        self._weights = {**self.REWARD_WEIGHTS, **config.reward_weights}
        self._floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        self._feet = {side: jnp.asarray(ids) for side, ids in foot_geom_ids(mj_model).items()}
        self._pelvis = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
        self._stand_qpos = jnp.asarray(standing_qpos(mj_model))
        self._stand_height = float(self._stand_qpos[2])
        # the root-frame vector that points up when standing (the pelvis frame is model-specific)
        self._up_in_root = np.asarray(_quaternion_to_matrix(self._stand_qpos[3:7])).T @ np.array(
            [0.0, 0.0, 1.0])
        self._weight = float(np.sum(mj_model.body_mass)) * GRAVITY

    # --- Playground's properties ---------------------------------------------------------

    @property
    def dt(self) -> float:
        """Control period [s]: one `step`."""
        return self._config.ctrl_dt

    @property
    def sim_dt(self) -> float:
        """Physics step [s]."""
        return self._plant.dt

    @property
    def n_substeps(self) -> int:
        """Physics steps per `step`."""
        return self._n_substeps

    @property
    def episode_length(self) -> int:
        """Steps of one episode (`EnvConfig.episode_seconds / dt`), for the trainers' wrappers."""
        return int(round(self._config.episode_seconds / self.dt))

    @property
    def action_size(self) -> int:
        """One action per muscle."""
        return self._plant.n_muscles

    @property
    def observation_layout(self) -> dict[str, slice]:
        """Name -> slice of the flat observation (`OBSERVATIONS`, then the task's parts)."""
        m, n = self._mj_model, self._plant.n_muscles
        sizes = {"joint_qpos": m.nq - 7, "joint_qvel": m.nv - 6, "pelvis_height": 1,
                 "pelvis_orientation": 4, "pelvis_velocity": 6, "activation": n,
                 "norm_fiber_length": n, "norm_fiber_velocity": n, "norm_tendon_force": n,
                 "foot_forces": 6, **self.TASK_OBSERVATIONS}
        bounds = np.cumsum([0, *sizes.values()])
        return {name: slice(int(a), int(b))
                for name, a, b in zip(sizes, bounds[:-1], bounds[1:], strict=True)}

    @property
    def observation_size(self) -> int:
        """Length of the flat observation."""
        return list(self.observation_layout.values())[-1].stop

    @property
    def mj_model(self) -> mujoco.MjModel:
        """The host model (its solver iterations are the plant's Newton iterations per step)."""
        return self._mj_model

    @property
    def mjx_model(self) -> mjx.Model:
        """The MJX model the env steps (a randomised one inside Playground's wrapper)."""
        model = self._mjx_model
        return model.mjx_model if isinstance(model, AbstractPlant) else model

    @property
    def plant(self) -> AbstractPlant:
        """The plant the env steps: the nominal one with the current (maybe randomised) model."""
        model = self._mjx_model
        if isinstance(model, AbstractPlant):
            return model
        return eqx.tree_at(lambda p: p.mjx_model, self._plant, model)

    @property
    def xml_path(self) -> str:
        """Not available: raises `NotImplementedError`.

        myo-sim composes its models from attached specs, which MuJoCo 3.17 writes as MJCF that
        does not load back ('empty class name'). Use `mj_model`, or `save_model` for a `.mjb`.
        """
        raise NotImplementedError(
            "mskdiff's models are composed MjSpecs that MuJoCo cannot save as loadable MJCF; "
            "use env.mj_model, or env.save_model(path) for a binary .mjb")

    def save_model(self, path) -> Path:
        """Write the host model to `path` as MuJoCo's binary `.mjb`; returns the path."""
        path = Path(path)
        mujoco.mj_saveModel(self._mj_model, str(path))
        return path

    @property
    def unwrapped(self) -> "MuscleEnv":
        """The env itself (Playground's wrappers reach the base env through this)."""
        return self

    @property
    def config(self) -> EnvConfig:
        """The env's options."""
        return self._config

    @property
    def reward_weights(self) -> dict[str, float]:
        """Weights of the reward terms (the task's defaults updated by the config)."""
        return dict(self._weights)

    # --- the contract ----------------------------------------------------------------------

    def reset(self, rng: Array) -> State:
        """A new episode from the task's initial state, keyed by `rng`."""
        key_pose, key_task, key_obs, key_run = jr.split(rng, 4)
        qpos, qvel, task_info = self._task_reset(key_task)
        qpos = self._joint_noise(qpos, key_pose)
        data = self.plant.init(qpos, qvel, activation=self._config.initial_activation,
                               throw=False)
        info = {"rng": key_run, **task_info}
        obs = self._observe(data, info, key_obs)
        zero = jnp.zeros(())
        metrics = {f"reward/{term}": zero for term in self._weights} | {"nonfinite": zero}
        return State(data, obs, zero, zero, metrics, info)

    def step(self, state: State, action: Array) -> State:
        """Hold `action` for `n_substeps` physics steps; reward, termination, observation."""
        action = self._checked_action(action)
        key, key_noise, key_obs, key_task = jr.split(state.info["rng"], 4)
        excitation = self._config.noise.excitation((action + 1.0) / 2.0, key_noise)
        info = self._advance_info(state.info, state.data, key_task)
        plant = self.plant
        after = self._simulate(plant, state.data, jnp.clip(excitation, 0.0, 1.0), info)
        finite = after.is_finite()
        data = _tree_where(finite, after, state.data)
        info = {**info, "rng": key}
        terms = self._rewards(data, excitation, info)
        reward = sum(self._weights[k] * terms[k] for k in self._weights)
        done = jnp.where(finite, self._terminated(data, info), True).astype(float)
        # wrappers add their own metrics (Brax's EvalWrapper: 'reward'); keep them
        metrics = {**state.metrics,
                   **{f"reward/{k}": jnp.where(finite, terms[k], 0.0) for k in self._weights},
                   "nonfinite": (~finite).astype(float)}
        obs = jnp.where(finite, self._observe(data, info, key_obs), state.obs)
        return state.replace(data=data, obs=obs, reward=jnp.where(finite, reward, 0.0),
                             done=done, metrics=metrics, info=info)

    # --- shared pieces -----------------------------------------------------------------------

    def _checked_action(self, action) -> Array:
        """`action` as a float array of shape `(action_size,)`; errors as the module says."""
        if not hasattr(action, "dtype"):
            action = jnp.asarray(action, dtype=float)
        if not jnp.issubdtype(action.dtype, jnp.floating):
            raise TypeError(f"actions must be floating point (excitations in [-1, 1]), got "
                            f"dtype {action.dtype}")
        if action.shape != (self.action_size,):
            raise ValueError(f"an action must have shape ({self.action_size},) (one per muscle), "
                             f"got {action.shape}")
        action = action.astype(float)
        if self._config.check_actions:
            action = eqx.error_if(action, ~jnp.all(jnp.isfinite(action)),
                                  "mskdiff env: the action holds NaN or inf")
        return action

    def _joint_noise(self, qpos: Array, key: Array) -> Array:
        """`qpos` with uniform noise of `reset_noise` on the joints (not the root)."""
        scale = self._config.reset_noise
        noise = jr.uniform(key, (qpos.shape[0] - 7,), minval=-scale, maxval=scale)
        return qpos.at[7:].add(noise)

    def _simulate(self, plant: AbstractPlant, data: PlantState, excitation: Array,
                  info: Mapping[str, Array]) -> PlantState:
        """`n_substeps` physics steps with `excitation` and the task's applied forces."""
        @jax.checkpoint
        def physics_step(state, _):
            forces = self._applied_forces(state.data.time, info)
            if forces is not None:
                state = PlantState(state.data.replace(xfrc_applied=forces), state.muscle)
            return plant.step(state, excitation), None

        return jax.lax.scan(physics_step, data, None, length=self._n_substeps)[0]

    def _observe(self, data: PlantState, info: Mapping[str, Array], key: Array) -> Array:
        """The flat observation (`observation_layout`) with observation noise."""
        d = data.data
        muscle = muscle_observation(self.plant, data)
        reactions = ground_reactions(self.mjx_model, d, self._floor, self._feet)
        feet = jnp.concatenate([reactions[s].force for s in ("r", "l")]) / self._weight
        parts = [d.qpos[7:], d.qvel[6:], d.qpos[2:3], d.qpos[3:7], d.qvel[:6], *muscle, feet,
                 *self._task_observation(data, info)]
        return self._config.noise.observation(jnp.concatenate(parts), key)

    def _tilt(self, data: PlantState) -> Array:
        """Angle [rad] between the pelvis's standing 'up' and the world's vertical."""
        up = _quaternion_to_matrix(data.data.qpos[3:7]) @ self._up_in_root
        return jnp.arccos(jnp.clip(up[2], -1.0, 1.0 - 1e-7))

    def _terminated(self, data: PlantState, info: Mapping[str, Array]) -> Array:
        """Fallen: the pelvis below `min_height_fraction` of standing, or tilted past `max_tilt`."""
        del info
        fallen = data.data.qpos[2] < self._config.min_height_fraction * self._stand_height
        return fallen | (self._tilt(data) > self._config.max_tilt)

    def _posture_terms(self, data: PlantState, excitation: Array) -> dict[str, Array]:
        """Terms shared by the tasks: upright, effort and alive."""
        return {"upright": jnp.exp(-(self._tilt(data) / 0.2) ** 2),
                "effort": -jnp.mean(jnp.clip(excitation, 0.0, 1.0) ** 2),
                "alive": jnp.ones(())}

    # --- the task's part -----------------------------------------------------------------

    def _task_reset(self, key: Array) -> tuple[Array, Array, dict[str, Array]]:
        """`(qpos, qvel, the task's info)` of a new episode."""
        raise NotImplementedError

    def _rewards(self, data: PlantState, excitation: Array, info: Mapping[str, Array]
                 ) -> dict[str, Array]:
        """Each reward term (unweighted) after a step: `REWARD_WEIGHTS`' keys."""
        raise NotImplementedError

    def _task_observation(self, data: PlantState, info: Mapping[str, Array]) -> list[Array]:
        """The task's observation parts (`TASK_OBSERVATIONS`' sizes), or none."""
        del data, info
        return []

    def _applied_forces(self, time: Array, info: Mapping[str, Array]) -> Array | None:
        """External forces `(nbody, 6)` on the physics step from `time` [s], or None."""
        del time, info
        return None

    def _advance_info(self, info: Mapping[str, Array], data: PlantState, key: Array
                      ) -> dict[str, Array]:
        """The task's info for the coming step (e.g. a push schedule)."""
        del data, key
        return dict(info)

    def render(self, trajectory, height: int = 240, width: int = 320, camera: str | None = None,
               **_) -> np.ndarray:
        """Frames `(T, height, width, 3)` of a list of states (Playground's `render`).

        `camera` is one of `mskdiff.viz.CAMERAS` (default 'follow').
        """
        qpos = np.stack([np.asarray(s.data.qpos) for s in trajectory])
        return self.render_qpos(qpos, height=height, width=width, camera=camera)

    def render_qpos(self, qpos, height: int = 240, width: int = 320,
                    camera: str | None = None) -> np.ndarray:
        """Frames `(T, height, width, 3)` of poses `(T, nq)`, through `mskdiff.viz.render_frames`.

        MuJoCo's renderer, or stick figures without OpenGL.
        """
        from ..viz import render_frames

        return render_frames(self._mj_model, np.asarray(qpos), camera=camera or "follow",
                             width=width, height=height)


def muscle_observation(plant: AbstractPlant, state: PlantState) -> tuple[Array, ...]:
    """`(activation, norm_fiber_length, norm_fiber_velocity, norm_tendon_force)`, per muscle.

    mskdiff's MTUs report their own; MuJoCo's muscles (`MuJoCoMusclePlant`) use MuJoCo's
    normalisation (`range`, `lengthrange`, `vmax` and the force scale of `gainprm`).
    """
    activation = state.muscle.activation
    if isinstance(plant, MJXPlant):
        out = plant.mtu_outputs(state)
        return activation, out.norm_fiber_length, out.norm_fiber_velocity, out.norm_tendon_force
    m, ids = plant.mjx_model, plant.actuator_ids
    gain, length_range = m.actuator_gainprm[ids], m.actuator_lengthrange[ids]
    optimal = (length_range[:, 1] - length_range[:, 0]) / (gain[:, 1] - gain[:, 0])
    length = gain[:, 0] + (state.data.actuator_length[ids] - length_range[:, 0]) / optimal
    velocity = plant.mtu_velocity(state) / (optimal * gain[:, 6])
    force = plant.tendon_force(state) / gain[:, 2]
    return activation, length, velocity, force


def domain_randomizer(env: MuscleEnv, ranges: Mapping[str, Range]
                      ) -> Callable[[mjx.Model, Array], tuple[AbstractPlant, AbstractPlant]]:
    """A `randomization_fn(model, rng)` for Brax's trainers and Playground's wrapper.

    `rng` holds one key per env (Brax passes `jax.random.split(key, num_envs)`); env `i` gets
    `mskdiff.plant.randomize(env.plant, ranges, key=rng[i])`: body, contact and muscle
    parameters (`mskdiff.plant.QUANTITIES`). It returns the batched plant and its `in_axes`
    (only the sampled leaves are batched); the env reads a plant where Playground's wrapper
    puts the model.

    Raises:
        ValueError: an unknown quantity or an impossible range (at construction).
    """
    check_ranges(env.plant, ranges)

    def randomization_fn(model: mjx.Model, rng: Array):
        plant = eqx.tree_at(lambda p: p.mjx_model, env.plant, model)
        record = jax.vmap(lambda k: sample(plant, ranges, key=k))(rng)
        return apply_sample(plant, record), batched_axes(plant, record)

    return randomization_fn
