"""Domain randomisation and the metabolic cost of rollouts, on the tiny leg.

One batched rollout of randomised plants (the module fixture) serves the batch, noise and
metabolic tests.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from test_plant import crouch_qpos, tiny_mujoco_muscle_plant, tiny_plant

from mskdiff.muscle import Bhargava2004Smoothed, MetabolicInputs, MetabolicParameters, Umberger2010
from mskdiff.muscle.metabolic import basal_rate
from mskdiff.plant import (
    QUANTITIES,
    absolute,
    apply_sample,
    cost_of_transport,
    metabolic_energy,
    metabolic_rates,
    randomize,
    randomize_batch,
    relative,
    rollout,
    sample,
)
from mskdiff.rl import Noise, noisy_excitations, sample_noise

#: One range of each kind for every randomisable quantity.
RANGES = {
    "body_mass": relative(0.8, 1.2),
    "body_inertia": relative(0.5, 2.0, log=True),
    "friction": absolute(0.4, 1.2),
    "max_isometric_force": relative(0.7, 1.3),
    "tendon_slack_length": relative(0.97, 1.03),
    "optimal_fiber_length": relative(0.9, 1.1, log=True),
    "activation_time_constant": absolute(0.010, 0.020, log=True),
    "deactivation_time_constant": relative(0.8, 1.25, shared=True),
}
#: The noise scales (`mskdiff.rl.noise`), per env.
NOISE_RANGES = {"excitation_noise": absolute(0.0, 0.05),
                "observation_noise": absolute(0.01, 0.1, log=True)}
N_ENVS, N_STEPS = 3, 25


def _bounds(plant, name):
    """(low, high) of each element's value under `RANGES[name]`."""
    spec, nominal = RANGES[name], np.asarray(QUANTITIES[name].nominal(plant))
    if spec.relative:
        return spec.low * nominal, spec.high * nominal
    return np.full(nominal.shape, spec.low), np.full(nominal.shape, spec.high)


def test_sampled_values_lie_within_their_ranges_and_only_they_change():
    plant = tiny_plant()
    assert set(RANGES) == set(QUANTITIES)
    for key in jr.split(jr.key(3), 20):
        record = sample(plant, RANGES, key=key)
        randomized = apply_sample(plant, record)
        for name, values in record.items():
            low, high = _bounds(plant, name)
            assert np.all((low <= values) & (values <= high)), name
            np.testing.assert_array_equal(QUANTITIES[name].nominal(randomized), values)
        restored = apply_sample(randomized, {name: QUANTITIES[name].nominal(plant)
                                             for name in record})
        for got, nominal in zip(jax.tree.leaves(restored), jax.tree.leaves(plant), strict=True):
            np.testing.assert_array_equal(got, nominal)  # nothing else changed
        deactivation = record["deactivation_time_constant"] / plant.mtu.params.deactivation_time_constant
        np.testing.assert_allclose(deactivation, deactivation[0], rtol=1e-6)  # shared: one draw
    assert float(randomize(plant, RANGES, key=key).mjx_model.body_mass[0]) == 0.0  # the world


def test_inertias_follow_masses_unless_sampled_themselves():
    plant = tiny_plant()
    record = sample(plant, {"body_mass": relative(0.5, 1.5)}, key=jr.key(0))
    ratio = record["body_inertia"] / plant.mjx_model.body_inertia
    mass_ratio = np.asarray(record["body_mass"][1:] / plant.mjx_model.body_mass[1:])
    np.testing.assert_allclose(ratio[1:], np.repeat(mass_ratio[:, None], 3, axis=1), rtol=1e-6)
    assert not np.allclose(mass_ratio, 1.0)


def _moments(spec, n=200_001):
    """Mean, variance and fourth central moment of a range's draw, by quadrature of its density."""
    if spec.log:
        x = np.exp(np.linspace(np.log(spec.low), np.log(spec.high), n))
        density = 1 / (x * np.log(spec.high / spec.low))
    else:
        x = np.linspace(spec.low, spec.high, n)
        density = np.full(n, 1 / (spec.high - spec.low))
    mean = np.trapezoid(x * density, x)
    return mean, np.trapezoid((x - mean) ** 2 * density, x), np.trapezoid((x - mean) ** 4 * density, x)


@pytest.mark.x64
def test_sample_mean_and_std_within_three_standard_errors():
    """10,000 draws with a fixed seed, every element of every quantity: the mean within 3
    sigma/sqrt(n) and the standard deviation within 3 sqrt((m4 - sigma^4) / (4 sigma^2 n)) of
    the distribution's (relative ranges scaled by the nominal value)."""
    plant = tiny_plant()
    n = 10_000
    records = jax.jit(jax.vmap(lambda k: sample(plant, RANGES, key=k)))(jr.split(jr.key(7), n))
    for name, spec in RANGES.items():
        nominal = np.asarray(QUANTITIES[name].nominal(plant), dtype=float)
        scale = nominal if spec.relative else np.ones_like(nominal)
        values = np.asarray(records[name]).reshape(n, -1)
        scale = np.broadcast_to(scale, records[name].shape[1:]).reshape(-1)
        mean, variance, fourth = _moments(spec)
        for column, s in zip(values.T, scale, strict=True):
            if s == 0:  # the world body: zero mass stays zero
                assert np.all(column == 0)
                continue
            std_error_mean = s * np.sqrt(variance / n)
            std_error_std = s * np.sqrt((fourth - variance**2) / (4 * variance * n))
            assert abs(column.mean() - s * mean) <= 3 * std_error_mean, name
            assert abs(column.std(ddof=1) - s * np.sqrt(variance)) <= 3 * std_error_std, name


@pytest.mark.parametrize("ranges, message", [
    ({"mass": relative(0.9, 1.1)}, r"unknown quantities \['mass'\]"),
    ({"body_mass": absolute(1.0, 2.0)}, "give a relative range"),
    ({"tendon_slack_length": absolute(0.2, 0.3)}, "give a relative range"),
    ({"max_isometric_force": relative(0.0, 1.2)}, "must stay > 0"),
    ({"friction": absolute(-0.1, 1.0)}, "must stay >= 0"),
    ({"max_isometric_force": (0.8, 1.2)}, "must be a Range"),
])
def test_impossible_ranges_raise_clear_errors(ranges, message):
    with pytest.raises((ValueError, TypeError), match=message):
        randomize(tiny_plant(), ranges, key=jr.key(0))


def test_noise_scales_lie_within_their_ranges_and_bad_noise_ranges_raise():
    noise = sample_noise(NOISE_RANGES, key=jr.key(1), n_envs=200)
    for name, field in (("excitation_noise", "excitation_std"),
                        ("observation_noise", "observation_std")):
        values = np.asarray(getattr(noise, field))
        spec = NOISE_RANGES[name]
        assert values.shape == (200,) and np.unique(values).size == 200
        assert np.all((spec.low <= values) & (values <= spec.high))
    assert float(sample_noise({}, key=jr.key(0)).excitation_std) == 0.0
    with pytest.raises(ValueError, match="give an absolute range"):
        sample_noise({"excitation_noise": relative(0.5, 2.0)}, key=jr.key(0))
    with pytest.raises(ValueError, match="must stay >= 0"):
        sample_noise({"observation_noise": absolute(-0.1, 0.1)}, key=jr.key(0))
    with pytest.raises(ValueError, match=r"unknown noise quantities \['body_mass'\]"):
        sample_noise({"body_mass": absolute(0.1, 0.2)}, key=jr.key(0))
    with pytest.raises(ValueError, match="standard deviation"):
        Noise(excitation_std=-0.1)


def test_malformed_ranges_and_muscle_ranges_on_mujoco_muscles_raise():
    with pytest.raises(ValueError, match="above high"):
        relative(1.2, 0.8)
    with pytest.raises(ValueError, match="finite"):
        absolute(0.0, np.inf)
    with pytest.raises(ValueError, match="log-uniform range needs low > 0"):
        absolute(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="MuJoCo's own muscles"):
        randomize(tiny_mujoco_muscle_plant(), {"tendon_slack_length": relative(0.9, 1.1)},
                  key=jr.key(0))
    plant = tiny_plant()
    with pytest.raises(ValueError, match=r"body_mass must be finite and > 0"):
        apply_sample(plant, {"body_mass": -plant.mjx_model.body_mass})
    with pytest.raises(ValueError, match=r"needs values of shape \(4,\)"):
        apply_sample(plant, {"max_isometric_force": jnp.ones(3)})


@pytest.mark.x64
def test_gradients_with_respect_to_nominal_values_pass_through():
    """Relative ranges are reparameterised (value = nominal * factor): the Jacobian is the
    diagonal of the factors; absolute ranges do not depend on the nominal values."""
    plant = tiny_plant()
    params = plant.mtu.params
    key = jr.key(5)

    def randomized(force, time_constant):
        nominal = eqx.tree_at(lambda p: (p.mtu.params.max_isometric_force,
                                         p.mtu.params.activation_time_constant),
                              plant, (force, time_constant))
        out = randomize(nominal, RANGES, key=key).mtu.params
        return out.max_isometric_force, out.activation_time_constant

    (d_force, d_none), (_, d_time) = jax.jacobian(randomized, argnums=(0, 1))(
        params.max_isometric_force, params.activation_time_constant)
    factor = sample(plant, RANGES, key=key)["max_isometric_force"] / params.max_isometric_force
    np.testing.assert_allclose(d_force, np.diag(factor), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(d_none, 0.0)
    np.testing.assert_array_equal(d_time, 0.0)


@pytest.fixture(scope="module")
def batch():
    """Randomised plants (3 envs, vmap groups of 2) in one rollout, with excitation noise of
    a scale sampled per env."""
    plant = tiny_plant()
    plants, axes, record = randomize_batch(plant, RANGES, key=jr.key(11), n_envs=N_ENVS)
    record = {**record, "noise": sample_noise(NOISE_RANGES, key=jr.key(13), n_envs=N_ENVS)}
    poses = np.stack([crouch_qpos(0.2, 0.5), crouch_qpos(0.4, 0.9), crouch_qpos(0.0, 0.3)])
    states = jax.vmap(lambda p, q: p.init(q, activation=0.1), in_axes=(axes, 0))(plants, poses)
    excitations = jnp.stack([jnp.full((N_STEPS, 4), a) for a in (0.3, 0.6, 0.4)], axis=1)
    noisy = noisy_excitations(record["noise"], excitations, key=jr.key(12))
    final, trajectory = rollout(plants, states, noisy, plant_axes=axes, env_group=2)
    return plant, plants, axes, record, states, excitations, (final, trajectory)


def test_batch_of_randomised_plants_runs_in_one_vmapped_rollout(batch):
    """Each env equals its own plant (`randomize` with that env's key) rolled out alone."""
    plant, plants, axes, record, states, excitations, (_, trajectory) = batch
    assert plants.mjx_model.geom_size.shape == plant.mjx_model.geom_size.shape  # shared
    assert plants.mjx_model.body_mass.shape == (N_ENVS, plant.mjx_model.nbody)
    assert axes.mjx_model.body_mass == 0 and axes.mjx_model.geom_size is None
    env_keys, noise_keys = jr.split(jr.key(11), N_ENVS), jr.split(jr.key(12), N_ENVS)
    for env in range(N_ENVS):
        alone = randomize(plant, RANGES, key=env_keys[env])
        for name in RANGES:
            np.testing.assert_array_equal(QUANTITIES[name].nominal(alone), record[name][env])
        state = jax.tree.map(lambda x: x[env], states)  # noqa: B023
        noise = Noise(record["noise"].excitation_std[env])
        noisy = noisy_excitations(noise, excitations[:, env], key=noise_keys[env])
        _, single = rollout(alone, state, noisy, checkpoint=False)
        np.testing.assert_allclose(trajectory.qpos[:, env], single.qpos, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(trajectory.tendon_force[:, env], single.tendon_force,
                                   rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(trajectory.nonfinite_step, -1)
    nominal = jax.vmap(lambda q: plant.init(q, activation=0.1))(states.data.qpos)
    assert not np.allclose(states.muscle.norm_tendon_force, nominal.muscle.norm_tendon_force)


def test_excitation_noise_has_the_sampled_standard_deviation(batch):
    """Applied minus commanded excitation: zero mean and std `excitation_noise` per env (within
    3 standard errors over 25 x 4 draws), a new draw for every step, muscle and env, with no
    correlation between consecutive steps (within 3 standard errors); the commands (0.3-0.6)
    stay more than 5 sigma from the clip at 0 and 1."""
    _, _, _, record, _, excitations, (_, trajectory) = batch
    noise = np.asarray(trajectory.excitation - excitations)
    assert np.unique(noise).size == noise.size
    for env in range(N_ENVS):
        sigma, n = float(record["noise"].excitation_std[env]), noise[:, env].size
        assert sigma > 0
        assert abs(noise[:, env].mean()) <= 3 * sigma / np.sqrt(n)
        assert abs(noise[:, env].std() - sigma) <= 3 * sigma / np.sqrt(2 * n)
        lag_one = np.mean(noise[1:, env] * noise[:-1, env]) / noise[:, env].var()
        assert abs(lag_one) <= 3 / np.sqrt(n - 4)


def test_observation_noise():
    noisy = Noise(observation_std=0.2).observation(jnp.zeros(20_000), jr.key(0))
    assert abs(float(noisy.std()) - 0.2) <= 3 * 0.2 / np.sqrt(2 * 20_000)
    np.testing.assert_array_equal(Noise().observation(jnp.ones(3), jr.key(0)), 1.0)


def _env_plant(plants, axes, env):
    """Env `env`'s plant from a batch of plants with `vmap` axes `axes`."""
    return jax.tree.map(lambda x, a: x if a is None else x[env], plants, axes,
                        is_leaf=lambda x: x is None)


def _env_trajectory(trajectory, env):
    """Env `env`'s single-env trajectory from a batched one."""
    single = eqx.tree_at(lambda t: t.nonfinite_step, trajectory, jnp.zeros(()))
    single = jax.tree.map(lambda x: x if x.ndim == 0 else x[:, env], single)
    return eqx.tree_at(lambda t: t.nonfinite_step, single, trajectory.nonfinite_step[env])


def test_metabolic_rates_of_a_rollout_are_the_models_at_each_recorded_state(batch):
    """At the last step of each env: the model evaluated at the state `mtu_outputs` reports,
    with that env's plant; one env alone gives its column of the batch."""
    _, plants, axes, _, _, _, (final, trajectory) = batch
    for model in (Bhargava2004Smoothed(), Umberger2010()):
        rates = metabolic_rates(plants, trajectory, model=model, plant_axes=axes)
        assert rates.total.shape == (N_STEPS, N_ENVS, 4)
        assert bool(jnp.all(jnp.isfinite(rates.total)))
        assert bool(jnp.all(rates.summed().total > 0))
        for env in range(N_ENVS):
            plant = _env_plant(plants, axes, env)
            state = jax.tree.map(lambda x: x[env], final)  # noqa: B023
            expected = model(MetabolicParameters.from_muscles(plant.mtu.params),
                             MetabolicInputs.from_outputs(plant.mtu_outputs(state),
                                                          trajectory.excitation[-1, env],
                                                          state.muscle.activation))
            for got, want in zip(jax.tree.leaves(rates), jax.tree.leaves(expected), strict=True):
                np.testing.assert_allclose(got[-1, env], want, rtol=1e-5, atol=1e-3)  # W
        alone = metabolic_rates(_env_plant(plants, axes, 0), _env_trajectory(trajectory, 0),
                                model=model)
        np.testing.assert_allclose(alone.total, rates.total[:, 0], rtol=1e-5, atol=1e-3)


def test_energy_cost_of_transport_and_per_kilogram_rates(batch):
    _, plants, axes, _, _, _, (_, trajectory) = batch
    rates = metabolic_rates(plants, trajectory, plant_axes=axes)
    energy = metabolic_energy(rates, plants.dt)
    mass = np.asarray(plants.mjx_model.body_mass).sum(axis=1)
    np.testing.assert_allclose(energy, np.asarray(rates.total).sum(axis=(0, 2)) * plants.dt,
                               rtol=1e-6)
    distance = np.array([0.5, 1.0, 2.0])
    cot = cost_of_transport(plants, trajectory, distance, plant_axes=axes)
    np.testing.assert_allclose(cot, energy / (mass * distance), rtol=1e-6)
    with_basal = cost_of_transport(plants, trajectory, distance, plant_axes=axes,
                                   include_basal=True)
    duration = N_STEPS * plants.dt
    np.testing.assert_allclose(with_basal - cot, basal_rate(mass) * duration / (mass * distance),
                               rtol=1e-5)
    whole_body = rates.summed().per_kilogram(mass)
    np.testing.assert_allclose(whole_body.total, np.asarray(rates.total).sum(axis=2) / mass,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="MuJoCo's muscles"):
        metabolic_rates(tiny_mujoco_muscle_plant(), trajectory)
    with pytest.raises(ValueError, match="per-muscle rates"):
        metabolic_energy(jax.tree.map(lambda r: r[:, 0], rates).summed(), plants.dt)  # (T,)


def test_batches_of_plants_are_checked_against_the_rollout(batch):
    plant, plants, axes, _, states, excitations, _ = batch
    with pytest.raises(ValueError, match="pass the `plant_axes`"):
        rollout(plants, states, excitations)
    with pytest.raises(ValueError, match=r"\[3\] envs where the excitations have 2"):
        rollout(plants, jax.tree.map(lambda x: x[:2], states), excitations[:, :2],
                plant_axes=axes)
    with pytest.raises(ValueError, match="in_axes must be 0 or None"):
        rollout(plants, states, excitations, plant_axes=eqx.tree_at(
            lambda p: p.mjx_model.body_mass, axes, 1, is_leaf=lambda x: x is None))
