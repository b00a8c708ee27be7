"""Malformed reference files become ERROR rows that name the file, the line or key, and what
was expected; a NaN in a compared reference column is reported as a NaN."""

import json
import shutil

import numpy as np
import pytest

from mskdiff.io import IsolatedMTUCase, read_csv
from mskdiff.validation import passed, validate_opensim
from mskdiff.validation.report import ERROR, PASS

CASE = "dgf_soleus_r_isometric_step"
CURVES = "dgf_tendon_curves.csv"


def _copy_case(reference_dir, directory, name):
    """The shared case as `mtu_sim_<name>`; returns (set-up text, CSV lines)."""
    setup, table = (directory / f"mtu_sim_{name}{s}" for s in ("_setup.json", ".csv"))
    shutil.copy(reference_dir / f"mtu_sim_{CASE}_setup.json", setup)
    shutil.copy(reference_dir / f"mtu_sim_{CASE}.csv", table)
    return setup, table


def _broken_folder(reference_dir, directory):
    """One broken copy of the case per kind of damage, a NaN in a curve file, and a good file."""
    _, table = _copy_case(reference_dir, directory, "truncated")
    lines = table.read_text().splitlines(keepends=True)
    cut = lines[400].index(",", 100)  # line 401 ends inside its 6th or so field
    table.write_text("".join(lines[:400]) + lines[400][:cut])

    _, table = _copy_case(reference_dir, directory, "no_tendon_force")
    columns = read_csv(table)
    kept = [c for c in columns if c != "tendon_force"]
    numeric = np.stack([columns[c] for c in kept], axis=1)
    np.savetxt(table, numeric, fmt="%.17g", delimiter=",", header=",".join(kept), comments="")

    _, table = _copy_case(reference_dir, directory, "header_only")
    table.write_text(table.read_text().splitlines(keepends=True)[0])

    setup, _ = _copy_case(reference_dir, directory, "json_cut")
    setup.write_text(setup.read_text()[:700])

    setup, _ = _copy_case(reference_dir, directory, "no_excitation")
    data = json.loads(setup.read_text())
    del data["excitation"]
    setup.write_text(json.dumps(data))

    lines = (reference_dir / CURVES).read_text().splitlines()
    fields = lines[58].split(",")
    fields[5] = "nan"  # tendon_force_multiplier of data row 57 (0-based)
    lines[58] = ",".join(fields)
    (directory / CURVES).write_text("\n".join(lines) + "\n")
    shutil.copy(reference_dir / "dgf_force_velocity.csv", directory)


def test_malformed_files_are_named_error_rows(reference_dir, tmp_path):
    _broken_folder(reference_dir, tmp_path)
    checks = validate_opensim(tmp_path, progress=False)
    notes = {c.file: c.note for c in checks if c.status == ERROR and c.quantity == "-"}
    expected = {
        "truncated": ["mtu_sim_truncated.csv: line 401 has", "expected 27", "truncated"],
        "no_tendon_force": ["mtu_sim_no_tendon_force.csv: missing column(s) ['tendon_force']",
                            "expected columns"],
        "header_only": ["mtu_sim_header_only.csv: header only, no data rows",
                        "expected at least one"],
        "json_cut": ["mtu_sim_json_cut_setup.json: invalid JSON at line", "cut short"],
        "no_excitation": ["mtu_sim_no_excitation_setup.json: missing key(s) ['excitation']",
                          "needs ['muscle_class', 'excitation', 'mtu_length', 'duration']"],
    }
    assert set(notes) == {f"mtu_sim_{name}_setup.json" for name in expected}
    for name, parts in expected.items():
        note = notes[f"mtu_sim_{name}_setup.json"]
        assert note.startswith("ValueError: ") and all(p in note for p in parts), note
    (nan,) = [c for c in checks if c.file == CURVES and c.status == ERROR]
    assert nan.quantity == "tendon_force_multiplier"
    assert nan.note == "reference is NaN in 1 of 3002 samples (first: sample 57)"
    assert 0 < nan.max_error < 1e-9  # the other samples' error, not NaN
    others = [c for c in checks if c.file == CURVES and c is not nan]
    assert len(others) == 2 and all(c.status == PASS for c in others)
    assert any(c.file == "dgf_force_velocity.csv" and c.status == PASS for c in checks)
    assert not passed(checks)


def test_short_reference_and_bad_value_name_the_line(reference_dir, tmp_path):
    """A CSV cut at a line end ends before the set-up's duration; a non-number names its cell."""
    setup, table = _copy_case(reference_dir, tmp_path, "short")
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:300]))
    with pytest.raises(ValueError, match=r"mtu_sim_short.csv: 299 data rows at t = 0 ... 0.298 s; "
                                         r"expected 1001 rows every 0.001 s from 0 to the set-up's "
                                         r"duration 1 s"):
        IsolatedMTUCase(setup).reference()
    fields = lines[9].split(",")
    fields[12] = "1.2.3"
    table.write_text("".join([*lines[:9], ",".join(fields), *lines[10:]]))
    with pytest.raises(ValueError, match=r"mtu_sim_short.csv: line 10, column 'tendon_force': "
                                         r"'1.2.3' is not a number"):
        IsolatedMTUCase(setup).reference()
