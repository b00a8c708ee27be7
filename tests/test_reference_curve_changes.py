"""Set-ups with `millard_curve_changes` (reference README, section 3): a generated case.

The case is OpenSim's Millard soleus set-up with the tendon strain at one normalised force
changed to 0.1, simulated by mskdiff's tight integrator with curves built directly from that
property; `validate-opensim` must read the flat mapping and reproduce it.
"""

import json
import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mskdiff.io import IsolatedMTUCase
from mskdiff.muscle.millard_equilibrium import MillardCurves, MillardEquilibriumMTU
from mskdiff.solvers.reference_cases import isolated_mtu_problem
from mskdiff.validation import passed, validate_opensim
from mskdiff.validation.mtu_cases import TIGHT, run_case
from mskdiff.validation.report import ERROR, PASS, REPORT

TEMPLATE = "mtu_sim_millard_soleus_r_isometric_step_setup.json"
ACCELERATION_TEMPLATE = "mtu_sim_millardacc_soleus_r_isometric_step_setup.json"
STRAIN = 0.1
#: The CSV columns written (the reference format's, those mskdiff computes).
COLUMNS = ("time", "excitation", "activation", "mtu_length", "mtu_velocity", "fiber_length",
           "pennation_angle", "tendon_force")


def _write_setup(directory, name, template, changes, **overrides):
    setup = {**json.loads(template.read_text()), "millard_curve_changes": changes, **overrides}
    path = directory / f"mtu_sim_{name}_setup.json"
    path.write_text(json.dumps(setup, indent=1))
    return path


def _trajectory_columns(trajectory) -> dict:
    out = trajectory.outputs
    return {"time": trajectory.times, "excitation": trajectory.excitation[:, 0],
            "activation": trajectory.states.activation[:, 0],
            "mtu_length": trajectory.mtu_length[:, 0], "mtu_velocity": trajectory.mtu_velocity[:, 0],
            "fiber_length": out.fiber_length[:, 0], "pennation_angle": out.pennation_angle[:, 0],
            "tendon_force": out.tendon_force[:, 0]}


def _write_csv(path, columns: dict) -> None:
    table = np.stack([np.asarray(columns[c], dtype=float) for c in COLUMNS], axis=1)
    np.savetxt(path, table, fmt="%.17g", delimiter=",", header=",".join(COLUMNS), comments="")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A folder with the generated case, a typo'd copy of it and an acceleration set-up with an
    unknown key; its `validate_opensim` checks; the generated and default-curve trajectories."""
    from conftest import REFERENCE_DIR

    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"OpenSim reference data not found at {REFERENCE_DIR}")
    directory = tmp_path_factory.mktemp("curve_changes")
    template = REFERENCE_DIR / TEMPLATE
    length = json.loads(template.read_text())["mtu_length"]["value"]
    overrides = dict(duration=0.6, mtu_length={"type": "sine", "amplitude": 0.004,
                                                 "omega": 4 * np.pi, "phase": 0.0, "offset": length})
    setup = _write_setup(directory, "soleus_tendon_strain", template,
                         {"tendon_strain_at_one_norm_force": STRAIN}, **overrides)
    _write_setup(directory, "soleus_typo", template, {"tendon_strain_at_one_norm_fource": STRAIN},
                 **overrides)
    _write_setup(directory, "acc_typo", REFERENCE_DIR / ACCELERATION_TEMPLATE,
                 {"fiber_strain_at_one_norm_forc": 0.6})
    with jax.enable_x64(True):
        case = IsolatedMTUCase(setup)
        changed = MillardCurves.damped_equilibrium(
            {"TendonForceLengthCurve": {"strain_at_one_norm_force": STRAIN}})
        params = case.parameters()
        truth, _ = run_case(case, MillardEquilibriumMTU(params, changed), TIGHT, 1e-3)
        default, _ = run_case(case, MillardEquilibriumMTU(params, MillardCurves.damped_equilibrium()),
                              TIGHT, 1e-3)
        columns = _trajectory_columns(truth)
        for name in ("soleus_tendon_strain", "soleus_typo"):
            _write_csv(directory / f"mtu_sim_{name}.csv", columns)
        checks = validate_opensim(directory, progress=False)
    return checks, columns, _trajectory_columns(default), case


#: A curve's value, one compiled program per number of segments (eager evaluation compiles
#: each of the Bézier solve's loops on its own).
_value = eqx.filter_jit(lambda curve, x: curve(x))


@pytest.mark.x64
def test_changed_curves_reach_one_at_the_changed_strain(reference_dir, tmp_path):
    """The independent prediction: the model's tendon curve is 1 at strain 0.1 (default curve:
    at 0.049), for both Millard classes and the `fit` command's model; the acceleration class
    keeps its own curve changes."""
    template = reference_dir / TEMPLATE
    case = IsolatedMTUCase(_write_setup(tmp_path, "eq", template,
                                        {"tendon_strain_at_one_norm_force": STRAIN}))
    shutil.copy(template.with_name(TEMPLATE.replace("_setup.json", ".csv")), case.csv_path)  # fit data
    acceleration = IsolatedMTUCase(_write_setup(
        tmp_path, "acc", reference_dir / ACCELERATION_TEMPLATE,
        {"tendon_strain_at_one_norm_force": STRAIN, "fiber_strain_at_one_norm_force": 0.6}))
    fitted = isolated_mtu_problem(case).model(case.parameters())
    for model in (case.model(), acceleration.model(), fitted):
        tendon = model.curves.tendon_force_length
        np.testing.assert_allclose(_value(tendon, jnp.asarray(1.0 + STRAIN)), 1.0, atol=1e-12)
        assert float(_value(tendon, jnp.asarray(1.049))) < 0.5
    default = MillardCurves.damped_equilibrium().tendon_force_length
    np.testing.assert_allclose(_value(default, jnp.asarray(1.049)), 1.0, atol=1e-12)
    curves = acceleration.model().curves
    np.testing.assert_allclose(_value(curves.fiber_force_length, jnp.asarray(1.6)), 1.0, atol=1e-12)
    assert float(curves.active_force_length.y_start) == 0.0  # the class's own minimum
    assert float(case.parameters().tendon_strain_at_one_norm_force[0]) == STRAIN
    assert float(acceleration.parameters().passive_fiber_strain_at_one_norm_force[0]) == 0.6


@pytest.mark.slow
def test_generated_case_passes_and_differs_from_default_curves(generated):
    """validate-opensim reproduces the generated case to its tight tolerances, although the
    default-curve model differs from it by far more than those tolerances."""
    checks, truth, default, case = generated
    ours = [c for c in checks if c.case == "soleus_tendon_strain"]
    assert len([c for c in ours if c.status == PASS]) == 5
    assert all(c.status in (PASS, REPORT) for c in ours), ours
    tight = [c for c in ours if "Tsit5" in c.quantity]
    assert all(c.max_error < 1e-9 for c in tight), tight
    fmax = float(case.parameters().max_isometric_force[0])
    assert np.max(np.abs(default["tendon_force"] - truth["tendon_force"])) > 0.1 * fmax  # 0.34
    assert np.max(np.abs(default["fiber_length"] - truth["fiber_length"])) > 3e-3  # [m]; 6.5 mm


@pytest.mark.slow
def test_unknown_key_is_an_error_row_naming_key_and_file(generated):
    """A typo'd property is its case's ERROR row (both classes); the other case still passes."""
    checks, *_ = generated
    errors = {c.file: c.note for c in checks if c.status == ERROR}
    assert set(errors) == {"mtu_sim_soleus_typo_setup.json", "mtu_sim_acc_typo_setup.json"}
    assert "'tendon_strain_at_one_norm_fource'" in errors["mtu_sim_soleus_typo_setup.json"]
    assert "'fiber_strain_at_one_norm_forc'" in errors["mtu_sim_acc_typo_setup.json"]
    for file, note in errors.items():
        assert note.startswith(f"ValueError: {file}: `millard_curve_changes`: unknown curve "
                               "property"), note
    assert not passed(checks)
    assert any(c.case == "soleus_tendon_strain" and c.status == PASS for c in checks)
