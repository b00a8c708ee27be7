"""The built-in Rajagopal 2016 muscle parameters against OpenSim's muscle table."""

from pathlib import Path

import numpy as np

from ..io.reference import parameters_from_table
from ..models.rajagopal2016 import rajagopal2016
from .report import TOLERANCES, Check, compare


def check_parameter_table(path: Path) -> list[Check]:
    """The built-in Rajagopal 2016 parameters against an OpenSim muscle table (relative)."""
    reference = parameters_from_table(path)
    builtin = rajagopal2016(list(reference.names))
    checks = []
    for field, value in reference.to_dict().items():
        if field == "name":
            continue
        ours = builtin.to_dict()[field].astype(float)
        scale = np.maximum(np.abs(value.astype(float)), 1e-300)
        checks.append(compare(path.name, "built-in Rajagopal 2016 table", field, ours / scale,
                              value.astype(float) / scale,
                              tolerance=TOLERANCES["parameter_table"], unit="relative"))
    return checks
