# %% [markdown]
# # Muscle metabolic rates: mskdiff vs OpenSim 4.6's probes
# Recomputes Umberger 2010, Bhargava 2004 and the smoothed Bhargava 2004 rates of one
# `../shared/reference` metabolics case from OpenSim's own muscle states, and plots them over
# OpenSim's probe outputs with the error relative to max(1 W, max |OpenSim|).
#
#     python examples/metabolics_vs_opensim.py [CASE] [--out DIR]

"""Metabolic rates from OpenSim's muscle states: mskdiff vs OpenSim 4.6's probes (one case)."""

# %%
import argparse
import os
from pathlib import Path

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mskdiff.io import MetabolicsCase
from mskdiff.muscle import Bhargava2004, Bhargava2004Smoothed, Umberger2010

#: `../shared/reference` beside the repository, or `MSKDIFF_REFERENCE`.
REFERENCE = Path(os.environ.get(
    "MSKDIFF_REFERENCE", Path(__file__).resolve().parents[1].parent / "shared" / "reference"))
#: Model, and the OpenSim column holding its total rate.
MODELS = {"Umberger 2010": (Umberger2010(), "umberger2010_total"),
          "Bhargava 2004": (Bhargava2004(), "bhargava2004_total"),
          "Bhargava 2004 smoothed": (Bhargava2004Smoothed(), "bhargava2004_smoothed_total")}


def main(case_name="dgf_gasmed_r_ramps", out="mskdiff_out"):
    """Plot the three totals and their errors; returns the figure's path and the max errors."""
    case = MetabolicsCase(REFERENCE / f"metabolics_{case_name}_setup.json")
    reference, params, inputs = case.reference(), case.parameters(), case.inputs()
    time = reference["time"]
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    errors = {}
    for label, (model, column) in MODELS.items():
        total = np.asarray(jax.vmap(lambda x, m=model: m(params, x))(inputs).total[:, 0])
        scale = max(1.0, float(np.max(np.abs(reference[column]))))
        error = np.abs(total - reference[column]) / scale
        errors[label] = float(error.max())
        line, = axes[0].plot(time, reference[column], lw=3, alpha=0.4)
        axes[0].plot(time, total, "--", color=line.get_color(), label=f"{label}")
        axes[1].semilogy(time, np.maximum(error, 1e-18), color=line.get_color(), lw=0.7)
    axes[0].set_ylabel("total rate [W]")
    axes[0].legend(title="OpenSim 4.6 (thick), mskdiff (dashed)", fontsize=8)
    axes[1].axhline(1e-6, color="k", ls=":", label="tolerance 1e-6")
    axes[1].set_ylabel("|error| / max(1 W, max |ref|)\n(exact zeros at 1e-18)")
    axes[1].set_xlabel("time [s]")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{case.name}: rates from OpenSim's muscle states")
    fig.tight_layout()
    Path(out).mkdir(parents=True, exist_ok=True)
    path = Path(out) / f"metabolics_{case.name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}; max errors: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    return path, errors


# %%
if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("case", nargs="?", default="dgf_gasmed_r_ramps")
    parser.add_argument("--out", default="mskdiff_out")
    args = parser.parse_args()
    main(args.case, args.out)
