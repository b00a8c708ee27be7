"""myoLeg as the default plant: the locomotion scene, parameter matching, a batched robustness
run, and the main job (`mskdiff simulate`), which runs the same compiled chunks."""

import jax
import jax.numpy as jnp
import jax.random as jr
import mujoco
import numpy as np
import pytest

from mskdiff.cli import main
from mskdiff.integrate import SemiImplicitEuler
from mskdiff.io import read_table
from mskdiff.models import (
    RAJAGOPAL2016_MUSCLE_NAMES,
    myoleg,
    myoleg_mjmodel,
    rajagopal2016,
    rajagopal2016_default_mtu_lengths,
    random_standing_qpos,
    standing_qpos,
)
from mskdiff.models.kinematics import coordinates_from_qpos
from mskdiff.muscle import MillardCurves, MillardEquilibriumMTU, make_mtu
from mskdiff.plant import MJXPlant, MuJoCoMusclePlant, rollout


@pytest.fixture(scope="module")
def mj_model():
    return myoleg_mjmodel()


def test_locomotion_scene(mj_model):
    """No pedestal, floor at z = 0, the 27 collision geoms touch the floor (not each other) as
    capsules, no sensors, no pairs; `body_contact=False` leaves the 10 foot geoms."""
    types = [mj_model.geom_type[g] for g in range(mj_model.ngeom) if mj_model.geom_bodyid[g] == 0]
    assert mujoco.mjtGeom.mjGEOM_CYLINDER not in types
    floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    assert mj_model.geom_pos[floor][2] == 0.0
    colliding = [g for g in range(mj_model.ngeom) if mj_model.geom_contype[g] and g != floor]
    assert len(colliding) == 27 and not any(mj_model.geom_conaffinity[colliding])
    assert mujoco.mjtGeom.mjGEOM_ELLIPSOID not in {mj_model.geom_type[g] for g in colliding}
    assert mj_model.nsensor == 0 and mj_model.npair == 0 and mj_model.nu == 80
    feet_only = myoleg_mjmodel(body_contact=False)
    names = [mujoco.mj_id2name(feet_only, mujoco.mjtObj.mjOBJ_GEOM, g)
             for g in range(feet_only.ngeom) if feet_only.geom_contype[g] and g != floor]
    assert len(names) == 10 and all("foot" in n for n in names)


def test_standing_pose_satisfies_the_knee_couplings_and_touches_the_floor(mj_model):
    data = mujoco.MjData(mj_model)
    data.qpos[:] = standing_qpos(mj_model)
    mujoco.mj_forward(mj_model, data)
    equality_rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert np.max(np.abs(data.efc_pos[equality_rows])) < 1e-9
    assert data.ncon >= 4 and min(data.contact.dist[:data.ncon]) < 0
    # With the couplings held, myoLeg's MTU lengths at the reference pose are OpenSim's (< 1 cm).
    params = rajagopal2016()
    names = [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(80)]
    np.testing.assert_allclose(data.actuator_length, rajagopal2016_default_mtu_lengths(names),
                               atol=0.01)
    assert set(names) == set(params.names)


def test_unmatched_muscles_are_listed(mj_model):
    params = rajagopal2016(RAJAGOPAL2016_MUSCLE_NAMES[:78])
    with pytest.raises(ValueError, match=r"no parameters for \['vaslat_l', 'vasmed_l'\]"):
        MJXPlant.from_mjmodel(mj_model, make_mtu(params))


@pytest.mark.x64
def test_millard_equilibrium_plant_uses_rajagopals_curves(rajagopal_osim):
    """OpenSim's muscle model in the plant: Rajagopal's Millard curves by default, the `.osim`
    file's own curves (the same ones) when a model is given."""
    built_in = myoleg(formulation="millard_equilibrium").mtu
    from_file = myoleg(formulation="millard_equilibrium", osim=rajagopal_osim).mtu
    for mtu in (built_in, from_file):
        assert isinstance(mtu, MillardEquilibriumMTU)
        for ours, theirs in zip(jax.tree.leaves(mtu.curves),
                                jax.tree.leaves(MillardCurves.rajagopal2016()), strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_mujoco_muscles_give_the_mujoco_muscle_plant():
    plant = myoleg(mujoco_muscles=True)
    assert isinstance(plant, MuJoCoMusclePlant)
    assert plant.n_muscles == 80 and set(plant.muscle_names) == set(RAJAGOPAL2016_MUSCLE_NAMES)
    with pytest.raises(ValueError, match="do not apply"):
        myoleg(mujoco_muscles=True, formulation="rigid")


def test_negative_timestep_is_rejected():
    with pytest.raises(ValueError, match="timestep"):
        myoleg(timestep=-0.002)


def test_batch_of_random_poses_and_excitations_stays_finite(mj_model):
    """8 envs x 0.5 s, elastic tendons, random excitations and initial poses (the suite's
    version of the 64 env x 10 s robustness script), in the CLI's 50-step chunks and with its
    `throw=False` (checked on the host), so that both use one program (compiled once in this
    file's process)."""
    plant = myoleg()
    rng = np.random.default_rng(0)
    states = plant.init_batch(np.stack([random_standing_qpos(mj_model, rng) for _ in range(8)]),
                              activation=0.05, throw=False)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(states.muscle))
    for k in range(5):
        states, trajectory = rollout(plant, states, jr.uniform(jr.key(k), (50, 8, 80)),
                                     integrator=SemiImplicitEuler(4), checkpoint=False,
                                     throw=False)
        np.testing.assert_array_equal(trajectory.nonfinite_step, -1)
        assert bool(jnp.all(jnp.isfinite(trajectory.tendon_force)))
    assert bool(jnp.all(jnp.isfinite(states.data.qpos)))


def test_simulate_writes_the_documented_trajectory(tmp_path, capsys):
    assert main(["simulate", "--envs", "8", "--seconds", "0.2", "--out", str(tmp_path),
                 "--no-progress", "--opensim-out", str(tmp_path / "opensim"),
                 "--video", str(tmp_path / "video.gif")]) == 0
    data = np.load(tmp_path / "simulate.npz")
    n_steps = 100
    assert data["qpos"].shape == (n_steps, 8, 35) and data["qvel"].shape == (n_steps, 8, 34)
    for key in ("excitation", "activation", "tendon_force", "fiber_length", "mtu_length",
                "mtu_velocity", "metabolic_rate"):
        assert data[key].shape == (n_steps, 8, 80), key
        assert np.all(np.isfinite(data[key])), key
    assert np.all(data["metabolic_rate"].sum(axis=-1) > 0)
    assert 60 < float(data["body_mass"]) < 90  # kg
    assert list(data["muscle_names"][:2]) == ["addbrev_r", "addlong_r"]
    assert (tmp_path / "simulate.png").stat().st_size > 10_000
    assert "env-steps/s" in capsys.readouterr().out
    assert str(data["model"]) == "myolegs"
    _check_opensim_files(tmp_path / "opensim", data)
    assert (tmp_path / "video.gif").stat().st_size > 1_000


def _check_opensim_files(folder, data):
    """Env 0 as OpenSim files: coordinates in degrees, OpenSim state paths, body weight on the feet."""
    mj_model = myoleg_mjmodel()
    coordinates = read_table(folder / "coordinates.mot")
    assert coordinates.in_degrees
    expected = coordinates_from_qpos(mj_model, data["qpos"][:, 0])
    np.testing.assert_allclose(coordinates.column("knee_angle_r"),
                               np.degrees(expected["knee_angle_r"]), rtol=1e-12)
    np.testing.assert_allclose(coordinates.column("pelvis_ty"), expected["pelvis_ty"], rtol=1e-12)
    states = read_table(folder / "states.sto")
    assert "/forceset/soleus_r/activation" in states.labels
    assert "/forceset/soleus_r/fiber_length" in states.labels  # elastic in Rajagopal's model
    controls = read_table(folder / "controls.sto")
    np.testing.assert_array_equal(controls.column("/forceset/soleus_r"),
                                  data["excitation"][:, 0, list(data["muscle_names"]).index("soleus_r")])
    grf = read_table(folder / "ground_reactions.mot")
    weight = float(data["body_mass"]) * 9.81
    vertical = grf.column("ground_force_r_vy") + grf.column("ground_force_l_vy")
    assert 0.8 * weight < vertical[0] < 1.2 * weight, (vertical[0], weight)  # standing still
