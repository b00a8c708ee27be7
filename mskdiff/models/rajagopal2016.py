"""The built-in default muscle set: the 80 lower-limb muscles of Rajagopal et al. (2016).

Values are OpenSim 4.6's reading of `Rajagopal2016.osim` (the packaged
`rajagopal2016_muscles.csv`, written by `tools/generate_rajagopal_table.py`; equal to
`mskdiff.io.load_osim` of the model). The model's `Millard2012EquilibriumMuscle`s map onto
De Groote parameters through their curves' strains (tendon 0.049, passive fiber 0.7), with
`active_force_width_scale` 1. The file marks 34 muscles `ignore_tendon_compliance` (rigid
tendon); the other 46 have elastic tendons.

Reference: Rajagopal A, Dembia CL, DeMers MS, Delp DD, Hicks JL, Delp SL (2016). Full-body
musculoskeletal model for muscle-driven simulation of human gait. IEEE TBME 63:2068-2079.
"""

from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np

from .._checks import lookup_names
from ..io.reference import read_csv
from ..muscle.parameters import PARAMETER_FIELDS, MuscleParameters


@cache
def _table() -> dict[str, np.ndarray]:
    """The packaged table, column name -> array (read once)."""
    with resources.as_file(resources.files(__package__) / "rajagopal2016_muscles.csv") as path:
        return read_csv(path)


def _index(muscles: Sequence[str] | None) -> list[int]:
    """Row indices of `muscles` (all rows when None); unknown names raise with the valid ones."""
    if isinstance(muscles, str):
        raise TypeError(f"`muscles` must be a sequence of names, got the string {muscles!r}")
    names = RAJAGOPAL2016_MUSCLE_NAMES
    return lookup_names(names if muscles is None else list(muscles), names, "muscle")


def rajagopal2016(muscles: Sequence[str] | None = None, *,
                  tendon_compliance: str = "file") -> MuscleParameters:
    """Parameters of the Rajagopal 2016 muscles.

    Args:
        muscles: names to select, in this order (default: all 80, in the model's order).
            Unknown names raise `ValueError`, listing the valid ones.
        tendon_compliance: 'file' (34 rigid, 46 elastic), 'all_elastic' or 'all_rigid'.

    Returns:
        `MuscleParameters` for the selected muscles.
    """
    table, index = _table(), _index(muscles)
    values = {f: table[f][index] for f in (*PARAMETER_FIELDS, "ignore_tendon_compliance")}
    names = [RAJAGOPAL2016_MUSCLE_NAMES[i] for i in index]
    params = MuscleParameters.from_dict(values, names=names)
    return params.with_tendon_compliance(tendon_compliance)


def rajagopal2016_default_mtu_lengths(muscles: Sequence[str] | None = None) -> np.ndarray:
    """MTU lengths [m] with every coordinate of the OpenSim model at its default value.

    Args:
        muscles: names to select, in this order (default: all 80).

    Returns:
        float64 array of shape `(n_muscles,)` (a copy).
    """
    return _table()["mtu_length_default_pose"][_index(muscles)]


#: The 80 muscle names, in the model's order.
RAJAGOPAL2016_MUSCLE_NAMES: tuple[str, ...] = tuple(str(n) for n in _table()["name"])
