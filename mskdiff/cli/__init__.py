"""The `mskdiff` command line: one module per command, each thin over the library.

Each command module defines `add_parser(commands)` (its arguments) and `run(args) -> int`
(the exit code). Errors print one line, `mskdiff: error: ...`, and exit 1 (2 for usage, from
argparse); `--debug` shows the traceback. Every command keeps compiled programs in a persistent
JAX cache (`MSKDIFF_JAX_CACHE`, default `~/.cache/mskdiff-jax`), so only the first run of a
command compiles in full.
"""

import argparse
import contextlib
import logging
import os
import re
import sys
from functools import partial
from pathlib import Path

from .. import _quiet  # before the commands: it silences MJX's "Failed to import warp" lines
from . import fit, gait_report, models, mtu, render, simulate, stand, track, train, validate

#: The command modules, in the order `--help` lists them.
COMMANDS = (mtu, simulate, stand, render, fit, track, train, validate, gait_report, models)
#: Where compiled programs are kept unless `MSKDIFF_JAX_CACHE` says otherwise (as in the tests).
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "mskdiff-jax"
#: What the library raises on bad input or a failed run (`EquinoxRuntimeError` and
#: `NonFiniteStateError` are `RuntimeError`s): printed as their message alone.
EXPECTED_ERRORS = (ValueError, TypeError, KeyError, OSError, RuntimeError)
#: What JAX logs, with a traceback, when a callback inside `jax.jit` raises (e.g. `eqx.error_if`);
#: the error itself then reaches `main`, so without `--debug` these records are dropped.
CALLBACK_FAILURES = ("jax.pure_callback failed", "jax.io_callback failed")
#: Values of `MSKDIFF_JAX_CACHE` that switch the persistent cache off.
CACHE_OFF = ("", "0", "off", "none")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends `(default: X)` to an option's help unless the help already names its default.

    `None` and `False` defaults (optional values, flags) are not shown.
    """

    def _get_help_string(self, action):
        help_text = action.help or ""
        if ("default" in help_text.lower() or action.default is None or action.default is False
                or action.default is argparse.SUPPRESS):
            return help_text
        return super()._get_help_string(action)


def cache_dir() -> Path | None:
    """The persistent compilation cache's folder (`MSKDIFF_JAX_CACHE`), or None when switched off."""
    value = os.environ.get("MSKDIFF_JAX_CACHE")
    if value is None:
        return DEFAULT_CACHE_DIR
    return None if value.strip().lower() in CACHE_OFF else Path(value).expanduser()


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at `cache_dir()`; returns the folder.

    Programs that took at least 1 s to compile are kept (the tests use the same setting).
    """
    import jax

    folder = cache_dir()
    if folder is not None:
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return folder


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mskdiff", formatter_class=HelpFormatter,
        description="Differentiable musculoskeletal simulation (JAX): Hill-type muscle-tendon "
                    "units with elastic tendons, matched to OpenSim.",
        epilog=f"Compiled programs are cached in {cache_dir() or '(nowhere: switched off)'} "
               "(set MSKDIFF_JAX_CACHE to another folder, or to 'off'), so only a command's "
               "first run compiles in full. `mskdiff COMMAND --help` shows a command's options.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when a command fails")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=partial(argparse.ArgumentParser,
                                                          formatter_class=HelpFormatter))
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def error_line(error: BaseException) -> str:
    """The first meaningful line of an exception's message, for `mskdiff: error: ...`.

    For errors raised inside `jit` (`eqx.error_if`: `EquinoxRuntimeError`, or JAX's runtime
    error wrapping it), that is the error's own message, not JAX's preamble.
    """
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    found = re.search(r"EquinoxRuntimeError: *(\S.*)", text)
    if found:
        return found.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    if isinstance(error, EXPECTED_ERRORS) and line:
        return line
    # Not an error the library raises on bad input: probably a bug, so name it.
    return f"{type(error).__name__}: {line} (--debug shows the traceback)"


class _DropCallbackTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in CALLBACK_FAILURES


@contextlib.contextmanager
def _callback_tracebacks_dropped():
    logger, drop = logging.getLogger("jax._src.callback"), _DropCallbackTracebacks()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def main(argv=None) -> int:
    """Entry point of the `mskdiff` command: parse, enable the compilation cache, run."""
    args = build_parser().parse_args(argv)  # usage errors: one line, exit 2 (argparse)
    enable_compilation_cache()
    with _quiet.mujoco_warnings_ignored():
        if args.debug:
            return args.run(args)
        try:
            with _callback_tracebacks_dropped():
                return args.run(args)
        except KeyboardInterrupt:
            print("mskdiff: interrupted", file=sys.stderr)
            return 130
        except Exception as error:  # one line for any failure; --debug shows the traceback
            print(f"mskdiff: error: {error_line(error)}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
