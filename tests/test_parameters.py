"""`MuscleParameters`: clear errors at construction, naming the field and the muscles."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.muscle import MuscleParameters

BASE = {"max_isometric_force": [1000.0, 2000.0], "optimal_fiber_length": [0.1, 0.05],
        "tendon_slack_length": [0.2, 0.3], "pennation_angle_at_optimal": [0.1, 0.2]}


def build(**changes):
    return MuscleParameters.from_dict({**BASE, **changes}, names=["a", "b"])


@pytest.mark.parametrize("field, value", [
    ("max_isometric_force", [1000.0, -1.0]), ("optimal_fiber_length", [0.1, 0.0]),
    ("tendon_slack_length", [0.2, -0.3]), ("max_contraction_velocity", [10.0, 0.0]),
    ("activation_time_constant", [0.01, -0.01]), ("tendon_strain_at_one_norm_force", [0.0, 0.05]),
    ("optimal_fiber_length", [0.1, float("nan")]),
])
def test_non_physical_values_name_field_and_muscle(field, value):
    offending = "a" if value[0] <= 0 else "b"
    with pytest.raises(ValueError, match=rf"`{field}` must be > 0.*\['{offending}'\]"):
        build(**{field: value})


def test_other_construction_errors():
    with pytest.raises(ValueError, match=r"`pennation_angle_at_optimal` must lie in"):
        build(pennation_angle_at_optimal=[0.1, 1.6])
    with pytest.raises(ValueError, match="`tendon_slack_length` must have shape"):
        build(tendon_slack_length=[0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="unique"):
        MuscleParameters.from_dict(BASE, names=["a", "a"])
    with pytest.raises(ValueError, match="unknown parameter.*optimal_fibre_length"):
        MuscleParameters.from_dict({**BASE, "optimal_fibre_length": 0.1}, names=["a", "b"])
    with pytest.raises(ValueError, match="missing required parameter.*tendon_slack_length"):
        MuscleParameters.from_dict({k: v for k, v in BASE.items()
                                    if k != "tendon_slack_length"}, names=["a", "b"])
    with pytest.raises(ValueError, match="at least one muscle"):
        MuscleParameters.from_dict({k: [] for k in BASE}, names=[])
    with pytest.raises(ValueError, match=r"unknown muscle name\(s\) \['c'\]; available"):
        build().select(["c"])


def test_scalars_broadcast_and_defaults():
    params = build(fiber_damping=0.01)
    np.testing.assert_allclose(params.fiber_damping, [0.01, 0.01])
    np.testing.assert_allclose(params.max_contraction_velocity, [10.0, 10.0])
    assert params.n_muscles == 2 and params.names == ("a", "b")


def test_rebuild_under_jit_skips_value_checks():
    params = build()

    @jax.jit
    def rebuild(force):
        return eqx.tree_at(lambda p: p.max_isometric_force, params, force).max_isometric_force

    np.testing.assert_allclose(rebuild(jnp.asarray([-1.0, 5.0])), [-1.0, 5.0])


def test_float_converter_makes_parameters_differentiable():
    params = MuscleParameters.from_dict({**BASE, "max_contraction_velocity": [10, 10]},
                                        names=["a", "b"])
    grads = eqx.filter_grad(lambda p: jnp.sum(p.max_contraction_velocity ** 2))(params)
    np.testing.assert_allclose(grads.max_contraction_velocity, [20.0, 20.0])
