"""`.osim` reading (`load_osim`, `load_millard_curves`) and the built-in Rajagopal 2016 table."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.io import load_millard_curve_properties, load_millard_curves, load_osim, read_csv
from mskdiff.models import (
    RAJAGOPAL2016_MUSCLE_NAMES,
    rajagopal2016,
    rajagopal2016_default_mtu_lengths,
)
from mskdiff.muscle import MillardCurves, millard_curves
from mskdiff.muscle.parameters import PARAMETER_FIELDS

_RTOL = 1e-12

#: Rajagopal 2016 muscles with `ignore_tendon_compliance = true`, both sides.
RIGID = {f"{m}_{side}" for side in "rl" for m in (
    "addbrev", "addmagDist", "addmagMid", "addmagProx", "bfsh", "glmax1", "glmax2", "glmax3",
    "glmed1", "glmed2", "glmed3", "glmin1", "glmin2", "grac", "iliacus", "psoas", "sart")}


def reference_columns(reference_dir) -> dict[str, np.ndarray]:
    """The OpenSim export, keyed by `MuscleParameters` field (Millard curve strains mapped)."""
    table = read_csv(reference_dir / "rajagopal2016_muscles.csv")
    columns = {f: table[f] for f in PARAMETER_FIELDS if f in table}
    columns["passive_fiber_strain_at_one_norm_force"] = table["fpe_strain_at_one_norm_force"]
    columns["active_force_width_scale"] = np.ones(len(table["name"]))
    columns["ignore_tendon_compliance"] = table["ignore_tendon_compliance"].astype(bool)
    columns["name"] = table["name"]
    return columns


def as_arrays(params) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in params.to_dict().items()}


# --- the Rajagopal 2016 model and the built-in table ----------------------------------------


@pytest.mark.x64
def test_rajagopal_osim_equals_opensim_export(rajagopal_osim, reference_dir):
    ours, reference = as_arrays(load_osim(rajagopal_osim)), reference_columns(reference_dir)
    assert list(ours["name"]) == list(reference["name"]) and len(ours["name"]) == 80
    for field in PARAMETER_FIELDS:
        np.testing.assert_allclose(ours[field], reference[field], rtol=_RTOL, err_msg=field)
    np.testing.assert_array_equal(ours["ignore_tendon_compliance"],
                                  reference["ignore_tendon_compliance"])
    rigid = set(ours["name"][ours["ignore_tendon_compliance"]])
    assert rigid == RIGID and len(set(ours["name"]) - rigid) == 46


@pytest.mark.x64
def test_builtin_table_equals_export_and_osim(rajagopal_osim, reference_dir):
    builtin, reference = as_arrays(rajagopal2016()), reference_columns(reference_dir)
    loaded = as_arrays(load_osim(rajagopal_osim))
    assert tuple(builtin["name"]) == RAJAGOPAL2016_MUSCLE_NAMES == tuple(reference["name"])
    for field in (*PARAMETER_FIELDS, "ignore_tendon_compliance"):
        np.testing.assert_array_equal(builtin[field], reference[field], err_msg=field)
        np.testing.assert_array_equal(builtin[field], loaded[field], err_msg=field)
    mtu = read_csv(reference_dir / "rajagopal2016_muscles.csv")["mtu_length_default_pose"]
    np.testing.assert_array_equal(rajagopal2016_default_mtu_lengths(), mtu)


def test_builtin_selection_and_compliance_modes():
    params = rajagopal2016(["tibant_r", "soleus_r", "glmax1_r"])
    assert params.names == ("tibant_r", "soleus_r", "glmax1_r")
    assert np.asarray(params.ignore_tendon_compliance).tolist() == [False, False, True]
    full = rajagopal2016()
    assert int(np.sum(full.ignore_tendon_compliance)) == 34 and full.n_muscles == 80
    assert not np.any(rajagopal2016(tendon_compliance="all_elastic").ignore_tendon_compliance)
    assert np.all(rajagopal2016(["tibant_r"], tendon_compliance="all_rigid")
                  .ignore_tendon_compliance)
    lengths = rajagopal2016_default_mtu_lengths(["soleus_r", "tibant_r"])
    assert lengths.shape == (2,) and np.all((lengths > 0.2) & (lengths < 0.6))
    with pytest.raises(ValueError, match=r"unknown muscle name\(s\) \['bicep_r'\]; available: .*soleus_r"):
        rajagopal2016(["bicep_r"])
    with pytest.raises(ValueError, match=r"unknown muscle name\(s\) \['bicep_r'\]"):
        rajagopal2016_default_mtu_lengths(["bicep_r"])
    with pytest.raises(ValueError, match="unknown tendon compliance mode 'soft'"):
        rajagopal2016(tendon_compliance="soft")
    with pytest.raises(TypeError, match="sequence of names"):
        rajagopal2016("soleus_r")


@pytest.mark.x64
def test_rajagopal_osim_selection_and_compliance(rajagopal_osim):
    order = ["tibant_r", "soleus_r", "glmax1_r", "addbrev_l"]
    full, chosen = load_osim(rajagopal_osim), load_osim(rajagopal_osim, order)
    assert chosen.names == tuple(order)
    np.testing.assert_array_equal(chosen.tendon_slack_length, full.select(order).tendon_slack_length)
    assert np.asarray(chosen.ignore_tendon_compliance).tolist() == [False, False, True, True]
    elastic = load_osim(rajagopal_osim, order, tendon_compliance="all_elastic")
    rigid = load_osim(rajagopal_osim, order, tendon_compliance="all_rigid")
    assert not np.any(elastic.ignore_tendon_compliance) and np.all(rigid.ignore_tendon_compliance)
    np.testing.assert_array_equal(elastic.max_isometric_force, chosen.max_isometric_force)


# --- tiny inline models ----------------------------------------------------------------------


def muscle(cls: str, name: str, **properties) -> str:
    """An OpenSim muscle element; a property's value may itself be XML (a sub-object)."""
    body = "".join(f"<{key}>{value}</{key}>" for key, value in properties.items())
    return f'<{cls} name="{name}">{body}</{cls}>'


def write_model(tmp_path, *forces: str, defaults: str = "") -> str:
    path = tmp_path / "tiny.osim"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000"><Model name="tiny">
  <defaults>{defaults}</defaults>
  <ForceSet name="forceset"><objects>{"".join(forces)}</objects><groups /></ForceSet>
</Model></OpenSimDocument>
""")
    return str(path)


GEOMETRY = {"max_isometric_force": 1000, "optimal_fiber_length": 0.1, "tendon_slack_length": 0.2}
DGF = muscle("DeGrooteFregly2016Muscle", "dgf", **GEOMETRY, pennation_angle_at_optimal=0.1,
             max_contraction_velocity=12, tendon_strain_at_one_norm_force=0.06,
             passive_fiber_strain_at_one_norm_force=0.5, active_force_width_scale=1.2,
             fiber_damping=0.01, activation_time_constant=0.02, deactivation_time_constant=0.07,
             ignore_tendon_compliance="true")
THELEN = muscle("Thelen2003Muscle", "thelen", **GEOMETRY, FmaxTendonStrain=0.033,
                FmaxMuscleStrain=0.5, activation_time_constant=0.01,
                deactivation_time_constant=0.04, minimum_activation=0.02)
MILLARD = muscle("Millard2012EquilibriumMuscle", "millard", **GEOMETRY, fiber_damping=0.05,
                 FiberForceLengthCurve="<strain_at_one_norm_force>0.6</strain_at_one_norm_force>",
                 TendonForceLengthCurve="<strain_at_one_norm_force>0.045</strain_at_one_norm_force>")


@pytest.mark.x64
def test_each_class_maps_its_properties(tmp_path):
    params = as_arrays(load_osim(write_model(tmp_path, DGF, THELEN, MILLARD)))
    expected = {
        "max_contraction_velocity": [12, 10, 10],
        "pennation_angle_at_optimal": [0.1, 0, 0],
        "tendon_strain_at_one_norm_force": [0.06, 0.033, 0.045],
        "passive_fiber_strain_at_one_norm_force": [0.5, 0.5, 0.6],
        "active_force_width_scale": [1.2, 1, 1],
        "fiber_damping": [0.01, 0, 0.05],
        "activation_time_constant": [0.02, 0.01, 0.01],
        "deactivation_time_constant": [0.07, 0.04, 0.04],
        "minimum_activation": [0, 0.02, 0.01],
        "ignore_tendon_compliance": [True, False, False],
    }
    assert params["name"].tolist() == ["dgf", "thelen", "millard"]
    for field, values in expected.items():
        assert params[field].tolist() == values, field


@pytest.mark.x64
def test_missing_properties_come_from_defaults_then_class_defaults(tmp_path):
    defaults = (
        muscle("DeGrooteFregly2016Muscle", "default", fiber_damping=0.03,
               tendon_slack_length=0.25)
        + muscle("Millard2012EquilibriumMuscle", "default", activation_time_constant=0.02,
                 FiberForceLengthCurve="<strain_at_one_norm_force>0.5</strain_at_one_norm_force>")
        + '<TendonForceLengthCurve name="default"><strain_at_one_norm_force>0.04'
          "</strain_at_one_norm_force></TendonForceLengthCurve>"
    )
    forces = (
        muscle("DeGrooteFregly2016Muscle", "bare"),  # everything from <defaults> / class
        muscle("DeGrooteFregly2016Muscle", "own", tendon_slack_length=0.3),
        muscle("Millard2012EquilibriumMuscle", "no_curves", **GEOMETRY),
        muscle("Millard2012EquilibriumMuscle", "own_curves", **GEOMETRY,
               FiberForceLengthCurve="<strain_at_zero_force>0</strain_at_zero_force>",
               TendonForceLengthCurve=""),
        # Thelen has no <defaults> entry here: class defaults only.
        muscle("Thelen2003Muscle", "thelen", **GEOMETRY),
    )
    params = as_arrays(load_osim(write_model(tmp_path, *forces, defaults=defaults)))
    # <defaults> fills what the muscle lacks; what neither gives is OpenSim's class default.
    assert params["fiber_damping"].tolist() == [0.03, 0.03, 0.1, 0.1, 0.0]
    assert params["tendon_slack_length"].tolist() == [0.25, 0.3, 0.2, 0.2, 0.2]
    assert params["max_isometric_force"].tolist() == [1000.0] * 5
    assert params["optimal_fiber_length"].tolist() == [0.1] * 5
    assert params["activation_time_constant"].tolist() == [0.015, 0.015, 0.02, 0.02, 0.015]
    assert params["deactivation_time_constant"].tolist() == [0.06, 0.06, 0.04, 0.04, 0.05]
    # A missing curve comes whole from the default muscle; a muscle's own curve is completed
    # from the <defaults> object of the curve's class, else the curve's class default.
    assert params["passive_fiber_strain_at_one_norm_force"].tolist() == [0.6, 0.6, 0.5, 0.7, 0.6]
    assert params["tendon_strain_at_one_norm_force"].tolist() == [0.049, 0.049, 0.049, 0.04, 0.04]


def test_only_selected_muscles_are_read(tmp_path):
    bad = muscle("DeGrooteFregly2016Muscle", "bad", max_isometric_force="lots")
    params = load_osim(write_model(tmp_path, bad, DGF, THELEN), ["thelen", "dgf"])
    assert params.names == ("thelen", "dgf")
    assert np.asarray(params.ignore_tendon_compliance).tolist() == [False, True]
    rigid = load_osim(write_model(tmp_path, DGF, THELEN), tendon_compliance="all_rigid")
    assert np.all(rigid.ignore_tendon_compliance)


def test_unsupported_muscles_are_skipped_with_a_warning(tmp_path):
    other = muscle("RigidTendonMuscle", "rtm", **GEOMETRY)
    path = write_model(tmp_path, other, DGF, '<CoordinateActuator name="act" />')
    skipped = r"skipped muscles of unsupported classes: \{'rtm': 'RigidTendonMuscle'\}"
    with pytest.warns(UserWarning, match=skipped):
        params = load_osim(path)
    assert params.names == ("dgf",)
    with pytest.raises(ValueError, match=r"\['rtm'\].*RigidTendonMuscle.*available: \['dgf'\]"):
        load_osim(path, ["rtm"])


# --- errors ----------------------------------------------------------------------------------


def dgf_with(**changes) -> str:
    return muscle("DeGrooteFregly2016Muscle", "bad", **{**GEOMETRY, **changes})


@pytest.mark.parametrize("changes, pattern", [
    ({"max_isometric_force": -5}, r"`max_isometric_force` must be > 0.*\['bad'\]"),
    ({"max_isometric_force": 0}, r"`max_isometric_force` must be > 0.*\['bad'\]"),
    ({"optimal_fiber_length": 0}, r"`optimal_fiber_length` must be > 0.*\['bad'\]"),
    ({"tendon_slack_length": -0.1}, r"`tendon_slack_length` must be > 0.*\['bad'\]"),
    ({"activation_time_constant": 0}, r"`activation_time_constant` must be > 0.*\['bad'\]"),
    ({"pennation_angle_at_optimal": 1.6}, r"`pennation_angle_at_optimal` must lie in.*\['bad'\]"),
    ({"fiber_damping": -1}, r"`fiber_damping` must lie in.*\['bad'\]"),
    ({"max_isometric_force": "lots"}, r"muscle 'bad': `max_isometric_force` is not a finite number: 'lots'"),
    ({"optimal_fiber_length": ""}, r"muscle 'bad': `optimal_fiber_length` is not a finite number: ''"),
    ({"tendon_slack_length": "inf"}, r"muscle 'bad': `tendon_slack_length` is not a finite number"),
    ({"max_contraction_velocity": "NaN"}, r"muscle 'bad': `max_contraction_velocity` is not a finite"),
    ({"ignore_tendon_compliance": "yes"}, r"muscle 'bad': `ignore_tendon_compliance` must be true or false"),
])
def test_bad_values_name_file_muscle_and_field(tmp_path, changes, pattern):
    path = write_model(tmp_path, dgf_with(**changes), DGF)
    with pytest.raises(ValueError, match=re.escape(path) + ".*" + pattern):
        load_osim(path)


def test_bad_millard_curve_strain_names_muscle_and_field(tmp_path):
    bad = muscle("Millard2012EquilibriumMuscle", "bad", **GEOMETRY,
                 TendonForceLengthCurve="<strain_at_one_norm_force>0</strain_at_one_norm_force>")
    with pytest.raises(ValueError, match=r"`tendon_strain_at_one_norm_force` must be > 0.*\['bad'\]"):
        load_osim(write_model(tmp_path, bad))


@pytest.mark.parametrize("forces, pattern", [
    ((), r"no muscles of a supported class \(\['DeGrooteFregly2016Muscle', "
         r"'Millard2012EquilibriumMuscle', 'Thelen2003Muscle'\]\)$"),
    (('<CoordinateActuator name="act" />', muscle("Millard2012AccelerationMuscle", "acc"),
      muscle("Thelen2003Muscle_Deprecated", "old", max_isometric_force=1)),
     r"no muscles of a supported class.*unsupported muscle classes found: "
     r"\['Millard2012AccelerationMuscle', 'Thelen2003Muscle_Deprecated'\]"),
    ((DGF, DGF), r"more than one muscle named 'dgf'"),
    (('<DeGrooteFregly2016Muscle />',), r"a <DeGrooteFregly2016Muscle> in the ForceSet has no name"),
])
def test_bad_models(tmp_path, forces, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_osim(write_model(tmp_path, *forces))


def test_bad_files_and_arguments(tmp_path):
    absent = tmp_path / "absent.osim"
    with pytest.raises(FileNotFoundError, match=re.escape(str(absent))):
        load_osim(absent)
    (tmp_path / "junk.osim").write_text("not xml <<<")
    with pytest.raises(ValueError, match=r"junk.osim: not an XML file"):
        load_osim(tmp_path / "junk.osim")
    (tmp_path / "other.osim").write_text("<Model><ForceSet /></Model>")
    with pytest.raises(ValueError, match=r"other.osim: not an OpenSim model.*found root <Model>"):
        load_osim(tmp_path / "other.osim")
    path = write_model(tmp_path, DGF, THELEN)
    with pytest.raises(ValueError, match=r"unknown muscle name\(s\) \['x'\]; available: \['dgf', 'thelen'\]"):
        load_osim(path, ["dgf", "x"])
    with pytest.raises(ValueError, match=r"muscle names must be unique"):
        load_osim(path, ["dgf", "dgf"])
    with pytest.raises(TypeError, match="sequence of names, got the string 'dgf'"):
        load_osim(path, "dgf")
    with pytest.raises(ValueError, match="unknown tendon compliance mode 'soft'"):
        load_osim(path, tendon_compliance="soft")


# --- Millard curves ----------------------------------------------------------------------------

#: Column prefixes of the curve properties in `rajagopal2016_muscles.csv`.
CURVE_PREFIXES = {"ActiveForceLengthCurve": "afl_", "ForceVelocityCurve": "fv_",
                  "FiberForceLengthCurve": "fpe_", "TendonForceLengthCurve": "tendon_"}


@pytest.mark.x64
def test_rajagopal_curve_properties_equal_opensims_values_in_use(rajagopal_osim, reference_dir):
    """All 22 properties of the four curves of all 80 muscles equal OpenSim's getters (the
    `*InUse` values for the optional ones, which the file leaves out); shared curves result."""
    table = read_csv(reference_dir / "rajagopal2016_muscles.csv")
    properties = load_millard_curve_properties(rajagopal_osim)
    assert sum(len(values) for values in properties.values()) == 22
    for curve, values in properties.items():
        for prop, column in values.items():
            np.testing.assert_array_equal(column, table[CURVE_PREFIXES[curve] + prop],
                                          err_msg=f"{curve}/{prop}")
    curves = load_millard_curves(rajagopal_osim)
    assert curves.n_muscles is None
    for ours, built_in in zip(jax.tree.leaves(curves), jax.tree.leaves(MillardCurves.rajagopal2016()),
                              strict=True):
        np.testing.assert_array_equal(ours, built_in)


def millard(name: str, **curves: str) -> str:
    """A Millard muscle whose curve objects hold the given XML."""
    return muscle("Millard2012EquilibriumMuscle", name, **GEOMETRY, **curves)


def xml(**properties) -> str:
    return "".join(f"<{key}>{value}</{key}>" for key, value in properties.items())


@pytest.mark.x64
def test_curves_differ_per_muscle_with_defaults_and_optional_rules(tmp_path):
    tendon_b = dict(strain_at_one_norm_force=0.06, stiffness_at_one_norm_force=30,
                    norm_force_at_toe_end=0.5, curviness=0.7)
    forces = (millard("a", TendonForceLengthCurve=xml(strain_at_one_norm_force=0.04),
                      ActiveForceLengthCurve=xml(minimum_value=0.1),
                      ForceVelocityCurve=xml(concentric_slope_at_vmax=0.1)),
              millard("b", TendonForceLengthCurve=xml(**tendon_b), ActiveForceLengthCurve=""),
              millard("c"),
              muscle("Millard2012EquilibriumMuscle", "undamped", **GEOMETRY, fiber_damping=0,
                     ForceVelocityCurve=xml(concentric_slope_at_vmax=0.1)))
    defaults = '<ActiveForceLengthCurve name="default"><minimum_value>0.05</minimum_value>' \
               "</ActiveForceLengthCurve>"
    path = write_model(tmp_path, *forces, defaults=defaults)
    properties = load_millard_curve_properties(path)
    tendon = properties["TendonForceLengthCurve"]
    np.testing.assert_allclose(tendon["stiffness_at_one_norm_force"],
                               [1.375 / 0.04, 30, 1.375 / 0.049, 1.375 / 0.049])
    np.testing.assert_allclose(tendon["norm_force_at_toe_end"], [2 / 3, 0.5, 2 / 3, 2 / 3])
    np.testing.assert_allclose(tendon["curviness"], [0.5, 0.7, 0.5, 0.5])
    # Damped muscles (class default damping 0.1): OpenSim's damped model sets the active
    # force-length minimum (own 0.1; <defaults> 0.05; class default 0.1) and the force-velocity
    # slopes at vmax to 0; an undamped muscle keeps the class defaults.
    np.testing.assert_array_equal(properties["ActiveForceLengthCurve"]["minimum_value"],
                                  [0.0, 0.0, 0.0, 0.1])
    np.testing.assert_array_equal(
        properties["ForceVelocityCurve"]["concentric_slope_at_vmax"], [0.0, 0.0, 0.0, 0.1])
    curves = load_millard_curves(path, ["b", "a"])
    assert curves.n_muscles == 2
    x = jnp.array([1.03, 1.03])
    expected = [millard_curves.tendon_force_length_curve(**tendon_b)(1.03),
                millard_curves.tendon_force_length_curve(0.04)(1.03)]
    np.testing.assert_allclose(curves.tendon_force_length(x), expected, rtol=1e-13)
    assert curves.force_velocity.n_curves == 2  # all four per muscle once one property differs


def test_bad_millard_curves(tmp_path):
    partial = millard("partial", FiberForceLengthCurve=xml(stiffness_at_low_force=0.3))
    path = write_model(tmp_path, partial)
    with pytest.raises(ValueError, match=re.escape(path) + r".*'partial'.*all together or not at all"):
        load_millard_curves(path)
    path = write_model(tmp_path, millard("m", ForceVelocityCurve=xml(isometric_slope="steep")))
    with pytest.raises(ValueError, match=r"'m'.*ForceVelocityCurve/isometric_slope.*'steep'"):
        load_millard_curves(path)
    path = write_model(tmp_path, millard("m"), DGF)
    with pytest.raises(ValueError, match=r"without Millard 2012 curves: \{'dgf'"):
        load_millard_curves(path)
    assert load_millard_curves(path, ["m"]).n_muscles is None
