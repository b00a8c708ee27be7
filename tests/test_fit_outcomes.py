"""Fit outcomes (float64): result codes, `throw`, reentrant progress recording, the command's exit."""

import json
import shutil
import threading

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff._solution import RESULTS
from mskdiff.cli import main
from mskdiff.io import find_equilibrium_tables
from mskdiff.muscle import make_mtu
from mskdiff.solvers import FreeParameters, fit
from mskdiff.solvers.reference_cases import equilibrium_problem, perturb

MUSCLES = ["soleus_r", "gasmed_r", "tibant_r"]


@pytest.fixture
def small_problem(reference_dir):
    """Three walking muscles' equilibria with mskdiff's own (De Groote) predictions as data."""
    (table,) = [t for t in find_equilibrium_tables(reference_dir) if t.name == "walk"]
    problem = equilibrium_problem(table, muscles=MUSCLES)
    data = eqx.filter_jit(problem.experiment.predict)(make_mtu(problem.truth))
    return problem, eqx.tree_at(lambda e: e.targets, problem.experiment, data)


def _start(problem, fraction):
    return make_mtu(perturb(problem.truth, ["tendon_slack_length"], fraction,
                            key=jax.random.key(0)))


@pytest.mark.x64
def test_result_is_a_solution_and_a_wrong_model_is_data_not_reproduced(small_problem):
    """A good fit is `successful` with the `Solution` fields; data the model cannot reproduce
    (tendon forces x 1.5 with only slack lengths free) end `data_not_reproduced`, and with
    `throw` that raises."""
    problem, experiment = small_problem
    free = FreeParameters(("tendon_slack_length",))
    good = fit(_start(problem, 0.05), [experiment], free, progress=False)
    assert good.result == RESULTS.successful and good.converged
    assert good.value is good.fitted and good.stats["num_steps"] == good.n_steps >= 1
    assert good.stats["relative_rms"] <= 1e-9
    targets = {**experiment.targets, "tendon_force": 1.5 * experiment.targets["tendon_force"]}
    wrong = eqx.tree_at(lambda e: e.targets, experiment, targets)
    bad = fit(_start(problem, 0.05), [wrong], free, progress=False, throw=False)
    assert bad.converged  # Levenberg-Marquardt met its tolerance ...
    assert bad.result == RESULTS.data_not_reproduced and bad.outcome == "data_not_reproduced"
    assert bad.stats["relative_rms"] > bad.stats["max_residual"]  # ... at a residual it flags
    with pytest.raises(eqx.EquinoxRuntimeError, match="does not reproduce the data"):
        fit(_start(problem, 0.05), [wrong], free, progress=False)


@pytest.mark.x64
def test_fits_in_two_threads_record_their_own_costs(small_problem):
    """Two fits at once (different starts) each get the cost history of the same fit run
    alone; a compiled solve inside another program, with no recorder, records nothing."""
    from mskdiff.solvers.identify import _Packing, _Problem, _Recorder, _residuals

    problem, experiment = small_problem
    free = FreeParameters(("tendon_slack_length",))
    starts = {fraction: _start(problem, fraction) for fraction in (0.05, 0.08)}
    alone = {f: fit(start, [experiment], free, progress=False).cost_history
             for f, start in starts.items()}
    together: dict[float, np.ndarray] = {}

    def run(fraction):
        with jax.enable_x64(True):
            together[fraction] = fit(starts[fraction], [experiment], free,
                                     progress=False).cost_history

    threads = [threading.Thread(target=run, args=(fraction,)) for fraction in starts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for fraction, history in alone.items():  # the first cost can differ in the 8th digit
        np.testing.assert_allclose(together[fraction], history, rtol=1e-6)
    assert not np.array_equal(alone[0.05], alone[0.08])
    mtu = _start(problem, 0.05)
    inner = _Problem(mtu=mtu, experiments=(experiment,), scales=({"fiber_length": 1.0,
                     "tendon_force": 1.0},), packing=_Packing.create(free, mtu), weights=(),
                     prior_weight=0.0)
    outer = jax.jit(lambda z, key: jnp.sum(_residuals(z, inner, key) ** 2))
    with _Recorder(False, 1) as recorder:
        jax.block_until_ready(outer(inner.packing.z0, recorder.key + 1000))
    assert recorder.costs == []


@pytest.mark.slow
@pytest.mark.x64
def test_fit_command_flags_unreproduced_data_and_uses_the_osim(reference_dir, rajagopal_osim,
                                                                tmp_path, capsys):
    """With no muscle table beside the (subject-scaled) walking equilibria, `--osim` (the
    generic model) supplies parameters and curves. Slack lengths alone cannot make the generic
    muscles reproduce the scaled model's data (measured: worst RMS 9 % of a range) from any of
    the three starts: the report says `data_not_reproduced` with a WARNING row, and the
    command exits 1, after writing its plot and report. A fit that cannot start leaves no `--out` folder."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(reference_dir / "walk_equilibrium.csv", data / "walk_equilibrium.csv")
    report_path = tmp_path / "report.json"
    argv = ["fit", "--data", str(data), "--osim", str(rajagopal_osim), "--muscles",
            ",".join(MUSCLES), "--json", str(report_path), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 1
    (case,) = json.loads(report_path.read_text())["cases"]
    assert case["result"] == "data_not_reproduced" and case["relative_rms"] > 0.05
    assert case["starts"] == 3  # the start and both restarts (slack x 0.85, x 1.15) failed
    assert "WARNING: walk: the fitted model does NOT reproduce the data" in capsys.readouterr().out
    assert (tmp_path / "out" / "fit_walk.png").exists()
    assert main(["fit", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "none")]) == 1
    assert not (tmp_path / "none").exists()
