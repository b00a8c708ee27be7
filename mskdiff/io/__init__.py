"""Reading OpenSim models and reference data."""

from .osim import load_millard_curve_properties, load_millard_curves, load_osim
from .osim_write import write_osim_parameters
from .reference import (
    CaseDrive,
    EquilibriumTable,
    IsolatedMTUCase,
    MetabolicsCase,
    TimeFunction,
    find_equilibrium_tables,
    find_isolated_mtu_cases,
    find_metabolics_cases,
    millard_curves_from_table,
    parameters_from_table,
    read_csv,
    time_function,
)

__all__ = [
    "CaseDrive",
    "EquilibriumTable",
    "IsolatedMTUCase",
    "MetabolicsCase",
    "find_equilibrium_tables",
    "find_isolated_mtu_cases",
    "find_metabolics_cases",
    "load_millard_curve_properties",
    "load_millard_curves",
    "load_osim",
    "millard_curves_from_table",
    "parameters_from_table",
    "read_csv",
    "TimeFunction",
    "time_function",
    "write_osim_parameters",
]
