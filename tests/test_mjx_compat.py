"""MJX's private fields that mskdiff reads (`mskdiff/plant/_mjx_compat.py`) exist on this MJX."""

import types

import mujoco
import pytest
from mujoco import mjx

from mskdiff.models import tiny_leg_mjmodel
from mskdiff.plant import _mjx_compat


def test_private_fields_exist_on_the_installed_mjx():
    model = tiny_leg_mjmodel()
    data = mjx.make_data(mjx.put_model(model))
    _mjx_compat.check_private_fields(data)  # raises naming the MuJoCo version if one moved
    assert _mjx_compat.actuator_moment(data).shape == (model.nu, model.nv)
    assert _mjx_compat.actuator_velocity(data).shape == (model.nu,)
    assert _mjx_compat.has_constraints(data)  # joint limits and the foot contact
    assert _mjx_compat.contact_distance(data).ndim == 1


def test_a_moved_field_fails_loudly_naming_the_version():
    moved = types.SimpleNamespace(_impl=types.SimpleNamespace(actuator_moment=None))
    with pytest.raises(_mjx_compat.MJXCompatibilityError,
                       match=rf"mujoco {mujoco.__version__}.*_impl\.actuator_velocity"):
        _mjx_compat.check_private_fields(moved)
    with pytest.raises(_mjx_compat.MJXCompatibilityError, match=r"_impl\.efc_J"):
        _mjx_compat.has_constraints(types.SimpleNamespace())
