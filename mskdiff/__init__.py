"""mskdiff: differentiable musculoskeletal simulation in JAX (Hill-type MTUs with elastic tendons).

The names below are the public API, flat, as Diffrax and Optax export theirs; the subpackages
(`muscle`, `integrate`, `plant`, `models`, `io`, `solvers`, `rl`, `validation`) hold the rest.
`docs/architecture.md` says which layer owns what.
"""

from . import _quiet  # noqa: F401, I001  (first: silences MJX's "Failed to import warp" lines)
from . import integrate, io, models, muscle, plant, rl, solvers, validation
from ._solution import RESULTS, Solution
from .integrate import AbstractIntegrator, DiffraxIntegrator, SemiImplicitEuler, simulate
from .muscle import (
    FORMULATIONS,
    AbstractMTU,
    AccelerationMTU,
    MillardAccelerationMTU,
    MillardCurves,
    MillardEquilibriumMTU,
    MuscleParameters,
    RigidTendonMTU,
    TendonForceMTU,
    make_mtu,
)
from .plant import AbstractPlant, MJXPlant, MuJoCoMusclePlant, PlantState, rollout
from .solvers import (
    FitResult,
    FreeParameters,
    TrajectoryProblem,
    TrajectorySolution,
    fit,
    solve_trajectory,
)

__version__ = "0.1.0"

__all__ = [
    "FORMULATIONS",
    "RESULTS",
    "AbstractIntegrator",
    "AbstractMTU",
    "AbstractPlant",
    "AccelerationMTU",
    "DiffraxIntegrator",
    "FitResult",
    "FreeParameters",
    "MJXPlant",
    "MillardAccelerationMTU",
    "MillardCurves",
    "MillardEquilibriumMTU",
    "MuJoCoMusclePlant",
    "MuscleParameters",
    "PlantState",
    "RigidTendonMTU",
    "SemiImplicitEuler",
    "Solution",
    "TendonForceMTU",
    "TrajectoryProblem",
    "TrajectorySolution",
    "fit",
    "integrate",
    "io",
    "make_mtu",
    "models",
    "muscle",
    "plant",
    "rl",
    "simulate",
    "solve_trajectory",
    "solvers",
    "validation",
    "rollout",
]
