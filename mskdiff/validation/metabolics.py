"""Metabolic rates (`metabolics_<case>`) recomputed from OpenSim's and mskdiff's muscle states."""

from pathlib import Path

import jax
import numpy as np

from ..io.reference import IsolatedMTUCase, MetabolicsCase
from ..muscle.metabolic import Bhargava2004, Bhargava2004Smoothed, MetabolicInputs, Umberger2010
from .mtu_cases import tight_run
from .report import REPORT, SKIPPED, TOLERANCES, Check, compare

#: OpenSim's metabolic columns (the reference README's set-ups) -> (model label, rate field).
#: Umberger's activation-maintenance heat is one term (`MetabolicRates.activation`).
_RATES = ("total", "activation", "maintenance", "shortening", "mechanical_work")
METABOLIC_COLUMNS = {
    "umberger2010_activation_maintenance": ("umberger2010", "activation"),
    **{f"umberger2010_{rate}": ("umberger2010", rate)
       for rate in ("total", "shortening", "mechanical_work")},
    **{f"{model}_{rate}": (model, rate)
       for model in ("bhargava2004", "bhargava2004_smoothed") for rate in _RATES},
    **{f"{model}_{rate}": (model, rate)
       for model in ("bhargava2004_forcedep", "bhargava2004_smoothed_v2")
       for rate in ("total", "shortening")},
    # The clamp variants are named `<model>_<rate>_<variant>`.
    **{f"{model}_total_{variant}": (f"{model}_{variant}", "total")
       for model in ("umberger2010", "bhargava2004") for variant in ("no_min_heat", "no_clamps")},
    **{f"{model}_shortening_no_clamps": (f"{model}_no_clamps", "shortening")
       for model in ("umberger2010", "bhargava2004")},
}


def _metabolic_models(setup: dict) -> dict:
    """The models behind `METABOLIC_COLUMNS`.

    The second smoothed variant's settings come from the set-up (`smoothed_v2_settings`).
    """
    return {
        "umberger2010": Umberger2010(),
        "umberger2010_no_min_heat": Umberger2010(enforce_minimum_heat_rate=False),
        "umberger2010_no_clamps": Umberger2010(enforce_minimum_heat_rate=False,
                                               forbid_negative_total_power=False),
        "bhargava2004": Bhargava2004(),
        "bhargava2004_no_min_heat": Bhargava2004(enforce_minimum_heat_rate=False),
        "bhargava2004_no_clamps": Bhargava2004(enforce_minimum_heat_rate=False,
                                               forbid_negative_total_power=False),
        "bhargava2004_forcedep": Bhargava2004(force_dependent_shortening=True),
        "bhargava2004_smoothed": Bhargava2004Smoothed(),
        "bhargava2004_smoothed_v2": Bhargava2004Smoothed(**setup.get("smoothed_v2_settings", {})),
    }


def check_metabolics(path: Path) -> list[Check]:
    """Every metabolic column recomputed from OpenSim's own muscle states.

    The states are OpenSim's, so muscle-model differences do not enter; the tolerance is
    relative to max(1 W, max |reference|).
    """
    case = MetabolicsCase(path)
    reference, params = case.reference(), case.parameters()
    checks = metabolic_checks_from_states(case, reference, params)
    states_setup = path.with_name(f"mtu_sim_{case.name}_setup.json")
    if states_setup.is_file():
        checks += _metabolics_from_simulation(states_setup, case, reference, params)
    return checks


def _rates(models: dict, params, inputs) -> dict:
    """`MetabolicRates` over time (leading axis) for each labelled model."""
    return {label: jax.vmap(lambda x, m=model: m(params, x))(inputs)
            for label, model in models.items()}


def metabolic_checks_from_states(case: MetabolicsCase, reference=None, params=None
                                 ) -> list[Check]:
    """Every column of the case recomputed from OpenSim's muscle states, against its tolerance."""
    reference = case.reference() if reference is None else reference
    params = case.parameters() if params is None else params
    rates = _rates(_metabolic_models(case.setup), params, case.inputs())
    checks = []
    for column, values in reference.items():
        if column not in METABOLIC_COLUMNS:
            if column != "time":
                checks.append(Check(case.csv_path.name, f"metabolics_{case.name}", column,
                                    float("nan"), float("nan"), None, "-", "-", SKIPPED,
                                    "unknown column"))
            continue
        label, field = METABOLIC_COLUMNS[column]
        checks.append(compare(case.csv_path.name, f"metabolics_{case.name}",
                              f"{column} [from OpenSim's muscle states]",
                              getattr(rates[label], field)[:, 0], values,
                              tolerance=TOLERANCES["metabolic_rate"], unit="max(1 W, |ref|)",
                              scale=_rate_scale(values)))
    return checks


#: Totals reported from mskdiff's own simulation of a case.
_SIMULATED_TOTALS = ("umberger2010_total", "bhargava2004_total", "bhargava2004_forcedep_total",
                     "bhargava2004_smoothed_total")


def _metabolics_from_simulation(states_setup: Path, case: MetabolicsCase, reference,
                                params) -> list[Check]:
    """The totals from mskdiff's own simulation of the case (Tsit5, rtol 1e-10), reported.

    The muscle states come from the case's own formulation (De Groote or Millard equilibrium).
    """
    status, note = REPORT, f"mskdiff's {IsolatedMTUCase(states_setup).muscle_class} states"
    trajectory = tight_run(states_setup)
    inputs = MetabolicInputs.from_outputs(trajectory.outputs, trajectory.excitation,
                                          trajectory.states.activation)
    columns = [c for c in _SIMULATED_TOTALS if c in reference]
    models = _metabolic_models(case.setup)
    rates = _rates({METABOLIC_COLUMNS[c][0]: models[METABOLIC_COLUMNS[c][0]] for c in columns},
                   params, inputs)
    checks = []
    for column in columns:
        label, field = METABOLIC_COLUMNS[column]
        n = len(trajectory.times)
        values = reference[column][:n]
        checks.append(compare(case.csv_path.name, f"metabolics_{case.name}",
                              f"{column} [from mskdiff's simulation]",
                              getattr(rates[label], field)[:, 0],
                              values, unit="max(1 W, |ref|)", status=status, note=note,
                              scale=_rate_scale(values)))
    return checks


def _rate_scale(values) -> float:
    """max(1 W, max |reference|) over the reference's numbers (NaN is reported by `compare`)."""
    finite = np.abs(values[np.isfinite(values)])
    return max(1.0, float(finite.max())) if finite.size else 1.0
