"""myoLeg's muscle geometry against OpenSim's generic Rajagopal 2016 along the walking trial.

MuJoCo C only (no MJX compile): the model builds in < 1 s, a comparison takes ~40 ms.
"""

import json
import shutil

import mujoco
import numpy as np
import pytest

from mskdiff.cli import main
from mskdiff.io import read_csv
from mskdiff.models.kinematics import OPENSIM_TO_WORLD, coordinate_jacobian, qpos_from_coordinates
from mskdiff.models.myoleg import myoleg_mjmodel
from mskdiff.validation import passed, validate_opensim
from mskdiff.validation.geometry import (
    GEOMETRY_BOUNDS,
    MAX_OUTLIERS,
    MOMENT_ARM_OUTLIERS,
    MTU_LENGTH_OUTLIERS,
    compare_geometry,
    find_walking_trials,
    format_geometry_table,
    model_geometry,
    plot_geometry,
    summarize_geometry,
    write_geometry_csv,
)
from mskdiff.validation.report import FAIL, PASS, SKIPPED


@pytest.fixture(scope="module")
def myoleg():
    return myoleg_mjmodel()


def _write_csv(path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    rows = [",".join(names)] + [",".join(repr(float(columns[n][i])) for n in names)
                                for i in range(len(columns[names[0]]))]
    path.write_text("\n".join(rows) + "\n")


def _copy_trial(reference_dir, directory, trial="walk"):
    for kind in ("ik_coordinates", "generic_mtu_lengths", "generic_moment_arms"):
        shutil.copy(reference_dir / f"walk_{kind}.csv", directory / f"{trial}_{kind}.csv")


# --- the comparison on the shared walking trial ----------------------------------------------

def test_mtu_length_bound_holds(reference_dir, myoleg):
    comparison = compare_geometry(reference_dir, myoleg)
    lengths = comparison.select("mtu_length")
    assert len(lengths) == 80 and len(comparison.times) == 119
    assert GEOMETRY_BOUNDS["mtu_length_rms"] <= 0.01  # issue 3
    for r in lengths:
        if r.muscle in MTU_LENGTH_OUTLIERS:
            assert r.bound is None and r.outlier
        else:
            assert r.bound == GEOMETRY_BOUNDS["mtu_length_rms"]
            assert r.rms_error <= 0.01, r
    assert comparison.passed
    # What docs/geometry.md reports: all within 5.5 mm; the hamstrings are the worst.
    worst = max(lengths, key=lambda r: r.rms_error)
    assert worst.rms_error < 5.5e-3 and worst.muscle.startswith(("semimem", "semiten"))
    # Muscles that cross neither the knee nor a changed wrap agree to < 0.2 mm.
    clean = [r for r in lengths if not r.note]
    assert len(clean) >= 40 and max(r.rms_error for r in clean) < 2e-4


def test_moment_arm_bound_holds(reference_dir, myoleg):
    comparison = compare_geometry(reference_dir, myoleg)
    arms = comparison.select("moment_arm")
    coordinates = {r.coordinate for r in arms}
    assert coordinates == {f"{j}_{s}" for j in ("hip_flexion", "knee_angle", "ankle_angle")
                           for s in "rl"}
    assert 90 <= len(arms) <= 120  # pairs where a muscle crosses the joint
    for r in arms:
        if r.muscle not in MOMENT_ARM_OUTLIERS:
            assert r.rms_error <= GEOMETRY_BOUNDS["moment_arm_rms"], r
    # Ankle moment arms (no coupled joints, no changed wraps) agree to < 0.1 mm.
    assert max(r.rms_error for r in arms if r.coordinate.startswith("ankle")) < 1e-4
    # The knee moment arms are total derivatives: vasti are extensors (negative, OpenSim's sign).
    vasint = comparison.pairs.index(("vasint_r", "knee_angle_r"))
    assert np.all(comparison.moment_arm[:, vasint] < 0)
    assert np.all(comparison.moment_arm_reference[:, vasint] < 0)


def test_outlier_lists_are_bounded_and_caused(myoleg):
    names = {mujoco.mj_id2name(myoleg, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(myoleg.nu)}
    for outliers in (MTU_LENGTH_OUTLIERS, MOMENT_ARM_OUTLIERS):
        assert len(outliers) <= MAX_OUTLIERS == 12
        for muscle, cause in outliers.items():
            assert muscle in names and isinstance(cause, str) and len(cause.strip()) > 10


def test_outliers_are_exempt_and_checked(reference_dir, myoleg):
    tight = {"mtu_length_rms": 4.5e-3, "moment_arm_rms": 1e-2}
    failing = compare_geometry(reference_dir, myoleg, bounds=tight)
    over = sorted({r.muscle for r in failing.results if not r.passed})
    assert not failing.passed and 0 < len(over) <= MAX_OUTLIERS
    causes = {m: "knee rotation centre off OpenSim's" for m in over}
    exempt = compare_geometry(reference_dir, myoleg, bounds=tight, length_outliers=causes)
    assert exempt.passed
    assert {r.muscle for r in exempt.results if r.outlier} == set(over)
    assert f"pass (outlier) | {causes[over[0]]}" in format_geometry_table(exempt)
    with pytest.raises(ValueError, match="without a cause"):
        compare_geometry(reference_dir, myoleg, length_outliers={"semimem_r": " "})
    with pytest.raises(ValueError, match="13 > 12"):
        compare_geometry(reference_dir, myoleg,
                         length_outliers={f"m{i}": "a cause" for i in range(13)})


# --- the mapping of OpenSim coordinates onto qpos ---------------------------------------------

def test_knee_angle_drives_dependent_joints_as_the_constraint(myoleg):
    knee = np.array([0.0, 0.3, 0.8, 1.4])
    qpos = qpos_from_coordinates(myoleg, {"knee_angle_r": knee, "knee_angle_l": 0.5 * knee})
    assert qpos.shape == (4, myoleg.nq)
    dependents = 0
    data = mujoco.MjData(myoleg)
    for e in range(myoleg.neq):
        if int(myoleg.eq_type[e]) != int(mujoco.mjtEq.mjEQ_JOINT):
            continue
        driver = myoleg.joint(int(myoleg.eq_obj2id[e])).name
        assert driver in ("knee_angle_r", "knee_angle_l")
        x = knee if driver == "knee_angle_r" else 0.5 * knee
        y = qpos[:, myoleg.jnt_qposadr[myoleg.eq_obj1id[e]]]
        expected = sum(c * x**k for k, c in enumerate(myoleg.eq_data[e, :5]))
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-15)
        assert np.ptp(y) > 1e-4  # the knee angle moves it
        dependents += 1
    assert dependents == 14
    # MuJoCo's own equality residuals (efc_pos of the equality rows) are zero there.
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_fwdPosition(myoleg, data)
        rows = data.efc_type == int(mujoco.mjtConstraint.mjCNSTR_EQUALITY)
        assert rows.sum() == 14
        np.testing.assert_allclose(data.efc_pos[rows], 0.0, atol=1e-12)


def test_coordinate_jacobian_is_the_total_derivative(myoleg):
    """Chain rule over the coupled knee joints = central difference of the mapped MTU lengths."""
    knee, h = np.array([0.4, 1.1]), 1e-6
    coordinates = {"knee_angle_r": knee, "hip_flexion_r": np.array([0.2, 0.5])}
    qpos = qpos_from_coordinates(myoleg, coordinates)
    muscles = ["vasint_r", "semimem_r", "gaslat_r", "recfem_r"]
    _, moment = model_geometry(myoleg, qpos, muscles)
    total = np.einsum("fmv,fv->fm", moment, coordinate_jacobian(myoleg, qpos, "knee_angle_r"))
    shifted = [qpos_from_coordinates(myoleg, {**coordinates, "knee_angle_r": knee + s})
               for s in (h, -h)]
    plus, minus = (model_geometry(myoleg, q, muscles)[0] for q in shifted)
    np.testing.assert_allclose(total, (plus - minus) / (2 * h), rtol=1e-5, atol=1e-8)
    # Without the coupled joints the vasti's knee moment arm is off by more than the bound.
    direct = moment[:, 0, myoleg.jnt_dofadr[myoleg.joint("knee_angle_r").id]]
    assert np.max(np.abs(direct - total[:, 0])) > GEOMETRY_BOUNDS["moment_arm_rms"]


def test_root_and_hip_pose_match_opensim(reference_dir, myoleg):
    """Frame 60 of the trial: OpenSim 4.6's pelvis and femur_l poses in its ground frame
    (`Body.getTransformInGround`, generic Rajagopal2016.osim), turned into MuJoCo's world."""
    row = 60
    ik = read_csv(reference_dir / "walk_ik_coordinates.csv")
    opensim = {
        "pelvis": (np.array([[0.99214104, -0.07073298, 0.10321336],
                             [0.0706536, 0.99749108, 0.00442948],
                             [-0.10326772, 0.00289773, 0.99464938]]),
                   np.array([0.19560901, 0.99894805, -0.22266101])),
        "femur_l": (np.array([[0.88239111, -0.43766876, 0.17271936],
                              [0.4493754, 0.89270856, -0.03366273],
                              [-0.13945492, 0.10731953, 0.98439567]]),
                    np.array([0.13735285, 0.91633665, -0.29392357])),
    }
    qpos = qpos_from_coordinates(myoleg, {k: v[row:row + 1] for k, v in ik.items()})
    data = mujoco.MjData(myoleg)
    data.qpos[:] = qpos[0]
    mujoco.mj_kinematics(myoleg, data)
    for body, (rotation, position) in opensim.items():
        b = myoleg.body(body).id
        np.testing.assert_allclose(data.xpos[b], OPENSIM_TO_WORLD @ position, atol=2e-6)
        np.testing.assert_allclose(data.xmat[b].reshape(3, 3), OPENSIM_TO_WORLD @ rotation,
                                   atol=2e-6)


def test_flipped_knee_sign_fails(reference_dir, myoleg, tmp_path):
    """The comparison can tell a wrong sign convention: negated knee angles break the bound."""
    _copy_trial(reference_dir, tmp_path)
    ik = read_csv(tmp_path / "walk_ik_coordinates.csv")
    for side in "rl":
        ik[f"knee_angle_{side}"] = -ik[f"knee_angle_{side}"]
    _write_csv(tmp_path / "walk_ik_coordinates.csv", ik)
    comparison = compare_geometry(tmp_path, myoleg)
    assert not comparison.passed
    assert any(r.muscle == "vasint_r" and not r.passed for r in comparison.select("mtu_length"))


# --- other trials and bad input --------------------------------------------------------------

def test_subset_of_frames_and_muscles(reference_dir, myoleg, tmp_path):
    full = compare_geometry(reference_dir, myoleg)
    lengths = read_csv(reference_dir / "walk_generic_mtu_lengths.csv")
    arms = read_csv(reference_dir / "walk_generic_moment_arms.csv")
    rows = np.arange(3, 119, 7)
    muscles = ["soleus_l", "vaslat_r", "glmax1_r"]
    _write_csv(tmp_path / "run2_generic_mtu_lengths.csv",
               {"time": lengths["time"][rows], **{m: lengths[m][rows] for m in muscles}})
    pairs = ["vaslat_r__knee_angle_r", "soleus_l__ankle_angle_l", "soleus_l__knee_angle_r"]
    _write_csv(tmp_path / "run2_generic_moment_arms.csv",
               {"time": arms["time"][rows[::2]], **{p: arms[p][rows[::2]] for p in pairs}})
    shutil.copy(reference_dir / "walk_ik_coordinates.csv", tmp_path / "run2_ik_coordinates.csv")
    (tmp_path / "notes.txt").write_text("not a trial")
    assert find_walking_trials(tmp_path) == ["run2"]

    part = compare_geometry(tmp_path, myoleg)
    assert part.trial == "run2" and part.muscles == tuple(muscles)
    np.testing.assert_allclose(part.times, lengths["time"][rows])
    np.testing.assert_allclose(part.moment_arm_times, arms["time"][rows[::2]])
    columns = [full.muscles.index(m) for m in muscles]
    np.testing.assert_allclose(part.mtu_length, full.mtu_length[rows][:, columns], atol=1e-12)
    assert [(r.muscle, r.coordinate) for r in part.select("moment_arm")] == [
        ("vaslat_r", "knee_angle_r"), ("soleus_l", "ankle_angle_l")]  # soleus_l/knee_r: 0
    assert part.passed

    # Only one of the two files, and an IK file with just the needed frames.
    (tmp_path / "run2_generic_moment_arms.csv").unlink()
    ik = read_csv(reference_dir / "walk_ik_coordinates.csv")
    _write_csv(tmp_path / "run2_ik_coordinates.csv", {k: v[rows] for k, v in ik.items()})
    only = compare_geometry(tmp_path, myoleg)
    assert only.moment_arm is None and only.select("moment_arm") == []
    np.testing.assert_allclose(only.mtu_length, part.mtu_length, atol=1e-12)


def test_missing_muscle_is_a_clear_error(reference_dir, myoleg, tmp_path):
    _copy_trial(reference_dir, tmp_path)
    lengths = read_csv(tmp_path / "walk_generic_mtu_lengths.csv")
    lengths["bicfem_r"] = lengths["soleus_r"]
    lengths["quadfem_l"] = lengths["soleus_r"]
    _write_csv(tmp_path / "walk_generic_mtu_lengths.csv", lengths)
    with pytest.raises(ValueError, match=r"not actuators of the MuJoCo model: \['bicfem_r', 'quadfem_l'\]"):
        compare_geometry(tmp_path, myoleg)
    arms = read_csv(tmp_path / "walk_generic_moment_arms.csv")
    shutil.copy(reference_dir / "walk_generic_mtu_lengths.csv", tmp_path)
    _write_csv(tmp_path / "walk_generic_moment_arms.csv",
               {**arms, "soleus_r__lumbar_extension": arms["soleus_r__knee_angle_r"]})
    with pytest.raises(ValueError, match=r"coordinates \['lumbar_extension'\] are not hinge"):
        compare_geometry(tmp_path, myoleg)


def test_bad_frames_units_and_files(reference_dir, myoleg, tmp_path):
    _copy_trial(reference_dir, tmp_path)
    lengths = read_csv(tmp_path / "walk_generic_mtu_lengths.csv")
    ik = read_csv(tmp_path / "walk_ik_coordinates.csv")
    _write_csv(tmp_path / "walk_generic_mtu_lengths.csv", {**lengths, "time": lengths["time"] + 0.005})
    with pytest.raises(ValueError, match="no row in the IK coordinates"):
        compare_geometry(tmp_path, myoleg)
    _write_csv(tmp_path / "walk_generic_mtu_lengths.csv", lengths)
    degrees = {k: v if k == "time" or k.endswith(("_tx", "_ty", "_tz")) else np.degrees(v)
               for k, v in ik.items()}
    _write_csv(tmp_path / "walk_ik_coordinates.csv", degrees)
    with pytest.raises(ValueError, match="look like degrees"):
        compare_geometry(tmp_path, myoleg)
    (tmp_path / "walk_ik_coordinates.csv").unlink()
    with pytest.raises(FileNotFoundError, match="needs the IK coordinates walk_ik_coordinates.csv"):
        compare_geometry(tmp_path, myoleg)
    with pytest.raises(ValueError, match="no geometry files for trial 'run'"):
        compare_geometry(tmp_path, myoleg, trial="run")


def test_reports(reference_dir, myoleg, tmp_path):
    comparison = compare_geometry(reference_dir, myoleg)
    table = format_geometry_table(comparison)
    assert len(table.splitlines()) == 2 + 80 and "| semimem_r |" in table
    assert "PASSED" in summarize_geometry(comparison)
    write_geometry_csv(comparison, tmp_path / "geometry.csv")
    rows = read_csv(tmp_path / "geometry.csv")
    assert len(rows["muscle"]) == len(comparison.results)
    assert set(rows["status"]) == {"pass"}
    plot_geometry(comparison, tmp_path / "geometry.png")
    assert (tmp_path / "geometry.png").stat().st_size > 20_000


# --- through validate-opensim ----------------------------------------------------------------

def test_validate_opensim_checks_walking_geometry(reference_dir, tmp_path):
    _copy_trial(reference_dir, tmp_path, trial="mytrial")
    shutil.copy(reference_dir / "walk_mtu_lengths.csv", tmp_path / "mytrial_mtu_lengths.csv")
    checks = validate_opensim(tmp_path, progress=False)
    assert passed(checks)
    by_file = {f: [c for c in checks if c.file == f] for f in {c.file for c in checks}}
    lengths = by_file["mytrial_generic_mtu_lengths.csv"]
    assert len(lengths) == 80 and all(c.status == PASS and c.metric == "rms" for c in lengths)
    assert all(c.tolerance == GEOMETRY_BOUNDS["mtu_length_rms"] for c in lengths)
    arms = by_file["mytrial_generic_moment_arms.csv"]
    assert len(arms) >= 90 and all(c.status == PASS for c in arms)
    assert "mytrial_ik_coordinates.csv" not in by_file  # read by the geometry checks
    [scaled] = by_file["mytrial_mtu_lengths.csv"]
    assert scaled.status == SKIPPED and "subject-scaled" in scaled.note

    # A muscle 2 cm off fails the run and the command's exit status.
    table = read_csv(tmp_path / "mytrial_generic_mtu_lengths.csv")
    table["vasint_l"] = table["vasint_l"] + 0.02
    _write_csv(tmp_path / "mytrial_generic_mtu_lengths.csv", table)
    out = tmp_path / "report.json"
    assert main(["validate-opensim", str(tmp_path), "--no-progress", "--json", str(out)]) == 1
    report = json.loads(out.read_text())
    failed = [c for c in report["checks"] if c["status"] == FAIL]
    assert [c["case"] for c in failed] == ["mytrial: vasint_l"]
    assert report["summary"]["passed"] is False
