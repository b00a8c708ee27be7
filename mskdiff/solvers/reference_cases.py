"""Identification problems from folders in the reference format (`shared/reference`'s README).

Two kinds of data are recognised by their file names, so any folder of that format works:

* isolated-MTU simulations (`mtu_sim_<case>.csv` + `mtu_sim_<case>_setup.json`): one muscle
  driven by a known excitation and MTU length; the set-up holds the true parameters;
* static equilibria (`<prefix>_equilibrium.csv`): muscles at MTU lengths and activations,
  with the parameters of the model that produced them in the one `*<prefix>*_muscles.csv`
  beside it.

Each problem carries the mskdiff model of the muscle that made its data (`IsolatedMTUCase.model`:
De Groote's explicit formulation, `MillardEquilibriumMTU` or `MillardAccelerationMTU`;
`MillardEquilibriumMTU` with the table's curves for equilibrium tables of Millard muscles), so a
fit has no model-form bias.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._solution import RESULTS, maybe_throw
from ..integrate.integrators import AbstractIntegrator, SemiImplicitEuler
from ..io.reference import (
    EquilibriumTable,
    IsolatedMTUCase,
    millard_curves_from_table,
    parameters_from_table,
)
from ..muscle import make_mtu
from ..muscle.millard_equilibrium import MillardCurves, MillardEquilibriumMTU
from ..muscle.mtu import AbstractMTU
from ..muscle.parameters import MuscleParameters
from .identify import (
    AdaptiveRecord,
    EquilibriumExperiment,
    FitResult,
    FreeParameters,
    TimeSeriesExperiment,
    fit,
)

#: Quantities fitted by default (both are in every reference file).
FIT_QUANTITIES = ("tendon_force", "fiber_length")
#: The fast fixed-step alternative: semi-implicit Euler, 8 sub-steps per 1 ms sample.
FIXED_STEP = SemiImplicitEuler(8)


@dataclasses.dataclass(frozen=True)
class ReferenceProblem:
    """A named identification problem: the true (set-up) parameters, the data, and the model.

    `model(parameters)` builds the MTU model of the muscle that made the data.
    """

    name: str
    truth: MuscleParameters
    experiment: TimeSeriesExperiment | EquilibriumExperiment
    note: str = ""
    model: Callable[[MuscleParameters], AbstractMTU] = make_mtu


def isolated_mtu_problem(case: IsolatedMTUCase, *, quantities=FIT_QUANTITIES, dt: float = 1e-3,
                         integrator: AbstractIntegrator | AdaptiveRecord | None = None
                         ) -> ReferenceProblem:
    """The case's OpenSim trajectory, sampled every `dt` [s].

    Simulated by `integrator` (default `AdaptiveRecord()`: Tsit5 at rtol 1e-10, no
    integration bias; `FIXED_STEP`, semi-implicit Euler 1 ms x 8, is faster to compile and
    leaves up to ~0.04 mm of bias on the shared cases).
    """
    reference = case.reference()
    stride = max(1, round(dt / (reference["time"][1] - reference["time"][0])))
    targets = {q: jnp.asarray(reference[q][::stride])[:, None] for q in quantities}
    experiment = TimeSeriesExperiment(
        targets=targets, times=jnp.asarray(reference["time"][::stride]), drive=case.drive,
        initial_activation=jnp.full(1, case.initial_activation),
        integrator=AdaptiveRecord() if integrator is None else integrator)
    return ReferenceProblem(case.name, case.parameters(), experiment, model=case.model)


def equilibrium_problem(table: EquilibriumTable, *, muscles=None, quantities=FIT_QUANTITIES,
                        parameters: MuscleParameters | None = None,
                        curves: MillardCurves | None = None) -> ReferenceProblem:
    """The table's equilibria (static: MTU velocity 0) of `muscles` (default all).

    `parameters` and Millard `curves` default to the table's own muscle table
    (`EquilibriumTable.parameter_table`); given both (e.g. from an `.osim` model), that table
    is not needed.
    """
    if parameters is None:
        parameters = parameters_from_table(table.parameter_table())
    muscles = table.muscles if muscles is None else tuple(muscles)
    truth = parameters.select(muscles)
    length = jnp.asarray(table.column("mtu_length", muscles))
    experiment = EquilibriumExperiment(
        targets={q: jnp.asarray(table.column(q, muscles)) for q in quantities},
        mtu_length=length, mtu_velocity=jnp.zeros_like(length),
        activation=jnp.asarray(table.column("activation", muscles)))
    if curves is None:
        curves = millard_curves_from_table(table.parameter_table(), muscles)
    if curves is not None:
        return ReferenceProblem(table.name, truth, experiment,
                                model=lambda p: MillardEquilibriumMTU(p, curves))
    return ReferenceProblem(table.name, truth, experiment,
                            "no Millard curves in the muscle table: fitted with De Groote curves")


def restarts(free: FreeParameters, spread: float = 0.15) -> tuple[dict[str, float], ...]:
    """Restart moves for `fit_reference`: each free field alone x (1 - spread), x (1 + spread)."""
    return tuple({f: factor} for f in free.fields for factor in (1 - spread, 1 + spread))


def fit_reference(problem: ReferenceProblem, start: MuscleParameters, free: FreeParameters, *,
                  polish: bool = True, moves: Sequence[Mapping[str, float]] = (),
                  **options) -> FitResult:
    """Fit `problem` from `start`, then from `start` moved by each of `moves` until one succeeds.

    `moves` (e.g. `restarts(free)`) multiply free fields of `start`; the first successful fit
    is returned, else the one with the smallest residual; `stats["starts"]` counts the fits
    tried. Each fit is `_fit_polished`. `options` go to `fit`; `throw` applies to the result.
    """
    throw = options.pop("throw", True)
    tried = []
    for move in ({}, *moves):
        moved = eqx.tree_at(lambda p, move=move: [getattr(p, f) for f in move], start,
                            [getattr(start, f) * factor for f, factor in move.items()])
        tried.append(_fit_polished(problem, moved, free, polish, options))
        if tried[-1].result == RESULTS.successful:
            break
    best = min(tried, key=lambda r: (r.result != RESULTS.successful, r.stats["relative_rms"]))
    maybe_throw(jnp.asarray(best.fitted[free.fields[0]]), best.result, throw)
    return dataclasses.replace(best, stats={**best.stats, "starts": len(tried)},
                               initial=tried[0].initial)


def _fit_polished(problem: ReferenceProblem, start: MuscleParameters, free: FreeParameters,
                  polish: bool, options) -> FitResult:
    """One fit; for time series with `AdaptiveRecord` (and `polish`), fixed-step first.

    A first fit with `FIXED_STEP` is cheap and robust far from the solution, where explicit
    adaptive steps meet stiff trial points (a slack tendon: tens of thousands of Tsit5 steps);
    a second one from where it ended, with the adaptive solve, removes its integration bias
    in a few steps. A first fit that is not successful is returned as it is
    (`stats["stage_steps"]` ends in 0), and so is a successful one whose polish fails
    (`stats["polish"]` names how); otherwise the second, with both fits' `cost_history`
    and `stats["num_steps"]`, and `stats["stage_steps"]`. Never raises.
    """
    experiment = problem.experiment
    if not (polish and isinstance(experiment, TimeSeriesExperiment)
            and isinstance(experiment.integrator, AdaptiveRecord)):
        result = fit(problem.model(start), [experiment], free, throw=False, **options)
        return dataclasses.replace(result, stats={**result.stats,
                                                  "stage_steps": (result.n_steps,)})
    fixed = dataclasses.replace(experiment, integrator=FIXED_STEP)
    first = fit(problem.model(start), [fixed], free, throw=False, **options)
    if first.result != RESULTS.successful:  # a wrong basin: polishing it costs, gains nothing
        return dataclasses.replace(first, stats={**first.stats, "stage_steps": (first.n_steps, 0)})
    near = eqx.tree_at(lambda p: [getattr(p, f) for f in free.fields], start,
                       [jnp.asarray(first.fitted[f]) for f in free.fields])
    second = fit(problem.model(near), [experiment], free, throw=False, **options)
    if second.result != RESULTS.successful:  # e.g. the adaptive solve hit `max_steps`
        return dataclasses.replace(first, stats={**first.stats, "polish": second.outcome,
                                                 "stage_steps": (first.n_steps, second.n_steps)})
    stats = {**second.stats, "num_steps": first.n_steps + second.n_steps,
             "num_evaluations": first.stats["num_evaluations"] + second.stats["num_evaluations"],
             "stage_steps": (first.n_steps, second.n_steps)}
    return dataclasses.replace(second, stats=stats, initial=first.initial,
                               cost_history=np.concatenate([first.cost_history,
                                                            second.cost_history]))


def perturb(params: MuscleParameters, fields, fraction: float, *, key) -> MuscleParameters:
    """Every muscle's `fields` moved by `fraction` of their value, up or down at random."""
    fields = tuple(fields)
    signs = jnp.where(jr.bernoulli(key, 0.5, (len(fields), params.n_muscles)), 1.0, -1.0)
    moved = [getattr(params, f) * (1 + fraction * s) for f, s in zip(fields, signs, strict=True)]
    return eqx.tree_at(lambda p: [getattr(p, f) for f in fields], params, moved)


def sine_drive(rest_length, *, amplitude: float = 0.015):
    """A synthetic drive for self-consistent fits, `t -> (excitation, length [m], velocity [m/s])`.

    Muscle k's MTU length is `rest_length[k]` + `amplitude` [m] x sin at 1-2 Hz with its own
    phase; its excitation is 0.3 +- 0.2 at 1.3 Hz. Every muscle's force and fibre length vary,
    so every slack length is identifiable.
    """
    rest = jnp.asarray(rest_length)
    k = jnp.arange(rest.shape[0])
    frequency, phase = 1.0 + (k % 5) / 4, 0.37 * k

    def drive(t):
        angle = 2 * jnp.pi * frequency * t + phase
        length = rest + amplitude * jnp.sin(angle)
        velocity = amplitude * 2 * jnp.pi * frequency * jnp.cos(angle)
        excitation = 0.3 + 0.2 * jnp.sin(2 * jnp.pi * 1.3 * t + 0.5 * phase)
        return excitation, length, velocity

    return drive


def synthetic_problem(truth: MuscleParameters, *, tendon_strain: float, excitation_hz: float,
                      model: Callable[[MuscleParameters], AbstractMTU] = make_mtu,
                      duration: float = 0.5, dt: float = 1e-3,
                      amplitude: float = 0.01) -> ReferenceProblem:
    """A self-consistent isolated-MTU case: `model(truth)`'s own tendon force and fibre length.

    `truth`'s tendon strain at one normalised force becomes `tendon_strain`. Drive: excitation
    0.5 + 0.4 sin(2 pi `excitation_hz` t); MTU length `l_s (1 + strain / 2) + l_opt` +
    `amplitude` [m] x sin(2 pi 3 t). Simulated by `AdaptiveRecord()` (Tsit5, rtol 1e-10) from
    equilibrium at activation 0.5, sampled every `dt` [s] for `duration` [s].
    """
    truth = eqx.tree_at(lambda p: p.tendon_strain_at_one_norm_force, truth,
                        jnp.full(truth.n_muscles, tendon_strain))
    rest = (truth.tendon_slack_length * (1 + tendon_strain / 2)
            + truth.optimal_fiber_length)

    def drive(t):
        excitation = 0.5 + 0.4 * jnp.sin(2 * jnp.pi * excitation_hz * t) * jnp.ones_like(rest)
        length = rest + amplitude * jnp.sin(2 * jnp.pi * 3.0 * t)
        velocity = amplitude * 2 * jnp.pi * 3.0 * jnp.cos(2 * jnp.pi * 3.0 * t) * jnp.ones_like(rest)
        return excitation, length, velocity

    times = jnp.arange(round(duration / dt) + 1) * dt
    experiment = TimeSeriesExperiment(
        targets={q: jnp.zeros((times.shape[0], truth.n_muscles)) for q in FIT_QUANTITIES},
        times=times, drive=drive, initial_activation=jnp.full(truth.n_muscles, 0.5),
        integrator=AdaptiveRecord())
    data = eqx.filter_jit(experiment.predict)(model(truth))
    name = f"{truth.names[0]}_{excitation_hz:g}Hz_strain{tendon_strain:g}"
    return ReferenceProblem(name, truth, dataclasses.replace(experiment, targets=data),
                            "synthetic (mskdiff's own data)", model)
