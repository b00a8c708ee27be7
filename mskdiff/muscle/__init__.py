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
from .mtu import AbstractMTU, MTUOutputs, equilibrium_norm_tendon_force
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


def make_mtu(params: MuscleParameters, formulation: str = "tendon_force", **kwargs) -> AbstractMTU:
    """Build an MTU model by formulation name.

    'tendon_force' (De Groote explicit), 'acceleration' (Millard 2012 with De Groote curves),
    'rigid', 'millard_equilibrium' (OpenSim's `Millard2012EquilibriumMuscle`) or
    'millard_acceleration' (OpenSim's `Millard2012AccelerationMuscle`: fibre mass, compressive
    elements, damping on every element; elastic tendons only; the fibre damping converted to
    that class's units, `MillardAccelerationMTU.from_equilibrium_parameters`). The Millard
    formulations take
    `curves=` (e.g. `MillardCurves.rajagopal2016()` or `load_millard_curves(...)`; default
    OpenSim's class-default curves). `kwargs` go to the class (e.g. `activation_dynamics`,
    `fiber_mass`, `curves`).
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation {formulation!r}; choose from {list(FORMULATIONS)}")
    return FORMULATIONS[formulation](params, **kwargs)


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
    "make_mtu",
]
