"""Integrators for the muscle ODE and the `simulate` driver."""

from .integrators import (
    AbstractIntegrator,
    DiffraxIntegrator,
    Drive,
    SemiImplicitEuler,
    hold,
)
from .simulate import (
    NonFiniteStateError,
    Trajectory,
    check_finite,
    error_if_nonfinite,
    first_nonfinite_step,
    simulate,
)

__all__ = [
    "AbstractIntegrator",
    "DiffraxIntegrator",
    "Drive",
    "NonFiniteStateError",
    "SemiImplicitEuler",
    "Trajectory",
    "check_finite",
    "error_if_nonfinite",
    "first_nonfinite_step",
    "hold",
    "simulate",
]
