"""`mskdiff gait-report` and `mskdiff.validation.gait`: a result built from the walking trial itself
matches it exactly, known perturbations give their known errors, on/off timing of synthetic
signals, missing inputs are reported, and the command writes Markdown, PNGs and JSON. numpy only
(no JAX programs), a few seconds."""

import json
import math
import shutil

import numpy as np
import pytest

from mskdiff.cli import main
from mskdiff.io import (
    read_csv,
    write_controls,
    write_coordinates,
    write_ground_reactions,
    write_muscle_states,
)
from mskdiff.validation import (
    EMG_THRESHOLD,
    MYOLEGS26_CHANNEL_MUSCLES,
    TimeSeries,
    compare_emg,
    detect_on,
    gait_report,
    normalise_cycle,
    on_intervals,
    ralston_cost_of_transport,
    read_gait_result,
)
from mskdiff.validation.gait import GRAVITY, TRIAL_BODY_MASS

#: The trial's gait cycle: right heel strikes [s] (walk_gait_events.csv).
CYCLE = (0.268, 1.412)
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


@pytest.fixture(scope="module")
def reference():
    from conftest import REFERENCE_DIR

    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"OpenSim reference data not found at {REFERENCE_DIR} "
                    "(set MSKDIFF_REFERENCE to its folder)")
    return REFERENCE_DIR


@pytest.fixture(scope="module")
def trial(reference):
    """The trial's coordinates (extended to 1.5 s, past the cycle), GRF [N] and EMG."""
    ik = read_csv(reference / "walk_ik_coordinates.csv")
    time = ik.pop("time")
    coordinates = {name: np.append(q, q[-1]) for name, q in ik.items()}  # held after 1.18 s
    grf = read_csv(reference / "walk_grf.csv")
    emg = read_csv(reference / "walk_emg.csv")
    channels = read_csv(reference / "walk_emg_channel_map.csv")
    return {"coordinates": (np.append(time, 1.5), coordinates),
            "grf": (grf["time"], {k: grf[k] for k in ("r_vy", "r_vx", "l_vy", "l_vx")}),
            "emg": (emg.pop("time"), emg),
            "channel_map": {c: m.split() for c, m in zip(channels["channel"],
                                                         channels["rajagopal_muscles"], strict=True)}}


def _write_result(directory, *, coordinates=None, grf=None, activations=None, excitations=None,
                  info=None):
    """A result folder: `(time, {name: values})` in SI units, as `write_opensim_results` writes."""
    directory.mkdir(parents=True, exist_ok=True)
    if coordinates is not None:
        time, columns = coordinates
        write_coordinates(directory / "coordinates.mot", time, list(columns),
                          np.column_stack(list(columns.values())),
                          rotational=[name not in TRANSLATIONS for name in columns])
    if grf is not None:
        time, columns = grf
        force = np.zeros((len(time), 2, 3))
        for k, side in enumerate("rl"):
            force[:, k, 0], force[:, k, 1] = columns[f"{side}_vx"], columns[f"{side}_vy"]
        write_ground_reactions(directory / "ground_reactions.mot", time, force,
                               np.zeros_like(force), np.zeros_like(force))
    if activations is not None:
        time, columns = activations
        write_muscle_states(directory / "states.sto", time, list(columns),
                            np.column_stack(list(columns.values())))
    if excitations is not None:
        time, columns = excitations
        write_controls(directory / "controls.sto", time, list(columns),
                       np.column_stack(list(columns.values())))
    if info is not None:
        (directory / "result.json").write_text(json.dumps(info))
    return directory


def _activations(trial, channel_map):
    """Each muscle's activation = its channel's EMG envelope over the envelope's maximum."""
    time, emg = trial["emg"]
    return time, {m: emg[c] / emg[c].max() for c, muscles in channel_map.items() for m in muscles}


@pytest.fixture(scope="module")
def identical(trial, tmp_path_factory):
    """The trial written as a result folder."""
    return _write_result(tmp_path_factory.mktemp("identical"), coordinates=trial["coordinates"],
                         grf=trial["grf"], activations=_activations(trial, trial["channel_map"]))


def test_normalise_cycle_interpolates_linearly():
    time = np.linspace(0.0, 2.0, 21)
    values = np.column_stack([3 * time + 1, -time])
    out = normalise_cycle(time, values, 0.55, 1.55, 5)
    at = np.linspace(0.55, 1.55, 5)
    np.testing.assert_allclose(out, np.column_stack([3 * at + 1, -at]), rtol=1e-14)
    assert normalise_cycle(time, values[:, 0], 0.0, 2.0).shape == (101,)


def test_normalise_cycle_needs_the_window_covered():
    time, values = np.linspace(0.0, 1.0, 11), np.linspace(0.0, 1.0, 11)
    with pytest.raises(ValueError, match="cover 0-1 s, not the whole gait cycle 0.5-1.5 s"):
        normalise_cycle(time, values, 0.5, 1.5)
    with pytest.raises(ValueError, match="must end after it starts"):
        normalise_cycle(time, values, 0.8, 0.2)
    partial = normalise_cycle(time, values, 0.5, 1.5, 11, partial=True)
    np.testing.assert_allclose(partial[:6], np.linspace(0.5, 1.0, 6))
    assert np.isnan(partial[6:]).all()


def _square(on_from, on_to, n=101, low=0.05, high=1.0):
    """A signal that is `high` from `on_from` to `on_to` % of the cycle and `low` elsewhere."""
    percent = np.linspace(0, 100, n)
    return np.where((percent >= on_from) & (percent <= on_to), high, low)


def test_on_off_of_a_square_signal():
    signal = _square(30, 60)
    on = detect_on(signal, 0.25)
    assert on_intervals(on, np.linspace(0, 100, 101)) == [[30.0, 60.0]]
    assert on_intervals(detect_on(signal + _square(80, 90, low=0.0), 0.25),
                        np.linspace(0, 100, 101)) == [[30.0, 60.0], [80.0, 90.0]]
    assert not detect_on(np.zeros(5)).any()  # a silent signal is never on
    with pytest.raises(ValueError, match="fraction of the peak"):
        detect_on(signal, 25)


def test_agreement_is_the_share_of_the_cycle_where_on_off_match():
    time = np.linspace(0.0, 1.0, 101)  # cycle 0-1 s: sample k is k %
    emg = TimeSeries(time, {"SOL": _square(30, 60)})
    result = TimeSeries(time, {"soleus_r": 0.4 * _square(40, 70)})
    out = compare_emg(result, emg, {"SOL": ("soleus_r",)}, (0.0, 1.0), (0.0, 1.0))
    sol = out["channels"]["SOL"]
    assert sol["emg_on"] == [[30.0, 60.0]] and sol["activation_on"] == [[40.0, 70.0]]
    assert sol["agreement"] == pytest.approx(80.0)  # 30-39 % and 61-70 % differ: 20 of 100
    assert sol["peak_activation"] == pytest.approx(0.4)
    assert out["threshold"] == EMG_THRESHOLD


def test_the_trial_against_itself_agrees_exactly(identical, reference):
    report = gait_report(identical, reference)
    assert report["result_cycle"] == pytest.approx(CYCLE)
    coordinates = report["coordinates"]
    assert len(coordinates["coordinates"]) == 39 and not coordinates["missing"]
    assert max(e["rms"] for e in coordinates["coordinates"].values()) < 1e-9
    assert coordinates["reference_covers"][0] == 0  # the trial's IK ends at 1.18 s: 79 %
    assert coordinates["reference_covers"][1] == math.floor(100 * (1.18 - 0.268) / (1.412 - 0.268))
    grf = report["ground_reactions"]["components"]
    assert set(grf) == {"r_vy", "r_vx", "l_vy", "l_vx"}
    for entry in grf.values():
        assert entry["rms"] < 1e-12 and entry["r"] == pytest.approx(1.0, abs=1e-12)
    channels = report["emg"]["channels"]
    assert report["emg"]["mapping"] == "rajagopal2016" and not report["emg"]["missing"]
    assert len(channels) == 10
    for entry in channels.values():
        assert entry["agreement"] == 100.0 and entry["r"] == pytest.approx(1.0, abs=1e-12)
        assert entry["emg_on"] == entry["activation_on"]
    assert report["body_weight"]["mass"] == TRIAL_BODY_MASS
    assert "the trial's" in report["body_weight"]["source"]
    assert report["metabolics"]["cost_of_transport"] is None
    assert "result.json is not in the result folder" in report["missing"]
    assert any(line.startswith("cost of transport:") for line in report["missing"])
    json.dumps(report, allow_nan=False)  # JSON as it is


def test_known_offsets_give_their_rms(trial, reference, tmp_path):
    time, coordinates = trial["coordinates"]
    shifted = {name: q + (0.02 if name in TRANSLATIONS else np.deg2rad(3.0))
               for name, q in coordinates.items()}
    mass, offset = 70.0, 0.05  # [kg], [BW]: the model's weight differs from the trial's
    grf_time, grf = trial["grf"]
    forces = {k: grf[k] / (TRIAL_BODY_MASS * GRAVITY) * mass * GRAVITY for k in grf}
    forces["r_vy"] = forces["r_vy"] + offset * mass * GRAVITY
    directory = _write_result(tmp_path / "shifted", coordinates=(time, shifted),
                              grf=(grf_time, forces), info={"body_mass": mass})
    report = gait_report(directory, reference)
    for name, entry in report["coordinates"]["coordinates"].items():
        expected = (2.0, "cm") if name in TRANSLATIONS else (3.0, "deg")
        assert (entry["rms"], entry["unit"]) == (pytest.approx(expected[0], rel=1e-9), expected[1])
    components = report["ground_reactions"]["components"]
    assert components["r_vy"]["rms"] == pytest.approx(offset, rel=1e-9)
    assert components["r_vy"]["r"] == pytest.approx(1.0, abs=1e-12)
    assert components["l_vy"]["rms"] < 1e-9
    assert report["body_weight"] == {"mass": mass, "weight": mass * GRAVITY, "source": "result.json"}
    assert report["emg"] is None
    assert "states.sto (or controls.sto) is not in the result folder" in report["missing"]


def test_missing_coordinates_and_channels_are_listed(trial, reference, tmp_path):
    time, coordinates = trial["coordinates"]
    partial = {k: v for k, v in coordinates.items() if k not in ("knee_angle_r", "lumbar_bending")}
    emg_time, activations = _activations(trial, trial["channel_map"])
    without_mh = {m: a for m, a in activations.items() if m not in ("semimem_r", "semiten_r")}
    without_mh.pop("glmax2_r")
    directory = _write_result(tmp_path / "partial", coordinates=(time, partial),
                              excitations=(emg_time, without_mh))
    report = gait_report(directory, reference)
    assert report["coordinates"]["missing"] == ["knee_angle_r", "lumbar_bending"]
    assert "knee_angle_r" not in report["coordinates"]["coordinates"]
    emg = report["emg"]
    assert emg["source"] == "controls.sto"
    assert emg["missing"] == {"MH": ["semimem_r", "semiten_r"]} and "MH" not in emg["channels"]
    assert emg["channels"]["GMAX"]["muscles"] == ["glmax1_r", "glmax3_r"]
    assert emg["channels"]["GMAX"]["missing_muscles"] == ["glmax2_r"]
    assert "EMG channel MH: the result has none of ['semimem_r', 'semiten_r']" in report["missing"]
    assert report["ground_reactions"] is None


def test_myolegs26_channels_use_its_lumped_muscles(trial, reference, tmp_path):
    emg_time, emg = trial["emg"]
    # BF and VM share hamstrings_r and vasti_r with MH and VL: those muscles follow MH and VL.
    activations = {muscles[0]: emg[channel] for channel, (muscles, _) in MYOLEGS26_CHANNEL_MUSCLES.items()
                   if channel not in ("BF", "VM")}
    for info in ({"model": "myolegs26"}, None):  # named, or inferred from the muscle names
        directory = _write_result(tmp_path / f"m26_{info is None}", activations=(emg_time, activations),
                                  info=info)
        emg_report = gait_report(directory, reference)["emg"]
        assert emg_report["mapping"] == "myolegs26" and not emg_report["missing"]
        assert emg_report["channels"]["BF"]["muscles"] == ["hamstrings_r"]
        for channel in ("SOL", "GAS", "MH", "VL", "GMED"):
            assert emg_report["channels"][channel]["r"] == pytest.approx(1.0, abs=1e-12)
            assert emg_report["channels"][channel]["agreement"] == 100.0


def test_cost_of_transport_from_result_json(identical, reference, tmp_path):
    directory = tmp_path / "with_info"
    shutil.copytree(identical, directory)
    (directory / "result.json").write_text(json.dumps(
        {"model": "myolegs", "body_mass": 80.0, "metabolic_energy": 2000.0, "distance": 10.0,
         "metabolic_model": "Bhargava2004Smoothed"}))
    report = gait_report(directory, reference)
    metabolics = report["metabolics"]
    assert metabolics["cost_of_transport"] == pytest.approx(2000.0 / (80.0 * 10.0))
    speed = metabolics["speed"]  # pelvis_tx over the cycle (held after 1.18 s here)
    assert metabolics["with_basal"] == pytest.approx(2.5 + 1.2 / speed)
    assert metabolics["published"][0]["source"] == "Ralston 1958"
    assert metabolics["published"][0]["cost_of_transport"] == pytest.approx(
        ralston_cost_of_transport(speed))
    assert metabolics["trial_speed"] == pytest.approx(1.28, abs=0.01)
    assert report["model"] == "myolegs" and report["missing"] == []


def test_ralston_cost_at_80_m_per_min():
    # E = 29 + 0.0053 v^2 cal/(kg min) at v = 80 m/min, per metre, in joules.
    assert ralston_cost_of_transport(80 / 60) == pytest.approx((29 + 0.0053 * 80**2) / 80 * 4.184)


def test_trial_body_weight_is_the_grf_files(reference):
    grf = read_csv(reference / "walk_grf.csv")
    loaded = grf["r_vy_bw"] > 0.5
    np.testing.assert_allclose(grf["r_vy"][loaded] / grf["r_vy_bw"][loaded],
                               TRIAL_BODY_MASS * GRAVITY, rtol=1e-12)


@pytest.mark.parametrize("info, match", [
    ({"bodymass": 80}, r"unknown key\(s\) \['bodymass'\]"),
    ({"gait_cycle": [1.0, 0.5]}, "gait_cycle must be"),
    ({"body_mass": -1}, "body_mass must be a number > 0"),
])
def test_bad_result_json_names_the_key(tmp_path, info, match):
    (tmp_path / "result.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=match):
        read_gait_result(tmp_path)


def test_result_json_cycle_and_uncovered_cycle(identical, reference, tmp_path):
    directory = tmp_path / "cycle"
    shutil.copytree(identical, directory)
    (directory / "result.json").write_text(json.dumps({"gait_cycle": [0.3, 1.4]}))
    assert gait_report(directory, reference)["result_cycle"] == [0.3, 1.4]
    with pytest.raises(ValueError, match="do not cover the gait cycle 5-6 s"):
        gait_report(directory, reference, cycle=(5.0, 6.0))


def test_a_result_over_part_of_the_cycle_is_compared_over_that_part(trial, reference, tmp_path):
    """The trial cut at 0.7 s, as a result: zero error where it has data, its coverage said."""
    cut = {}
    for kind in ("coordinates", "grf"):
        time, columns = trial[kind]
        keep = time <= 0.7
        cut[kind] = (time[keep], {k: v[keep] for k, v in columns.items()})
    time, activations = _activations(trial, trial["channel_map"])
    keep = time <= 0.7
    directory = _write_result(tmp_path / "cut", **cut,
                              activations=(time[keep], {k: v[keep] for k, v in activations.items()}))
    report = gait_report(directory, reference)
    first, last = report["result_covers"]
    assert first == 0 and last == math.floor(100 * (0.7 - 0.268) / (1.412 - 0.268))
    assert f"the result covers 0-{last:.0f} % of the gait cycle; every figure is over that part" \
        in report["missing"]
    assert max(e["rms"] for e in report["coordinates"]["coordinates"].values()) < 1e-9
    components = report["ground_reactions"]["components"]
    assert max(entry["rms"] for entry in components.values()) < 1e-12
    # The left foot is in the air after 0.27 s (no force, so no r); the right one is loaded.
    assert components["r_vy"]["r"] == pytest.approx(1.0, abs=1e-12)
    assert components["l_vy"]["r"] is None
    for entry in report["emg"]["channels"].values():  # the peaks are the covered part's
        assert entry["agreement"] == 100.0 and entry["emg_on"] == entry["activation_on"]
    json.dumps(report, allow_nan=False)


def test_command_writes_markdown_pngs_and_json(trial, reference, tmp_path, capsys):
    time, coordinates = trial["coordinates"]
    legs = {k: coordinates[k] for k in ("pelvis_tx", "hip_flexion_r", "knee_angle_r", "ankle_angle_r")}
    directory = _write_result(tmp_path / "result", coordinates=(time, legs), grf=trial["grf"],
                              activations=_activations(trial, trial["channel_map"]))
    assert main(["gait-report", str(directory), "--reference-dir", str(reference),
                 "--emg-threshold", "0.3"]) == 0
    out = directory / "report"
    assert "report.md" in capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    for figure in ("joint_angles.png", "grf.png", "emg.png"):
        assert f"]({figure})" in markdown
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "0.3 x its peak" in markdown and "Waters & Mulroy 1999" in markdown
    report = json.loads((out / "report.json").read_text())
    assert report["emg"]["threshold"] == 0.3
    assert len(report["coordinates"]["coordinates"]["knee_angle_r"]["result"]) == 101


def test_command_error_is_one_line(tmp_path, capsys):
    assert main(["gait-report", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mskdiff: error: result folder not found: {tmp_path / 'nowhere'}"]
