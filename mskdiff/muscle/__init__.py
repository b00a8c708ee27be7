"""Muscle library: De Groote curves, activation dynamics, MTU formulations, parameters, metabolics."""

from . import curves, millard_curves
from .acceleration import AccelerationMTU, AccelerationState
from .activation import (
    AbstractActivationDynamics,
    DeGroote2016Activation,
    FirstOrderActivation,
    activation_dynamics_by_name,
)
from .metabolic import (
    Bhargava2004,
    Bhargava2004Smoothed,
    MetabolicInputs,
    MetabolicParameters,
    MetabolicRates,
    Umberger2010,
    basal_rate,
)
from .millard_acceleration import (
    MillardAccelerationMTU,
    MillardAccelerationState,
    MillardCompressiveCurves,
    acceleration_muscle_curves,
)
from .millard_equilibrium import MillardCurves, MillardEquilibriumMTU, MillardEquilibriumState
from .mtu import (
    AbstractMTU,
    MTUOutputs,
    equilibrium_norm_tendon_force,
    linearly_implicit_fiber_step,
    solve_equilibrium_norm_tendon_force,
)
from .parameters import DEFAULTS, PARAMETER_FIELDS, MuscleParameters
from .rigid import RigidState, RigidTendonMTU
from .tendon_force import TendonForceMTU, TendonForceState

FORMULATIONS = {
    "tendon_force": TendonForceMTU,
    "acceleration": AccelerationMTU.with_defaults,
    "rigid": RigidTendonMTU,
    "millard_equilibrium": MillardEquilibriumMTU,
    "millard_acceleration": MillardAccelerationMTU.from_equilibrium_parameters,
}


def make_mtu(params: MuscleParameters, formulation: str | type[AbstractMTU] = "tendon_force",
             **kwargs) -> AbstractMTU:
    """Build an MTU model from a formulation name or class.

    'tendon_force' (`TendonForceMTU`, De Groote explicit), 'acceleration' (`AccelerationMTU`,
    Millard 2012 with De Groote curves), 'rigid' (`RigidTendonMTU`), 'millard_equilibrium'
    (`MillardEquilibriumMTU`, OpenSim's `Millard2012EquilibriumMuscle`) or
    'millard_acceleration' (`MillardAccelerationMTU`, OpenSim's
    `Millard2012AccelerationMuscle`: fibre mass, compressive elements, damping on every
    element; elastic tendons only; the fibre damping converted to that class's units,
    `MillardAccelerationMTU.from_equilibrium_parameters`). A class is built as its name is
    (`FORMULATIONS`); another `AbstractMTU` subclass as `formulation(params, **kwargs)`. The
    Millard formulations take `curves=` (e.g. `MillardCurves.rajagopal2016()` or
    `load_millard_curves(...)`; default OpenSim's class-default curves). `kwargs` go to the
    class (e.g. `activation_dynamics`, `fiber_mass`, `curves`).
    """
    return _constructor(formulation)(params, **kwargs)


def _constructor(formulation):
    """The constructor of a formulation name or `AbstractMTU` subclass."""
    if isinstance(formulation, type) and issubclass(formulation, AbstractMTU):
        by_class = {getattr(build, "__self__", build): build for build in FORMULATIONS.values()}
        return by_class.get(formulation, formulation)
    if isinstance(formulation, str) and formulation in FORMULATIONS:
        return FORMULATIONS[formulation]
    raise ValueError(f"unknown formulation {formulation!r}; choose from {list(FORMULATIONS)} "
                     "or pass an AbstractMTU subclass")


__all__ = [
    "DEFAULTS",
    "FORMULATIONS",
    "PARAMETER_FIELDS",
    "AbstractActivationDynamics",
    "AbstractMTU",
    "AccelerationMTU",
    "AccelerationState",
    "Bhargava2004",
    "Bhargava2004Smoothed",
    "DeGroote2016Activation",
    "FirstOrderActivation",
    "MTUOutputs",
    "MetabolicInputs",
    "MetabolicParameters",
    "MetabolicRates",
    "MillardAccelerationMTU",
    "MillardAccelerationState",
    "MillardCompressiveCurves",
    "MillardCurves",
    "MillardEquilibriumMTU",
    "MillardEquilibriumState",
    "MuscleParameters",
    "RigidState",
    "RigidTendonMTU",
    "TendonForceMTU",
    "TendonForceState",
    "Umberger2010",
    "acceleration_muscle_curves",
    "activation_dynamics_by_name",
    "basal_rate",
    "curves",
    "millard_curves",
    "equilibrium_norm_tendon_force",
    "linearly_implicit_fiber_step",
    "make_mtu",
    "solve_equilibrium_norm_tendon_force",
]
