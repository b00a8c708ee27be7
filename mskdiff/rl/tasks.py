r"""The tasks: `Stand`, `Walk` and `Imitate` (each a `MuscleEnv`).

Every reward term is reported as `metrics["reward/<term>"]`; the reward is their weighted sum
(`REWARD_WEIGHTS`, overridable through `EnvConfig.reward_weights`). Shared terms: `upright`
$= \exp(-(\theta/0.2)^2)$ with $\theta$ the pelvis tilt from standing [rad]; `effort`
$= -\overline{u^2}$ (mean squared excitation); `alive` $= 1$ per step. Every episode ends when the
pelvis falls below `min_height_fraction` of its standing height or tilts past `max_tilt`
(`EnvConfig`), or when the state turns non-finite.

- **Stand**: from the standing pose (joint noise `reset_noise`), stay up under pushes. A push
  is a horizontal force on the pelvis in a uniformly random direction, of magnitude uniform in
  [0, `push_fraction`] x body weight (default 0.15), lasting `push_seconds` (0.1 s); the gaps
  between pushes are uniform in `push_interval` (1-2 s), the first one too. Extra term
  `height` $= \exp(-((h - h_0)/0.05)^2)$ and `pose` $= \exp(-\overline{(q - q_0)^2}/0.1^2)$ (joints
  against standing). Episode 5 s.
- **Walk**: walk forward at a commanded speed drawn uniformly from `speed_range` (0.8-1.6 m/s)
  at reset, observed as `command`. Terms follow Playground's locomotion tracking term
  (`tracking_lin_vel`, $\exp(-e^2/\sigma)$) and MyoSuite's `myoLegWalk` (velocity, upright,
  activation magnitude, done): `velocity` $= \exp(-((v_x - v^*)/0.25)^2)$ with $v_x$ the
  pelvis's forward speed, `lateral` $= -v_y^2$, `height` $= \exp(-((h - h_0)/0.1)^2)$, plus the
  shared terms. Episode 10 s.
- **Imitate**: track a looped reference gait cycle (`mskdiff.rl.reference`) with DeepMimic's
  terms (Peng et al. 2018, "DeepMimic", ACM TOG 37(4)): `pose` $= \exp(-2\sum (q̂ - q)^2)$
  over the joints, `velocity` $= \exp(-0.1 \sum (\hat v - v)^2)$, `end_effector`
  $= \exp(-40 \sum_e \|\hat p_e - p_e\|^2)$ (feet relative to the pelvis), `com`
  $= \exp(-10 \|\hat c - c\|^2)$ (whole-body centre of mass), weights 0.65 / 0.1 / 0.15 / 0.1,
  plus `effort` and `alive`. Reference-state initialisation at a uniformly random phase
  (DeepMimic's RSI); the episode also ends when the pelvis strays `max_root_error` (0.5 m)
  from the reference. The phase is observed as $(\sin 2\pi\phi, \cos 2\pi\phi)$. Episode 10 s.
"""

from collections.abc import Mapping

import jax.numpy as jnp
import jax.random as jr
import mujoco
import numpy as np
from jax import Array
from mujoco import mjx

from ..plant import AbstractPlant
from .env import EnvConfig, MuscleEnv
from .reference import ReferenceCycle

#: myo-sim's leg models face the world's -y axis (`mskdiff.models.kinematics.OPENSIM_TO_WORLD`).
FORWARD = np.array([0.0, -1.0, 0.0])
LATERAL = np.array([-1.0, 0.0, 0.0])


class Stand(MuscleEnv):
    """Stay upright from the standing pose under random pushes (module docstring)."""

    REWARD_WEIGHTS = {"upright": 1.0, "height": 1.0, "pose": 0.5, "effort": 0.1, "alive": 1.0}

    def __init__(self, plant: AbstractPlant, mj_model: mujoco.MjModel,
                 config: EnvConfig, *, model_name: str,
                 push_fraction: float = 0.15, push_seconds: float = 0.1,
                 push_interval: tuple[float, float] = (1.0, 2.0)):
        """Stand on `plant`; pushes of up to `push_fraction` body weights, `push_seconds` long.

        The gaps between pushes are uniform in `push_interval` [s].
        """
        super().__init__(plant, mj_model, config, model_name=model_name)
        low, high = push_interval
        if not (push_fraction >= 0 and push_seconds > 0 and 0 < low <= high):
            raise ValueError("pushes need push_fraction >= 0, push_seconds > 0 and "
                             f"0 < push_interval[0] <= push_interval[1], got {push_fraction}, "
                             f"{push_seconds}, {push_interval}")
        self.push_fraction, self.push_seconds = float(push_fraction), float(push_seconds)
        self.push_interval = (float(low), float(high))

    def _task_reset(self, key):
        info = {"push_start": jr.uniform(key, (), minval=self.push_interval[0],
                                          maxval=self.push_interval[1]),
                "push_force": jnp.zeros(3), "pushes": jnp.zeros(())}
        return self._stand_qpos, jnp.zeros(self._mj_model.nv), info

    def _advance_info(self, info, data, key):
        """Draw the next push when the previous one has ended."""
        time = data.data.time
        ended = time >= info["push_start"] + self.push_seconds
        key_gap, key_angle, key_size = jr.split(key, 3)
        gap = jr.uniform(key_gap, (), minval=self.push_interval[0], maxval=self.push_interval[1])
        angle = jr.uniform(key_angle, (), maxval=2 * jnp.pi)
        size = jr.uniform(key_size, (), maxval=self.push_fraction * self._weight)
        new_force = size * jnp.array([jnp.cos(angle), jnp.sin(angle), 0.0])
        started = jnp.where(ended, time + gap, info["push_start"])
        # the force of the push that starts next is drawn now; it acts only in its window
        force = jnp.where(ended, new_force, info["push_force"])
        return {**info, "push_start": started, "push_force": force,
                "pushes": info["pushes"] + ended}

    def _applied_forces(self, time, info):
        """The push on the pelvis while `time` is inside its window, else nothing."""
        start = info["push_start"]
        active = (time >= start) & (time < start + self.push_seconds)
        return jnp.zeros((self._mj_model.nbody, 6)).at[self._pelvis, :3].set(
            jnp.where(active, info["push_force"], 0.0))

    def _rewards(self, data, excitation, info):
        joints = data.data.qpos[7:] - self._stand_qpos[7:]
        height = data.data.qpos[2] - self._stand_height
        return {**self._posture_terms(data, excitation),
                "height": jnp.exp(-(height / 0.05) ** 2),
                "pose": jnp.exp(-jnp.mean(joints ** 2) / 0.1 ** 2)}


class Walk(MuscleEnv):
    """Walk forward at a commanded speed (module docstring)."""

    REWARD_WEIGHTS = {"velocity": 2.0, "lateral": 0.5, "upright": 1.0, "height": 0.5,
                      "effort": 0.1, "alive": 1.0}
    TASK_OBSERVATIONS = {"command": 1}

    def __init__(self, plant: AbstractPlant, mj_model: mujoco.MjModel,
                 config: EnvConfig, *, model_name: str,
                 speed_range: tuple[float, float] = (0.8, 1.6)):
        """Walk on `plant` at speeds drawn from `speed_range` [m/s]."""
        super().__init__(plant, mj_model, config, model_name=model_name)
        low, high = speed_range
        if not 0 <= low <= high:
            raise ValueError(f"`speed_range` must satisfy 0 <= low <= high, got {speed_range}")
        self.speed_range = (float(low), float(high))

    def _task_reset(self, key):
        command = jr.uniform(key, (), minval=self.speed_range[0], maxval=self.speed_range[1])
        return self._stand_qpos, jnp.zeros(self._mj_model.nv), {"command": command}

    def _rewards(self, data, excitation, info):
        velocity = data.data.qvel[:3]
        forward, lateral = velocity @ FORWARD, velocity @ LATERAL
        height = data.data.qpos[2] - self._stand_height
        return {**self._posture_terms(data, excitation),
                "velocity": jnp.exp(-((forward - info["command"]) / 0.25) ** 2),
                "lateral": -lateral ** 2,
                "height": jnp.exp(-(height / 0.1) ** 2)}

    def _task_observation(self, data, info):
        return [info["command"][None]]


class Imitate(MuscleEnv):
    """Track a looped reference gait cycle, DeepMimic-style (module docstring)."""

    REWARD_WEIGHTS = {"pose": 0.65, "velocity": 0.1, "end_effector": 0.15, "com": 0.1,
                      "effort": 0.05, "alive": 0.2}
    TASK_OBSERVATIONS = {"phase": 2}

    def __init__(self, plant: AbstractPlant, mj_model: mujoco.MjModel,
                 config: EnvConfig, *, model_name: str,
                 reference: ReferenceCycle, max_root_error: float = 0.5):
        """Imitate `reference` (on the env's control grid) on `plant`."""
        super().__init__(plant, mj_model, config, model_name=model_name)
        if abs(reference.dt - self.dt) > 1e-9:
            raise ValueError(f"the reference is sampled every {reference.dt} s, the env steps "
                             f"every {self.dt} s; build it with dt={self.dt}")
        if reference.qpos.shape[1] != mj_model.nq:
            raise ValueError(f"the reference has nq = {reference.qpos.shape[1]}, the model "
                             f"{mj_model.nq}")
        self.reference = reference
        self.max_root_error = float(max_root_error)
        self._ref = {k: jnp.asarray(getattr(reference, k))
                     for k in ("qpos", "qvel", "end_effectors", "com")}
        self._ee_bodies = jnp.asarray(reference.end_effector_bodies)
        self._stride = jnp.asarray(reference.stride)

    @property
    def n_frames(self) -> int:
        """Control steps in one reference cycle."""
        return self.reference.qpos.shape[0]

    def _target(self, step: Array) -> dict[str, Array]:
        """The reference at the episode's `step` counter (phase index + whole cycles)."""
        index = step % self.n_frames
        cycles = step // self.n_frames
        target = {k: v[index] for k, v in self._ref.items()}
        shift = cycles * self._stride
        target["qpos"] = target["qpos"].at[:3].add(shift)
        target["com"] = target["com"] + shift
        return target

    def _task_reset(self, key):
        start = jr.randint(key, (), 0, self.n_frames)
        target = self._target(start)
        return target["qpos"], target["qvel"], {"frame": start}

    def _advance_info(self, info, data, key):
        return {**info, "frame": info["frame"] + 1}

    def _rewards(self, data, excitation, info):
        d = data.data
        target = self._target(info["frame"])
        ee = _relative_positions(d, self._ee_bodies, self._pelvis)
        return {**{k: v for k, v in self._posture_terms(data, excitation).items()
                   if k in ("effort", "alive")},
                "pose": jnp.exp(-2.0 * jnp.sum((target["qpos"][7:] - d.qpos[7:]) ** 2)),
                "velocity": jnp.exp(-0.1 * jnp.sum((target["qvel"][6:] - d.qvel[6:]) ** 2)),
                "end_effector": jnp.exp(-40.0 * jnp.sum((target["end_effectors"] - ee) ** 2)),
                "com": jnp.exp(-10.0 * jnp.sum((target["com"] - d.subtree_com[0]) ** 2))}

    def _terminated(self, data, info):
        target = self._target(info["frame"])
        strayed = jnp.linalg.norm(data.data.qpos[:3] - target["qpos"][:3]) > self.max_root_error
        return super()._terminated(data, info) | strayed

    def _task_observation(self, data, info):
        phase = 2 * jnp.pi * (info["frame"] % self.n_frames) / self.n_frames
        return [jnp.stack([jnp.sin(phase), jnp.cos(phase)])]


def _relative_positions(data: mjx.Data, bodies: Array, root: int) -> Array:
    """Positions [m] of `bodies` relative to body `root`, world axes, `(n, 3)`."""
    return data.xpos[bodies] - data.xpos[root][None, :]


#: Task name -> class (`mskdiff.rl.make`'s names).
TASK_CLASSES: Mapping[str, type[MuscleEnv]] = {"stand": Stand, "walk": Walk, "imitate": Imitate}
