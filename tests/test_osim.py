"""`.osim` reading and the built-in Rajagopal 2016 table."""

import numpy as np
import pytest

from mskdiff.io import load_osim, parameters_from_table
from mskdiff.models import (
    RAJAGOPAL2016_MUSCLE_NAMES,
    rajagopal2016,
    rajagopal2016_default_mtu_lengths,
)

RIGID = {"addbrev", "addmagDist", "addmagMid", "addmagProx", "bfsh", "glmax1", "glmax2", "glmax3",
         "glmed1", "glmed2", "glmed3", "glmin1", "glmin2", "grac", "iliacus", "psoas", "sart"}


def _fields(params):
    return {k: v for k, v in params.to_dict().items() if k != "name"}


@pytest.mark.x64
def test_rajagopal_osim_equals_opensim_export(rajagopal_osim, reference_dir):
    ours = load_osim(rajagopal_osim)
    opensim = parameters_from_table(reference_dir / "rajagopal2016_muscles.csv")
    assert ours.names == opensim.names and ours.n_muscles == 80
    for field, value in _fields(opensim).items():
        np.testing.assert_allclose(_fields(ours)[field].astype(float), value.astype(float),
                                   rtol=1e-12, err_msg=field)
    rigid = {n for n, r in zip(ours.names, np.asarray(ours.ignore_tendon_compliance), strict=True) if r}
    assert len(rigid) == 34 and {n[:-2] for n in rigid} == RIGID


@pytest.mark.x64
def test_builtin_table_equals_osim_and_export(rajagopal_osim, reference_dir):
    builtin = rajagopal2016()
    assert builtin.names == RAJAGOPAL2016_MUSCLE_NAMES
    for other in (load_osim(rajagopal_osim),
                  parameters_from_table(reference_dir / "rajagopal2016_muscles.csv")):
        for field, value in _fields(other).items():
            np.testing.assert_array_equal(_fields(builtin)[field], value, err_msg=field)
    lengths = rajagopal2016_default_mtu_lengths(["soleus_r"])
    assert lengths.shape == (1,) and 0.2 < lengths[0] < 0.5


def test_selection_and_compliance_modes():
    params = rajagopal2016(["tibant_r", "soleus_r", "glmax1_r"])
    assert params.names == ("tibant_r", "soleus_r", "glmax1_r")
    assert list(np.asarray(params.ignore_tendon_compliance)) == [False, False, True]
    assert not np.any(rajagopal2016(tendon_compliance="all_elastic").ignore_tendon_compliance)
    assert np.all(rajagopal2016(tendon_compliance="all_rigid").ignore_tendon_compliance)
    with pytest.raises(ValueError, match="unknown muscle name.*bicep"):
        rajagopal2016(["bicep_r"])
    with pytest.raises(ValueError, match="tendon compliance mode"):
        rajagopal2016(tendon_compliance="soft")


MODEL = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000"><Model name="tiny">
  <defaults>
    <DeGrooteFregly2016Muscle name="default"><fiber_damping>0.02</fiber_damping></DeGrooteFregly2016Muscle>
  </defaults>
  <ForceSet><objects>
    {muscles}
  </objects></ForceSet>
</Model></OpenSimDocument>
"""
DGF = """<DeGrooteFregly2016Muscle name="{name}">
  <max_isometric_force>{fmax}</max_isometric_force><optimal_fiber_length>0.1</optimal_fiber_length>
  <tendon_slack_length>0.2</tendon_slack_length><pennation_angle_at_optimal>0.1</pennation_angle_at_optimal>
  <tendon_strain_at_one_norm_force>0.06</tendon_strain_at_one_norm_force>
  <ignore_tendon_compliance>true</ignore_tendon_compliance>
</DeGrooteFregly2016Muscle>"""
THELEN = """<Thelen2003Muscle name="th">
  <max_isometric_force>500</max_isometric_force><optimal_fiber_length>0.05</optimal_fiber_length>
  <tendon_slack_length>0.3</tendon_slack_length><FmaxTendonStrain>0.033</FmaxTendonStrain>
</Thelen2003Muscle>"""


def write_model(tmp_path, *muscles):
    path = tmp_path / "tiny.osim"
    path.write_text(MODEL.format(muscles="\n".join(muscles)))
    return path


def test_small_model_defaults_and_classes(tmp_path):
    params = load_osim(write_model(tmp_path, DGF.format(name="dg", fmax=1000), THELEN))
    d = {k: np.asarray(v) for k, v in params.to_dict().items()}
    assert params.names == ("dg", "th")
    assert d["fiber_damping"][0] == pytest.approx(0.02)  # from <defaults>
    assert d["passive_fiber_strain_at_one_norm_force"][0] == pytest.approx(0.6)  # class default
    assert d["tendon_strain_at_one_norm_force"].tolist() == pytest.approx([0.06, 0.033])
    assert d["activation_time_constant"].tolist() == pytest.approx([0.015, 0.015])
    assert d["deactivation_time_constant"].tolist() == pytest.approx([0.06, 0.05])
    assert d["ignore_tendon_compliance"].tolist() == [True, False]


@pytest.mark.parametrize("muscles, error, pattern", [
    ((DGF.format(name="bad", fmax=-5),), ValueError, r"'bad'.*max_isometric_force.*> 0"),
    ((DGF.format(name="bad", fmax="lots"),), ValueError, r"'bad'.*max_isometric_force.*not a number"),
    ((), ValueError, "no muscles of a supported class"),
    (("<Millard2012AccelerationMuscle name='acc'/>",), ValueError, "Millard2012AccelerationMuscle"),
    ((DGF.format(name="bad", fmax=0),), ValueError, r"'bad'.*max_isometric_force"),
])
def test_bad_models(tmp_path, muscles, error, pattern):
    with pytest.raises(error, match=pattern):
        load_osim(write_model(tmp_path, *muscles))


def test_missing_required_field_and_files(tmp_path):
    no_length = DGF.format(name="nolen", fmax=10).replace(
        "<optimal_fiber_length>0.1</optimal_fiber_length>", "")
    with pytest.raises(ValueError, match="'nolen' has no `optimal_fiber_length`"):
        load_osim(write_model(tmp_path, no_length))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_osim(tmp_path / "absent.osim")
    (tmp_path / "junk.osim").write_text("not xml <<<")
    with pytest.raises(ValueError, match="not an XML file"):
        load_osim(tmp_path / "junk.osim")
    (tmp_path / "other.osim").write_text("<Something/>")
    with pytest.raises(ValueError, match="not an OpenSim model"):
        load_osim(tmp_path / "other.osim")
    with pytest.raises(ValueError, match=r"unknown muscle name\(s\) \['x'\]; available: \['dg'\]"):
        load_osim(write_model(tmp_path, DGF.format(name="dg", fmax=1)), ["x"])
