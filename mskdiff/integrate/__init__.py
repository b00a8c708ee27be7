"""Integrators for the muscle ODE and the `simulate` driver."""

from .integrators import (
    AbstractIntegrator,
    DiffraxIntegrator,
    Drive,
    SemiImplicitEuler,
    hold,
)
from .simulate import Trajectory, check_finite, simulate

__all__ = [
    "AbstractIntegrator",
    "DiffraxIntegrator",
    "Drive",
    "SemiImplicitEuler",
    "Trajectory",
    "check_finite",
    "hold",
    "simulate",
]
