"""Solvers built on `jax.grad`/`jax.jacfwd`: parameter identification, trajectory optimisation."""

from .controls import INTERPOLATIONS, KnotControls, ResidualActuators, interpolation_matrix
from .gait_tracking import (
    GaitReference,
    TrackingWeights,
    gait_reference,
    reference_starts,
    tracking_problem,
)
from .identify import (
    AdaptiveRecord,
    EquilibriumExperiment,
    FitResult,
    FreeParameters,
    TimeSeriesExperiment,
    fit,
)
from .objectives import (
    AbstractRecordingTerm,
    AbstractTerm,
    CoordinateTracking,
    Effort,
    ForwardSpeed,
    GroundReactionTracking,
    Horizon,
    MetabolicEnergy,
    Periodicity,
    ResidualPenalty,
    SimulatedMotion,
    qpos_weights,
)
from .optimisers import LBFGS, AbstractOptimiser, OptaxOptimiser
from .problem import (
    Evaluation,
    StartStates,
    TrajectoryProblem,
    TrajectoryVariables,
    evaluate,
    simulate,
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
from .shooting import AbstractShooting, MultipleShooting, SingleShooting
from .trajectory import (
    TrajectorySolution,
    objective_and_gradient,
    solve_trajectory,
    variable_scale,
)

__all__ = ["INTERPOLATIONS", "LBFGS", "AbstractOptimiser", "AbstractRecordingTerm",
           "AbstractShooting", "AbstractTerm", "AdaptiveRecord", "CoordinateTracking", "Effort",
           "EquilibriumExperiment", "Evaluation", "FitResult", "ForwardSpeed", "FreeParameters",
           "GaitReference",
           "GroundReactionTracking", "Horizon", "KnotControls", "MetabolicEnergy",
           "MultipleShooting", "OptaxOptimiser", "Periodicity", "ResidualActuators",
           "ResidualPenalty", "SimulatedMotion", "SingleShooting", "StartStates",
           "TimeSeriesExperiment", "TrackingWeights", "TrajectoryProblem", "TrajectorySolution",
           "TrajectoryVariables", "equilibrium_problem", "evaluate", "fit", "fit_reference",
           "gait_reference", "interpolation_matrix", "isolated_mtu_problem",
           "objective_and_gradient", "perturb",
           "qpos_weights", "reference_starts", "restarts",
           "simulate", "sine_drive", "solve_trajectory", "synthetic_problem", "tracking_problem",
           "variable_scale"]
