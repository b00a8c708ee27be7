"""Comparisons with OpenSim reference data."""

from ..models.kinematics import qpos_from_coordinates
from .geometry import (
    GEOMETRY_BOUNDS,
    MOMENT_ARM_OUTLIERS,
    MTU_LENGTH_OUTLIERS,
    GeometryComparison,
    GeometryResult,
    compare_geometry,
    format_geometry_table,
    plot_geometry,
    summarize_geometry,
    write_geometry_csv,
)
from .registry import validate_opensim
from .report import TOLERANCES, Check, format_table, passed, write_json

__all__ = [
    "GEOMETRY_BOUNDS",
    "MOMENT_ARM_OUTLIERS",
    "MTU_LENGTH_OUTLIERS",
    "TOLERANCES",
    "Check",
    "GeometryComparison",
    "GeometryResult",
    "compare_geometry",
    "format_geometry_table",
    "format_table",
    "passed",
    "plot_geometry",
    "qpos_from_coordinates",
    "summarize_geometry",
    "validate_opensim",
    "write_geometry_csv",
    "write_json",
]
