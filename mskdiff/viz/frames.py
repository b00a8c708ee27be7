"""Frames of a trajectory: MuJoCo's renderer with the model's meshes, or stick figures.

One env is one panel; several envs are panels side by side, each with its own camera. The
`follow` camera is MuJoCo's tracking camera on the root body (the body of the free joint, the
pelvis of myoLeg): it looks at that body's subtree centre of mass in every frame. The `fixed`
camera looks where the follow camera looked in the first frame.
"""

import copy
import logging

import mujoco
import numpy as np

from . import gl
from .camera import AZIMUTH, CAMERAS, ELEVATION, auto_distance, root_body
from .stick import stick_frames

#: Renderers: `auto` is `mujoco` where a GL backend works, else `stick` (with a message).
RENDERERS = ("auto", "mujoco", "stick")
#: `fast` draws no shadows, reflections or multisampling (software GL: ~15x faster); `full`
#: draws what the model asks for.
QUALITIES = ("fast", "full")
#: Room for scene geoms beyond the model's own (MuJoCo's default `maxgeom`).
MAX_GEOM = 10_000

logger = logging.getLogger(__name__)


def render_frames(mj_model: mujoco.MjModel, qpos, *, camera: str = "follow", width: int = 320,
                  height: int = 240, renderer: str = "auto", quality: str = "fast",
                  distance: float | None = None, azimuth: float = AZIMUTH,
                  elevation: float = ELEVATION) -> np.ndarray:
    """Render every row of `qpos`; `frame_indices` picks rows for a frame rate.

    Args:
        mj_model: the host model `qpos` belongs to.
        qpos: `[T, nq]` (one env) or `[T, N, nq]` (N envs side by side), MuJoCo units.
        camera: 'follow' (tracks the root body) or 'fixed' (where 'follow' looked at frame 0).
        width: width of one env's panel [px].
        height: height of the frames [px].
        renderer: 'auto', 'mujoco' (error without a GL backend) or 'stick'.
        quality: 'fast' or 'full' (`QUALITIES`; MuJoCo's renderer only).
        distance: camera distance from the root's centre of mass [m]; default from the body's
            size in env 0's first frame (`DISTANCE_PER_REACH`).
        azimuth: camera azimuth [deg] (MuJoCo's convention).
        elevation: camera elevation [deg] (negative: from above).

    Returns:
        `[T, height, N * width, 3]` uint8 RGB frames.

    Raises:
        ValueError: a bad shape, size or option (the valid ones listed).
        RuntimeError: `renderer='mujoco'` and no GL backend works.
    """
    qpos = _as_envs(qpos, mj_model.nq)
    _check_options(camera, width, height, quality)
    if distance is None:
        distance = auto_distance(mj_model, qpos[0, 0])
    if choose_renderer(renderer) == "stick":
        return stick_frames(mj_model, qpos, follow=camera == "follow", width=width,
                            height=height, distance=distance, azimuth=azimuth)
    view = mujoco.MjvCamera()
    view.distance, view.azimuth, view.elevation = distance, azimuth, elevation
    return _mujoco_frames(mj_model, qpos, view, follow=camera == "follow", width=width,
                          height=height, quality=quality)


def choose_renderer(renderer: str = "auto") -> str:
    """'mujoco' or 'stick' for `renderer`; 'auto' logs one line when it falls back to 'stick'.

    Raises:
        ValueError: an unknown renderer.
        RuntimeError: 'mujoco' and no GL backend works (`gl.no_gl_reason()`).
    """
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; choose from {list(RENDERERS)}")
    if renderer == "stick" or gl.gl_backend() is not None:
        return "stick" if renderer == "stick" else "mujoco"
    if renderer == "mujoco":
        raise RuntimeError(f"MuJoCo's renderer is unavailable: {gl.no_gl_reason()}")
    logger.warning("mskdiff: drawing stick figures: %s", gl.no_gl_reason())
    return "stick"


def frame_indices(time, fps: float) -> tuple[np.ndarray, float]:
    """Rows of a trajectory sampled at `time [T]` s to show at about `fps` frames per second.

    Returns:
        (indices, the frame rate they give [1/s], to play the motion in real time).
    """
    time = np.asarray(time, dtype=float)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if time.ndim != 1 or len(time) < 2:
        return np.arange(time.size), float(fps)
    dt = float(np.median(np.diff(time)))
    if not dt > 0:
        raise ValueError("`time` must increase")
    stride = max(1, round(1.0 / (fps * dt)))
    return np.arange(0, len(time), stride), 1.0 / (stride * dt)


def _as_envs(qpos, nq: int) -> np.ndarray:
    """`qpos` as `[T, N, nq]` float64."""
    qpos = np.asarray(qpos, dtype=float)
    if qpos.ndim == 2:
        qpos = qpos[:, None]
    if qpos.ndim != 3 or qpos.shape[-1] != nq or qpos.shape[0] < 1:
        raise ValueError(f"qpos must be [T, nq] or [T, N, nq] with nq = {nq} (the model's) "
                         f"and T >= 1, got shape {qpos.shape}")
    if not np.isfinite(qpos).all():
        raise ValueError("qpos has non-finite values (NaN or inf)")
    return qpos


def _check_options(camera: str, width: int, height: int, quality: str) -> None:
    for name, value, valid in (("camera", camera, CAMERAS), ("quality", quality, QUALITIES)):
        if value not in valid:
            raise ValueError(f"unknown {name} {value!r}; choose from {list(valid)}")
    if width < 16 or height < 16:
        raise ValueError(f"frames must be at least 16 x 16 px, got {width} x {height}")


def _render_model(mj_model: mujoco.MjModel, width: int, height: int,
                  quality: str) -> mujoco.MjModel:
    """A copy of `mj_model` whose offscreen buffer fits the panel (no multisampling if fast)."""
    model = copy.copy(mj_model)
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    if quality == "fast":
        model.vis.quality.offsamples = 0
    return model


def _mujoco_frames(mj_model: mujoco.MjModel, qpos: np.ndarray, view: mujoco.MjvCamera, *,
                   follow: bool, width: int, height: int, quality: str) -> np.ndarray:
    """`[T, H, N * W, 3]` frames of `qpos [T, N, nq]` from MuJoCo's renderer."""
    model = _render_model(mj_model, width, height, quality)
    data = mujoco.MjData(model)
    scene = mujoco.MjvScene(model, maxgeom=MAX_GEOM)
    if quality == "fast":
        scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
    option, root = mujoco.MjvOption(), root_body(model)
    rect = mujoco.MjrRect(0, 0, width, height)
    frames = np.zeros((qpos.shape[0], height, qpos.shape[1] * width, 3), np.uint8)
    pixels = np.zeros((height, width, 3), np.uint8)
    with gl.offscreen_context(model, width, height, gl.gl_backend()) as context:
        for env in range(qpos.shape[1]):
            for t in range(qpos.shape[0]):
                data.qpos[:] = qpos[t, env]
                mujoco.mj_fwdPosition(model, data)
                if t == 0:
                    _aim(view, data, root, follow=follow)
                mujoco.mjv_updateScene(model, data, option, None, view,
                                       mujoco.mjtCatBit.mjCAT_ALL, scene)
                mujoco.mjr_render(rect, scene, context)
                mujoco.mjr_readPixels(pixels, None, rect, context)
                frames[t, :, env * width:(env + 1) * width] = pixels[::-1]
    return frames


def _aim(view: mujoco.MjvCamera, data: mujoco.MjData, root: int, *, follow: bool) -> None:
    """Make `view` track `root`, or look at its subtree's centre of mass now."""
    if follow:
        view.type, view.trackbodyid = mujoco.mjtCamera.mjCAMERA_TRACKING, root
    else:
        view.type, view.lookat[:] = mujoco.mjtCamera.mjCAMERA_FREE, data.subtree_com[root]
