"""Gradients through plant rollouts on the tiny leg (float64): finite differences, random poses.

Separate from test_plant.py so that the two files' compiles run on different workers.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import directional_derivatives
from test_plant import crouch_qpos, tiny_plant

from mskdiff.plant import rollout


@pytest.mark.x64
def test_gradients_through_contact_rollout_match_finite_differences(getkey):
    """d(loss)/d(excitations, initial pose, muscle parameters) over 30 steps in contact."""
    plant = tiny_plant()
    inputs = (0.05 + 0.3 * jr.uniform(getkey(), (30, 4)), jnp.asarray(crouch_qpos()),
              plant.mtu.params)

    @eqx.filter_jit
    def loss(inputs):
        excitations, qpos, params = inputs
        model = eqx.tree_at(lambda p: p.mtu.params, plant, params)
        final, trajectory = rollout(model, model.init(qpos, activation=0.2), excitations)
        return jnp.sum(final.data.qpos ** 2) + 1e-3 * jnp.mean(trajectory.tendon_force)

    excitations, qpos, _ = inputs
    final, _ = rollout(plant, plant.init(qpos, activation=0.2), excitations)
    assert float(final.data._impl.contact.dist.min()) < 0.0  # the foot is in contact at the end
    grad = eqx.filter_jit(eqx.filter_grad(loss))(inputs)
    for part in range(3):
        only = lambda x: eqx.tree_at(lambda t: t[part], inputs, x)  # noqa: B023
        for _ in range(3):
            ad, fd = directional_derivatives(lambda x: loss(only(x)), inputs[part],  # noqa: B023
                                             key=getkey(), eps=1e-6, grad=grad[part])
            assert abs(ad - fd) <= 1e-3 * abs(fd), (part, ad, fd)


@pytest.mark.x64
def test_gradients_finite_over_random_poses(getkey):
    plant = tiny_plant()
    poses = jnp.asarray(np.stack([crouch_qpos(h, k) for h, k in np.random.default_rng(0).uniform(
        [-0.5, 0.0], [1.0, 2.0], size=(20, 2))]))

    def loss(excitations, qpos):
        final, _ = rollout(plant, plant.init(qpos, activation=0.05), excitations, throw=False)
        return jnp.sum(final.data.qpos ** 2)

    excitations = jr.uniform(getkey(), (20, 30, 4))
    grads = eqx.filter_jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(excitations, poses)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
