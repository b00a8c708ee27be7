r"""Ground reaction forces per foot from an MJX state: force, centre of pressure, free moment.

The floor pushes each foot through the contacts between the floor geom and that foot's geoms.
Summed in the floor's frame (origin $o$, normal $n$ = its local z), with contact points $p_i$,
forces $f_i$ and contact torques $\tau_i$ (torsional/rolling friction, condim 4 and 6):

$$F = \sum_i f_i, \qquad M = \sum_i (p_i - o) \times f_i + \tau_i .$$

The centre of pressure is the point $c$ of the floor plane about which the moment has no
horizontal part (a force plate's definition): $c_x = -M_y / F_z$, $c_y = M_x / F_z$, and the free
moment is what is left about the normal, $T_z = M_z - (c_x F_y - c_y F_x)$.

Pure JAX on `mjx.Data`: usable inside `jit`, `vmap` (over envs or a rollout's steps) and `grad`.
The forces are those of the data's last constraint solve; after `mjx.step` that is the state
before the step's integration, as for `mujoco.mj_contactForce` after `mujoco.mj_step`.
"""

from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Array, Float
from mujoco import mjx

from . import _mjx_compat

#: Below this normal force [N] a foot has no centre of pressure (it is set to 0).
MIN_NORMAL_FORCE = 1e-3


class GroundReaction(eqx.Module):
    """The floor's action on one foot, in the world frame.

    Attributes:
        force: force on the foot [N], shape `(3,)`.
        cop: centre of pressure on the floor [m], shape `(3,)`; 0 while the normal force is
            below `min_normal_force`.
        free_moment: torque about the floor normal at the centre of pressure [N m], shape `()`.
    """

    force: Float[Array, "3"]
    cop: Float[Array, "3"]
    free_moment: Float[Array, ""]


def ground_reactions(mjx_model: mjx.Model, data: mjx.Data, floor_geom: ArrayLike,
                     feet: Mapping[str, ArrayLike], *,
                     min_normal_force: float = MIN_NORMAL_FORCE) -> dict[str, GroundReaction]:
    """The floor's action on each foot (module docstring).

    Args:
        mjx_model: the model.
        data: the state after `mjx.forward` or `mjx.step`.
        floor_geom: the floor geom's id (a plane).
        feet: foot name -> ids of its collision geoms, shape `(n_geoms,)`, e.g.
            `mskdiff.models.locomotion.foot_geom_ids(mj_model)`.
        min_normal_force: normal force [N] below which the centre of pressure is set to 0.

    Returns:
        Foot name -> `GroundReaction`.
    """
    force, torque = _mjx_compat.contact_wrenches(mjx_model, data)
    geoms = _mjx_compat.contact_geoms(data)
    position = _mjx_compat.contact_position(data)
    origin, axes = data.geom_xpos[floor_geom], data.geom_xmat[floor_geom].reshape(3, 3)
    reactions = {}
    for name, ids in feet.items():
        sign = _sign_on_foot(geoms, floor_geom, jnp.asarray(ids))[:, None]
        reactions[name] = _reaction(sign * force, sign * torque, position, origin, axes,
                                    min_normal_force)
    return reactions


def _sign_on_foot(geoms: Array, floor_geom: ArrayLike, ids: Array) -> Array:
    """Per contact: +1 where the foot is the second geom of a floor contact, -1 the first, else 0."""
    first_is_floor, second_is_floor = geoms[:, 0] == floor_geom, geoms[:, 1] == floor_geom
    first_on_foot, second_on_foot = jnp.isin(geoms[:, 0], ids), jnp.isin(geoms[:, 1], ids)
    return (jnp.where(first_is_floor & second_on_foot, 1.0, 0.0)
            - jnp.where(second_is_floor & first_on_foot, 1.0, 0.0))


def _reaction(force: Array, torque: Array, position: Array, origin: Array, axes: Array,
              min_normal_force: float) -> GroundReaction:
    """Sum contact forces/torques on one foot (world, `(ncon, 3)`) into a `GroundReaction`."""
    total = jnp.sum(force, axis=0)
    # Floor frame: local = world @ axes (the columns of geom_xmat are the floor's axes).
    local_force = force @ axes
    moment = jnp.sum(jnp.cross((position - origin[None]) @ axes, local_force) + torque @ axes, axis=0)
    normal = jnp.sum(local_force[:, 2])
    loaded = normal > min_normal_force
    safe = jnp.where(loaded, normal, 1.0)
    x, y = -moment[1] / safe, moment[0] / safe
    shear = jnp.sum(local_force, axis=0)
    free_moment = moment[2] - (x * shear[1] - y * shear[0])
    cop = origin + axes @ jnp.stack([x, y, jnp.zeros_like(x)])
    return GroundReaction(total, jnp.where(loaded, cop, 0.0), jnp.where(loaded, free_moment, 0.0))
