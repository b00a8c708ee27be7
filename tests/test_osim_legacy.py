"""`load_osim` on older `.osim` formats, read as OpenSim 4.6 reads them.

The inline models follow the layout of OpenSim's own example models of each format (arm26 of
version 20303: `Body` with its `Joint` inside `BodySet`, muscles in `ForceSet/objects`; older
files: `MusclePointSet` in the muscle, `pennation_angle`; OpenSim 3.x contact models:
`HuntCrossleyForce::ContactParametersSet`). The expected values are what `opensim.Model` 4.6
returns for these files; the last test checks that where `opensim` is installed.
"""

import re

import numpy as np
import pytest

from mskdiff.io import load_osim

GROUND = ('<BodySet><objects><Body name="ground"><mass>0</mass><mass_center> 0 0 0</mass_center>'
          '<inertia_xx>0</inertia_xx><inertia_yy>0</inertia_yy><inertia_zz>0</inertia_zz>'
          '<inertia_xy>0</inertia_xy><inertia_xz>0</inertia_xz><inertia_yz>0</inertia_yz>'
          '<Joint /></Body></objects><groups /></BodySet>')
POINTS = "".join(f'<{{point}} name="p{i}"><location> 0 {-0.3 * i} 0</location><body>ground</body>'
                 f'</{{point}}>' for i in range(2))
#: Muscle paths: OpenSim 2.x (points directly in the muscle) and 3.x/4.x (a GeometryPath).
OLD_PATH = f"<MusclePointSet><objects>{POINTS.format(point='MusclePoint')}</objects></MusclePointSet>"
PATH = f"<GeometryPath><PathPointSet><objects>{POINTS.format(point='PathPoint')}</objects>" \
       "</PathPointSet></GeometryPath>"
#: A Thelen muscle as OpenSim 2.x wrote it: `pennation_angle`, `Vmax`, `Vmax0`, `damping`.
OLD_THELEN = ("<max_isometric_force>500</max_isometric_force><optimal_fiber_length>0.12"
              "</optimal_fiber_length><tendon_slack_length>0.25</tendon_slack_length>"
              "<pennation_angle>0.1</pennation_angle><activation_time_constant>0.02"
              "</activation_time_constant><deactivation_time_constant>0.07"
              "</deactivation_time_constant><Vmax>9</Vmax><Vmax0>4.5</Vmax0>"
              "<FmaxTendonStrain>0.035</FmaxTendonStrain><FmaxMuscleStrain>0.55</FmaxMuscleStrain>"
              "<KshapeActive>0.5</KshapeActive><KshapePassive>4</KshapePassive>"
              "<damping>0.05</damping><Af>0.3</Af><Flen>1.4</Flen>")
#: A HuntCrossleyForce as OpenSim 3.x wrote it (scoped class names as element names).
CONTACT = ('<HuntCrossleyForce name="foot"><HuntCrossleyForce::ContactParametersSet '
           'name="contact_parameters"><objects><HuntCrossleyForce::ContactParameters>'
           '<geometry></geometry><stiffness>1e6</stiffness><dissipation>1</dissipation>'
           '<static_friction>0.9</static_friction><dynamic_friction>0.8</dynamic_friction>'
           '<viscous_friction>0.2</viscous_friction></HuntCrossleyForce::ContactParameters>'
           '</objects><groups /></HuntCrossleyForce::ContactParametersSet>'
           '<transition_velocity>0.1</transition_velocity></HuntCrossleyForce>')


def thelen(body: str, name: str = "th", cls: str = "Thelen2003Muscle", path: str = PATH) -> str:
    return f'<{cls} name="{name}">{path}{body}</{cls}>'


def document(version: str, *forces: str, defaults: str = "") -> str:
    model = f"<defaults>{defaults}</defaults>" if defaults else ""
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<OpenSimDocument Version="{version}">\n'
            f'<Model name="legacy">{model}{GROUND}<ForceSet><objects>{"".join(forces)}</objects>'
            f"<groups /></ForceSet></Model></OpenSimDocument>\n")


#: Thelen's values where OpenSim 4.6 maps `pennation_angle` (format 20301 and older).
OLD_VALUES = {"max_isometric_force": 500, "optimal_fiber_length": 0.12, "tendon_slack_length": 0.25,
              "pennation_angle_at_optimal": 0.1, "max_contraction_velocity": 10,
              "tendon_strain_at_one_norm_force": 0.035,
              "passive_fiber_strain_at_one_norm_force": 0.55, "activation_time_constant": 0.02,
              "deactivation_time_constant": 0.07, "minimum_activation": 0.01}
MODERN = ("<max_isometric_force>500</max_isometric_force><optimal_fiber_length>0.12"
          "</optimal_fiber_length><tendon_slack_length>0.25</tendon_slack_length>"
          "<pennation_angle_at_optimal>0.1</pennation_angle_at_optimal>"
          "<max_contraction_velocity>9</max_contraction_velocity>"
          "<FmaxTendonStrain>0.035</FmaxTendonStrain>")

#: name -> (file text, muscle -> {field: value OpenSim 4.6 returns}).
CASES = {
    "v20301_old_layout": (document("20301", thelen(OLD_THELEN, path=OLD_PATH)),
                          {"th": OLD_VALUES}),
    "v20000": (document("20000", thelen(OLD_THELEN)), {"th": OLD_VALUES}),
    # From 20302 on, `pennation_angle` is no property: the class default (0) holds.
    "v20302": (document("20302", thelen(OLD_THELEN, path=OLD_PATH)),
               {"th": {**OLD_VALUES, "pennation_angle_at_optimal": 0.0}}),
    "v30000_contact": (document("30000", thelen(MODERN), CONTACT),
                       {"th": {"pennation_angle_at_optimal": 0.1, "max_contraction_velocity": 9,
                               "tendon_strain_at_one_norm_force": 0.035,
                               "passive_fiber_strain_at_one_norm_force": 0.6,
                               "activation_time_constant": 0.015,
                               "deactivation_time_constant": 0.05}}),
    # Both names: OpenSim renames the first `pennation_angle`; the first of the two then wins.
    "v20301_new_name_first": (document("20301", thelen(
        "<pennation_angle_at_optimal>0.2</pennation_angle_at_optimal>"
        "<pennation_angle>0.1</pennation_angle>")), {"th": {"pennation_angle_at_optimal": 0.2}}),
    "v20301_old_name_first": (document("20301", thelen(
        "<pennation_angle>0.1</pennation_angle>"
        "<pennation_angle_at_optimal>0.2</pennation_angle_at_optimal>")),
        {"th": {"pennation_angle_at_optimal": 0.1}}),
    # Thelen 3.x's `activation_minimum_value` is ignored by OpenSim 4.6.
    "v30000_activation_minimum_value": (document("30000", thelen(
        "<activation_minimum_value>0.05</activation_minimum_value>")),
        {"th": {"minimum_activation": 0.01}}),
    # Last: OpenSim keeps the `<defaults>` of a file it loads for the files it loads later.
    "v20301_defaults": (document("20301", thelen("<max_isometric_force>5</max_isometric_force>"),
                                 defaults=thelen("<pennation_angle>0.3</pennation_angle>"
                                                 "<FmaxTendonStrain>0.07</FmaxTendonStrain>",
                                                 name="default", path="")),
                        {"th": {"pennation_angle_at_optimal": 0.3,
                                "tendon_strain_at_one_norm_force": 0.07}}),
}


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.osim"
    path.write_text(text)
    return str(path)


@pytest.mark.x64
@pytest.mark.parametrize("case", CASES)
def test_legacy_formats_read_as_opensim_reads_them(tmp_path, case):
    text, expected = CASES[case]
    params = load_osim(write(tmp_path, case, text))
    assert params.names == tuple(expected)
    for k, (muscle, values) in enumerate(expected.items()):
        for field, value in values.items():
            assert float(getattr(params, field)[k]) == value, (muscle, field)


def test_scoped_element_names_keep_their_xml_errors(tmp_path):
    broken = document("30000", thelen(MODERN), CONTACT).replace("</HuntCrossleyForce>", "", 1)
    with pytest.raises(ValueError, match=r"broken.osim: not an XML file \(mismatched tag: line"):
        load_osim(write(tmp_path, "broken", broken))


@pytest.mark.parametrize("version, pattern", [
    (None, r"no Version attribute"),
    ("3.0", r"Version '3.0' is not an integer"),
    ("10600", r"format version 10600 is older than OpenSim 4.6 reads \(10901\); save the model "
              r"in OpenSim 3.3"),
])
def test_versions_opensim_refuses(tmp_path, version, pattern):
    text = document(version or "", thelen(MODERN))
    if version is None:
        text = text.replace(' Version=""', "")
    with pytest.raises(ValueError, match=r"v.osim: .*" + pattern):
        load_osim(write(tmp_path, "v", text))


@pytest.mark.parametrize("cls, loaded_as", [
    ("Schutte1993Muscle", "Schutte1993Muscle_Deprecated"),
    ("Delp1990Muscle", "Delp1990Muscle_Deprecated"),
    ("Thelen2003Muscle_Deprecated", "Thelen2003Muscle_Deprecated"),
])
def test_deprecated_classes_are_named_as_opensim_loads_them(tmp_path, cls, loaded_as):
    path = write(tmp_path, "old", document("20303", thelen(MODERN),
                                           thelen(OLD_THELEN, name="old", cls=cls)))
    with pytest.raises(ValueError, match=re.escape(path) + r": unknown muscle name\(s\) \['old'\] "
                       r"\(\{'old': '" + loaded_as + r"'\} are of unsupported classes\)"):
        load_osim(path, ["th", "old"])
    with pytest.warns(UserWarning, match=r"skipped muscles of unsupported classes: \{'old': '"
                      + loaded_as):
        assert load_osim(path).names == ("th",)


@pytest.mark.x64
@pytest.mark.parametrize("case", CASES)
def test_opensim_loads_the_same_values(tmp_path, case):
    opensim = pytest.importorskip("opensim", reason="the `opensim` extra is not installed")
    path = write(tmp_path, case, CASES[case][0])
    model, params = opensim.Model(path), load_osim(path)
    for k, name in enumerate(params.names):
        muscle = opensim.Thelen2003Muscle.safeDownCast(model.getForceSet().get(name))
        getters = {"max_isometric_force": muscle.getMaxIsometricForce(),
                   "optimal_fiber_length": muscle.getOptimalFiberLength(),
                   "tendon_slack_length": muscle.getTendonSlackLength(),
                   "pennation_angle_at_optimal": muscle.getPennationAngleAtOptimalFiberLength(),
                   "max_contraction_velocity": muscle.getMaxContractionVelocity(),
                   "tendon_strain_at_one_norm_force": muscle.get_FmaxTendonStrain(),
                   "passive_fiber_strain_at_one_norm_force": muscle.get_FmaxMuscleStrain(),
                   "activation_time_constant": muscle.get_activation_time_constant(),
                   "deactivation_time_constant": muscle.get_deactivation_time_constant(),
                   "minimum_activation": muscle.getMinimumActivation()}
        for field, value in getters.items():
            np.testing.assert_array_equal(np.asarray(getattr(params, field))[k], value,
                                          err_msg=f"{case}: {name}.{field}")
