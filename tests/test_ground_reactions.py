"""Ground reaction forces per foot from MJX states, against MuJoCo C's `mj_contactForce`.

A tiny walker (a free body with a box heel, a sphere toe with torsional friction (condim 4) and a
capsule foot) with one Newton iteration per solve, as the plant runs it; all tests share one
compiled program. myoLeg's `mjx.forward` takes ~55 s to compile on 2 CPU cores, so it was
checked by hand in float32 (standing pose and 10, 20 steps into a MuJoCo C rollout): per-foot
force within 0.025 N of C's ~350 N (7e-5 relative), CoP within 2 um, free moment within 4e-5 N m.
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from mskdiff.plant.ground_reactions import ground_reactions

_WALKER = """
<mujoco>
  <option timestep="0.002" iterations="1" ls_iterations="8"/>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 0.1" pos="0.1 -0.2 0"/>
    <body name="walker" pos="0 0 0.1">
      <freejoint/>
      <geom type="box" size="0.1 0.05 0.05" pos="0 0 0.1" contype="0" conaffinity="0" mass="5"/>
      <geom name="r_heel" type="box" size="0.04 0.02 0.01" pos="0.06 -0.05 0" mass="0.5"/>
      <geom name="r_toe" type="sphere" size="0.015" pos="0.13 -0.05 0" condim="4" mass="0.1"/>
      <geom name="l_foot" type="capsule" fromto="-0.1 0.05 0 -0.02 0.05 0" size="0.01" mass="0.5"/>
    </body>
  </worldbody>
</mujoco>
"""
#: Slightly in the floor (1.5 mm), tilted, moving: every foot geom touches, friction acts.
_QPOS = np.array([0.01, 0.02, 0.0085, 0.999, 0.01, -0.02, 0.005])
_QVEL = np.array([0.1, -0.05, -0.1, 0.3, 0.2, 0.5])


def _walker():
    model = mujoco.MjModel.from_xml_string(_WALKER)
    data = mujoco.MjData(model)
    data.qpos[:] = _QPOS / np.concatenate([[1.0] * 3, [np.linalg.norm(_QPOS[3:])] * 4])
    data.qvel[:] = _QVEL
    feet = {"r": np.array([model.geom("r_heel").id, model.geom("r_toe").id]),
            "l": np.array([model.geom("l_foot").id])}
    return model, data, model.geom("floor").id, feet


def _reference(model, data, floor, feet) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per foot, from MuJoCo C: force [N], CoP [m] and free moment [N m] (world frame)."""
    origin, axes = data.geom_xpos[floor], data.geom_xmat[floor].reshape(3, 3)
    out = {}
    for name, ids in feet.items():
        force, moment = np.zeros(3), np.zeros(3)
        for i in range(data.ncon):
            contact = data.contact[i]
            first, second = contact.geom
            sign = (1.0 if first == floor and second in ids
                    else -1.0 if second == floor and first in ids else 0.0)
            wrench = np.zeros(6)
            mujoco.mj_contactForce(model, data, i, wrench)
            frame = contact.frame.reshape(3, 3)
            f, t = sign * wrench[:3] @ frame, sign * wrench[3:] @ frame
            force += f
            moment += np.cross(contact.pos - origin, f) + t
        local_force, local_moment = force @ axes, moment @ axes
        x, y = -local_moment[1] / local_force[2], local_moment[0] / local_force[2]
        free = local_moment[2] - (x * local_force[1] - y * local_force[0])
        out[name] = (force, origin + axes @ np.array([x, y, 0.0]), free)
    return out


def _loss(mjx_model, state, qpos, qvel, floor, feet):
    """A GRF-based scalar of the state (qpos, qvel), with the reactions as auxiliary output."""
    with jax.numpy_rank_promotion("allow"):  # MJX relies on it, as in the plant
        state = mjx.forward(mjx_model, state.replace(qpos=qpos, qvel=qvel))
    g = ground_reactions(mjx_model, state, floor, feet)
    return (g["r"].force[2] + 0.5 * g["l"].force[0] + 50.0 * g["r"].cop[0] + 20.0 * g["l"].cop[1]
            + 10.0 * g["r"].free_moment), g


#: The one MJX program of this file (~30 s to compile on 2 CPU cores): loss, reactions, gradient.
_value_and_grad = jax.jit(jax.value_and_grad(_loss, argnums=(2, 3), has_aux=True))


def _evaluate(model, data, floor, feet, qpos=None, qvel=None):
    """((loss, reactions), (d loss/d qpos, d loss/d qvel)) by MJX at a host state."""
    qpos, qvel = (data.qpos, data.qvel) if qpos is None else (qpos, qvel)
    return _value_and_grad(mjx.put_model(model), mjx.put_data(model, data), jnp.asarray(qpos),
                           jnp.asarray(qvel), floor, feet)


@pytest.mark.x64
def test_forces_match_mujoco_c_along_a_rollout():
    """Per-foot force, CoP and free moment equal MuJoCo C's (`mj_contactForce`) on the same
    states: a MuJoCo C rollout, each state solved again by `mjx.forward` (one Newton iteration
    in both, from the same warm start)."""
    model, data, floor, feet = _walker()
    for _ in range(4):
        (_, got), _ = _evaluate(model, data, floor, feet)
        mujoco.mj_forward(model, data)
        reference = _reference(model, data, floor, feet)
        assert reference["r"][0][2] > 5.0 and reference["l"][0][2] > 5.0  # both feet loaded
        for name, (force, cop, free) in reference.items():
            np.testing.assert_allclose(got[name].force, force, rtol=1e-10, atol=1e-9)
            np.testing.assert_allclose(got[name].cop, cop, atol=1e-12)
            np.testing.assert_allclose(got[name].free_moment, free, atol=1e-12)
        for _ in range(3):
            mujoco.mj_step(model, data)


@pytest.mark.x64
def test_gradient_matches_central_differences():
    """`jax.grad` of the GRF scalar w.r.t. the state = a directional central difference."""
    model, data, floor, feet = _walker()
    (_, _), (dqpos, dqvel) = _evaluate(model, data, floor, feet)
    rng = np.random.default_rng(0)
    vpos = np.concatenate([1e-3 * rng.standard_normal(3), np.zeros(4)])  # position and height
    vvel = 0.1 * rng.standard_normal(6)
    ad = float(jnp.vdot(dqpos, vpos) + jnp.vdot(dqvel, vvel))
    eps = 1e-6
    plus, minus = (_evaluate(model, data, floor, feet, data.qpos + s * vpos, data.qvel + s * vvel)
                   [0][0] for s in (eps, -eps))
    fd = float(plus - minus) / (2 * eps)
    assert abs(ad) > 1.0
    np.testing.assert_allclose(ad, fd, rtol=1e-6)


@pytest.mark.x64
def test_unloaded_foot_has_zero_force_and_cop():
    """Lifted off the floor: force, CoP and free moment 0 (no NaN), gradients finite."""
    model, data, floor, feet = _walker()
    data.qpos[2] = 0.2
    (_, reactions), gradients = _evaluate(model, data, floor, feet)
    for reaction in reactions.values():
        np.testing.assert_array_equal(reaction.force, 0.0)
        np.testing.assert_array_equal(reaction.cop, 0.0)
        assert float(reaction.free_moment) == 0.0
    assert all(np.all(np.isfinite(g)) for g in gradients)
