"""Solvers built on `jax.grad`/`jax.jacfwd`: parameter identification."""

from .identify import (
    EquilibriumExperiment,
    FitResult,
    FreeParameters,
    TimeSeriesExperiment,
    fit,
)
from .reference_cases import equilibrium_problem, isolated_mtu_problem, perturb, sine_drive

__all__ = ["EquilibriumExperiment", "FitResult", "FreeParameters", "TimeSeriesExperiment",
           "equilibrium_problem", "fit", "isolated_mtu_problem", "perturb",
           "sine_drive"]
