"""Solvers built on `jax.grad`/`jax.jacfwd`: parameter identification."""

from .identify import (
    AdaptiveRecord,
    EquilibriumExperiment,
    FitResult,
    FreeParameters,
    TimeSeriesExperiment,
    fit,
)
from .reference_cases import (
    equilibrium_problem,
    fit_reference,
    isolated_mtu_problem,
    perturb,
    restarts,
    sine_drive,
    synthetic_problem,
)

__all__ = ["AdaptiveRecord", "EquilibriumExperiment", "FitResult", "FreeParameters",
           "TimeSeriesExperiment", "equilibrium_problem", "fit", "fit_reference",
           "isolated_mtu_problem", "perturb", "restarts", "sine_drive", "synthetic_problem"]
