"""`validate-opensim`: the shared reference set passes, other folders of the format work."""

import json
import shutil

import pytest

from mskdiff.cli import main
from mskdiff.validation import TOLERANCES, passed, validate_opensim
from mskdiff.validation.report import (
    CROSS_MODEL,
    ERROR,
    FAIL,
    PASS,
    REPORT,
    SKIPPED,
    error_check,
)


@pytest.fixture(scope="module")
def shared_checks(request):
    from conftest import REFERENCE_DIR

    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"OpenSim reference data not found at {REFERENCE_DIR}")
    return validate_opensim(REFERENCE_DIR, progress=False)


def _select(checks, case_prefix, quantity_part):
    return [c for c in checks if c.case.startswith(case_prefix) and quantity_part in c.quantity]


@pytest.mark.slow
def test_shared_reference_passes(shared_checks):
    failed = [c for c in shared_checks if c.status in (FAIL, ERROR)]
    assert not failed, failed
    assert passed(shared_checks)


@pytest.mark.slow
def test_issue_tolerances_are_the_ones_checked(shared_checks):
    assert TOLERANCES["curve"] <= 1e-9
    assert TOLERANCES["tight_tendon_force_max"] <= 1e-5
    assert TOLERANCES["tight_fiber_length_max"] <= 1e-7
    assert TOLERANCES["euler_tendon_force_rms"] <= 2.5e-3
    assert TOLERANCES["acceleration_tendon_force_rms"] <= 3e-3
    dgf_cases = {c.case for c in shared_checks if c.case.startswith("dgf_")
                 and "Diffrax" in c.quantity}
    assert len(dgf_cases) == 5
    for case in dgf_cases:
        for part, metric in (("tendon_force [tendon_force, Diffrax", "max"),
                             ("fiber_length [tendon_force, Diffrax", "max"),
                             ("tendon_force [tendon_force, semi-implicit Euler", "rms"),
                             ("tendon_force [acceleration m=0.1 kg", "rms"),
                             ("initial tendon_force", "max")):
            toleranced = [c for c in _select(shared_checks, case, part) if c.tolerance]
            assert toleranced and all(c.status == PASS and c.metric == metric
                                      for c in toleranced), (case, part)
    # Run times are of a compiled run, labelled so (compile time excluded).
    timed = [c for c in shared_checks if " ms for " in c.note]
    assert len(timed) >= 5 * 2 + 4 and all(c.note.endswith(" s (compiled run)") for c in timed)


@pytest.mark.slow
def test_curves_residuals_and_tables_checked(shared_checks):
    curve_files = {c.file for c in shared_checks if c.status == PASS and c.file.startswith("dgf_")
                   and c.file.endswith(".csv") and not c.file.startswith("dgf_equilibrium")}
    assert len(curve_files) >= 5
    assert any(c.file == "dgf_equilibrium_residual.csv" and c.status == PASS for c in shared_checks)
    # All 80 walking muscles' static equilibria (Millard curves from the scaled parameter table),
    # fibre length, pennation and tendon force to 1e-6 relative: no cross-model check left.
    walk = [c for c in shared_checks if c.file == "walk_equilibrium.csv"]
    assert len(walk) == 8 and all(c.status == PASS for c in walk)
    assert any(c.file == "rajagopal2016_muscles.csv" and c.status == PASS for c in shared_checks)
    curves = [c for c in shared_checks if c.file == "millard2012_curves.csv"]
    assert len(curves) == 14 and all(c.status == PASS for c in curves)  # mskdiff's Millard curves
    metabolic = [c for c in shared_checks if c.file.startswith("metabolics_")
                 and "OpenSim's muscle states" in c.quantity]
    assert len(metabolic) >= 8 * 24 and all(c.status == PASS for c in metabolic)
    # Totals from mskdiff's own simulation of each case with its own formulation (measured:
    # De Groote <= 2.3e-8, Millard equilibrium <= 1.6e-6 of max(1 W, max |ref|)): reported.
    simulated = [c for c in shared_checks if "mskdiff's simulation" in c.quantity]
    assert len(simulated) == 8 * 4 and all(c.status == REPORT for c in simulated)
    assert all(c.max_error <= 1e-6 for c in simulated if c.case.startswith("metabolics_dgf_"))
    assert all(c.max_error <= 1e-5 for c in simulated)


@pytest.mark.slow
def test_millard_cases_pass_with_no_cross_model_check_left(shared_checks):
    """Millard equilibrium and acceleration (Millard curves, OpenSim's formulations): tight
    tendon force <= 1e-3 Fmax, fibre length <= 1e-5 m, Euler 2 ms x 4 RMS <= 1e-2 Fmax. The
    acceleration case's applied force (tendon damping included) differs from its reported
    elastic tendon force by up to 3.4e-2 Fmax (reported)."""
    equilibrium = [c for c in shared_checks if c.case.startswith("millard_")]
    assert len([c for c in equilibrium if c.status == PASS]) == 3 * 5
    assert all(c.status in (PASS, REPORT) for c in equilibrium)
    acceleration = [c for c in shared_checks if c.case.startswith("millardacc_")]
    assert len([c for c in acceleration if c.status == PASS]) == 5
    assert all(c.status in (PASS, REPORT) for c in acceleration)
    (damping,) = [c for c in acceleration if c.quantity.startswith("applied tendon force")]
    assert 0.03 < damping.max_error < 0.04
    assert not [c for c in shared_checks if c.status == CROSS_MODEL]
    skipped = {c.file for c in shared_checks if c.status == SKIPPED}
    assert "walk_grf.csv" in skipped and "README.md" in skipped


@pytest.mark.slow
def test_walking_geometry_checked(shared_checks):
    """myoLeg's MTU lengths and moment arms against the generic walking files (test_geometry.py)."""
    skipped = {c.file: c.note for c in shared_checks if c.status == SKIPPED}
    for name in ("walk_generic_mtu_lengths.csv", "walk_generic_moment_arms.csv",
                 "walk_ik_coordinates.csv"):
        assert name not in skipped
    for name in ("walk_mtu_lengths.csv", "walk_moment_arms.csv"):
        assert "subject-scaled" in skipped[name]
    lengths = [c for c in shared_checks if c.file == "walk_generic_mtu_lengths.csv"]
    arms = [c for c in shared_checks if c.file == "walk_generic_moment_arms.csv"]
    assert len(lengths) == 80 and len(arms) >= 90
    assert all(c.status == PASS and c.metric == "rms" for c in lengths + arms)
    assert all(c.tolerance == TOLERANCES["geometry_mtu_length_rms"] <= 0.01 for c in lengths)
    assert all(c.tolerance == TOLERANCES["geometry_moment_arm_rms"] for c in arms)


@pytest.mark.slow
@pytest.mark.x64
def test_other_directory_with_renamed_case(reference_dir, tmp_path):
    """A user's own export: a case under another name, an unknown file, a broken set-up."""
    for suffix in ("_setup.json", ".csv"):
        shutil.copy(reference_dir / f"mtu_sim_dgf_tibant_r_compliant_sine{suffix}",
                    tmp_path / f"mtu_sim_my_tibialis{suffix}")
    shutil.copy(reference_dir / "dgf_force_velocity.csv", tmp_path)
    (tmp_path / "notes.txt").write_text("not a reference file")
    checks = validate_opensim(tmp_path, progress=False)
    assert passed(checks)
    assert {c.case for c in checks if c.status == PASS} >= {"my_tibialis", "dgf_force_velocity"}
    assert [c.file for c in checks if c.status == SKIPPED] == ["notes.txt"]

    setup = json.loads((tmp_path / "mtu_sim_my_tibialis_setup.json").read_text())
    setup["mtu_length"] = {"type": "spline"}
    (tmp_path / "mtu_sim_my_tibialis_setup.json").write_text(json.dumps(setup))
    checks = validate_opensim(tmp_path, progress=False)
    assert any(c.status == ERROR and "spline" in c.note for c in checks)
    assert not passed(checks)


def test_all_skipped_directory_fails(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing known here")
    checks = validate_opensim(tmp_path, progress=False)
    assert [c.status for c in checks] == [SKIPPED]
    assert not passed(checks)
    assert main(["validate-opensim", str(tmp_path), "--no-progress"]) == 1


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="reference directory not found"):
        validate_opensim(tmp_path / "absent")


@pytest.mark.x64
def test_cli_validate_writes_json(reference_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(reference_dir / "dgf_tendon_curves.csv", data)
    out = tmp_path / "report.json"
    assert main(["validate-opensim", str(data), "--json", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["passed"] is True
    assert report["summary"]["counts"]["pass"] == 3
    corrupted = data / "dgf_tendon_curves.csv"
    lines = corrupted.read_text().splitlines()
    first = lines[1].split(",")
    first[5] = str(float(first[5]) + 1e-6)  # tendon_force_multiplier off by 1e-6
    corrupted.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    assert main(["validate-opensim", str(data), "--no-progress"]) == 1


def test_error_rows_keep_the_cause_of_a_long_message():
    """A JAX runtime error's message ends with its cause after a traceback: that is the note."""
    error = RuntimeError("Above is the stack outside of JIT.\n  File \"x.py\", line 1\n"
                         "equinox.EquinoxRuntimeError: The root solve did not converge.\n\n---")
    assert error_check("a.json", error).note == (
        "equinox.EquinoxRuntimeError: The root solve did not converge.")
    assert error_check("a.json", KeyError("x")).note == "KeyError: 'x'"
