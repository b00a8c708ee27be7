"""Fit all 80 Rajagopal tendon slack lengths: mskdiff (exact Jacobians) vs SciPy with finite differences.

The problem is the test suite's self-consistent case 1: 0.3 s of tendon force and fibre length
of the 80 muscles (`sine_drive`, 2 ms samples, semi-implicit Euler x 4) simulated by mskdiff at
the Rajagopal 2016 values, fitted from slack lengths moved 5 % up or down (float64, no noise).

* mskdiff: `mskdiff.solvers.fit` (optimistix Levenberg-Marquardt, Jacobian by one
  forward-mode JVP per free field through the simulation). Timed twice: the first call
  includes compilation, the second does not.
* baseline: `scipy.optimize.least_squares` (trust-region reflective, the same box bounds,
  `jac="2-point"`: one extra simulation per slack length for every Jacobian), calling the
  same jitted forward model (compiled before timing).

Reported: wall time, iterations, residual evaluations, worst relative error of the fitted
slack lengths, and the ratio SciPy / mskdiff.

    python benchmarks/identify.py [--out FILE]      # ~1-2 min on 2 CPU cores
"""

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from device import device_info

from mskdiff.models import rajagopal2016, rajagopal2016_default_mtu_lengths
from mskdiff.muscle import make_mtu
from mskdiff.solvers import FreeParameters, TimeSeriesExperiment, fit
from mskdiff.solvers.reference_cases import perturb, sine_drive

N_SAMPLES, DT = 151, 2e-3
ROOT = Path(__file__).resolve().parent


def problem():
    """(true model, start model, experiment with data) of the self-consistent case."""
    params = rajagopal2016()
    truth = make_mtu(params)
    experiment = TimeSeriesExperiment(
        targets={"tendon_force": jnp.zeros((N_SAMPLES, 80)),
                 "fiber_length": jnp.zeros((N_SAMPLES, 80))},
        times=jnp.arange(N_SAMPLES) * DT,
        drive=sine_drive(rajagopal2016_default_mtu_lengths(params.names)),
        initial_activation=jnp.full(80, 0.3))
    data = eqx.filter_jit(experiment.predict)(truth)
    experiment = eqx.tree_at(lambda e: e.targets, experiment, data)
    start = make_mtu(perturb(params, ["tendon_slack_length"], 0.05, key=jr.key(0)))
    return truth, start, experiment


def time_mskdiff(start, experiment, true):
    """Two fits (with and without compilation)."""
    rows = []
    for label in ("mskdiff (first call, compiles)", "mskdiff"):
        began = time.perf_counter()
        result = fit(start, [experiment], FreeParameters(("tendon_slack_length",)), progress=False)
        seconds = time.perf_counter() - began
        rows.append({"method": label, "seconds": seconds, "iterations": result.n_steps,
                     "residual_evaluations": len(result.cost_history),
                     "max_relative_error": _error(result.fitted["tendon_slack_length"], true)})
    return rows


def time_scipy(start, experiment, true):
    """SciPy least_squares with 2-point finite-difference Jacobians on the same residuals."""
    from scipy.optimize import least_squares

    scale = {q: jnp.max(y, 0) - jnp.min(y, 0) for q, y in experiment.targets.items()}

    @jax.jit
    def residuals(slack):
        model = eqx.tree_at(lambda m: m.params.tendon_slack_length, start, slack)
        predicted = experiment.predict(model)
        return jnp.concatenate([((predicted[q] - y) / scale[q]).ravel()
                                for q, y in experiment.targets.items()])

    x0 = np.asarray(start.params.tendon_slack_length)
    residuals(jnp.asarray(x0)).block_until_ready()  # compile before timing
    began = time.perf_counter()
    solution = least_squares(lambda x: np.asarray(residuals(jnp.asarray(x))), x0, jac="2-point",
                             bounds=(0.5 * x0, 1.5 * x0), method="trf", xtol=1e-12, ftol=1e-12,
                             gtol=1e-12)
    seconds = time.perf_counter() - began
    evaluations = solution.nfev + solution.njev * len(x0)
    return {"method": "SciPy least_squares, 2-point FD", "seconds": seconds,
            "iterations": int(solution.njev), "residual_evaluations": int(evaluations),
            "max_relative_error": _error(solution.x, true)}


def _error(fitted, true) -> float:
    return float(np.max(np.abs(np.asarray(fitted) / true - 1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/"
                                                  "identify_<platform>.json)")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    truth, start, experiment = problem()
    true = np.asarray(truth.params.tendon_slack_length)
    rows = [*time_mskdiff(start, experiment, true), time_scipy(start, experiment, true)]
    print(f"{'method':<34}{'wall s':>9}{'iterations':>12}{'evaluations':>13}{'max rel err':>13}")
    for r in rows:
        print(f"{r['method']:<34}{r['seconds']:>9.2f}{r['iterations']:>12}"
              f"{r['residual_evaluations']:>13}{r['max_relative_error']:>13.1e}")
    ratio = rows[2]["seconds"] / rows[1]["seconds"]
    print(f"SciPy (finite differences) / mskdiff (compiled): {ratio:.1f}x wall time")
    device = device_info(("jax", "jaxlib", "equinox", "optimistix", "scipy", "numpy", "mskdiff"))
    out = args.out or ROOT / "results" / f"identify_{device['platform']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": device, "rows": rows, "ratio_scipy_over_mskdiff": ratio,
                               "samples": N_SAMPLES, "muscles": 80}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
