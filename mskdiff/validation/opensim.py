"""The former single module of `validate_opensim`, now split by concept; its names, re-exported.

`report` (checks, tolerances, table), `curves`, `mtu_cases`, `equilibria`, `parameter_tables`,
`metabolics`, `geometry_checks` and `registry` (which files map to which checks). Import from
those; this module keeps existing imports (`tests/test_metabolic.py`) working.
"""

from .metabolics import METABOLIC_COLUMNS, metabolic_checks_from_states
from .mtu_cases import ACCELERATION_DEFAULTS, TIGHT, TIGHT_STIFF
from .registry import VALIDATORS, validate_opensim
from .report import (
    CROSS_MODEL,
    ERROR,
    FAIL,
    PASS,
    REPORT,
    SKIPPED,
    TOLERANCES,
    Check,
    compare,
    format_table,
    passed,
    write_json,
)

__all__ = [
    "ACCELERATION_DEFAULTS", "CROSS_MODEL", "ERROR", "FAIL", "METABOLIC_COLUMNS", "PASS",
    "REPORT", "SKIPPED", "TIGHT", "TIGHT_STIFF", "TOLERANCES", "VALIDATORS", "Check", "compare",
    "format_table", "metabolic_checks_from_states", "passed", "validate_opensim", "write_json",
]
