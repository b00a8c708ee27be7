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
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr

from ..integrate.integrators import SemiImplicitEuler
from ..io.reference import (
    EquilibriumTable,
    IsolatedMTUCase,
    millard_curves_from_table,
    parameters_from_table,
)
from ..muscle import make_mtu
from ..muscle.millard_equilibrium import MillardEquilibriumMTU
from ..muscle.mtu import AbstractMTU
from ..muscle.parameters import MuscleParameters
from .identify import EquilibriumExperiment, TimeSeriesExperiment

#: Quantities fitted by default (both are in every reference file).
FIT_QUANTITIES = ("tendon_force", "fiber_length")


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
                         substeps: int = 8) -> ReferenceProblem:
    """The case's OpenSim trajectory, sampled every `dt` [s].

    Simulated by semi-implicit Euler with `substeps` sub-steps per sample (8 at 1 ms: the
    integration error is below 0.1 mm of slack length in the shared cases).
    """
    reference = case.reference()
    stride = max(1, round(dt / (reference["time"][1] - reference["time"][0])))
    targets = {q: jnp.asarray(reference[q][::stride])[:, None] for q in quantities}
    experiment = TimeSeriesExperiment(
        targets=targets, times=jnp.asarray(reference["time"][::stride]), drive=case.drive,
        initial_activation=jnp.full(1, case.initial_activation),
        integrator=SemiImplicitEuler(substeps))
    return ReferenceProblem(case.name, case.parameters(), experiment, model=case.model)


def equilibrium_problem(table: EquilibriumTable, *, muscles=None, quantities=FIT_QUANTITIES,
                        parameters: MuscleParameters | None = None) -> ReferenceProblem:
    """The table's equilibria (static: MTU velocity 0) of `muscles` (default all).

    `parameters` default to the table's own muscle table (`EquilibriumTable.parameter_table`).
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
    curves = millard_curves_from_table(table.parameter_table(), muscles)
    if curves is not None:
        return ReferenceProblem(table.name, truth, experiment,
                                model=lambda p: MillardEquilibriumMTU(p, curves))
    return ReferenceProblem(table.name, truth, experiment,
                            "no Millard curves in the muscle table: fitted with De Groote curves")


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
