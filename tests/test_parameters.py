"""`MuscleParameters`: clear errors at construction, naming the field and the muscles."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.muscle import MuscleParameters
from mskdiff.muscle.parameters import PARAMETER_FIELDS

BASE = {"max_isometric_force": [1000.0, 2000.0], "optimal_fiber_length": [0.1, 0.05],
        "tendon_slack_length": [0.2, 0.3], "pennation_angle_at_optimal": [0.1, 0.2]}


def build(**changes):
    return MuscleParameters.from_dict({**BASE, **changes}, names=["a", "b"])


def fields_of(params) -> dict:
    return {f: getattr(params, f) for f in (*PARAMETER_FIELDS, "ignore_tendon_compliance")}


@pytest.mark.parametrize("field, value, offending", [
    ("max_isometric_force", [1000.0, -1.0], "b"),
    ("max_isometric_force", [0.0, 1.0], "a"),
    ("optimal_fiber_length", [0.1, 0.0], "b"),
    ("optimal_fiber_length", [0.1, float("nan")], "b"),
    ("tendon_slack_length", [-0.2, 0.3], "a"),
    ("max_contraction_velocity", [10.0, 0.0], "b"),
    ("activation_time_constant", [0.01, -0.01], "b"),
    ("deactivation_time_constant", [0.0, 0.04], "a"),
    ("tendon_strain_at_one_norm_force", [0.0, 0.05], "a"),
    ("passive_fiber_strain_at_one_norm_force", [0.6, -0.6], "b"),
    ("active_force_width_scale", [0.0, 1.0], "a"),
])
def test_non_physical_values_name_field_and_muscle(field, value, offending):
    with pytest.raises(ValueError, match=rf"`{field}` must be > 0.*offending muscles: \['{offending}'\]"):
        build(**{field: value})


@pytest.mark.parametrize("field, value, offending", [
    ("pennation_angle_at_optimal", [0.1, np.pi / 2], "b"),
    ("pennation_angle_at_optimal", [-0.1, 0.2], "a"),
    ("fiber_damping", [-0.1, 0.0], "a"),
    ("minimum_activation", [0.01, 1.0], "b"),
])
def test_out_of_range_values_name_field_and_muscle(field, value, offending):
    with pytest.raises(ValueError, match=rf"`{field}` must lie in.*offending muscles: \['{offending}'\]"):
        build(**{field: value})


def test_layout_errors():
    with pytest.raises(ValueError, match=r"`tendon_slack_length` must have shape \(2,\), got \(3,\)"):
        build(tendon_slack_length=[0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"must be unique, got \['a', 'a'\]"):
        MuscleParameters.from_dict(BASE, names=["a", "a"])
    with pytest.raises(ValueError, match="at least one muscle"):
        MuscleParameters.from_dict({k: [] for k in BASE}, names=[])


def test_from_dict_key_errors():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['optimal_fibre_length'\]; valid: .*"
                                         r"'optimal_fiber_length'"):
        MuscleParameters.from_dict({**BASE, "optimal_fibre_length": 0.1}, names=["a", "b"])
    with pytest.raises(ValueError, match=r"missing required parameter\(s\) \['tendon_slack_length'\]"):
        MuscleParameters.from_dict({k: v for k, v in BASE.items()
                                    if k != "tendon_slack_length"}, names=["a", "b"])


def test_select_and_tendon_compliance():
    params = build(ignore_tendon_compliance=[True, False])
    chosen = params.select(["b", "a"])
    assert chosen.names == ("b", "a")
    np.testing.assert_allclose(chosen.optimal_fiber_length, [0.05, 0.1])
    assert np.asarray(chosen.ignore_tendon_compliance).tolist() == [False, True]
    with pytest.raises(ValueError, match=r"unknown muscle name\(s\) \['c'\]; available: \['a', 'b'\]"):
        params.select(["a", "c"])
    assert params.with_tendon_compliance("file") is params
    assert np.all(params.with_tendon_compliance("all_rigid").ignore_tendon_compliance)
    assert not np.any(params.with_tendon_compliance("all_elastic").ignore_tendon_compliance)
    with pytest.raises(ValueError, match=r"unknown tendon compliance mode 'stiff'; choose from "
                                         r"\['file', 'all_elastic', 'all_rigid'\]"):
        params.with_tendon_compliance("stiff")


def test_scalars_broadcast_and_defaults():
    params = build(fiber_damping=0.01)
    np.testing.assert_allclose(params.fiber_damping, [0.01, 0.01])
    np.testing.assert_allclose(params.max_contraction_velocity, [10.0, 10.0])
    assert not np.any(params.ignore_tendon_compliance)
    assert params.n_muscles == 2 and params.names == ("a", "b")


def test_construction_under_jit_skips_value_checks():
    good = build()

    @jax.jit
    def rebuild(force):
        fields = {**fields_of(good), "max_isometric_force": force}
        return MuscleParameters(**fields, names=good.names).max_isometric_force

    np.testing.assert_allclose(rebuild(jnp.asarray([-1.0, 5.0])), [-1.0, 5.0])


def test_shapes_are_still_checked_under_jit():
    good = build()

    @jax.jit
    def rebuild(force):
        return MuscleParameters(**{**fields_of(good), "max_isometric_force": force},
                                names=good.names)

    with pytest.raises(ValueError, match=r"`max_isometric_force` must have shape \(2,\)"):
        rebuild(jnp.ones(3))


def test_float_converter_makes_parameters_differentiable():
    params = MuscleParameters.from_dict({**BASE, "max_contraction_velocity": [10, 10]},
                                        names=["a", "b"])
    grads = eqx.filter_grad(lambda p: jnp.sum(p.max_contraction_velocity ** 2))(params)
    np.testing.assert_allclose(grads.max_contraction_velocity, [20.0, 20.0])
