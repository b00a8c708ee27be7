"""The validation report: one `Check` per compared quantity, its tolerances, table and JSON."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from .geometry import GEOMETRY_BOUNDS

PASS, FAIL, CROSS_MODEL, REPORT, SKIPPED, ERROR = (
    "pass", "FAIL", "cross-model", "report", "skipped", "ERROR")

#: Tolerances (float64). Forces in units of max isometric force, lengths in m.
TOLERANCES = {
    "curve": 1e-9,
    "residual": 1e-9,
    "initial_tendon_force": 1e-8,
    "initial_fiber_length": 1e-9,
    "tight_tendon_force_max": 1e-5,
    "tight_fiber_length_max": 1e-7,
    "tight_activation_max": 1e-7,
    "euler_tendon_force_rms": 2.5e-3,
    "acceleration_tendon_force_rms": 3e-3,
    "rigid_fiber_length": 1e-9,
    "parameter_table": 1e-12,
    # Millard 2012 equilibrium cases: tight (max) and semi-implicit Euler 2 ms x 4 (RMS).
    "millard_tight_tendon_force_max": 1e-3,
    "millard_tight_fiber_length_max": 1e-5,
    "millard_euler_tendon_force_rms": 1e-2,
    # Millard equilibria of the 80 walking muscles, relative to max(|ref|, 1e-3 Fmax or 1e-3).
    "walk_equilibrium_relative": 1e-6,
    # Millard 2012 curves: value and derivatives (second: relative to max(1, |ref|)); integrals.
    "millard_curve": 1e-8,
    "millard_curve_integral": 5e-5,
    # Metabolic rates from OpenSim's own muscle states: max |error| / max(1 W, max |reference|).
    "metabolic_rate": 1e-6,
    # myoLeg (MuJoCo) vs OpenSim's generic Rajagopal 2016 along a walking trial, RMS per muscle
    # and per muscle-coordinate pair [m] (GEOMETRY_BOUNDS; outliers in geometry.py).
    "geometry_mtu_length_rms": GEOMETRY_BOUNDS["mtu_length_rms"],
    "geometry_moment_arm_rms": GEOMETRY_BOUNDS["moment_arm_rms"],
}


@dataclasses.dataclass(frozen=True)
class Check:
    """One compared quantity: errors, the tolerance it is held to, and the verdict."""

    file: str
    case: str
    quantity: str
    max_error: float
    rms_error: float
    tolerance: float | None
    metric: str  # "max" or "rms": which error the tolerance applies to
    unit: str
    status: str
    note: str = ""

    @property
    def failed(self) -> bool:
        """True for a failed comparison or a known file that could not be recomputed."""
        return self.status in (FAIL, ERROR)


def compare(file, case, quantity, computed, reference, *, tolerance=None, metric="max",
            unit="", scale=1.0, status=None, note="") -> Check:
    """Compare arrays; errors are divided by `scale` (e.g. max isometric force).

    NaN is never an error size: NaN in `reference` makes the check an ERROR (a malformed
    reference file) and NaN in `computed` a FAIL, each with a note naming the first sample;
    the errors are then those of the other samples.
    """
    computed, reference = (np.asarray(x, float) for x in (computed, reference))
    error = np.abs(computed - reference) / scale
    bad_reference, bad_computed = np.isnan(reference), np.isnan(computed) & ~np.isnan(reference)
    finite = error[~(bad_reference | bad_computed)]
    max_error = float(np.max(finite)) if finite.size else float("nan")
    rms_error = float(np.sqrt(np.mean(finite**2))) if finite.size else float("nan")
    if bad_reference.any():
        status, note = ERROR, _nan_note("reference", bad_reference)
    elif bad_computed.any():
        status, note = FAIL, _nan_note("mskdiff's value", bad_computed)
    elif status is None:
        if tolerance is None:
            status = REPORT
        else:
            value = max_error if metric == "max" else rms_error
            status = PASS if np.isfinite(value) and value <= tolerance else FAIL
    return Check(file, case, quantity, max_error, rms_error, tolerance, metric, unit, status, note)


def _nan_note(what: str, mask: np.ndarray) -> str:
    first = int(np.flatnonzero(mask.ravel())[0])
    return f"{what} is NaN in {int(mask.sum())} of {mask.size} samples (first: sample {first})"


def error_check(file: str, error: Exception) -> Check:
    """The row of a known file that could not be recomputed (its exception as the note).

    A multi-line message (e.g. `eqx.error_if`'s, a traceback around it) is shortened to its
    last line that names an error, where the cause is.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"[\w.]*(Error|Exception): ", line)]
    message = named[-1] if len(lines) > 1 and named else f"{type(error).__name__}: {error}"
    return Check(file, file, "-", float("nan"), float("nan"), None, "-", "-", ERROR, message[:400])


def skipped_check(file: str, note: str) -> Check:
    """The row of a file that is not compared, with the reason."""
    return Check(file, file, "-", float("nan"), float("nan"), None, "-", "-", SKIPPED, note)


def passed(checks: list[Check]) -> bool:
    """True when nothing failed and at least one quantity was checked against a tolerance."""
    return not any(c.failed for c in checks) and any(c.status == PASS for c in checks)


def format_table(checks: list[Check]) -> str:
    """A plain-text table: file/case, quantity, max and RMS error, tolerance, status."""
    header = f"{'case':38s} {'quantity':58s} {'max err':>10s} {'rms err':>10s} " \
             f"{'tolerance':>14s} {'unit':>8s}  status"
    lines = [header, "-" * len(header)]
    for c in checks:
        tolerance = "-" if c.tolerance is None else f"{c.metric} {c.tolerance:.1e}"
        lines.append(f"{c.case[:38]:38s} {c.quantity[:58]:58s} {c.max_error:10.2e} "
                     f"{c.rms_error:10.2e} {tolerance:>14s} {c.unit:>8s}  {c.status}"
                     + (f"  ({c.note})" if c.note and c.status in (ERROR, SKIPPED, FAIL) else ""))
    counts = {s: sum(c.status == s for c in checks) for s in
              (PASS, FAIL, ERROR, CROSS_MODEL, REPORT, SKIPPED)}
    lines.append("-" * len(header))
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def write_json(checks: list[Check], path) -> None:
    """Write the checks as JSON (a list of records plus a summary)."""
    records = [dataclasses.asdict(c) for c in checks]
    summary = {"passed": passed(checks),
               "counts": {s: sum(c.status == s for c in checks)
                          for s in (PASS, FAIL, ERROR, CROSS_MODEL, REPORT, SKIPPED)}}
    Path(path).write_text(json.dumps({"summary": summary, "checks": records}, indent=1,
                                     default=float, allow_nan=True))
