r"""The MJX plant: MuJoCo's rigid-tendon muscle actuation replaced by mskdiff's MTUs.

One physics step (`AbstractPlant.step`) runs MJX's public stages with the actuation swapped:

1. `mjx.fwd_position` (kinematics, tendon paths, contacts, constraints, transmission);
2. `mjx.fwd_velocity` (bias and passive forces);
3. MTU actuation: the muscle ODE is advanced over the step by an integrator (sub-steps in a
   `lax.scan`, all muscles in one vectorised update) with the MTU length extrapolated from the
   actuators' tendon lengths and velocities; the tendon force $F$ of the advanced state gives
   `qfrc_actuator` $= -J^\top F$ ($J$ the actuator moment arms, tension pulls);
4. `mjx.fwd_acceleration`;
5. the constraint solve: a fixed number of Newton iterations of `mjx.solve` (each one
   iteration, warm-started by the last), under `lax.scan`, so reverse-mode autodiff works
   (MJX's own solve runs a `while_loop` whenever more than one iteration is allowed);
6. MuJoCo's integrator (`mjx.euler` or `mjx.implicit`, as the model says).

`MJXPlant` is this plant; `MuJoCoMusclePlant` (`mujoco_muscles.py`) is the same skeleton with
MuJoCo's own muscles at stage 3, for comparison.
"""

import abc
import copy
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from jax import Array
from mujoco import mjx

from .._checks import check_shape
from ..integrate.integrators import AbstractIntegrator, SemiImplicitEuler, hold
from ..muscle.mtu import AbstractMTU, MTUOutputs
from . import _mjx_compat
from .batching import vmap_envs

_mjx_compat.patch_wrap_angle_gradient()
_mjx_compat.patch_muscle_timescale_gradient()

#: The default MTU integrator: semi-implicit Euler with 4 sub-steps per physics step.
DEFAULT_INTEGRATOR = SemiImplicitEuler(4)


class PlantState(eqx.Module):
    """State of the plant: the skeleton as MJX holds it, and the muscle states.

    `muscle` is the MTU formulation's state (activation; fibre length and velocity, or
    normalised tendon force). With MuJoCo's own muscles it is a `RigidState` mirroring
    `data.act`.
    """

    data: mjx.Data
    muscle: eqx.Module

    def __getattr__(self, name: str):
        """`mjx.Data`'s fields read through (`state.qpos` is `state.data.qpos`).

        Environments keep a `PlantState` where MuJoCo Playground keeps an `mjx.Data`
        (`State.data`, which its auto-reset wrapper resets), so code written for Playground
        (`state.data.qpos`, its renderer) reads it unchanged.
        """
        if name.startswith("__") or name in ("data", "muscle"):
            raise AttributeError(name)
        return getattr(self.data, name)

    def is_finite(self) -> Array:
        """True when `qpos`, `qvel`, `qacc` and every muscle-state leaf are finite."""
        d = self.data
        leaves = [d.qpos, d.qvel, d.qacc, *jax.tree.leaves(self.muscle)]
        return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _muscle_actuator_ids(mj_model: mujoco.MjModel, names: tuple[str, ...]) -> np.ndarray:
    """Indices of the actuators named `names`; unmatched names on either side raise."""
    actuators = [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, i)
                 for i in range(mj_model.nu)]
    missing_in_model = [n for n in names if n not in actuators]
    without_parameters = [a for a in actuators if a not in names]
    if missing_in_model or without_parameters:
        raise ValueError(
            "muscle parameters and the model's actuators do not match: "
            f"no actuator for {missing_in_model}; no parameters for {without_parameters}")
    ids = np.array([actuators.index(n) for n in names], dtype=np.int32)
    not_tendon = [names[k] for k, i in enumerate(ids)
                  if mj_model.actuator_trntype[i] != mujoco.mjtTrn.mjTRN_TENDON]
    if not_tendon:
        raise ValueError(f"actuators {not_tendon} are not tendon transmissions; "
                         "a muscle needs a tendon path for its MTU length")
    return ids


def _check_physics_options(mj_model: mujoco.MjModel) -> None:
    """Raise `ValueError` for a timestep, iteration count or warm start the plant cannot run."""
    if not mj_model.opt.timestep > 0:
        raise ValueError(f"the model's timestep must be > 0, got {mj_model.opt.timestep}")
    if mj_model.opt.iterations < 1:
        raise ValueError(f"the model's solver iterations must be >= 1, got "
                         f"{mj_model.opt.iterations}")
    if mj_model.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_WARMSTART:
        raise ValueError("the plant's constraint solve chains iterations through the "
                         "warm start; enable it (remove the 'warmstart' disable flag)")


def _mjx_numpy_rules(method):
    """Run `method` with NumPy rank promotion allowed: MJX relies on it (e.g. (3, 3) * (3,))."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with jax.numpy_rank_promotion("allow"):
            return method(*args, **kwargs)

    return wrapper


class AbstractPlant(eqx.Module):
    """An MJX model whose muscle actuators are driven by a muscle model of the subclass.

    The skeleton stages (kinematics, the fixed-iteration constraint solve, MuJoCo's
    integrator) are shared; subclasses say how the muscles set the actuator forces:
    `MJXPlant` (mskdiff MTUs) and `MuJoCoMusclePlant` (MuJoCo's own muscles).
    """

    mjx_model: mjx.Model
    actuator_ids: Array  # MuJoCo actuator of each muscle, in `muscle_names` order
    solver_iterations: int = eqx.field(static=True)

    @property
    @abc.abstractmethod
    def muscle_names(self) -> tuple[str, ...]:
        """Muscle (actuator) names, in the order of excitations and muscle states."""

    @abc.abstractmethod
    def _init_state(self, data: mjx.Data, mtu_length, mtu_velocity, activation, throw: bool
                    ) -> PlantState:
        """The state at `data` (positions and velocities done) with muscles at `activation`.

        With `throw`, a muscle equilibrium that fails raises (`AbstractMTU.init_state`).
        """

    @abc.abstractmethod
    def _actuate(self, data: mjx.Data, muscle, excitation, integrator):
        """`(data with the actuator forces set, muscle state)` for the step from `data`."""

    @abc.abstractmethod
    def _muscle_after_step(self, data: mjx.Data, muscle) -> eqx.Module:
        """The muscle state at the end of the step, given the integrated `data`."""

    @abc.abstractmethod
    def fiber_length(self, state: PlantState) -> Array:
        """Fibre lengths [m] at the end of the last step (NaN where the model has none)."""

    @property
    def dt(self) -> float:
        """Physics timestep [s]."""
        return float(self.mjx_model.opt.timestep)

    @property
    def total_mass(self) -> Array:
        """Mass of all bodies [kg] (per env for a batch of plants)."""
        return jnp.sum(self.mjx_model.body_mass, axis=-1)

    @property
    def n_muscles(self) -> int:
        """Number of muscles."""
        return len(self.muscle_names)

    def init(self, qpos, qvel=None, *, activation=0.01, throw: bool = True) -> PlantState:
        """State at a pose with every muscle in equilibrium at `activation`.

        Args:
            qpos: generalised positions, shape `(nq,)`.
            qvel: generalised velocities, shape `(nv,)` (default zero).
            activation: initial activation [-], scalar or `(n_muscles,)`.
            throw: raise (inside `jit` too) when a muscle equilibrium solve fails. Static:
                `False` compiles no check, so JAX's persistent cache can keep the program
                (check the state's finiteness yourself).

        Inputs are arrays to the compiled program, so other values do not recompile it.
        """
        m = self.mjx_model
        qpos = jnp.asarray(qpos, dtype=float)
        qvel = jnp.zeros(m.nv) if qvel is None else jnp.asarray(qvel, dtype=float)
        check_shape("qpos", qpos, (m.nq,))
        check_shape("qvel", qvel, (m.nv,))
        activation = jnp.broadcast_to(jnp.asarray(activation, dtype=float), (self.n_muscles,))
        return self._init(qpos, qvel, activation, throw=bool(throw))

    @eqx.filter_jit
    @_mjx_numpy_rules
    def _init(self, qpos: Array, qvel: Array, activation: Array, *, throw: bool) -> PlantState:
        """`init` after its checks: every input is an array of the final shape."""
        m = self.mjx_model
        data = mjx.make_data(m).replace(qpos=qpos, qvel=qvel)
        data = mjx.fwd_velocity(m, mjx.fwd_position(m, data))
        length, velocity, _ = self._mtu_kinematics(data)
        return self._init_state(data, length, velocity, activation, throw)

    def init_batch(self, qpos, qvel=None, *, activation=0.01, throw: bool = True) -> PlantState:
        """`init` for a batch of envs: `qpos (n_envs, nq)`, `qvel (n_envs, nv)` (default zero).

        `activation`: scalar, `(n_muscles,)` or `(n_envs, n_muscles)`. Batched with `vmap_envs`,
        so large batches do not hit the CPU Cholesky deadlock.
        """
        qpos = jnp.asarray(qpos, dtype=float)
        if qpos.ndim != 2:
            raise ValueError(f"`qpos` must have shape (n_envs, {self.mjx_model.nq}), got {qpos.shape}")
        n_envs = qpos.shape[0]
        qvel = jnp.zeros((n_envs, self.mjx_model.nv)) if qvel is None else qvel
        activation = jnp.asarray(activation, dtype=float)
        if activation.ndim == 2:
            check_shape("activation", activation, (n_envs, self.n_muscles))
        activation = jnp.broadcast_to(activation, (n_envs, self.n_muscles))
        init = lambda q, v, a: self.init(q, v, activation=a, throw=throw)
        return vmap_envs(init, self.mjx_model.nv)(qpos, jnp.asarray(qvel, dtype=float), activation)

    @eqx.filter_jit
    @_mjx_numpy_rules
    def step(self, state: PlantState, excitation, *,
             integrator: AbstractIntegrator = DEFAULT_INTEGRATOR) -> PlantState:
        """Advance one physics step with muscle excitations in [0, 1] (clipped), shape `(n_muscles,)`."""
        excitation = jnp.clip(jnp.asarray(excitation, dtype=float), 0.0, 1.0)
        check_shape("excitation", excitation, (self.n_muscles,))
        m = self.mjx_model
        data = mjx.fwd_velocity(m, mjx.fwd_position(m, state.data))
        data, muscle = self._actuate(data, state.muscle, excitation, integrator)
        data = self._integrate(self._solve_constraints(mjx.fwd_acceleration(m, data)))
        return PlantState(data, self._muscle_after_step(data, muscle))

    def tendon_force(self, state: PlantState) -> Array:
        """Tendon forces [N] applied during the step that produced `state`."""
        return -state.data.actuator_force[self.actuator_ids]

    def mtu_length(self, state: PlantState) -> Array:
        """MTU lengths [m] at which the last step evaluated the tendon forces (its end)."""
        return (state.data.actuator_length[self.actuator_ids]
                + self.mjx_model.opt.timestep * self.mtu_velocity(state))

    def mtu_velocity(self, state: PlantState) -> Array:
        """MTU lengthening velocities [m/s] used by the last step (MJX's actuator velocities)."""
        return _mjx_compat.actuator_velocity(state.data)[self.actuator_ids]

    def _mtu_kinematics(self, data: mjx.Data):
        """MTU lengths [m], lengthening velocities [m/s] and moment arms `(n, nv)` [m]."""
        moment = _mjx_compat.actuator_moment(data)[self.actuator_ids]
        return data.actuator_length[self.actuator_ids], moment @ data.qvel, moment

    def _solve_constraints(self, data: mjx.Data) -> mjx.Data:
        """`solver_iterations` Newton iterations in one `lax.scan`.

        Each is a one-iteration `mjx.solve` warm-started by the last, so the program holds one
        copy of the solver (`benchmarks/compile_plant.py` times it against a separate last call).
        """
        m = self.mjx_model
        if not _mjx_compat.has_constraints(data):
            return data.replace(qacc=data.qacc_smooth)

        def iteration(solved, _):
            return mjx.solve(m, solved.replace(qacc_warmstart=solved.qacc)), None

        solved, _ = jax.lax.scan(iteration, data.replace(qacc=data.qacc_warmstart), None,
                                 length=self.solver_iterations)
        return solved

    def _integrate(self, data: mjx.Data) -> mjx.Data:
        """MuJoCo's integrator named by the model (Euler or implicit-fast)."""
        m = self.mjx_model
        if m.opt.integrator == mjx.IntegratorType.EULER:
            return mjx.euler(m, data)
        if m.opt.integrator == mjx.IntegratorType.IMPLICITFAST:
            return mjx.implicit(m, data)
        raise ValueError(f"the plant supports the Euler and implicit-fast integrators, "
                         f"got {m.opt.integrator}")


class MJXPlant(AbstractPlant):
    """The plant with mskdiff's MTUs: elastic (or rigid) tendons inside the MJX step.

    Build it with `MJXPlant.from_mjmodel`. The MTU sub-stepping integrator is chosen per
    call of `step` (like a Diffrax solver), not stored.
    """

    mtu: AbstractMTU

    @classmethod
    def from_mjmodel(cls, mj_model: mujoco.MjModel, mtu: AbstractMTU) -> "MJXPlant":
        """Plant from a host model and an MTU model whose muscle names are the actuator names.

        Args:
            mj_model: the MuJoCo model; every actuator must be a muscle named in `mtu`, on a
                tendon transmission. Its `opt.iterations` is the fixed number of Newton
                iterations per step (>= 1).
            mtu: the muscle model (parameters + formulation), e.g. `make_mtu(params, ...)`.

        Raises:
            ValueError: unmatched muscle/actuator names (both lists given), a non-tendon
                transmission, a non-positive timestep or iteration count.
        """
        _check_physics_options(mj_model)
        ids = _muscle_actuator_ids(mj_model, mtu.params.names)
        one_iteration = _copy_with_one_solver_iteration(mj_model)
        return cls(mjx.put_model(one_iteration), jnp.asarray(ids), int(mj_model.opt.iterations),
                   mtu)

    @property
    def muscle_names(self) -> tuple[str, ...]:
        """Muscle (actuator) names, in the order of excitations and muscle states."""
        return self.mtu.params.names

    def mtu_outputs(self, state: PlantState) -> MTUOutputs:
        """The MTUs' forces and fibre kinematics as of the last step."""
        return self.mtu.outputs(state.muscle, self.mtu_length(state), self.mtu_velocity(state))

    def fiber_length(self, state: PlantState) -> Array:
        """Fibre lengths [m] at the end of the last step."""
        return self.mtu_outputs(state).fiber_length

    def _init_state(self, data, mtu_length, mtu_velocity, activation, throw) -> PlantState:
        """Every MTU in equilibrium at `activation` (`AbstractMTU.init_state`)."""
        return PlantState(data, self.mtu.init_state(mtu_length, mtu_velocity, activation,
                                                    throw=throw))

    def _actuate(self, data, muscle, excitation, integrator):
        """Advance the muscles over the step; set the actuator forces from the new state."""
        length, velocity, moment = self._mtu_kinematics(data)
        muscle = integrator.advance(self.mtu, muscle, hold(excitation, length, velocity),
                                    self.mjx_model.opt.timestep)
        force = self.mtu.tendon_force(muscle, length + self.mjx_model.opt.timestep * velocity,
                                      velocity)
        actuator_force = jnp.zeros(self.mjx_model.nu).at[self.actuator_ids].set(-force)
        data = data.replace(qfrc_actuator=-moment.T @ force, actuator_force=actuator_force,
                            act_dot=jnp.zeros_like(data.act_dot))
        return data, muscle

    def _muscle_after_step(self, data, muscle) -> eqx.Module:
        """The MTU state advanced by `_actuate`."""
        del data
        return muscle


def _copy_with_one_solver_iteration(mj_model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of `mj_model` whose solver stops after one iteration (the plant chains them)."""
    one_iteration = copy.deepcopy(mj_model)
    one_iteration.opt.iterations = 1
    return one_iteration
