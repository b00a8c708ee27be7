"""Reference-case inputs: OpenSim's set-up functions as one pytree structure (`TimeFunction`)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.io import IsolatedMTUCase, TimeFunction, find_isolated_mtu_cases, time_function
from mskdiff.io.reference import millard_curve_properties


@pytest.mark.x64
def test_case_drives_reproduce_opensims_inputs(reference_dir):
    """Excitation, MTU length and its time derivative equal the reference's input columns at
    every 1 ms row, for every set-up function type in the shared cases."""
    cases = find_isolated_mtu_cases(reference_dir)
    kinds = {c.setup[k]["type"] for c in cases for k in ("excitation", "mtu_length")}
    assert kinds == {"constant", "sine", "piecewise_linear", "smooth_step"}
    for case in cases:
        ref = case.reference()
        excitation, length, velocity = jax.vmap(case.drive)(jnp.asarray(ref["time"]))
        np.testing.assert_allclose(excitation[:, 0], ref["excitation"], atol=1e-12,
                                   err_msg=case.name)
        np.testing.assert_allclose(length[:, 0], ref["mtu_length"], atol=1e-12, err_msg=case.name)
        np.testing.assert_allclose(velocity[:, 0], ref["mtu_velocity"], atol=1e-9,
                                   err_msg=case.name)


@pytest.mark.x64
@pytest.mark.parametrize("spec, formula", [
    ({"type": "constant", "value": 0.3}, lambda t: 0.3 + 0 * t),
    ({"type": "sine", "amplitude": 0.02, "omega": 6.0, "phase": 0.5, "offset": 0.4},
     lambda t: 0.02 * np.sin(6.0 * t + 0.5) + 0.4),
    ({"type": "piecewise_linear", "t": [0.0, 0.2, 0.5], "y": [0.1, 0.9, 0.4]},
     lambda t: np.interp(t, [0.0, 0.2, 0.5], [0.1, 0.9, 0.4])),
    ({"type": "smooth_step", "t0": 0.3, "t1": 0.5, "y0": 0.4, "y1": 0.45},
     lambda t: 0.4 + 0.05 * np.clip((t - 0.3) / 0.2, 0, 1) ** 3
     * (10 - 15 * np.clip((t - 0.3) / 0.2, 0, 1) + 6 * np.clip((t - 0.3) / 0.2, 0, 1) ** 2)),
])
def test_each_type_is_its_formula_and_shares_one_structure(spec, formula):
    """The type's own formula to rounding (the unused parts add exact zeros), also before the
    first and past the last knot; every type has the same pytree structure and leaf shapes."""
    f = time_function(spec)
    t = np.linspace(-0.1, 1.5, 161)
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(jnp.asarray(t))), formula(t), rtol=1e-15,
                               atol=1e-16)
    reference = time_function({"type": "constant", "value": 1.0})
    assert jax.tree.structure(f) == jax.tree.structure(reference)
    assert [x.shape for x in jax.tree.leaves(f)] == [x.shape for x in jax.tree.leaves(reference)]


def test_bad_specs_raise():
    with pytest.raises(ValueError, match="unknown function type 'cosine'"):
        time_function({"type": "cosine"})
    with pytest.raises(ValueError, match="must increase"):
        time_function({"type": "piecewise_linear", "t": [0.0, 0.5, 0.5], "y": [0, 1, 2]})
    with pytest.raises(ValueError, match="equal length >= 2"):
        time_function({"type": "piecewise_linear", "t": [0.0, 0.5], "y": [0.0]})
    with pytest.raises(ValueError, match="t1 > t0"):
        time_function({"type": "smooth_step", "t0": 0.5, "t1": 0.5, "y0": 0, "y1": 1})
    assert isinstance(time_function({"type": "constant", "value": 1.0}), TimeFunction)


def test_millard_curve_changes_map_opensim_names():
    """The README's flat names, OpenSim's `<curve>/<property>` paths, the muscle tables'
    prefixes and unambiguous bare names all reach the same curve property."""
    changes = {"tendon_strain_at_one_norm_force": 0.1, "fiber_strain_at_one_norm_force": 0.6,
               "ActiveForceLengthCurve/minimum_value": 0.05, "fv_isometric_slope": 4.0,
               "max_eccentric_velocity_force_multiplier": 1.5}
    assert millard_curve_properties(changes) == {
        "TendonForceLengthCurve": {"strain_at_one_norm_force": 0.1},
        "FiberForceLengthCurve": {"strain_at_one_norm_force": 0.6},
        "ActiveForceLengthCurve": {"minimum_value": 0.05},
        "ForceVelocityCurve": {"isometric_slope": 4.0, "max_eccentric_velocity_force_multiplier": 1.5}}
    assert millard_curve_properties({}) == {}


@pytest.mark.parametrize("changes, message", [
    ({"strain_at_one_norm_force": 0.1}, "unknown curve property 'strain_at_one_norm_force'"),
    ({"tendon_strain_at_one_norm_force": "0.1"}, "'tendon_strain_at_one_norm_force' must be a number"),
    ({"tendon_curviness": 0.4}, "optional properties .* must be given all together"),
    ([0.1], "must be a mapping"),
])
def test_bad_millard_curve_changes_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        millard_curve_properties(changes)


def test_curve_changes_name_the_file_and_need_a_millard_class(reference_dir, tmp_path):
    setup = json.loads((reference_dir / "mtu_sim_dgf_soleus_r_isometric_step_setup.json").read_text())
    path = tmp_path / "mtu_sim_dgf_changed_setup.json"
    path.write_text(json.dumps({**setup, "millard_curve_changes": {"tendon_strain_at_one_norm_force": 0.1}}))
    with pytest.raises(ValueError, match=r"mtu_sim_dgf_changed_setup.json: `millard_curve_changes` "
                                         r"applies to .* only; this case is DeGrooteFregly2016Muscle"):
        IsolatedMTUCase(path)
    path.write_text(json.dumps({**setup, "excitation": {"type": "sine", "amplitude": 0.1}}))
    with pytest.raises(ValueError, match=r"mtu_sim_dgf_changed_setup.json: `excitation`: a 'sine' "
                                         r"function needs keys .*; missing \['omega', 'phase', 'offset'\]"):
        IsolatedMTUCase(path)
