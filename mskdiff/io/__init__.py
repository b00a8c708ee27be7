"""Reading and writing OpenSim models, motion files and reference data."""

from .motion import MarkerTable, MotionTable, read_table, read_trc, write_table
from .opensim_results import (
    write_controls,
    write_coordinates,
    write_ground_reactions,
    write_muscle_states,
)
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
    "MarkerTable",
    "MetabolicsCase",
    "MotionTable",
    "find_equilibrium_tables",
    "find_isolated_mtu_cases",
    "find_metabolics_cases",
    "load_millard_curve_properties",
    "load_millard_curves",
    "load_osim",
    "millard_curves_from_table",
    "parameters_from_table",
    "read_csv",
    "read_table",
    "read_trc",
    "TimeFunction",
    "time_function",
    "write_controls",
    "write_coordinates",
    "write_ground_reactions",
    "write_muscle_states",
    "write_osim_parameters",
    "write_table",
]
