"""Comparisons with OpenSim reference data."""

from .opensim import TOLERANCES, Check, format_table, passed, validate_opensim, write_json

__all__ = ["TOLERANCES", "Check", "format_table", "passed", "validate_opensim", "write_json"]
