"""Which reference files map to which checks, and `validate_opensim`, which runs them all.

Every file of a known kind is recomputed (curve samples, equilibrium residuals, isolated-MTU
simulations, walking equilibria, parameter tables, metabolic rates, and myoLeg's muscle
geometry along a walking trial: MTU lengths and moment arms); unknown files are listed as
skipped. A known file that cannot be recomputed is an ERROR row, and a run in which nothing
was checked fails, so an all-skipped directory never passes.
"""

import re
from collections.abc import Callable
from pathlib import Path

import jax

from . import curves
from .equilibria import check_equilibrium_table
from .geometry import GEOMETRY_FILE_PATTERNS
from .geometry_checks import check_walk_geometry
from .metabolics import check_metabolics
from .mtu_cases import check_isolated_mtu, tight_run
from .parameter_tables import check_parameter_table
from .report import Check, error_check, skipped_check

#: File-name patterns of known reference files and their validators, in matching order.
VALIDATORS: list[tuple[str, Callable[[Path], list[Check]]]] = [
    (r"dgf_fiber_length_curves\.csv", curves.check_fiber_length_curves),
    (r"dgf_tendon_curves\.csv", curves.check_tendon_curves),
    (r"dgf_tendon_inverse_curve\.csv", curves.check_tendon_inverse),
    (r"dgf_force_velocity\.csv", curves.check_force_velocity),
    (r"dgf_force_velocity_inverse\.csv", curves.check_force_velocity_inverse),
    (r"dgf_equilibrium_residual\.csv", curves.check_equilibrium_residual),
    (r"millard2012_curves\.csv", curves.check_millard_curves),
    (r"mtu_sim_.+_setup\.json", check_isolated_mtu),
    (r".+_equilibrium\.csv", check_equilibrium_table),
    (r"rajagopal2016_muscles\.csv", check_parameter_table),
    (r"metabolics_.+_setup\.json", check_metabolics),
    *((pattern, check_walk_geometry) for pattern in GEOMETRY_FILE_PATTERNS),
]
#: Files consumed by another file's validator (the CSV of an isolated-MTU set-up, its table).
_COMPANIONS = (r"mtu_sim_.+(?<!_setup)\.csv", r".+_muscles\.csv",
               r"millard2012_curve_params\.csv", r"metabolics_.+(?<!_setup)\.csv")
#: Known files that are deliberately not compared, with the reason (listed as skipped).
_NOT_COMPARED = (
    (r"(?!.*_generic_).+_(mtu_lengths|moment_arms|mtu_lengthening_speeds)\.csv",
     "subject-scaled model's geometry; myoLeg (generic geometry) is compared with *_generic_*"),
    (r".+_generic_mtu_lengthening_speeds\.csv", "lengthening speeds not compared"),
    (r".+_ik_coordinate_speeds\.csv", "coordinate speeds: lengthening speeds not compared"),
)


def _companion_of(path: Path) -> bool:
    """True for a file another file's validator reads (IK coordinates only beside geometry files)."""
    match = re.fullmatch(r"(?P<trial>.+)_ik_coordinates\.csv", path.name)
    if match:
        return any(path.with_name(f"{match['trial']}_generic_{kind}.csv").is_file()
                   for kind in ("mtu_lengths", "moment_arms"))
    return any(re.fullmatch(p, path.name) for p in _COMPANIONS)


def validate_opensim(directory, *, progress: bool = True) -> list[Check]:
    """Recompute every known reference file in `directory`; unknown files are `skipped`.

    Args:
        directory: a folder in the format of `shared/reference` (see its README).
        progress: show a progress bar (tqdm).

    Returns:
        One `Check` per compared quantity (and per skipped or failed file).
    """
    from tqdm import tqdm

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"reference directory not found: {directory}")
    files = sorted(p for p in directory.iterdir() if p.is_file())
    tight_run.cache_clear()
    checks: list[Check] = []
    with jax.enable_x64(True):
        for path in tqdm(files, desc="validate-opensim", disable=not progress, unit="file"):
            validator = next((fn for pattern, fn in VALIDATORS
                              if re.fullmatch(pattern, path.name)), None)
            if validator is None:
                if not _companion_of(path):
                    note = next((why for p, why in _NOT_COMPARED if re.fullmatch(p, path.name)),
                                "unknown file kind")
                    checks.append(skipped_check(path.name, note))
                continue
            try:
                checks.extend(validator(path))
            except Exception as error:  # a known file that cannot be recomputed fails
                checks.append(error_check(path.name, error))
    return checks
