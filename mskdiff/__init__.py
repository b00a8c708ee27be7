"""mskdiff: differentiable musculoskeletal simulation in JAX (Hill-type MTUs with elastic tendons)."""

from . import integrate, muscle
from .integrate import DiffraxIntegrator, SemiImplicitEuler, simulate
from .muscle import MuscleParameters, make_mtu

__version__ = "0.1.0"

__all__ = [
    "DiffraxIntegrator",
    "MuscleParameters",
    "SemiImplicitEuler",
    "integrate",
    "make_mtu",
    "muscle",
    "simulate",
]
