# %% [markdown]
# # Fit the 80 tendon slack lengths of the Rajagopal model to OpenSim's walking equilibria
# OpenSim 4.6 equilibrated every muscle of the subject-scaled Rajagopal 2016 model at three
# frames of a walking trial and three activations (`walk_equilibrium.csv`). Starting 5 % off
# (random sign per muscle), mskdiff fits all 80 slack lengths at once, first to the fibre
# lengths and tendon forces, then to the fibre lengths alone, and reports every muscle's error
# against the scaled model's values (`rajagopal2016_scaled_walk_muscles.csv`).
#
# OpenSim's Rajagopal muscles use Millard 2012 curves. With De Groote 2016 curves the fitted
# values carry a model-form bias (the fit reports `data_not_reproduced`); fibre lengths alone
# give the rigid-tendon muscles' slack lengths exactly (geometry only) and keep the elastic
# ones within about 1 mm. With OpenSim's own model (`MillardEquilibriumMTU` with each
# muscle's curves from the parameter table) the bias is gone.
#
#     python examples/fit_tendon_slack.py [--out DIR]

# %%
import argparse
from pathlib import Path

import jax
import jax.random as jr
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mskdiff.io import find_equilibrium_tables, millard_curves_from_table
from mskdiff.muscle import MillardEquilibriumMTU, make_mtu
from mskdiff.solvers import FreeParameters, fit
from mskdiff.solvers.reference_cases import equilibrium_problem, perturb

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
#: Label -> (curves, fitted quantities).
FITS = {"De Groote, fibre length + tendon force": ("degroote", ("fiber_length", "tendon_force")),
        "De Groote, fibre length only": ("degroote", ("fiber_length",)),
        "Millard, fibre length + tendon force": ("millard", ("fiber_length", "tendon_force"))}


def starting_model(table, start, curves: str):
    """De Groote's explicit formulation, or OpenSim's Millard equilibrium muscle."""
    if curves == "degroote":
        return make_mtu(start)
    return MillardEquilibriumMTU(start, millard_curves_from_table(table.parameter_table(),
                                                                  table.muscles))


def fit_slack_lengths(table, curves, quantities, *, seed=0):
    """Fitted - true slack length [m] of every muscle, and the fit result."""
    problem = equilibrium_problem(table, quantities=quantities)
    start = perturb(problem.truth, ["tendon_slack_length"], 0.05, key=jr.key(seed))
    result = fit(starting_model(table, start, curves), [problem.experiment],
                 FreeParameters(("tendon_slack_length",)), throw=False)  # De Groote: biased
    true = np.asarray(problem.truth.tendon_slack_length)
    return result.fitted["tendon_slack_length"] - true, problem.truth, result


def main(out="mskdiff_out", reference=REFERENCE):
    (table,) = [t for t in find_equilibrium_tables(reference) if t.name == "walk"]
    errors = {}
    for label, (curves, quantities) in FITS.items():
        error, truth, result = fit_slack_lengths(table, curves, quantities)
        errors[label] = error
        rigid = np.asarray(truth.ignore_tendon_compliance, dtype=bool)
        print(f"{label}: {result.outcome} ({result.n_steps} steps), residual RMS "
              f"{result.residual_rms}, worst {result.stats['relative_rms']:.2g} of a data range")
        for kind, mask in (("rigid tendons", rigid), ("elastic tendons", ~rigid)):
            print(f"  {kind} ({mask.sum()}): max |error| {1e3 * np.max(np.abs(error[mask])):.3g} mm,"
                  f" median {1e3 * np.median(np.abs(error[mask])):.3g} mm")
    print(f"\n{'muscle':<14}{'tendon':>8}{'true [m]':>11}"
          + "".join(f"{label:>40}" for label in FITS) + "   (error [mm])")
    for k, name in enumerate(truth.names):
        tendon = "rigid" if truth.ignore_tendon_compliance[k] else "elastic"
        print(f"{name:<14}{tendon:>8}{float(truth.tendon_slack_length[k]):>11.5f}"
              + "".join(f"{1e3 * errors[label][k]:>40.3f}" for label in FITS))
    return plot(Path(out), truth, errors)


def plot(out: Path, truth, errors) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(12, 4))
    x = np.arange(len(truth.names))
    width = 0.8 / len(errors)
    for k, (label, error) in enumerate(errors.items()):
        ax.bar(x + width * k, 1e3 * error, width=width, label=label)
    ax.set_xticks(x + 0.4 - width / 2, truth.names, rotation=90, fontsize=6)
    ax.set_ylabel("fitted - true slack length [mm]")
    ax.set_title("80 Rajagopal slack lengths from OpenSim's walking equilibria (start 5 % off)")
    ax.legend()
    fig.tight_layout()
    path = out / "fit_tendon_slack.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fit the Rajagopal slack lengths to walking data.")
    parser.add_argument("--out", default="mskdiff_out")
    jax.config.update("jax_enable_x64", True)  # float64 (tests run it under enable_x64)
    main(parser.parse_args().out)
