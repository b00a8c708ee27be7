r"""`Reach`: one joint moved by two antagonist elastic-tendon muscles to a random target angle.

A small environment on the same contract as the leg tasks (`reset(rng) -> State`,
`step(state, action) -> State`, `action_size`, `observation_size`, `dt`), with mskdiff's own
muscles (De Groote's tendon-force MTUs: activation dynamics and elastic tendons) and no MJX: a
horizontal hinge of inertia `inertia` with viscous damping, driven by a flexor and an extensor
of constant moment arm. It compiles in seconds, so the trainers' tests solve it; it is also the
quickest demonstration of `mskdiff train` (`--task reach`).

Actions are excitations as in the leg tasks, $u = (a + 1)/2$ clipped to [0, 1]. The reward is
$-(q - q^*)^2 - w\,\overline{u^2}$ per control step; episodes end on the time limit only.
Observation (8): joint angle [rad], angular velocity / 10 [rad/s], target [rad], angle error
[rad], the two activations and the two normalised tendon forces.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array

from ..integrate import SemiImplicitEuler
from ..muscle import MuscleParameters, TendonForceMTU
from ..muscle.tendon_force import TendonForceState
from .env import State

MUSCLES = ("flexor", "extensor")
#: What each observation entry is.
OBSERVATIONS = ("angle", "angular_velocity_over_10", "target", "angle_error",
                "activation_flexor", "activation_extensor", "norm_tendon_force_flexor",
                "norm_tendon_force_extensor")


class ArmState(eqx.Module):
    """Joint angle [rad], angular velocity [rad/s] and the muscles' states."""

    angle: Array
    angular_velocity: Array
    muscle: TendonForceState


def _arm_muscles(max_isometric_force: float) -> TendonForceMTU:
    params = MuscleParameters.from_dict(
        {"max_isometric_force": max_isometric_force, "optimal_fiber_length": 0.1,
         "tendon_slack_length": 0.2, "pennation_angle_at_optimal": 0.0}, MUSCLES)
    return TendonForceMTU(params)


class Reach:
    """Reach a random target angle with one muscle-driven joint (see the module docstring).

    A plain class, like `MuscleEnv`: `jax.jit(env.step)` works as with Playground's envs.

    Attributes:
        mtu: the two muscles (flexor, extensor).
        moment_arm: both muscles' moment arm [m].
        inertia: the joint's moment of inertia [kg m^2].
        damping: viscous joint damping [N m s/rad].
        angle_range: initial angles and targets are uniform in [-angle_range, angle_range] [rad].
        effort_weight: weight of the mean squared excitation in the reward.
        ctrl_dt: control period [s]; `n_substeps` physics steps of `ctrl_dt / n_substeps`.
        episode_length: control steps per episode.
    """

    def __init__(self, *, max_isometric_force: float = 500.0, moment_arm: float = 0.03,
                 inertia: float = 0.05, damping: float = 0.5, angle_range: float = 0.8,
                 effort_weight: float = 0.05, ctrl_dt: float = 0.02, n_substeps: int = 10,
                 episode_length: int = 50):
        for name, value in (("max_isometric_force", max_isometric_force),
                            ("moment_arm", moment_arm), ("inertia", inertia),
                            ("angle_range", angle_range), ("ctrl_dt", ctrl_dt)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be finite and > 0, got {value}")
        if not angle_range * moment_arm < 0.05:
            raise ValueError("`angle_range * moment_arm` must stay under 0.05 m (half the "
                             f"fibres' optimal length), got {angle_range * moment_arm}")
        for name, value in (("n_substeps", n_substeps), ("episode_length", episode_length)):
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be a whole number >= 1, got {value}")
        self.mtu = _arm_muscles(max_isometric_force)
        self.moment_arm, self.inertia, self.damping = moment_arm, inertia, damping
        self.angle_range, self.effort_weight = angle_range, effort_weight
        self.ctrl_dt, self.n_substeps, self.episode_length = ctrl_dt, n_substeps, episode_length

    @property
    def action_size(self) -> int:
        """Actions per step (one excitation per muscle)."""
        return len(MUSCLES)

    @property
    def observation_size(self) -> int:
        """Length of the observation vector."""
        return len(OBSERVATIONS)

    @property
    def observation_layout(self) -> dict[str, slice]:
        """Name -> slice of the observation (`OBSERVATIONS`), as the leg tasks give it."""
        return {name: slice(k, k + 1) for k, name in enumerate(OBSERVATIONS)}

    @property
    def dt(self) -> float:
        """Control period [s]."""
        return self.ctrl_dt

    @property
    def unwrapped(self) -> "Reach":
        """The env itself (wrappers' `unwrapped` ends here)."""
        return self

    def mtu_lengths(self, angle: Array) -> tuple[Array, Array]:
        """MTU lengths [m] and their rate per unit angular velocity [m/rad] (flexor shortens)."""
        rest = self.mtu.params.optimal_fiber_length + self.mtu.params.tendon_slack_length
        direction = jnp.array([-1.0, 1.0]) * self.moment_arm
        return rest + direction * angle, direction

    def reset(self, rng: Array) -> State:
        """A new episode's state from `rng`."""
        start_key, target_key = jr.split(rng)
        angle = jr.uniform(start_key, (), minval=-self.angle_range, maxval=self.angle_range)
        target = jr.uniform(target_key, (), minval=-self.angle_range, maxval=self.angle_range)
        lengths, _ = self.mtu_lengths(angle)
        muscle = self.mtu.init_state(lengths, jnp.zeros(2), jnp.full(2, 0.05), throw=False)
        data = ArmState(angle, jnp.zeros(()), muscle)
        zero = jnp.zeros(())
        return State(data=data, obs=self._observation(data, target), reward=zero, done=zero,
                     metrics={"angle_error": jnp.abs(angle - target), "reward/error": zero,
                              "reward/effort": zero},
                     info={"target": target})

    def step(self, state: State, action: Array) -> State:
        """The state one control step later."""
        if action.shape != (self.action_size,):
            raise ValueError(f"action must have shape ({self.action_size},), got {action.shape}")
        excitation = jnp.clip((action + 1.0) / 2.0, 0.0, 1.0)
        data = jax.lax.fori_loop(0, self.n_substeps,
                                 lambda _, d: self._physics_step(d, excitation), state.data)
        target = state.info["target"]
        error = -(data.angle - target) ** 2
        effort = -self.effort_weight * jnp.mean(excitation ** 2)
        return State(data=data, obs=self._observation(data, target), reward=error + effort,
                     done=jnp.zeros(()), info=state.info,
                     # keep the keys wrappers added (Brax's episode wrapper adds "reward")
                     metrics={**state.metrics, "angle_error": jnp.abs(data.angle - target),
                              "reward/error": error, "reward/effort": effort})

    def _physics_step(self, data: ArmState, excitation: Array) -> ArmState:
        """Semi-implicit Euler: muscles (activation, then tendon force), then the joint."""
        h = self.ctrl_dt / self.n_substeps
        lengths, direction = self.mtu_lengths(data.angle)
        velocities = direction * data.angular_velocity
        muscle = SemiImplicitEuler(n_substeps=1).advance(
            self.mtu, data.muscle, lambda _: (excitation, lengths, velocities), h)
        forces = self.mtu.tendon_force(muscle, lengths, velocities)
        torque = -jnp.sum(direction * forces) - self.damping * data.angular_velocity
        angular_velocity = data.angular_velocity + h * torque / self.inertia
        return ArmState(data.angle + h * angular_velocity, angular_velocity, muscle)

    def _observation(self, data: ArmState, target: Array) -> Array:
        lengths, direction = self.mtu_lengths(data.angle)
        forces = self.mtu.tendon_force(data.muscle, lengths, direction * data.angular_velocity)
        return jnp.concatenate([
            jnp.stack([data.angle, data.angular_velocity / 10.0, target, data.angle - target]),
            data.muscle.activation, forces / self.mtu.params.max_isometric_force])
