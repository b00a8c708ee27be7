"""Reference-case inputs: OpenSim's set-up functions as one pytree structure (`TimeFunction`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.io import TimeFunction, find_isolated_mtu_cases, time_function


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
