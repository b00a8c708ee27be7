"""Which OpenGL backend MuJoCo's renderer can use here, and an offscreen context on it.

MuJoCo binds its GL backend (`MUJOCO_GL`) when `mujoco` is first imported, and `import mskdiff`
imports `mujoco`, so setting `MUJOCO_GL` afterwards would not reach `mujoco.Renderer`. This
module therefore creates the context itself, from the backend's own module (`mujoco.egl`,
`mujoco.osmesa`, `mujoco.glfw`), and draws with MuJoCo's `MjrContext` as `mujoco.Renderer`
does.

The backend is `MUJOCO_GL` when the user set it, else the first of `AUTO_ORDER` that works:
EGL (GPU drivers, or Mesa's software EGL) and then OSMesa (software; Debian/Ubuntu package
`libosmesa6`). Each candidate is tried once per process in a short child process, so a
driver that crashes, or PyOpenGL bound to another platform, cannot break this one.
"""

import contextlib
import ctypes.util
import functools
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator

import mujoco

from ._fork import exec_fork_warning_ignored

#: `MUJOCO_GL` values and the mujoco module with their `GLContext` (MuJoCo's mapping on Linux).
CONTEXT_MODULES = {"egl": "mujoco.egl", "osmesa": "mujoco.osmesa", "glfw": "mujoco.glfw",
                   "glx": "mujoco.glfw"}
#: Backends tried, in order, when `MUJOCO_GL` is not set.
AUTO_ORDER = ("egl", "osmesa")
#: `MUJOCO_GL` values that switch OpenGL off (MuJoCo's own list).
GL_OFF = ("disable", "disabled", "off", "false", "0")
#: The shared library each headless backend loads, and the package that provides it.
LIBRARIES = {"egl": ("EGL", "libegl1"), "osmesa": ("OSMesa", "libosmesa6")}
#: How long one backend's trial may take [s].
PROBE_TIMEOUT = 60.0

# Creates a context on the backend whose module is argv[1] and a MuJoCo render context in it.
_PROBE = ("import importlib, sys, mujoco\n"
          "gl = importlib.import_module(sys.argv[1]).GLContext(16, 16)\n"
          "gl.make_current()\n"
          "mujoco.MjrContext(mujoco.MjModel.from_xml_string('<mujoco/>'), 100).free()\n"
          "gl.free()\n")


def gl_backend() -> str | None:
    """The GL backend MuJoCo renders with here ('egl', 'osmesa', ...), or None (see module doc).

    Decided once per process; `no_gl_reason()` says why when it is None.

    Raises:
        ValueError: `MUJOCO_GL` is set to a value MuJoCo does not know.
    """
    return _choice()[0]


def no_gl_reason() -> str:
    """Why no GL backend works, one line (what was tried and how to get one); '' if one does."""
    return _choice()[1]


@functools.cache
def _choice() -> tuple[str | None, str]:
    """(backend, '') or (None, why not)."""
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested in GL_OFF:
        return None, f"MUJOCO_GL={requested} switches OpenGL off"
    if requested and requested not in CONTEXT_MODULES:
        raise ValueError(f"MUJOCO_GL={requested!r} is not a backend MuJoCo knows; use one of "
                         f"{sorted(CONTEXT_MODULES)} or leave it unset to choose automatically")
    candidates = (requested,) if requested else AUTO_ORDER
    failures = []
    for name in candidates:
        failure = probe(name)
        if not failure:
            return name, ""
        failures.append(f"{name}: {failure}")
    return None, (f"no OpenGL backend works ({'; '.join(failures)}); install OSMesa "
                  "(Debian/Ubuntu: apt-get install libosmesa6) or GPU drivers with EGL")


def probe(name: str) -> str:
    """Try backend `name` in a child process: '' if MuJoCo can render with it, else why not."""
    with exec_fork_warning_ignored():  # find_library runs ldconfig; the probe runs Python
        library, package = LIBRARIES.get(name, (None, None))
        if library and ctypes.util.find_library(library) is None:
            return f"lib{library} not found (package {package})"
        # mujoco's backend module sets PYOPENGL_PLATFORM itself (here too, once it is imported)
        env = {key: value for key, value in os.environ.items() if key != "PYOPENGL_PLATFORM"}
        try:
            done = subprocess.run([sys.executable, "-c", _PROBE, CONTEXT_MODULES[name]],
                                  env={**env, "MUJOCO_GL": name}, capture_output=True,
                                  text=True, timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"no context within {PROBE_TIMEOUT:g} s"
    if done.returncode == 0:
        return ""
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return lines[-1][:200] if lines else f"exit code {done.returncode}"


@contextlib.contextmanager
def offscreen_context(mj_model: mujoco.MjModel, width: int, height: int,
                      backend: str) -> Iterator[mujoco.MjrContext]:
    """A current GL context on `backend` with MuJoCo's render context drawing offscreen.

    `width` x `height` [px] must fit the model's offscreen buffer (`vis.global_.offwidth`,
    `offheight`). Both contexts are freed on exit.
    """
    gl = importlib.import_module(CONTEXT_MODULES[backend]).GLContext(width, height)
    try:
        gl.make_current()
        context = mujoco.MjrContext(mj_model, mujoco.mjtFontScale.mjFONTSCALE_150)
        try:
            mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, context)
            yield context
        finally:
            context.free()
    finally:
        gl.free()
