"""`mskdiff validate-opensim`: recompute OpenSim reference cases in a folder and compare."""

from ..validation import format_table, passed, validate_opensim, write_json


def run(args) -> int:
    """Print the table (and write JSON); exit 1 when a check failed."""
    checks = validate_opensim(args.directory, progress=not args.no_progress)
    print(format_table(checks))
    if args.json:
        write_json(checks, args.json)
        print(f"wrote {args.json}")
    ok = passed(checks)
    print("validate-opensim: " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    validate = commands.add_parser(
        "validate-opensim",
        help="recompute OpenSim reference cases in a folder and compare (exit 1 on failure)",
        description="Recompute every known reference file in DIRECTORY (format of "
                    "shared/reference: curve samples, equilibrium residuals, isolated-MTU "
                    "simulations, walking equilibria, parameter tables, and myoLeg's MTU lengths "
                    "and moment arms along any walking trial with <trial>_ik_coordinates.csv and "
                    "<trial>_generic_mtu_lengths.csv / _generic_moment_arms.csv), print a table of "
                    "max/RMS errors against tolerances, and exit non-zero if any check fails. "
                    "Unknown files are listed as skipped; Millard 2012 cases are reported as "
                    "cross-model comparisons.")
    validate.add_argument("directory", help="folder with the reference files")
    validate.add_argument("--json", help="also write the results to this JSON file")
    validate.add_argument("--no-progress", action="store_true", help="no progress bar")
    validate.set_defaults(run=run)
