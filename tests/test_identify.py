"""Parameter identification (float64): self-consistent recovery, noise coverage, OpenSim cases."""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from mskdiff.integrate import SemiImplicitEuler
from mskdiff.io.reference import find_isolated_mtu_cases
from mskdiff.models import rajagopal2016, rajagopal2016_default_mtu_lengths
from mskdiff.muscle import make_mtu
from mskdiff.solvers import FreeParameters, TimeSeriesExperiment, fit

DT = 2e-3


def rajagopal_drive(names):
    """Per-muscle MTU length sines (+-1.5 cm about the default pose's length, 1-2 Hz) and
    excitation sines (0.1-0.5), each muscle with its own phase."""
    rest = jnp.asarray(rajagopal2016_default_mtu_lengths(names))
    k = jnp.arange(len(names))
    frequency, phase = 1.0 + (k % 5) / 4, 0.37 * k

    def drive(t):
        angle = 2 * jnp.pi * frequency * t + phase
        length = rest + 0.015 * jnp.sin(angle)
        velocity = 0.015 * 2 * jnp.pi * frequency * jnp.cos(angle)
        excitation = 0.3 + 0.2 * jnp.sin(2 * jnp.pi * 1.3 * t + 0.5 * phase)
        return excitation, length, velocity

    return drive


@pytest.fixture(scope="module")
def self_consistent():
    """The 80 Rajagopal muscles (tendon_force), 0.3 s of simulated data, and a +-5 % start."""
    import jax

    with jax.enable_x64(True):
        params = rajagopal2016()
        truth = make_mtu(params)
        times = jnp.arange(151) * DT
        drive = rajagopal_drive(params.names)
        experiment = TimeSeriesExperiment(
            targets={"tendon_force": jnp.zeros((151, 80)), "fiber_length": jnp.zeros((151, 80))},
            times=times, drive=drive, initial_activation=jnp.full(80, 0.3))
        data = eqx.filter_jit(experiment.predict)(truth)
        perturbed = params.tendon_slack_length * jr.uniform(jr.key(0), (80,), minval=0.95,
                                                            maxval=1.05)
        start = eqx.tree_at(lambda m: m.params.tendon_slack_length, truth, perturbed)
        return truth, start, experiment, data


@pytest.mark.slow
@pytest.mark.x64
def test_all_80_slack_lengths_recovered_without_noise(self_consistent):
    truth, start, experiment, data = self_consistent
    experiment = eqx.tree_at(lambda e: e.targets, experiment, data)
    result = fit(start, [experiment], FreeParameters(("tendon_slack_length",)), progress=False)
    true = np.asarray(truth.params.tendon_slack_length)
    assert result.converged
    assert np.max(np.abs(result.fitted["tendon_slack_length"] / true - 1)) <= 1e-6
    assert result.cost_history[-1] < 1e-12 * result.cost_history[0]


@pytest.mark.slow
@pytest.mark.x64
def test_noise_intervals_cover_the_truth(self_consistent):
    """Gaussian noise of 1 % of each signal's range, 20 seeds: the 95 % intervals cover the
    true slack lengths in >= 90 % of (muscle, seed) pairs."""
    truth, start, experiment, data = self_consistent
    true = np.asarray(truth.params.tendon_slack_length)
    covered = []
    for seed in range(20):
        keys = jr.split(jr.key(100 + seed), len(data))
        noisy = {q: y + 0.01 * (y.max(0) - y.min(0))[None] * jr.normal(k, y.shape)
                 for k, (q, y) in zip(keys, data.items(), strict=True)}
        result = fit(start, [eqx.tree_at(lambda e: e.targets, experiment, noisy)],
                     FreeParameters(("tendon_slack_length",)), progress=False)
        low, high = result.interval95("tendon_slack_length")
        covered.append((low <= true) & (true <= high))
    coverage = np.mean(covered)
    assert coverage >= 0.90, coverage


@pytest.mark.slow
@pytest.mark.x64
@pytest.mark.parametrize("name", ["dgf_soleus_r_isometric_step", "dgf_tibant_r_compliant_sine"])
def test_opensim_case_slack_and_optimal_lengths_from_10_percent_off(reference_dir, name):
    """Recover OpenSim's tendon slack and optimal fibre lengths to 0.1 mm from its tendon force
    and fibre length, starting 10 % off."""
    case = next(c for c in find_isolated_mtu_cases(reference_dir) if c.name == name)
    reference = case.reference()
    stride = round(1e-3 / (reference["time"][1] - reference["time"][0]))
    times = jnp.asarray(reference["time"][::stride])
    targets = {q: jnp.asarray(reference[q][::stride])[:, None] for q in ("tendon_force", "fiber_length")}
    params = case.parameters()
    start = eqx.tree_at(lambda p: (p.tendon_slack_length, p.optimal_fiber_length), params,
                        (1.1 * params.tendon_slack_length, 0.9 * params.optimal_fiber_length))
    experiment = TimeSeriesExperiment(targets=targets, times=times, drive=case.drive,
                                      initial_activation=jnp.full(1, case.initial_activation),
                                      integrator=SemiImplicitEuler(8))
    result = fit(make_mtu(start), [experiment],
                 FreeParameters(("tendon_slack_length", "optimal_fiber_length")), progress=False)
    for field in ("tendon_slack_length", "optimal_fiber_length"):
        error = abs(result.fitted[field][0] - float(getattr(params, field)[0]))
        assert error <= 1e-4, (field, error)
