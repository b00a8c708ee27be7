"""Solvers built on `jax.grad`/`jax.jacfwd`: parameter identification."""

from .identify import (
    EquilibriumExperiment,
    FitResult,
    FreeParameters,
    TimeSeriesExperiment,
    fit,
)

__all__ = ["EquilibriumExperiment", "FitResult", "FreeParameters", "TimeSeriesExperiment", "fit"]
