"""`.osim` writing (`mskdiff.io.write_osim_parameters`): values read back exactly, other bytes kept."""

import re
import shutil

import numpy as np
import pytest

from mskdiff.io import load_osim, write_osim_parameters

#: A property on one line: indentation, tag, text, line end.
_PROPERTY_LINE = re.compile(rb"(\s*)<(\w+)>([^<]*)</\2>(\s*)")
_MUSCLE_LINE = re.compile(rb'\s*<Millard2012EquilibriumMuscle name="([^"]+)">')

#: One De Groote muscle without `tendon_slack_length`; `{insert}` marks where it goes.
_TINY_OSIM = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
\t<Model name="tiny">
\t\t<ForceSet name="forceset">
\t\t\t<objects>
\t\t\t\t<DeGrooteFregly2016Muscle name="m1">{insert}
\t\t\t\t\t<!--Maximum isometric force that the fibers can generate-->
\t\t\t\t\t<max_isometric_force>500</max_isometric_force>
\t\t\t\t\t<optimal_fiber_length>0.1</optimal_fiber_length>
\t\t\t\t</DeGrooteFregly2016Muscle>
\t\t\t</objects>
\t\t</ForceSet>
\t</Model>
</OpenSimDocument>
"""


def changed_properties(original: bytes, written: bytes) -> list[tuple[str, str, bytes]]:
    """(muscle, property, new text) of each differing line; fails if anything else differs."""
    old_lines, new_lines = original.splitlines(keepends=True), written.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    changes, muscle = [], None
    for old, new in zip(old_lines, new_lines, strict=True):
        if start := _MUSCLE_LINE.match(old):
            muscle = start[1].decode()
        if old == new:
            continue
        a, b = _PROPERTY_LINE.fullmatch(old), _PROPERTY_LINE.fullmatch(new)
        assert a is not None and b is not None, (old, new)
        assert (a[1], a[2], a[4]) == (b[1], b[2], b[4]), (old, new)
        changes.append((muscle, a[2].decode(), b[3]))
    return changes


def fitted_values(params) -> dict[str, dict[str, float]]:
    """New `tendon_slack_length` for every muscle and `optimal_fiber_length` for three."""
    names = list(params.names)
    tsl = {n: float(params.tendon_slack_length[i]) * 1.0123 + 1e-5 for i, n in enumerate(names)}
    ofl = {n: float(params.optimal_fiber_length[names.index(n)]) * 0.97
           for n in ("soleus_r", "recfem_l", "glmax1_r")}
    return {"tendon_slack_length": tsl, "optimal_fiber_length": ofl}


@pytest.mark.x64
def test_values_read_back_exactly(rajagopal_osim, tmp_path):
    original = load_osim(rajagopal_osim)
    values = fitted_values(original)
    assert len(values["tendon_slack_length"]) == 80
    out = tmp_path / "fitted.osim"
    write_osim_parameters(rajagopal_osim, out, values)
    fitted, before = load_osim(out).to_dict(), original.to_dict()
    assert list(fitted["name"]) == list(before["name"])
    for field, column in values.items():
        expected = before[field].copy()
        for name, value in column.items():
            expected[list(original.names).index(name)] = value
        np.testing.assert_array_equal(fitted[field], expected)
    for field in set(before) - set(values):
        np.testing.assert_array_equal(fitted[field], before[field])


@pytest.mark.x64
def test_only_the_changed_text_differs(rajagopal_osim, tmp_path):
    original = load_osim(rajagopal_osim)
    values = fitted_values(original)
    out = tmp_path / "fitted.osim"
    write_osim_parameters(rajagopal_osim, out, values)
    changes = changed_properties(rajagopal_osim.read_bytes(), out.read_bytes())
    expected = [(n, f, repr(v).encode()) for f, column in values.items() for n, v in column.items()]
    assert sorted(changes) == sorted(expected)
    assert len(changes) == 83

    before, index = original.to_dict(), {n: i for i, n in enumerate(original.names)}
    back = {f: {n: float(before[f][index[n]]) for n in column} for f, column in values.items()}
    restored = tmp_path / "restored.osim"
    write_osim_parameters(out, restored, back)
    for field, column in load_osim(restored).to_dict().items():
        np.testing.assert_array_equal(column, before[field])
    write_osim_parameters(rajagopal_osim, restored, back)  # equal values keep their original text
    assert restored.read_bytes() == rajagopal_osim.read_bytes()


@pytest.mark.x64
def test_missing_property_inserted_in_rajagopal(rajagopal_osim, tmp_path):
    # Rajagopal's muscles omit `max_contraction_velocity` (10 comes from the model's <defaults>).
    out = tmp_path / "fitted.osim"
    write_osim_parameters(rajagopal_osim, out, {"max_contraction_velocity": {"soleus_r": 12.5},
                                                "activation_time_constant": {"soleus_r": 0.02}})
    params = load_osim(out)
    i = list(params.names).index("soleus_r")
    assert float(params.max_contraction_velocity[i]) == 12.5
    assert float(params.activation_time_constant[i]) == 0.02
    assert np.count_nonzero(np.asarray(params.max_contraction_velocity) == 10.0) == 79
    old_lines = rajagopal_osim.read_bytes().splitlines(keepends=True)
    new_lines = out.read_bytes().splitlines(keepends=True)
    start = b'<Millard2012EquilibriumMuscle name="soleus_r">'
    j = next(k for k, line in enumerate(old_lines) if start in line)
    indent = re.match(rb"\s*", old_lines[j + 1])[0]
    assert new_lines == [*old_lines[:j + 1],
                         indent + b"<max_contraction_velocity>12.5</max_contraction_velocity>\n",
                         indent + b"<activation_time_constant>0.02</activation_time_constant>\n",
                         *old_lines[j + 1:]]


@pytest.mark.x64
def test_missing_property_inserted_with_crlf(tmp_path):
    source, out = tmp_path / "tiny.osim", tmp_path / "fitted.osim"
    source.write_bytes(_TINY_OSIM.format(insert="").replace("\n", "\r\n").encode())
    assert float(load_osim(source).tendon_slack_length[0]) == 0.2  # OpenSim's class default
    write_osim_parameters(source, out, {"tendon_slack_length": {"m1": 0.25}})
    line = "\n\t\t\t\t\t<tendon_slack_length>0.25</tendon_slack_length>"
    assert out.read_bytes() == _TINY_OSIM.format(insert=line).replace("\n", "\r\n").encode()
    assert float(load_osim(out).tendon_slack_length[0]) == 0.25


def test_sequences_with_muscle_names(tmp_path):
    source, out = tmp_path / "tiny.osim", tmp_path / "fitted.osim"
    source.write_text(_TINY_OSIM.format(insert=""))
    write_osim_parameters(source, out, {"max_isometric_force": np.array([612.5]),
                                        "fiber_damping": [0.01]}, muscles=["m1"])
    text = out.read_text()
    assert "<max_isometric_force>612.5</max_isometric_force>" in text
    assert "<fiber_damping>0.01</fiber_damping>" in text
    with pytest.raises(ValueError, match=r"shape \(1,\)"):
        write_osim_parameters(source, out, {"max_isometric_force": [1.0, 2.0]}, muscles=["m1"])
    with pytest.raises(TypeError, match="muscles="):
        write_osim_parameters(source, out, {"max_isometric_force": [612.5]})


@pytest.mark.parametrize(("values", "message"), [
    ({"tendon_slack_length": {"soleus_r": 0.3, "nope_r": 0.3}}, r"unknown muscle name\(s\) \['nope_r'\]"),
    ({"tendon_slack_lenght": {"soleus_r": 0.3}}, r"unsupported field\(s\) \['tendon_slack_lenght'\]"),
    ({"ignore_tendon_compliance": {"soleus_r": 1.0}}, r"unsupported field"),
    ({"tendon_strain_at_one_norm_force": {"soleus_r": 0.05}},
     r"nested property TendonForceLengthCurve/strain_at_one_norm_force"),
    ({"active_force_width_scale": {"soleus_r": 1.2}}, r"has no property for `active_force_width_scale`"),
    ({"tendon_slack_length": {"soleus_r": -0.3, "gasmed_r": 0.4}},
     r"`tendon_slack_length` must be > 0 and finite; offending muscles: \['soleus_r'\]"),
    ({"max_isometric_force": {"soleus_r": float("nan")}}, r"`max_isometric_force` must be > 0 and finite"),
    ({"pennation_angle_at_optimal": {"soleus_r": float("inf")}}, r"`pennation_angle_at_optimal` must lie in"),
])
def test_errors(rajagopal_osim, tmp_path, values, message):
    out = tmp_path / "fitted.osim"
    with pytest.raises(ValueError, match=message):
        write_osim_parameters(rajagopal_osim, out, values)
    assert not out.exists()


def test_refuses_to_overwrite_source(rajagopal_osim, tmp_path):
    source = tmp_path / "model.osim"
    shutil.copyfile(rajagopal_osim, source)
    original = source.read_bytes()
    for destination in (source, str(source), tmp_path / "." / "model.osim"):
        with pytest.raises(ValueError, match="refusing to overwrite the source model"):
            write_osim_parameters(source, destination, {"tendon_slack_length": {"soleus_r": 0.3}})
    assert source.read_bytes() == original


def test_property_with_markup_is_refused(tmp_path):
    source, out = tmp_path / "tiny.osim", tmp_path / "fitted.osim"
    text = _TINY_OSIM.format(insert="").replace("<max_isometric_force>500<",
                                                "<max_isometric_force>500<!--N--><")
    source.write_text(text)
    with pytest.raises(ValueError, match="holds more than plain text"):
        write_osim_parameters(source, out, {"max_isometric_force": {"m1": 600.0}})


def test_utf16_is_refused(tmp_path):
    source = tmp_path / "tiny.osim"
    source.write_bytes(_TINY_OSIM.format(insert="").replace("UTF-8", "UTF-16").encode("utf-16"))
    with pytest.raises(ValueError, match="ASCII-compatible"):
        write_osim_parameters(source, tmp_path / "fitted.osim", {"max_isometric_force": {"m1": 600.0}})

