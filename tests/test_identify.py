"""Parameter identification (float64): self-consistent recovery, noise coverage, OpenSim cases."""

import json
import runpy
import shutil
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from mskdiff._solution import RESULTS
from mskdiff.cli import main
from mskdiff.io import (
    find_equilibrium_tables,
    find_isolated_mtu_cases,
    load_osim,
    millard_curves_from_table,
    read_csv,
)
from mskdiff.models import rajagopal2016, rajagopal2016_default_mtu_lengths
from mskdiff.muscle import MillardEquilibriumMTU, make_mtu
from mskdiff.solvers import FreeParameters, TimeSeriesExperiment, fit, fit_reference
from mskdiff.solvers.reference_cases import (
    FIT_QUANTITIES,
    equilibrium_problem,
    isolated_mtu_problem,
    perturb,
    sine_drive,
    synthetic_problem,
)

DT = 2e-3


@pytest.fixture(scope="module")
def self_consistent():
    """The 80 Rajagopal muscles (tendon_force), 0.3 s of simulated data, and a +-5 % start."""
    with jax.enable_x64(True):
        params = rajagopal2016()
        truth = make_mtu(params)
        times = jnp.arange(151) * DT
        drive = sine_drive(rajagopal2016_default_mtu_lengths(params.names))
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
    """Gaussian noise of 1 % of each signal's range, 5 seeds: the 95 % intervals cover the
    true slack lengths in >= 90 % of the 400 (muscle, seed) pairs."""
    truth, start, experiment, data = self_consistent
    true = np.asarray(truth.params.tendon_slack_length)
    covered = []
    for seed in range(5):
        keys = jr.split(jr.key(100 + seed), len(data))
        noisy = {q: y + 0.01 * (y.max(0) - y.min(0))[None] * jr.normal(k, y.shape)
                 for k, (q, y) in zip(keys, data.items(), strict=True)}
        result = fit(start, [eqx.tree_at(lambda e: e.targets, experiment, noisy)],
                     FreeParameters(("tendon_slack_length",)), progress=False)
        low, high = result.interval95("tendon_slack_length")
        covered.append((low <= true) & (true <= high))
    coverage = np.mean(covered)
    assert coverage >= 0.90, coverage


LENGTHS = ("tendon_slack_length", "optimal_fiber_length")


def _lengths_error_from_10_percent_off(problem):
    """`fit_reference` from slack +10 % and optimal fibre length -10 %: (errors [m], result)."""
    truth = problem.truth
    start = eqx.tree_at(lambda p: (p.tendon_slack_length, p.optimal_fiber_length), truth,
                        (1.1 * truth.tendon_slack_length, 0.9 * truth.optimal_fiber_length))
    result = fit_reference(problem, start, FreeParameters(LENGTHS), progress=False)
    return {f: abs(result.fitted[f][0] - float(getattr(truth, f)[0])) for f in LENGTHS}, result


@pytest.mark.slow
@pytest.mark.x64
def test_opensim_case_lengths_from_10_percent_off_without_integration_bias(reference_dir):
    """OpenSim's soleus case: slack and optimal fibre lengths from 10 % off to 1e-3 mm (the
    fixed-step fit, then the adaptive polish; measured 3e-9 mm and 8e-9 mm), where the
    fixed-step fit alone stops 1.6e-3 mm away (its integration bias)."""
    (case,) = [c for c in find_isolated_mtu_cases(reference_dir)
               if c.name == "dgf_soleus_r_isometric_step"]
    errors, result = _lengths_error_from_10_percent_off(isolated_mtu_problem(case))
    assert result.result == RESULTS.successful and result.stats["stage_steps"][1] >= 1
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.slow
@pytest.mark.x64
def test_generated_8_hz_case_lengths_from_10_percent_off():
    """A self-consistent soleus case with 8 Hz excitation and tendon strain 0.1 (simulated by
    the adaptive solve): both lengths from 10 % off to 1e-3 mm (measured 3e-11 mm and
    8e-9 mm; the fixed-step fit alone: 9e-3 mm)."""
    problem = synthetic_problem(rajagopal2016(["soleus_r"]), tendon_strain=0.1,
                                excitation_hz=8.0)
    errors, result = _lengths_error_from_10_percent_off(problem)
    assert result.result == RESULTS.successful
    assert max(errors.values()) <= 1e-6, errors


@pytest.fixture
def walking(reference_dir):
    """The walking equilibria (80 muscles x 3 frames x 3 activations) of the scaled model."""
    (table,) = [t for t in find_equilibrium_tables(reference_dir) if t.name == "walk"]
    return table


def test_equilibrium_table_reads_the_walking_trial(walking, reference_dir):
    """Samples are (frame, activation) pairs; the MTU lengths are those of walk_mtu_lengths.csv
    at the frames; the parameters are the scaled model's table."""
    assert walking.samples.shape == (9, 2) and len(walking.muscles) == 80
    assert walking.parameter_table().name == "rajagopal2016_scaled_walk_muscles.csv"
    lengths = read_csv(reference_dir / "walk_mtu_lengths.csv")
    table = walking.column("mtu_length", ["soleus_r", "bflh_l"])
    for k, (frame, _) in enumerate(walking.samples):
        np.testing.assert_array_equal(table[k], [lengths["soleus_r"][int(frame)],
                                                 lengths["bflh_l"][int(frame)]])
    with pytest.raises(ValueError, match=r"no rows for muscles \['biceps'\]"):
        walking.column("fiber_length", ["biceps"])
    # The problem's model is the one that made the data: Millard's, with the table's curves.
    problem = equilibrium_problem(walking, muscles=["soleus_r"])
    assert isinstance(problem.model(problem.truth), MillardEquilibriumMTU)


def _walking_fit(walking, quantities, *, targets=None):
    """All 80 slack lengths from 5 % off (random sign): (fitted - true [m], rigid mask, result)."""
    problem = equilibrium_problem(walking, quantities=quantities)
    experiment = problem.experiment
    if targets is not None:
        experiment = eqx.tree_at(lambda e: e.targets, experiment, targets)
    start = perturb(problem.truth, ["tendon_slack_length"], 0.05, key=jr.key(0))
    result = fit(make_mtu(start), [experiment], FreeParameters(("tendon_slack_length",)),
                 progress=False, throw=False)
    error = result.fitted["tendon_slack_length"] - np.asarray(problem.truth.tendon_slack_length)
    return error, np.asarray(problem.truth.ignore_tendon_compliance, dtype=bool), result


@pytest.mark.x64
def test_walking_slack_lengths_and_the_millard_bias(walking):
    """Case 3. From OpenSim's fibre lengths and tendon forces (Millard curves), De Groote
    curves recover the 80 slack lengths to 3.4 mm (measured; rigid tendons 0.2 mm), and the
    fit says it does not reproduce the data (worst muscle's RMS error 9.7 % of its range,
    measured). Fitting mskdiff's own predictions at the true values instead recovers them to
    1e-6: the error is model-form bias, not the optimiser's."""
    error, rigid, result = _walking_fit(walking, FIT_QUANTITIES)
    assert result.converged and result.result == RESULTS.data_not_reproduced
    assert np.max(np.abs(error[rigid])) <= 0.5e-3 and np.max(np.abs(error[~rigid])) <= 5e-3
    assert 1e-4 <= np.median(np.abs(error[~rigid])) <= 2e-3  # a bias that is really there
    problem = equilibrium_problem(walking)
    truth = eqx.filter_jit(problem.experiment.predict)(make_mtu(problem.truth))
    control, _, _ = _walking_fit(walking, FIT_QUANTITIES, targets=truth)
    true = np.asarray(problem.truth.tendon_slack_length)
    assert np.max(np.abs(control / true)) <= 1e-6


@pytest.mark.x64
def test_walking_slack_lengths_with_opensims_muscle_model_are_exact(walking):
    """The same fit with OpenSim's model (Millard equilibrium muscles, each muscle's curves
    from the scaled parameter table): the bias is gone; all 80 slack lengths to 1e-9 m
    (measured 4.4e-11 m) from OpenSim's own equilibria."""
    problem = equilibrium_problem(walking)
    start = perturb(problem.truth, ["tendon_slack_length"], 0.05, key=jr.key(0))
    model = problem.model(start)
    assert isinstance(model, MillardEquilibriumMTU)
    curves = millard_curves_from_table(walking.parameter_table(), walking.muscles)
    assert curves.n_muscles is None  # Rajagopal's 80 muscles share one set
    result = fit(model, [problem.experiment], FreeParameters(("tendon_slack_length",)),
                 progress=False)
    assert result.converged
    error = result.fitted["tendon_slack_length"] - np.asarray(problem.truth.tendon_slack_length)
    assert np.max(np.abs(error)) <= 1e-9


@pytest.mark.x64
def test_fit_tendon_slack_example(reference_dir, tmp_path):
    """examples/fit_tendon_slack.py end to end (here, so it reuses this file's compiled fits)."""
    example = Path(__file__).resolve().parents[1] / "examples" / "fit_tendon_slack.py"
    path = runpy.run_path(str(example))["main"](tmp_path, reference_dir)
    assert path.stat().st_size > 20_000


@pytest.mark.x64
def test_walking_fiber_lengths_alone_give_rigid_tendons_exactly(walking):
    """A rigid tendon's fibre length is geometry only (MTU length - slack length, with
    pennation), so fibre lengths alone give those slack lengths exactly whatever the curves;
    the elastic ones keep the tendon curves' difference (measured <= 0.81 mm)."""
    error, rigid, result = _walking_fit(walking, ("fiber_length",))
    assert result.converged and rigid.sum() == 34
    assert np.max(np.abs(error[rigid])) <= 1e-9
    assert np.max(np.abs(error[~rigid])) <= 1.5e-3


def test_perturb_moves_every_muscle_by_the_fraction():
    params = rajagopal2016()
    moved = perturb(params, ["tendon_slack_length", "optimal_fiber_length"], 0.1, key=jr.key(3))
    for field in ("tendon_slack_length", "optimal_fiber_length"):
        ratio = np.asarray(getattr(moved, field)) / np.asarray(getattr(params, field))
        np.testing.assert_allclose(np.abs(ratio - 1), 0.1, rtol=1e-6)
        assert 0.2 < np.mean(ratio > 1) < 0.8
    np.testing.assert_array_equal(moved.max_isometric_force, params.max_isometric_force)


@pytest.mark.slow
@pytest.mark.x64
def test_fit_command_on_isolated_cases_with_perturbation(reference_dir, tmp_path):
    """`mskdiff fit --perturb 0.1` on a folder with one isolated-MTU case: the report gives
    set-up, starting and fitted values; the fit (default: adaptive polish) lands within
    1e-3 mm of the set-up and reports `successful`."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("mtu_sim_dgf_soleus_r_isometric_step.csv",
                 "mtu_sim_dgf_soleus_r_isometric_step_setup.json"):
        shutil.copy(reference_dir / name, data / name)
    report_path = tmp_path / "report.json"
    assert main(["fit", "--data", str(data), "--free", "tendon_slack_length,optimal_fiber_length",
                 "--perturb", "0.1", "--out", str(tmp_path / "out"), "--json", str(report_path),
                 "--no-progress"]) == 0
    (case,) = json.loads(report_path.read_text())["cases"]
    assert case["case"] == "dgf_soleus_r_isometric_step" and case["converged"]
    assert case["result"] == "successful" and len(case["stage_steps"]) == 2
    for values in case["muscles"]["soleus_r"].values():
        assert abs(values["start"] / values["setup"] - 1) == pytest.approx(0.1)
        assert abs(values["fitted"] - values["setup"]) <= 1e-6
    assert Path(case["plot"]).stat().st_size > 20_000


@pytest.mark.x64
def test_fit_command_on_the_walking_case_writes_the_osim(reference_dir, rajagopal_osim, tmp_path):
    """`mskdiff fit --osim` on the walking equilibria: starts from the generic model, writes a
    copy of it whose slack lengths are the fitted ones (and nothing else changed). The generic
    model's other parameters are not the scaled model's, so slack lengths alone leave a
    residual above the default `--max-residual` (`test_fit_outcomes`): 0.5 accepts it."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("walk_equilibrium.csv", "rajagopal2016_scaled_walk_muscles.csv"):
        shutil.copy(reference_dir / name, data / name)
    report_path = tmp_path / "report.json"
    assert main(["fit", "--data", str(data), "--osim", str(rajagopal_osim), "--out",
                 str(tmp_path / "out"), "--json", str(report_path), "--no-progress",
                 "--max-residual", "0.5"]) == 0
    (case,) = json.loads(report_path.read_text())["cases"]
    written = load_osim(case["osim"])
    generic = load_osim(rajagopal_osim)
    for k, name in enumerate(written.names):
        assert float(written.tendon_slack_length[k]) == case["muscles"][name][
            "tendon_slack_length"]["fitted"]
        assert float(generic.tendon_slack_length[k]) == case["muscles"][name][
            "tendon_slack_length"]["start"]
    np.testing.assert_array_equal(written.optimal_fiber_length, generic.optimal_fiber_length)


def _three_muscle_moment_experiment(params):
    """Soleus, gastrocnemius and tibialis anterior driven by `sine_drive` for 0.2 s, with
    moment arms [m] about two coordinates (tibialis anterior crosses only the first)."""
    times = jnp.arange(101) * DT
    arms = jnp.asarray([[-0.05, 0.0], [-0.05, 0.02], [0.04, 0.0]])
    arms = arms[None] * (1 + 0.2 * jnp.sin(10 * times))[:, None, None]
    return TimeSeriesExperiment(
        targets={"joint_moment": jnp.zeros((101, 2)), "fiber_length": jnp.zeros((101, 3))},
        times=times, drive=sine_drive(rajagopal2016_default_mtu_lengths(params.names)),
        initial_activation=jnp.full(3, 0.3), moment_arms=arms)


@pytest.mark.x64
def test_joint_moment_residuals_have_the_exact_jacobian():
    """Joint moments mix muscles through the moment arms; the column-compressed Jacobian (one
    JVP per field) still equals the dense `jax.jacfwd`, shared fields included."""
    from mskdiff.solvers.identify import _data_jacobian, _data_residuals, _Packing, _Problem

    params = rajagopal2016(["soleus_r", "gasmed_r", "tibant_r"])
    experiment = _three_muscle_moment_experiment(params)
    mtu = make_mtu(params)
    data = experiment.target_values(eqx.filter_jit(experiment.predict)(mtu))
    experiment = eqx.tree_at(lambda e: e.targets, experiment, data)
    free = FreeParameters(("tendon_slack_length", "tendon_strain_at_one_norm_force"),
                          shared=("tendon_strain_at_one_norm_force",))
    problem = _Problem(mtu=mtu, experiments=(experiment,),
                       scales=({q: jnp.ones((1, y.shape[1])) for q, y in data.items()},),
                       packing=_Packing.create(free, mtu), weights=(), prior_weight=0.0)
    values = problem.packing.start * jnp.asarray([1.02, 0.97, 1.01, 1.1])
    compressed = eqx.filter_jit(_data_jacobian)(problem, values)
    dense = eqx.filter_jit(jax.jacfwd(lambda v: _data_residuals(problem, v)))(values)
    assert compressed.shape == (101 * 2 + 101 * 3, 4)
    np.testing.assert_allclose(compressed, dense, rtol=1e-9, atol=1e-9 * np.abs(dense).max())


@pytest.mark.x64
def test_slack_lengths_from_joint_moments():
    """Joint moments (and fibre lengths) simulated at the true values give the three slack
    lengths back from 5 % off; missing moment arms are a clear error."""
    params = rajagopal2016(["soleus_r", "gasmed_r", "tibant_r"])
    experiment = _three_muscle_moment_experiment(params)
    data = experiment.target_values(eqx.filter_jit(experiment.predict)(make_mtu(params)))
    experiment = eqx.tree_at(lambda e: e.targets, experiment, data)
    start = perturb(params, ["tendon_slack_length"], 0.05, key=jr.key(1))
    result = fit(make_mtu(start), [experiment], FreeParameters(("tendon_slack_length",)),
                 progress=False)
    np.testing.assert_allclose(result.fitted["tendon_slack_length"], params.tendon_slack_length,
                               rtol=1e-6)
    assert result.predicted[0]["joint_moment"].shape == (101, 2)
    bare = eqx.tree_at(lambda e: e.moment_arms, experiment, None,
                       is_leaf=lambda x: x is None)
    with pytest.raises(ValueError, match="joint_moment targets need moment_arms"):
        fit(make_mtu(start), [bare], FreeParameters(("tendon_slack_length",)), progress=False)


def test_equilibrium_tables_are_found_by_pattern(reference_dir, tmp_path):
    """Any `<prefix>_equilibrium.csv` with one `*<prefix>*_muscles.csv` beside it; an
    ambiguous or missing muscle table is a clear error."""
    shutil.copy(reference_dir / "walk_equilibrium.csv", tmp_path / "trial2_equilibrium.csv")
    with pytest.raises(FileNotFoundError, match=r"exactly one muscle table '\*trial2\*_muscles"):
        find_equilibrium_tables(tmp_path)[0].parameter_table()
    shutil.copy(reference_dir / "rajagopal2016_scaled_walk_muscles.csv",
                tmp_path / "subject_trial2_muscles.csv")
    (table,) = find_equilibrium_tables(tmp_path)
    problem = equilibrium_problem(table, muscles=["soleus_r", "recfem_l"])
    assert problem.name == "trial2" and problem.truth.names == ("soleus_r", "recfem_l")
    assert problem.experiment.targets["fiber_length"].shape == (9, 2)


@pytest.mark.x64
def test_shared_field_weights_and_prior(walking):
    """Per-muscle slack lengths with one shared tendon strain, weighted quantities, on
    mskdiff's own equilibria of 4 muscles: both come back from 5-10 % off. A heavy prior
    instead holds the values at the start (so the data are not reproduced)."""
    problem = equilibrium_problem(walking, muscles=["soleus_r", "gasmed_r", "tibant_r",
                                                    "recfem_r"])
    truth = make_mtu(problem.truth)
    data = eqx.filter_jit(problem.experiment.predict)(truth)
    experiment = eqx.tree_at(lambda e: e.targets, problem.experiment, data)
    start = perturb(problem.truth, ["tendon_slack_length"], 0.05, key=jr.key(2))
    start = eqx.tree_at(lambda p: p.tendon_strain_at_one_norm_force, start,
                        1.1 * start.tendon_strain_at_one_norm_force)
    free = FreeParameters(("tendon_slack_length", "tendon_strain_at_one_norm_force"),
                          shared=("tendon_strain_at_one_norm_force",))
    result = fit(make_mtu(start), [experiment], free, weights={"tendon_force": 2.0},
                 progress=False)
    np.testing.assert_allclose(result.fitted["tendon_slack_length"],
                               problem.truth.tendon_slack_length, rtol=1e-6)
    np.testing.assert_allclose(result.fitted["tendon_strain_at_one_norm_force"], 0.049, rtol=1e-5)
    assert result.flat_labels[-1] == "tendon_strain_at_one_norm_force"
    held = fit(make_mtu(start), [experiment], FreeParameters(("tendon_slack_length",)),
               prior_weight=1e4, progress=False, throw=False)
    np.testing.assert_allclose(held.fitted["tendon_slack_length"], start.tendon_slack_length,
                               rtol=1e-3)
    assert held.result == RESULTS.data_not_reproduced  # held 5 % off by the prior


@pytest.mark.x64
def test_trials_of_one_structure_are_vmapped(walking):
    """Two equilibrium trials of 4 muscles (4 samples each) are predicted by one vmap, equal
    to predicting them one by one; fitting both gives the slack lengths back."""
    from mskdiff.solvers.identify import _per_muscle, _Problem, _same_structure

    problem = equilibrium_problem(walking, muscles=["soleus_r", "gasmed_r", "tibant_r",
                                                    "recfem_r"])
    truth = make_mtu(problem.truth)
    full = eqx.tree_at(lambda e: e.targets, problem.experiment,
                       eqx.filter_jit(problem.experiment.predict)(truth))
    trials = [jax.tree.map(lambda x, rows=rows: x[rows], full)
              for rows in (slice(0, 4), slice(4, 8))]
    assert _same_structure(trials) == [[0, 1]]
    packing_problem = _Problem(mtu=truth, experiments=tuple(trials), scales=({}, {}),
                               packing=_packing(truth), weights=(), prior_weight=0.0)
    batched = _per_muscle(packing_problem, packing_problem.packing.start)
    for trial, predicted in zip(trials, batched, strict=True):
        np.testing.assert_allclose(predicted["fiber_length"],
                                   trial.predict(truth)["fiber_length"], rtol=1e-12)
    start = perturb(problem.truth, ["tendon_slack_length"], 0.05, key=jr.key(4))
    result = fit(make_mtu(start), trials, FreeParameters(("tendon_slack_length",)),
                 progress=False)
    np.testing.assert_allclose(result.fitted["tendon_slack_length"],
                               problem.truth.tendon_slack_length, rtol=1e-6)


def _packing(mtu):
    from mskdiff.solvers.identify import _Packing

    return _Packing.create(FreeParameters(("tendon_slack_length",)), mtu)
