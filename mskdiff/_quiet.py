"""Silence two known, harmless messages of mskdiff's dependencies, and nothing else.

- MJX prints `Failed to import warp: No module named 'warp'` (and the same for `mujoco_warp`)
  with `print` when `mujoco.mjx` is first imported and the optional `warp` package is absent.
  `install()` adds an import hook that drops exactly those two lines (warp *absent*) from that
  one import; any other output, e.g. a `warp` that is installed but fails, still shows.
- myo-sim composes myoLeg with `MjSpec.attach(..., prefix="")`, and MuJoCo warns (through
  `mju_warning`, to stderr, not Python's `warnings`) `Attaching a spec with an empty prefix may
  prevent the model from being saved correctly.` mskdiff never saves that spec.
  `mujoco_warnings_ignored()` is a context manager that drops MuJoCo warnings starting with the
  given texts and passes every other one on as MuJoCo would.

Importing this module installs the import hook (`install()`), so `mskdiff/__init__.py` imports
it before anything else. It imports nothing from mskdiff and neither JAX nor MuJoCo.
"""

import contextlib
import importlib.abc
import importlib.machinery
import io
import sys
from collections.abc import Iterator

#: The lines MJX prints when the optional `warp` package is not installed.
WARP_ABSENT_LINES = frozenset({"Failed to import warp: No module named 'warp'",
                               "Failed to import mujoco_warp: No module named 'warp'"})
#: Starts of the MuJoCo warnings that `mujoco_warnings_ignored` drops by default.
IGNORED_MUJOCO_WARNINGS = ("Attaching a spec with an empty prefix",)
_MJX_WARP = "mujoco.mjx.warp"


class _FilteredLoader(importlib.abc.Loader):
    """Runs another loader with stdout captured, then prints what it printed but `WARP_ABSENT_LINES`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader  # the module keeps its real loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                self._loader.exec_module(module)
        finally:
            kept = [line for line in printed.getvalue().splitlines(keepends=True)
                    if line.rstrip("\r\n") not in WARP_ABSENT_LINES]
            sys.stdout.write("".join(kept))


class _QuietWarpFinder(importlib.abc.MetaPathFinder):
    """Finds `mujoco.mjx.warp` as usual and wraps its loader in `_FilteredLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _MJX_WARP:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


def install() -> None:
    """Drop MJX's `Failed to import warp` lines (warp absent) from its first import. Idempotent."""
    if _MJX_WARP in sys.modules or any(isinstance(f, _QuietWarpFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietWarpFinder())


def _mujoco_default_warning(message: str) -> None:
    """What MuJoCo does with a warning when no handler is set: log file and console."""
    import mujoco

    mujoco.mju_writeLog("WARNING", message)
    print(f"WARNING: {message}\n", file=sys.stderr)


@contextlib.contextmanager
def mujoco_warnings_ignored(*starts: str) -> Iterator[None]:
    """Within the block, drop MuJoCo warnings starting with `starts`; pass others on.

    `starts` defaults to `IGNORED_MUJOCO_WARNINGS`. MuJoCo's warning handler is process-wide
    (`mujoco.set_mju_user_warning`); the previous one is restored on exit.
    """
    import mujoco

    starts = starts or IGNORED_MUJOCO_WARNINGS
    previous = mujoco.get_mju_user_warning()
    forward = previous if previous is not None else _mujoco_default_warning

    def handler(message: str) -> None:
        if not message.startswith(starts):
            forward(message)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


install()
