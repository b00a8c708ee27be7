"""OpenSim motion files: `read_table`, `read_trc`, `write_table` and the results writers."""

import re

import numpy as np
import pytest

from mskdiff.io import (
    read_table,
    read_trc,
    write_controls,
    write_coordinates,
    write_ground_reactions,
    write_muscle_states,
    write_table,
)

#: The column layout of OpenSim's external loads, as `grf_walk.mot` has it.
GRF_LABELS = tuple(label for side in "rl" for label in (
    *(f"ground_force_{side}_v{a}" for a in "xyz"), *(f"ground_force_{side}_p{a}" for a in "xyz"),
    *(f"ground_torque_{side}_{a}" for a in "xyz")))


@pytest.fixture
def walk_data(reference_dir):
    folder = reference_dir.parent / "data" / "rajagopal2016"
    if not (folder / "grf_walk.mot").is_file() or not (folder / "motion_capture_walk.trc").is_file():
        pytest.skip(f"grf_walk.mot or motion_capture_walk.trc not found in {folder}")
    return folder


def write(tmp_path, text: str, name: str = "t.mot") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


# --- reading --------------------------------------------------------------------------------


def test_reads_shared_grf_walk_mot(walk_data):
    table = read_table(walk_data / "grf_walk.mot")
    assert table.name == "subject11_noload_free_trial03_ground_reaction" and not table.in_degrees
    assert table.metadata == {"version": "1", "nRows": "4778", "nColumns": "19", "inDegrees": "no"}
    assert table.labels == GRF_LABELS and table.values.shape == (4778, 18)
    np.testing.assert_allclose(np.diff(table.time), 0.0005, atol=1e-12)
    assert table.column("ground_force_r_px")[0] == 346.097838
    assert table.column("ground_force_l_pz")[0] == -502.663311


def test_reads_shared_motion_capture_trc(walk_data):
    markers = read_trc(walk_data / "motion_capture_walk.trc")
    assert markers.units == "mm" and markers.metadata["DataRate"] == "100.0"
    assert markers.values.shape == (238, 41, 3) and len(markers.markers) == 41
    assert markers.markers[:2] == ("R.Shoulder", "L.Shoulder") and markers.markers[-1] == "L.Toe"
    np.testing.assert_array_equal(markers.marker("R.Shoulder")[0], [-652.630, 1529.542, -94.520])
    np.testing.assert_array_equal(markers.frame[:3], [1, 2, 3])
    np.testing.assert_allclose(markers.time[:3], [0.0, 0.01, 0.02])
    assert not np.isnan(markers.values).any()


@pytest.mark.parametrize("text, name, metadata, in_degrees", [
    # OpenSim 4 TimeSeriesTable (STOFileAdapter), tabs.
    ("inDegrees=yes\nDataType=double\nversion=3\nOpenSimVersion=4.6\nendheader\n"
     "time\ta\tb\n0\t1\t2\n0.5\t3\t4\n", "", {"inDegrees": "yes", "DataType": "double",
                                              "version": "3", "OpenSimVersion": "4.6"}, True),
    # Version 1 Storage, spaces, Windows line ends, free text and blank lines.
    ("Coordinates\r\nversion=1\r\nnRows=2\r\nnColumns=3\r\ninDegrees=no\r\n\r\n"
     "Units are S.I. units\r\nendheader\r\n  time  a  b\r\n 0 1 2\r\n\r\n0.5 3 4\r\n",
     "Coordinates", {"version": "1", "nRows": "2", "nColumns": "3", "inDegrees": "no"}, False),
    # SIMM-era header.
    ("name walk\ndatacolumns 3\ndatarows 2\nrange 0 0.5\nendheader\ntime\ta\tb\n0\t1\t2\n0.5\t3\t4\n",
     "walk", {"name": "walk", "datacolumns": "3", "datarows": "2", "range": "0 0.5"}, False),
])
def test_reads_header_formats(tmp_path, text, name, metadata, in_degrees):
    table = read_table(write(tmp_path, text))
    assert (table.name, table.metadata, table.in_degrees) == (name, metadata, in_degrees)
    assert table.labels == ("a", "b")
    np.testing.assert_array_equal(table.time, [0, 0.5])
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4]])


HEADER = "t\nversion=1\nnRows=2\nnColumns=3\ninDegrees=no\nendheader\ntime\ta\tb\n"


@pytest.mark.parametrize("text, pattern", [
    ("t\nversion=1\ntime\ta\n0\t1\n", r"no 'endheader' line"),
    ("t\nendheader\n\n", r"no column labels after 'endheader' \(line 2\)"),
    (HEADER + "0\t1\t2\n0.5\t3\n", r"line 9: 2 values, expected 3 \(one per column label\)"),
    (HEADER + "0\t1\t2\n0.5\t3\tx4\n", r"line 9, column 'b': not a number: 'x4'"),
    (HEADER + "0\t1\t2\n", r"the header declares nRows=2, the file has 1 rows"),
    (HEADER.replace("nColumns=3", "nColumns=4") + "0\t1\t2\n0.5\t3\t4\n",
     r"the header declares nColumns=4, the file has 3 columns \(time included\)"),
    (HEADER.replace("inDegrees=no", "inDegrees=maybe") + "0\t1\t2\n0.5\t3\t4\n",
     r"inDegrees must be yes or no, got 'maybe'"),
    ("t\nendheader\ntime\ta\ta\n", r"line 3: duplicate column labels \['a'\]"),
])
def test_malformed_tables_name_file_and_line(tmp_path, text, pattern):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(path) + ": " + pattern):
        read_table(path)


TRC = ("PathFileType\t4\t(X/Y/Z)\tm.trc\n"
       "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\n100\t100\t2\t2\tm\n"
       "Frame#\tTime\tA\t\t\tB\t\t\t\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n")


def test_trc_missing_markers_are_nan(tmp_path):
    markers = read_trc(write(tmp_path, TRC + "1\t0\t1\t2\t3\t\t\t\n2\t0.01\t4\t5\t6\n", "m.trc"))
    assert markers.markers == ("A", "B") and markers.units == "m"
    np.testing.assert_array_equal(markers.marker("A"), [[1, 2, 3], [4, 5, 6]])
    assert np.isnan(markers.marker("B")).all()
    with pytest.raises(KeyError, match=r"no marker 'C'; available: \['A', 'B'\]"):
        markers.marker("C")


@pytest.mark.parametrize("text, pattern", [
    ("Frame#\tTime\n", r"not a .trc file"),
    (TRC.replace("100\t100\t2", "100\t100"), r"line 3: 4 values for the 5 keys of line 2"),
    (TRC + "1\t0\t1\t2\t3\t4\t5\t6\t7\n2\t0.01\t1\t2\t3\t4\t5\t6\n",
     r"line 7: 9 values, expected 8 \(frame, time and X, Y, Z of 2 markers\)"),
    (TRC + "1\t0\t1\t2\t3\t4\t5\t6\n2\t0.01\t1\t2\t3\tfour\t5\t6\n",
     r"line 8, column 'B.X': not a number: 'four'"),
    (TRC + "1\t0\t1\t2\t3\t4\t5\t6\n", r"the header declares NumFrames=2, the file has 1 frames"),
])
def test_malformed_trc_names_file_and_line(tmp_path, text, pattern):
    path = write(tmp_path, text, "m.trc")
    with pytest.raises(ValueError, match=re.escape(path) + ": " + pattern):
        read_trc(path)


def test_missing_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.mot"):
        read_table(tmp_path / "absent.mot")
    table = read_table(write(tmp_path, HEADER + "0\t1\t2\n0.5\t3\t4\n"))
    with pytest.raises(KeyError, match=r"no column 'c'; available: \['a', 'b'\]"):
        table.column("c")


# --- writing --------------------------------------------------------------------------------

#: Numbers whose shortest decimals are awkward: tiny, huge, negative zero, non-finite.
AWKWARD = np.array([[0.1, 1 / 3, -0.0], [1e-300, 6.02214076e23, np.nan], [np.pi, -np.inf, 2.5]])


def test_table_round_trip_is_exact(tmp_path):
    path = tmp_path / "exact.sto"
    write_table(path, [0.0, 0.01, 0.02], ["a", "/forceset/m/activation", "b c"], AWKWARD)
    table = read_table(path)
    assert table.name == "exact" and table.labels == ("a", "/forceset/m/activation", "b c")
    np.testing.assert_array_equal(table.time, [0.0, 0.01, 0.02])
    np.testing.assert_array_equal(table.values, AWKWARD)
    assert table.metadata == {"version": "1", "nRows": "3", "nColumns": "4", "inDegrees": "no"}


def test_table_round_trip_at_written_precision(tmp_path):
    path = tmp_path / "rounded.mot"
    write_table(path, [0.0, 0.01, 0.02], ["a", "b", "c"], AWKWARD, precision=6)
    expected = np.vectorize(lambda x: float(f"{x:.6g}"))(AWKWARD)
    np.testing.assert_array_equal(read_table(path).values, expected)
    assert path.read_text().splitlines()[7].split("\t")[1:3] == ["0.1", "0.333333"]


@pytest.mark.parametrize("labels, values, error, pattern", [
    (["a", "a"], np.zeros((2, 2)), ValueError, r"repeated: \['a'\]"),
    (["a", "time"], np.zeros((2, 2)), ValueError, r"offending: \['time'\]"),
    (["a", "b\tc"], np.zeros((2, 2)), ValueError, r"offending: \['b\\tc'\]"),
    (["a", "b"], np.zeros((2, 3)), ValueError, r"`values` must have shape \(2, 2\), got \(2, 3\)"),
    ("ab", np.zeros((2, 2)), TypeError, r"sequence of names, got the string 'ab'"),
])
def test_write_table_rejects_bad_input(tmp_path, labels, values, error, pattern):
    with pytest.raises(error, match=pattern):
        write_table(tmp_path / "bad.mot", [0.0, 1.0], labels, values)


def test_coordinates_mot_in_degrees(tmp_path):
    path = tmp_path / "coordinates.mot"
    values = np.array([[0.5, 0.9], [np.pi / 2, 1.0]])
    write_coordinates(path, [0.0, 0.01], ["hip_flexion_r", "pelvis_ty"], values,
                      rotational=[True, False])
    table = read_table(path)
    assert table.in_degrees and table.labels == ("hip_flexion_r", "pelvis_ty")
    np.testing.assert_array_equal(table.values, [[np.rad2deg(0.5), 0.9], [90.0, 1.0]])
    with pytest.raises(ValueError, match=r"`rotational` must have shape \(2,\)"):
        write_coordinates(path, [0.0, 0.01], ["a", "b"], values, rotational=[True])


def test_muscle_states_sto_uses_opensim_state_paths(tmp_path):
    path = tmp_path / "states.sto"
    activation, fiber = np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([[0.05, 0.06], [0.07, 0.08]])
    write_muscle_states(path, [0.0, 0.01], ["soleus_r", "glmax1_r"], activation,
                        fiber_length=fiber, tendon_compliant=[True, False])
    table = read_table(path)
    assert table.labels == ("/forceset/soleus_r/activation", "/forceset/soleus_r/fiber_length",
                            "/forceset/glmax1_r/activation") and not table.in_degrees
    np.testing.assert_array_equal(table.values, [[0.1, 0.05, 0.2], [0.3, 0.07, 0.4]])
    write_muscle_states(path, [0.0, 0.01], ["tibant_r", "soleus_r"], activation,
                        normalized_tendon_force=fiber)
    assert read_table(path).labels == (
        "/forceset/tibant_r/activation", "/forceset/tibant_r/normalized_tendon_force",
        "/forceset/soleus_r/activation", "/forceset/soleus_r/normalized_tendon_force")
    with pytest.raises(ValueError, match=r"`fiber_length` must have shape \(2, 2\)"):
        write_muscle_states(path, [0.0, 0.01], ["a", "b"], activation, fiber_length=fiber[:1])


def test_controls_sto(tmp_path):
    path = tmp_path / "controls.sto"
    write_controls(path, [0.0, 0.01], ["soleus_r", "tibant_r"], [[0.1, 0.2], [0.3, 0.4]])
    table = read_table(path)
    assert table.labels == ("/forceset/soleus_r", "/forceset/tibant_r")
    np.testing.assert_array_equal(table.values, [[0.1, 0.2], [0.3, 0.4]])


def test_ground_reactions_rewrite_grf_walk_exactly(walk_data, tmp_path):
    original = read_table(walk_data / "grf_walk.mot")
    per_side = original.values.reshape(-1, 2, 9)
    path = tmp_path / "grf.mot"
    write_ground_reactions(path, original.time, per_side[..., :3], per_side[..., 3:6],
                           per_side[..., 6:])
    written = read_table(path)
    assert written.labels == original.labels == GRF_LABELS
    assert written.metadata == original.metadata
    np.testing.assert_array_equal(written.time, original.time)
    np.testing.assert_array_equal(written.values, original.values)


def test_ground_reactions_layout_and_checks(tmp_path):
    path = tmp_path / "grf.mot"
    force, point, torque = (np.arange(6.0).reshape(1, 2, 3) + offset for offset in (0, 10, 20))
    write_ground_reactions(path, [0.0], force, point, torque)
    table = read_table(path)
    assert table.labels == GRF_LABELS
    np.testing.assert_array_equal(table.values[0], [0, 1, 2, 10, 11, 12, 20, 21, 22,
                                                    3, 4, 5, 13, 14, 15, 23, 24, 25])
    with pytest.raises(ValueError, match=r"`torque` must have shape \(1, 2, 3\)"):
        write_ground_reactions(path, [0.0], force, point, torque[:, :1])


# --- OpenSim reads what is written ------------------------------------------------------------


def test_opensim_reads_every_written_file(tmp_path):
    opensim = pytest.importorskip("opensim", reason="the `opensim` extra is not installed")
    time = [0.0, 0.01]
    two = np.array([[0.1, 0.2], [0.3, 0.4]])
    # OpenSim 4.6 reads infinities as NaN (those it writes too): only NaN is left in.
    finite_or_nan = np.where(np.isinf(AWKWARD), 7.0, AWKWARD)
    write_table(tmp_path / "table.sto", [0.0, 0.01, 0.02], ["a", "b", "c"], finite_or_nan)
    write_coordinates(tmp_path / "coordinates.mot", time, ["knee_angle_r", "pelvis_tx"], two,
                      rotational=[True, False])
    write_muscle_states(tmp_path / "states.sto", time, ["soleus_r", "tibant_r"], two,
                        normalized_tendon_force=two)
    write_controls(tmp_path / "controls.sto", time, ["soleus_r", "tibant_r"], two)
    write_ground_reactions(tmp_path / "grf.mot", time, *np.ones((3, 2, 2, 3)))
    for path in sorted(tmp_path.iterdir()):
        ours, theirs = read_table(path), opensim.TimeSeriesTable(str(path))
        assert tuple(theirs.getColumnLabels()) == ours.labels, path.name
        np.testing.assert_array_equal(np.array(theirs.getIndependentColumn()), ours.time)
        np.testing.assert_array_equal(theirs.getMatrix().to_numpy(), ours.values, err_msg=path.name)
    assert opensim.TimeSeriesTable(str(tmp_path / "coordinates.mot")) \
        .getTableMetaDataAsString("inDegrees") == "yes"


def test_opensim_reads_shared_files_as_we_do(walk_data):
    opensim = pytest.importorskip("opensim", reason="the `opensim` extra is not installed")
    ours, theirs = (read_table(walk_data / "grf_walk.mot"),
                    opensim.TimeSeriesTable(str(walk_data / "grf_walk.mot")))
    assert tuple(theirs.getColumnLabels()) == ours.labels
    np.testing.assert_array_equal(theirs.getMatrix().to_numpy(), ours.values)
    markers = read_trc(walk_data / "motion_capture_walk.trc")
    trc = opensim.TimeSeriesTableVec3(str(walk_data / "motion_capture_walk.trc"))
    assert tuple(trc.getColumnLabels()) == markers.markers
    np.testing.assert_array_equal(np.array(trc.getIndependentColumn()), markers.time)
    first = trc.getRowAtIndex(0)
    np.testing.assert_array_equal([[first[k][i] for i in range(3)] for k in range(2)],
                                  markers.values[0, :2])
