"""The `mskdiff` command line: one module per command, each thin over the library.

Each command module defines `add_parser(commands)` (its arguments) and `run(args) -> int`
(the exit code). Errors print one line, `mskdiff: error: ...`, and exit 1 (2 for usage);
`--debug` shows the traceback.
"""

import argparse
import sys

from . import fit, mtu, simulate, validate

#: The command modules, in the order `--help` lists them.
COMMANDS = (mtu, simulate, fit, validate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mskdiff",
        description="Differentiable musculoskeletal simulation (JAX): Hill-type muscle-tendon "
                    "units with elastic tendons, matched to OpenSim.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when a command fails")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv=None) -> int:
    """Entry point of the `mskdiff` command."""
    args = build_parser().parse_args(argv)
    if args.debug:
        return args.run(args)
    try:
        return args.run(args)
    except (ValueError, TypeError, KeyError, OSError, RuntimeError) as error:
        print(f"mskdiff: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
