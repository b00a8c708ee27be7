"""myoLeg's muscle geometry along a walking trial (`geometry.compare_trial`) as report rows."""

import functools
import re
from pathlib import Path

from ..models.myoleg import myoleg_mjmodel
from .geometry import GEOMETRY_FILE_PATTERNS, compare_trial
from .report import FAIL, PASS, REPORT, TOLERANCES, Check


@functools.cache
def _myoleg_mjmodel():
    return myoleg_mjmodel()


def check_walk_geometry(path: Path) -> list[Check]:
    """The MTU lengths or moment arms of myoLeg against a `<trial>_generic_*.csv` file (py)."""
    trial = next(m["trial"] for p in GEOMETRY_FILE_PATTERNS if (m := re.fullmatch(p, path.name)))
    lengths = path.name.endswith("_mtu_lengths.csv")
    comparison = compare_trial(
        _myoleg_mjmodel(), path.with_name(f"{trial}_ik_coordinates.csv"),
        lengths_path=path if lengths else None, moment_arms_path=None if lengths else path,
        bounds={"mtu_length_rms": TOLERANCES["geometry_mtu_length_rms"],
                "moment_arm_rms": TOLERANCES["geometry_moment_arm_rms"]})
    checks = []
    for r in comparison.results:
        quantity = ("mtu_length" if r.coordinate is None else f"moment_arm {r.coordinate}") + \
            " (myoLeg vs generic)"
        if r.outlier:
            status, note = REPORT, f"outlier: {r.outlier}"
        else:
            status, note = (PASS if r.passed else FAIL), r.note
        checks.append(Check(path.name, f"{trial}: {r.muscle}", quantity, r.max_error, r.rms_error,
                            r.bound, "rms", "m", status, note))
    return checks


