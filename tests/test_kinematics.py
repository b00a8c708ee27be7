"""OpenSim coordinates onto myoLeg and myolegs26: feet on the floor, couplings, spline speeds.

MuJoCo C only (no MJX compile): each model builds in < 1 s.

Feet on the floor along the shared walking trial (lowest foot collision geom above z = 0 by
`mj_geomDistance`; stance = measured heel strike + 0.1 s to toe off - 0.05 s or the trial's end):
myoLeg right 1.5-5.8 cm (5.7 cm in mid-stance, 1.5 cm as the toes push off), left 5.2-6.0 cm;
myolegs26 right 3.3-8.8 cm (8.6 cm in mid-stance), left 8.2-8.7 cm. The IK is the subject-scaled
model's, whose shanks are 15-22 % longer than the generic model's (reference README, section 4):
the pelvis rides higher than the generic legs reach, so the flat stance foot hovers ~5.5 cm
(myoLeg, whose pelvis and femur poses equal OpenSim's generic model's, tests/test_geometry.py)
and ~8.5 cm (myolegs26, shorter legs again). In mid right stance (0.67 s, left mid-swing) the
left foot is 3.6 cm (myoLeg) and 2.5 cm (myolegs26) above the right one. Bounds: measured + ~1.5 cm.
"""

import mujoco
import numpy as np
import pytest

from mskdiff.io import read_csv
from mskdiff.models.kinematics import (
    COORDINATE_SIGNS,
    coordinates_from_qpos,
    map_motion,
    qpos_from_coordinates,
    read_ik_coordinates,
)
from mskdiff.models.locomotion import foot_geom_ids
from mskdiff.models.myoleg import myoleg_mjmodel
from mskdiff.models.myolegs26 import myolegs26_mjmodel

#: Highest allowed stance-foot height [m] (measured maximum + ~1.5 cm, module docstring).
STANCE_HEIGHT_BOUND = {"myolegs": 0.075, "myolegs26": 0.10}
#: Least height of the swing foot over the stance foot in mid-swing [m] (measured 3.6 / 2.5 cm).
SWING_CLEARANCE = {"myolegs": 0.02, "myolegs26": 0.01}
#: After heel strike the foot rolls onto its sole; stance windows start this much later [s].
FOOT_FLAT_DELAY = 0.1

MODELS = {"myolegs": myoleg_mjmodel, "myolegs26": myolegs26_mjmodel}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    return request.param, MODELS[request.param]()


@pytest.fixture
def walk(reference_dir):
    return read_ik_coordinates(reference_dir / "walk_ik_coordinates.csv")


def _events(reference_dir) -> dict[tuple[str, str], list[float]]:
    table = read_csv(reference_dir / "walk_gait_events.csv", required=("side", "event", "time"))
    events = {}
    for side, event, t in zip(table["side"], table["event"], table["time"], strict=True):
        events.setdefault((str(side), str(event)), []).append(float(t))
    return events


def _stance_windows(reference_dir, end: float) -> dict[str, tuple[float, float]]:
    """Per side, the first measured stance from foot flat to toe off (or the trial's end) [s]."""
    events = _events(reference_dir)
    windows = {}
    for side in "rl":
        strike = events[(side, "heel_strike")][0]
        off = min([t for t in events[(side, "toe_off")] if t > strike], default=end)
        windows[side] = (strike + FOOT_FLAT_DELAY, min(off, end) - FOOT_FLAT_DELAY / 2)
    return windows


def _foot_heights(mj_model, qpos) -> dict[str, np.ndarray]:
    """Per side, the lowest foot collision geom's distance to the floor [m], per frame."""
    floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    data = mujoco.MjData(mj_model)
    heights = {side: [] for side in "rl"}
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(mj_model, data)
        for side, geoms in foot_geom_ids(mj_model).items():
            heights[side].append(min(mujoco.mj_geomDistance(mj_model, data, int(g), floor, 10.0, None)
                                     for g in geoms))
    return {side: np.array(h) for side, h in heights.items()}


def test_walking_trial_puts_the_stance_foot_on_the_floor(model, walk, reference_dir):
    name, mj_model = model
    time, coordinates = walk
    motion = map_motion(mj_model, time, coordinates, signs=COORDINATE_SIGNS[name])
    heights = _foot_heights(mj_model, motion.qpos)
    for side, (start, stop) in _stance_windows(reference_dir, time[-1]).items():
        stance = (time >= start) & (time <= stop)
        assert stance.sum() >= 15, (side, start, stop)
        assert np.all(heights[side][stance] > 0.0), (name, side, heights[side][stance].min())
        assert np.all(heights[side][stance] < STANCE_HEIGHT_BOUND[name]), (
            name, side, heights[side][stance].max())
    # Mid right stance is mid left swing (single support): the swing foot is the higher one.
    mid = np.argmin(np.abs(time - np.mean(_stance_windows(reference_dir, time[-1])["r"])))
    assert heights["l"][mid] - heights["r"][mid] > SWING_CLEARANCE[name], (
        name, heights["l"][mid], heights["r"][mid])


def test_unmapped_coordinates_and_joints_are_reported(model, walk):
    name, mj_model = model
    time, coordinates = walk
    motion = map_motion(mj_model, time, coordinates, signs=COORDINATE_SIGNS[name])
    lacking = {"lumbar_extension", "arm_flex_r", "wrist_dev_l", "knee_angle_r_beta"}
    if name == "myolegs26":
        lacking |= {"subtalar_angle_r", "subtalar_angle_l"}
    assert lacking <= set(motion.unused_coordinates)
    assert not {"knee_angle_r", "hip_flexion_l", "pelvis_tx"} & set(motion.unused_coordinates)
    assert motion.missing_joints == () and motion.out_of_range_joints == ()
    # Without the knee and the pelvis, their joints are missing and keep qpos0.
    partial = {k: v for k, v in coordinates.items() if k != "knee_angle_r" and not k.startswith("pelvis")}
    motion = map_motion(mj_model, time, {**partial, "not_a_coordinate": time})
    root = mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, 0)
    assert {"knee_angle_r", root} <= set(motion.missing_joints)
    assert "not_a_coordinate" in motion.unused_coordinates
    np.testing.assert_array_equal(motion.qpos[:, :7], np.tile(mj_model.qpos0[:7], (len(time), 1)))


def test_myolegs26_needs_its_signs(walk):
    """myolegs26 flexes its knees negative: OpenSim's signs take them out of range."""
    mj_model = MODELS["myolegs26"]()
    time, coordinates = walk
    assert {"knee_angle_r", "knee_angle_l"} <= set(map_motion(mj_model, time, coordinates)
                                                   .out_of_range_joints)


def test_qpos_and_qvel_satisfy_every_joint_equality(model, walk):
    """MuJoCo's own equality residuals and their velocities are zero along the trial."""
    name, mj_model = model
    time, coordinates = walk
    motion = map_motion(mj_model, time, coordinates, signs=COORDINATE_SIGNS[name])
    n_equalities = int(np.sum(mj_model.eq_type == mujoco.mjtEq.mjEQ_JOINT))
    assert n_equalities == {"myolegs": 14, "myolegs26": 28}[name]
    data = mujoco.MjData(mj_model)
    for q, v in zip(motion.qpos[::10], motion.qvel[::10], strict=True):
        data.qpos[:], data.qvel[:] = q, v
        mujoco.mj_forward(mj_model, data)
        rows = data.efc_type == int(mujoco.mjtConstraint.mjCNSTR_EQUALITY)
        assert rows.sum() == n_equalities
        np.testing.assert_allclose(data.efc_pos[rows], 0.0, atol=1e-12)
        velocity = data.efc_J.reshape(data.nefc, -1)[rows] @ v
        np.testing.assert_allclose(velocity, 0.0, atol=1e-12)


def _sine_motion(t):
    """Synthetic coordinates [rad, m] and their exact time derivatives."""
    spec = {"pelvis_tilt": (0.1, 0.2), "pelvis_list": (0.08, -0.1), "pelvis_rotation": (0.15, 0.3),
            "pelvis_tx": (0.2, 1.0), "pelvis_ty": (0.03, 0.95), "pelvis_tz": (0.05, 0.0),
            "hip_flexion_r": (0.4, 0.2), "knee_angle_r": (0.5, 0.7), "ankle_angle_l": (0.2, 0.0)}
    w = 2 * np.pi * 1.3
    values = {k: a * np.sin(w * t + i) + c for i, (k, (a, c)) in enumerate(spec.items())}
    rates = {k: a * w * np.cos(w * t + i) for i, (k, (a, _)) in enumerate(spec.items())}
    return values, rates


def test_spline_speeds_match_the_analytic_derivatives():
    """Scalar joints: the spline's derivative; the free joint: MuJoCo's qvel (world linear, body
    angular), i.e. the central difference of the exact poses by `mj_differentiatePos`."""
    mj_model = MODELS["myolegs"]()
    samples = np.linspace(0.0, 1.0, 201)
    times = np.linspace(0.05, 0.95, 37)  # between the samples too
    values, _ = _sine_motion(samples)
    motion = map_motion(mj_model, samples, values, times=times)
    exact, rates = _sine_motion(times)
    for name in ("hip_flexion_r", "knee_angle_r", "ankle_angle_l"):
        joint = mj_model.joint(name)
        np.testing.assert_allclose(motion.qpos[:, joint.qposadr[0]], exact[name], atol=1e-6)
        np.testing.assert_allclose(motion.qvel[:, joint.dofadr[0]], rates[name], atol=1e-6)
    h = 1e-6
    plus, minus = (qpos_from_coordinates(mj_model, _sine_motion(times + s)[0]) for s in (h, -h))
    difference = np.zeros((len(times), mj_model.nv))
    for i in range(len(times)):
        mujoco.mj_differentiatePos(mj_model, difference[i], 2 * h, minus[i], plus[i])
    np.testing.assert_allclose(motion.qvel[:, :6], difference[:, :6], atol=1e-6)
    assert np.abs(difference[:, 3:6]).max() > 0.5  # the pelvis turns


def test_degrees_and_bad_times_are_refused(tmp_path):
    mj_model = MODELS["myolegs"]()
    time = np.linspace(0.0, 1.0, 11)
    with pytest.raises(ValueError, match=r"\['knee_angle_r'\] exceed 2 pi; they look like degrees"):
        map_motion(mj_model, time, {"knee_angle_r": np.degrees(time), "pelvis_tx": 10 * time})
    with pytest.raises(ValueError, match="`times` must be increasing within"):
        map_motion(mj_model, time, {"knee_angle_r": time}, times=np.array([0.5, 1.5]))
    path = tmp_path / "run_ik_coordinates.csv"
    path.write_text("time,knee_angle_r\n0,0.1\n0.02,0.2\n0.01,0.3\n")
    with pytest.raises(ValueError, match="run_ik_coordinates.csv: `time` must be strictly increasing"):
        read_ik_coordinates(path)


def test_coordinates_from_qpos_inverts_the_mapping(model, walk):
    """qpos -> OpenSim coordinates -> qpos: the walking trial's coordinates come back exactly."""
    name, mj_model = model
    signs = COORDINATE_SIGNS[name]
    time, coordinates = walk
    qpos = qpos_from_coordinates(mj_model, coordinates, signs=signs)
    back = coordinates_from_qpos(mj_model, qpos, signs=signs)
    assert set(back) <= set(coordinates)
    for coordinate, values in back.items():
        np.testing.assert_allclose(values, coordinates[coordinate], atol=1e-9, err_msg=coordinate)
    np.testing.assert_allclose(qpos_from_coordinates(mj_model, back, signs=signs), qpos, atol=1e-9)
