"""MuJoCo's own rigid-tendon muscles in the plant's skeleton step, for comparison.

Stage 3 of the step (`mskdiff.plant.plant`) is `mjx.fwd_actuation` with the excitations as
`ctrl`: MuJoCo's muscle gains, curves and activation dynamics, with the plant's fixed-iteration
constraint solve. It matches `mj_step` (tested on the tiny leg). It has no fibre states, so
fibre lengths are NaN, and it reads no mskdiff muscle parameters: metabolic rates and muscle
randomisation need an `MJXPlant`.
"""

import equinox as eqx
import jax.numpy as jnp
import mujoco
from jax import Array
from mujoco import mjx

from ..muscle.rigid import RigidState
from .plant import (
    AbstractPlant,
    PlantState,
    _check_physics_options,
    _copy_with_one_solver_iteration,
    _muscle_actuator_ids,
)


class MuJoCoMusclePlant(AbstractPlant):
    """The plant actuated by MuJoCo's own muscles (`mjx.fwd_actuation`); state `RigidState`.

    Build it with `MuJoCoMusclePlant.from_mjmodel`.
    """

    names: tuple[str, ...] = eqx.field(static=True)

    @classmethod
    def from_mjmodel(cls, mj_model: mujoco.MjModel,
                     names: tuple[str, ...] | None = None) -> "MuJoCoMusclePlant":
        """Plant from a host model whose actuators are all muscles on tendons.

        Args:
            mj_model: the MuJoCo model (its `opt.iterations`: Newton iterations per step).
            names: muscle order of excitations and states (default: the actuators' order);
                it must name every actuator.

        Raises:
            ValueError: as `MJXPlant.from_mjmodel`.
        """
        _check_physics_options(mj_model)
        if names is None:
            names = tuple(mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, i)
                          for i in range(mj_model.nu))
        ids = _muscle_actuator_ids(mj_model, tuple(names))
        one_iteration = _copy_with_one_solver_iteration(mj_model)
        return cls(mjx.put_model(one_iteration), jnp.asarray(ids), int(mj_model.opt.iterations),
                   tuple(names))

    @property
    def muscle_names(self) -> tuple[str, ...]:
        """Muscle (actuator) names, in the order of excitations and muscle states."""
        return self.names

    def fiber_length(self, state: PlantState) -> Array:
        """NaN: MuJoCo's muscles have no fibre state."""
        del state
        return jnp.full(self.n_muscles, jnp.nan)

    def _init_state(self, data, mtu_length, mtu_velocity, activation, throw) -> PlantState:
        """`data.act` of the muscles set to `activation` (no solve: `throw` has no effect)."""
        del mtu_length, mtu_velocity, throw
        data = data.replace(act=data.act.at[self.actuator_ids].set(activation))
        return PlantState(data, RigidState(activation))

    def _actuate(self, data, muscle, excitation, integrator):
        """MuJoCo's actuation with `ctrl` = the excitations (the integrator is not used)."""
        del integrator
        ctrl = data.ctrl.at[self.actuator_ids].set(excitation)
        return mjx.fwd_actuation(self.mjx_model, data.replace(ctrl=ctrl)), muscle

    def _muscle_after_step(self, data, muscle) -> RigidState:
        """The muscles' activations as MuJoCo integrated them (`data.act`)."""
        del muscle
        return RigidState(data.act[self.actuator_ids])
