"""`mskdiff fit`: identify muscle parameters from a folder of reference data.

Every problem found in the folder (`reference_cases`: isolated-MTU simulations and equilibrium
tables) is fitted on its own, starting from its true (set-up) parameters, moved by
`perturb` first when asked (an identifiability study), or, for equilibrium tables, from an
`.osim` model. The report gives per case, muscle and field the set-up, starting and fitted
values with standard errors; each case gets a plot (data vs fit, convergence), and with an
`.osim` model a copy of it holding the fitted values.
"""

import json
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.random as jr
import numpy as np

from ..io.osim import load_millard_curves, load_osim
from ..io.osim_write import write_osim_parameters
from ..io.reference import find_equilibrium_tables, find_isolated_mtu_cases
from ..muscle.parameters import MuscleParameters
from ..solvers.identify import (
    AbstractExperiment,
    AdaptiveRecord,
    EquilibriumExperiment,
    FitResult,
    FreeParameters,
    TimeSeriesExperiment,
)
from ..solvers.reference_cases import (
    FIXED_STEP,
    ReferenceProblem,
    equilibrium_problem,
    fit_reference,
    isolated_mtu_problem,
    perturb,
    restarts,
)

#: `--max-residual` default: worst RMS error per quantity and muscle, in data ranges.
MAX_RESIDUAL = 0.02
#: `--integrator` choices: how isolated-MTU cases are simulated.
INTEGRATORS = {"adaptive": AdaptiveRecord(), "fixed": FIXED_STEP}


def find_problems(data_dir, *, muscles: Sequence[str] | None = None, osim=None,
                  integrator: str = "adaptive") -> list[tuple[ReferenceProblem, object]]:
    """`(problem, starting parameters)` for every case in `data_dir` (of `muscles`, if given).

    Isolated-MTU cases start from their set-up (simulated by `INTEGRATORS[integrator]`);
    equilibrium tables from `osim` when given (its parameters and Millard curves stand in for
    a missing muscle table; the report's set-up is then the model's).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    found = []
    for case in find_isolated_mtu_cases(data_dir):
        if muscles is None or case.parameters().names[0] in muscles:
            problem = isolated_mtu_problem(case, integrator=INTEGRATORS[integrator])
            found.append((problem, problem.truth))
    for table in find_equilibrium_tables(data_dir):
        selected = table.muscles if muscles is None else [m for m in table.muscles if m in muscles]
        if selected:
            problem = _equilibrium_problem(table, selected, osim)
            start = problem.truth if osim is None else load_osim(osim, selected)
            found.append((problem, start))
    if not found:
        raise ValueError(f"{data_dir}: no isolated-MTU cases (mtu_sim_*_setup.json) or "
                         "equilibrium tables (*_equilibrium.csv)"
                         + (f" for muscles {list(muscles)}" if muscles else ""))
    return found


def _equilibrium_problem(table, muscles, osim) -> ReferenceProblem:
    """The table's problem; with `osim` and no muscle table beside it, the model's values."""
    try:
        table.parameter_table()
    except FileNotFoundError:
        if osim is None:
            raise
        return equilibrium_problem(table, muscles=muscles, parameters=load_osim(osim, muscles),
                                   curves=load_millard_curves(osim, muscles))
    return equilibrium_problem(table, muscles=muscles)


def fit_problem(problem: ReferenceProblem, start, free: FreeParameters, *, perturbation: float,
                key, progress: bool, max_residual: float = MAX_RESIDUAL,
                restart: bool = True) -> tuple[FitResult, dict]:
    """Fit one problem (`fit_reference`, with `restarts` unless not `restart`; never raising).

    Returns the result and its report entry.
    """
    if perturbation:
        start = perturb(start, free.fields, perturbation, key=key)
    began = time.perf_counter()
    result = fit_reference(problem, start, free, moves=restarts(free) if restart else (),
                           progress=progress, max_residual=max_residual, throw=False)
    seconds = time.perf_counter() - began
    muscles = {}
    for k, name in enumerate(result.names):
        muscles[name] = {field: {
            "setup": float(np.asarray(getattr(problem.truth, field))[k]),
            "start": float(result.initial[field][k]),
            "fitted": float(result.fitted[field][k]),
            "standard_error": float(result.standard_error[field][k]),
        } for field in free.fields}
    entry = {"case": problem.name, "note": problem.note, "result": result.outcome,
             "converged": result.converged, "steps": result.n_steps,
             "stage_steps": list(result.stats["stage_steps"]), "starts": result.stats["starts"],
             "seconds": seconds, "residual_rms": result.residual_rms,
             "relative_rms": result.stats["relative_rms"], "muscles": muscles,
             **({"polish": result.stats["polish"]} if "polish" in result.stats else {})}
    return result, entry


def run_fit_job(data_dir, free_fields: Sequence[str], *, out_dir, osim=None,
                muscles: Sequence[str] | None = None, perturbation: float = 0.0, seed: int = 0,
                json_path=None, progress: bool = True, integrator: str = "adaptive",
                max_residual: float = MAX_RESIDUAL, restart: bool = True) -> dict:
    """Fit every problem in `data_dir` (float64); write plots, the report and the `.osim` copy.

    `out_dir` is created only when the first plot is written.
    """
    from tqdm.auto import tqdm

    if not 0 <= perturbation < 0.5:
        raise ValueError(f"perturb must be in [0, 0.5), got {perturbation}")
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {list(INTEGRATORS)}, got {integrator!r}")
    free = FreeParameters(tuple(free_fields))
    out_dir = Path(out_dir)
    report = {"data": str(data_dir), "free": list(free.fields), "perturb": perturbation,
              "seed": seed, "integrator": integrator, "max_residual": max_residual,
              "restart": restart,
              "cases": [], "outputs": []}
    with jax.enable_x64(True):
        problems = find_problems(data_dir, muscles=muscles, osim=osim, integrator=integrator)
        keys = jr.split(jr.key(seed), len(problems))
        for (problem, start), key in zip(tqdm(problems, desc="fit cases", disable=not progress),
                                         keys, strict=True):
            result, entry = fit_problem(problem, start, free, perturbation=perturbation, key=key,
                                        progress=progress, max_residual=max_residual,
                                        restart=restart)
            out_dir.mkdir(parents=True, exist_ok=True)
            plot = out_dir / f"fit_{problem.name}.png"
            plot_fit(plot, result, problem.experiment, truth=problem.truth,
                     title=f"mskdiff fit: {problem.name}")
            entry["plot"] = str(plot)
            if osim is not None and isinstance(problem.experiment, EquilibriumExperiment):
                fitted = out_dir / f"{Path(osim).stem}_fitted.osim"
                write_osim_parameters(osim, fitted, result.fitted, muscles=result.names)
                entry["osim"] = str(fitted)
            report["cases"].append(entry)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(report, indent=1))
    return report


def format_report(report: dict) -> str:
    """A plain-text table: per case, muscle and field the set-up, start and fitted values."""
    rows = [f"{'case':<36}{'muscle':<14}{'field':<22}{'setup':>11}{'start':>11}{'fitted':>11}"
            f"{'error':>11}{'std err':>10}"]
    for case in report["cases"]:
        for muscle, fields in case["muscles"].items():
            for field, v in fields.items():
                rows.append(f"{case['case']:<36}{muscle:<14}{field:<22}{v['setup']:>11.6g}"
                            f"{v['start']:>11.6g}{v['fitted']:>11.6g}"
                            f"{v['fitted'] - v['setup']:>11.2e}{v['standard_error']:>10.2g}")
        rms = ", ".join(f"{q} {x:.3g}" for q, x in case["residual_rms"].items())
        rows.append(f"  {case['case']}: {case['result']}, {case['steps']} steps, "
                    f"{case['starts']} start(s), "
                    f"{case['seconds']:.1f} s, residual RMS {rms} (worst "
                    f"{case['relative_rms']:.2g} of the data range)"
                    + (f" ({case['note']})" if case["note"] else ""))
        if "polish" in case:
            rows.append(f"  WARNING: {case['case']}: the adaptive polish failed "
                        f"({case['polish']}): values carry the fixed-step bias")
        if case["result"] != "successful":
            rows.append(f"  WARNING: {case['case']}: {_WARNINGS.get(case['result'], case['result'])}")
    return "\n".join(rows)


#: The report's warning per unsuccessful result.
_WARNINGS = {
    "data_not_reproduced": "the fitted model does NOT reproduce the data (residual above "
                           "--max-residual of the data range) from any start: a local "
                           "minimum or a wrong model; do not use these values",
    "max_steps_reached": "Levenberg-Marquardt stopped at its step limit",
    "nonfinite_state": "the prediction at the fitted values is not finite",
}


#: Units of the quantities a fit can use, for axis labels.
UNITS = {"tendon_force": "N", "fiber_length": "m", "norm_fiber_length": "-",
         "pennation_angle": "rad", "activation": "-", "joint_moment": "N m"}


def plot_fit(path, result: FitResult, experiment: AbstractExperiment, *,
             truth: MuscleParameters | None = None, title: str = "mskdiff fit") -> None:
    """Data vs fit per target of `experiment` (the first one fitted) and the cost history.

    With `truth` and several muscles, also each muscle's relative error of every field.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = {q: np.asarray(y) for q, y in experiment.targets.items()}
    show_errors = truth is not None and len(result.names) > 1
    panels = len(targets) + 1 + show_errors
    fig, axes = plt.subplots(panels, 1, figsize=(9, 3 * panels))
    for ax, (q, y) in zip(axes, targets.items(), strict=False):
        _plot_quantity(ax, experiment, q, y, result.predicted[0][q])
        ax.set_title(f"{q}: RMS error {result.residual_rms[q]:.3g} {UNITS.get(q, '')}")
    if show_errors:
        ax = axes[-2]
        x = np.arange(len(result.names))
        for k, field in enumerate(result.fields):
            error = result.fitted[field] / np.asarray(getattr(truth, field)) - 1
            ax.bar(x + k / (len(result.fields) + 1), 100 * error,
                   width=1 / (len(result.fields) + 1), label=field)
        ax.set_xticks(x, result.names, rotation=90, fontsize=6)
        ax.set_ylabel("fitted / true - 1 [%]")
        ax.legend()
    axes[-1].semilogy(result.cost_history)
    axes[-1].set_xlabel("evaluation")
    axes[-1].set_ylabel("cost (0.5 sum r^2)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_quantity(ax, experiment: AbstractExperiment, quantity: str, data, fitted) -> None:
    unit = UNITS.get(quantity, "")
    if not isinstance(experiment, TimeSeriesExperiment) or data.shape[1] > 1:
        ax.plot(data.ravel(), fitted.ravel(), ".", ms=3)
        ax.axline((0, 0), slope=1, color="k", lw=0.8)
        ax.set_xlabel(f"data [{unit}]")
        ax.set_ylabel(f"fit [{unit}]")
        return
    t = np.asarray(experiment.times)
    ax.plot(t, data[:, 0], "k.", ms=2, label="data")
    ax.plot(t, fitted[:, 0], "C1", label="fit")
    ax.set_xlabel("time [s]")
    ax.set_ylabel(f"{quantity} [{unit}]")
    ax.legend()


def run(args) -> int:
    """`mskdiff fit`: fit, print the report; exit 1 if a fit was not successful."""
    report = run_fit_job(args.data, _comma_list(args.free), out_dir=args.out, osim=args.osim,
                         muscles=_comma_list(args.muscles) if args.muscles else None,
                         perturbation=args.perturb, seed=args.seed, json_path=args.json,
                         progress=not args.no_progress, integrator=args.integrator,
                         max_residual=args.max_residual, restart=not args.no_restarts)
    print(format_report(report))
    for case in report["cases"]:
        print(f"wrote plot: {case['plot']}" + (f", model: {case['osim']}" if "osim" in case else ""))
    if args.json:
        print(f"wrote report: {args.json}")
    return 0 if all(c["result"] == "successful" for c in report["cases"]) else 1


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    fit = commands.add_parser(
        "fit", help="fit muscle parameters to reference data (isolated MTUs, equilibria)",
        description="Fit the free muscle parameters (Levenberg-Marquardt with exact forward-mode "
                    "Jacobians, float64) to every case in DATA: isolated-MTU simulations "
                    "(mtu_sim_<case>.csv + _setup.json; each starts from its set-up's "
                    "parameters) and equilibrium tables (<prefix>_equilibrium.csv; starting "
                    "from the *<prefix>*_muscles.csv beside it, or from --osim). Prints fitted, "
                    "starting and set-up values with standard errors, writes a plot per case, "
                    "and with --osim a copy of the model holding the fitted values. Exit 1 if "
                    "a fit was not successful (did not converge, or does not reproduce its "
                    "data: see --max-residual).")
    fit.add_argument("--data", required=True, help="folder with the reference-format data")
    fit.add_argument("--free", default="tendon_slack_length",
                     help="comma-separated parameters to fit (default tendon_slack_length)")
    fit.add_argument("--muscles", help="comma-separated muscles (default: all in DATA)")
    fit.add_argument("--osim", help="starting model for equilibrium tables (its parameters and "
                                    "curves replace a missing muscle table); the fitted values "
                                    "are written to a copy of it in --out")
    fit.add_argument("--integrator", choices=list(INTEGRATORS), default="adaptive",
                     help="isolated-MTU simulation: 'adaptive' (default; a fixed-step fit, then "
                          "Tsit5 at rtol 1e-10 from there: no integration bias) or 'fixed' "
                          "(semi-implicit Euler 1 ms x 8 only: faster, ~0.04 mm bias)")
    fit.add_argument("--max-residual", type=float, default=MAX_RESIDUAL,
                     help="a fit reproduces its data when every quantity's RMS error is at most "
                          f"this fraction of the data's range (default {MAX_RESIDUAL}: "
                          "reference data are simulations; raise it for noisy measurements)")
    fit.add_argument("--no-restarts", action="store_true",
                     help="do not restart an unsuccessful fit with each free parameter "
                          "x 0.85 and x 1.15 in turn")
    fit.add_argument("--perturb", type=float, default=0.0,
                     help="first move the free parameters this fraction up or down (random "
                          "sign per muscle), e.g. 0.1")
    fit.add_argument("--seed", type=int, default=0, help="seed of the perturbation signs")
    fit.add_argument("--out", default="mskdiff_out", help="output folder")
    fit.add_argument("--json", help="write the report to this JSON file")
    fit.add_argument("--no-progress", action="store_true", help="no progress bars")
    fit.set_defaults(run=run)

