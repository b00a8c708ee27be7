"""The walking trial on myolegs26 for tracking (host side only: no MJX program is compiled).

The tracking problem itself is solved by `mskdiff track` (a benchmark, `benchmarks/trajopt.py`);
the solver is tested on the tiny leg in `test_trajectory.py`.
"""

import numpy as np
import pytest

from mskdiff.cli import main
from mskdiff.io.opensim_results import write_coordinates
from mskdiff.models.kinematics import COORDINATE_SIGNS, OPENSIM_TO_WORLD
from mskdiff.models.locomotion import foot_heights
from mskdiff.models.myolegs26 import myolegs26_mjmodel
from mskdiff.solvers.gait_tracking import (
    gait_reference,
    read_coordinates,
    read_ground_reactions,
)

DT = 0.002
WINDOW = (0.268, 0.468)


@pytest.fixture(scope="module")
def mj_model():
    return myolegs26_mjmodel()


@pytest.fixture
def walk(reference_dir):
    return reference_dir / "walk_ik_coordinates.csv", reference_dir / "walk_grf.csv"


def _reference(mj_model, walk, **options):
    return gait_reference(mj_model, *walk, *WINDOW, DT, model_mass=78.0,
                          signs=COORDINATE_SIGNS["myolegs26"], **options)


def test_reference_is_on_the_step_grid_with_the_feet_on_the_floor(mj_model, walk):
    """Frames at every step; the median frame's lower foot 1 mm in the floor; the forces are
    the trial's, in the world frame, scaled by 78 / 85.0668 kg."""
    reference = _reference(mj_model, walk)
    n = round((WINDOW[1] - WINDOW[0]) / DT) + 1
    assert reference.qpos.shape == (n, mj_model.nq) and reference.qvel.shape == (n, mj_model.nv)
    np.testing.assert_allclose(np.diff(reference.time), DT, atol=1e-12)
    assert np.median(foot_heights(mj_model, reference.qpos)) == pytest.approx(-1e-3, abs=1e-9)
    assert "subtalar_angle_r" in reference.unused_coordinates
    time, measured = read_ground_reactions(walk[1])
    k = int(np.argmin(np.abs(time - reference.time[50])))
    expected = 78.0 / 85.0668 * OPENSIM_TO_WORLD @ measured["r"][k]
    np.testing.assert_allclose(reference.forces["r"][50], expected, rtol=1e-3, atol=1.0)
    assert reference.forces["r"][50, 2] > 400  # right stance, vertical = world z


def test_mot_coordinates_in_degrees_equal_the_csv(walk, tmp_path):
    """A `.mot` (the writer puts rotations in degrees) reads back as the CSV's radians; the
    pelvis translation stays in metres."""
    time, coordinates = read_coordinates(walk[0])
    names = ["pelvis_ty", "knee_angle_r", "hip_flexion_l"]
    write_coordinates(tmp_path / "walk.mot", time, names,
                      np.column_stack([coordinates[n] for n in names]),
                      rotational=[n != "pelvis_ty" for n in names])
    _, read = read_coordinates(tmp_path / "walk.mot")
    for name in names:
        np.testing.assert_allclose(read[name], coordinates[name], rtol=1e-6, atol=1e-9)


def test_windows_the_files_do_not_cover_are_refused(mj_model, walk):
    with pytest.raises(ValueError, match="walk_ik_coordinates.csv covers 0-1.18 s"):
        gait_reference(mj_model, *walk, 1.0, 1.3, DT, model_mass=78.0)
    with pytest.raises(ValueError, match="at least one step"):
        gait_reference(mj_model, *walk, 0.5, 0.5, DT, model_mass=78.0)


def test_grf_files_need_their_columns(tmp_path):
    path = tmp_path / "grf.csv"
    path.write_text("time,r_vy\n0,1\n0.1,2\n")
    with pytest.raises(ValueError, match="r_vx"):
        read_ground_reactions(path)


def test_track_refuses_models_without_a_coordinate_mapping(tmp_path, capsys):
    assert main(["track", "--model", "myohand_r", "--out", str(tmp_path)]) == 1
    assert "myolegs26" in capsys.readouterr().err
