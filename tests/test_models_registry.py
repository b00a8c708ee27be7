"""The model registry: `mskdiff models`, `load` of a small model, conversion of every model."""

import numpy as np
import pytest

from mskdiff.cli import main
from mskdiff.models import registry
from mskdiff.models.mujoco_conversion import parameters_from_mujoco


def test_models_command_lists_every_model(capsys):
    assert main(["models", "myohand_r", "myoarm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "muscles", "dof", "source"]
    assert lines[1].split()[:3] == ["myohand_r", "39", "23"]
    assert lines[2].split()[:3] == ["myoarm_r", "63", "38"]
    assert "build_spec('myohand_r')" in lines[1]


def test_unknown_model_lists_the_valid_names(capsys):
    with pytest.raises(ValueError, match="unknown model 'myoknee'.*myofullbody"):
        registry.load("myoknee")
    assert main(["models", "myoknee"]) == 1
    assert "unknown model 'myoknee'" in capsys.readouterr().err


def test_registry_matches_myo_sim():
    from myo_sim.build.compose import ALIASES, MODEL_REGISTRY

    assert registry.MODELS == tuple(MODEL_REGISTRY)
    assert registry.ALIASES == ALIASES


def test_every_model_converts_on_the_host():
    """Every generic model compiles with the plant's options and its muscles convert (no MJX)."""
    for name in registry.MODELS:
        if name == "myolegs":
            continue  # Rajagopal's parameters (test_myoleg.py)
        model = registry.mjmodel(name)
        params = parameters_from_mujoco(model)
        assert params.n_muscles == model.nu and model.nsensor == 0, name
        assert model.opt.iterations == registry.SOLVER_ITERATIONS, name
        assert all(np.all(np.isfinite(v)) for v in params.to_dict().values()
                   if v.dtype.kind == "f"), name
        meshes = model.geom_type == 7  # mjGEOM_MESH: MJX cannot collide them with the floor
        assert not np.any(model.geom_contype[meshes] | model.geom_conaffinity[meshes]), name


def test_load_gives_elastic_tendons():
    plant = registry.load("myotorso_abdomen")
    assert plant.n_muscles == 6
    assert not np.any(plant.mtu.params.ignore_tendon_compliance)


def test_simulate_runs_a_fixed_base_registry_model(tmp_path, capsys):
    """`mskdiff simulate --model` on a converted model: elastic tendons, finite, no pelvis keys."""
    assert main(["simulate", "--model", "myotorso_abdomen", "--envs", "2", "--seconds", "0.2",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    data = np.load(tmp_path / "simulate.npz")
    assert str(data["model"]) == "myotorso_abdomen" and data["tendon_force"].shape == (100, 2, 6)
    for key in ("qpos", "tendon_force", "fiber_length", "activation"):
        assert np.all(np.isfinite(data[key])), key
    assert np.ptp(data["qpos"][:, 0], axis=0).max() > 1e-3  # the muscles move the torso
    assert "pelvis_height" not in data and "on the floor" not in capsys.readouterr().out


def test_mujoco_muscles_reject_muscle_options():
    with pytest.raises(ValueError, match="`mujoco_muscles=True` uses MuJoCo's muscles"):
        registry.load("myotorso_abdomen", mujoco_muscles=True, formulation="rigid")
    with pytest.raises(ValueError, match="may only be an `.osim`"):
        registry.load("myolegs", overrides={"soleus_r": {"max_isometric_force": 1.0}})
