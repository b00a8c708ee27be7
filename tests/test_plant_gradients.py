"""Gradients through plant rollouts on the tiny leg (float64): finite differences, random poses.

Separate from test_plant.py so that the two files' compiles run on different workers.
One jitted `value_and_grad` serves both tests (its value gives the central differences). The
loss runs a randomised plant (relative ranges: reparameterised, so the gradient with respect
to the nominal muscle parameters passes through the draw) and includes the rollout's
metabolic energy (smoothed Bhargava 2004).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import assert_parts_match_finite_differences
from test_plant import crouch_qpos, tiny_plant

from mskdiff.plant import metabolic_energy, metabolic_rates, randomize, relative, rollout
from mskdiff.plant._mjx_compat import contact_distance

N_STEPS = 30
#: Drawn once (fixed key) inside the loss, from the nominal values being differentiated.
RANGES = {"max_isometric_force": relative(0.8, 1.2), "optimal_fiber_length": relative(0.95, 1.05)}


@pytest.fixture(scope="module")
def tiny_problem():
    """The plant and the jitted `((loss, final contact distance), gradient)`; the loss runs
    from the equilibrium at a pose, so the pose's gradient passes through `init`."""
    with jax.enable_x64(True):
        plant = tiny_plant()

        def loss(inputs):
            excitations, qpos, params = inputs
            nominal = eqx.tree_at(lambda p: p.mtu.params, plant, params)
            model = randomize(nominal, RANGES, key=jr.key(0))
            final, trajectory = rollout(model, model.init(qpos, activation=0.2), excitations,
                                        segment_length=N_STEPS)
            energy = metabolic_energy(metabolic_rates(model, trajectory), model.dt)
            value = (jnp.sum(final.data.qpos ** 2) + 1e-3 * jnp.mean(trajectory.tendon_force)
                     + energy)
            return value, contact_distance(final.data)

        return plant, eqx.filter_jit(eqx.filter_value_and_grad(loss, has_aux=True))


@pytest.mark.x64
def test_gradients_through_contact_rollout_match_finite_differences(tiny_problem, getkey):
    """d(loss)/d(excitations, initial pose, nominal muscle parameters) over 30 steps in contact,
    through the randomisation and the metabolic energy."""
    plant, value_and_grad = tiny_problem
    inputs = (0.05 + 0.3 * jr.uniform(getkey(), (N_STEPS, 4)), jnp.asarray(crouch_qpos()),
              plant.mtu.params)
    (_, contact), grad = value_and_grad(inputs)
    assert float(contact.min()) < 0.0  # the foot is in contact at the end
    assert_parts_match_finite_differences(lambda x: value_and_grad(x)[0][0], inputs, grad,
                                          key=getkey(), rtol=1e-3)


@pytest.mark.x64
def test_gradients_finite_over_random_poses(tiny_problem, getkey):
    plant, value_and_grad = tiny_problem
    poses = np.random.default_rng(0).uniform([-0.5, 0.0], [1.0, 2.0], size=(20, 2))
    for hip, knee in poses:
        inputs = (jr.uniform(getkey(), (N_STEPS, 4)), jnp.asarray(crouch_qpos(hip, knee)),
                  plant.mtu.params)
        (value, _), grad = value_and_grad(inputs)
        leaves = [value, *jax.tree.leaves(eqx.filter(grad, eqx.is_inexact_array))]
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves), (hip, knee)
