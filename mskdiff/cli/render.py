"""`mskdiff render`: a video (`.mp4`, `.gif`) of a `simulate.npz` written by `mskdiff simulate`.

The file needs `time` [T] s and `qpos` [T, N, nq] (or [T, nq]); its `model` key names the model
(default `DEFAULT_MODEL`, myoLeg). `write_video` is the job, for other commands' `--video`.
"""

from pathlib import Path

import mujoco
import numpy as np

from ..viz import (
    AZIMUTH,
    CAMERAS,
    QUALITIES,
    RENDERERS,
    VIDEO_SUFFIXES,
    choose_renderer,
    frame_indices,
    gl_backend,
    render_frames,
    save_png_strip,
    save_video,
)

#: The model of a result file without a `model` key.
DEFAULT_MODEL = "myolegs"
#: Keys `write_video` reads.
REQUIRED_KEYS = ("time", "qpos")


def write_video(result_path, out_path, *, env: int | str = 0, camera: str = "follow",
                fps: float = 30.0, width: int = 320, height: int = 240, renderer: str = "auto",
                quality: str = "fast", azimuth: float = AZIMUTH, png_strip=None) -> dict:
    """Render the trajectory in `result_path` (a `simulate.npz`) to `out_path` (`.mp4`/`.gif`).

    Args:
        result_path: the `.npz` file (module docstring).
        out_path: the video; its folder is created.
        env: the env to show, or 'all' (side by side).
        camera: 'follow' or 'fixed' (`mskdiff.viz.CAMERAS`).
        fps: frames per second of the video; the motion plays in real time.
        width: width of one env's panel [px].
        height: height of the video [px].
        renderer: 'auto', 'mujoco' or 'stick' (`mskdiff.viz.RENDERERS`).
        quality: 'fast' or 'full' (`mskdiff.viz.QUALITIES`).
        azimuth: camera azimuth [deg].
        png_strip: also write a PNG strip of a few frames here.

    Returns:
        `video` (the path), `frames`, `fps` (as written), `renderer` ('mujoco (egl)', ...),
        `model`, `envs` (shown) and `png_strip` (the path or None).

    Raises:
        FileNotFoundError, KeyError, ValueError: a missing file or key, or a bad option.
        RuntimeError: `renderer='mujoco'` without OpenGL, or `.mp4` without the `render` extra.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"{out_path}: unknown video type {out_path.suffix!r}; "
                         f"choose from {list(VIDEO_SUFFIXES)}")
    time, qpos, model_name = _read_result(result_path)
    mj_model = _host_model(model_name)
    qpos = _select_envs(qpos, env, mj_model.nq, model_name)
    indices, fps = frame_indices(time, fps)
    used = choose_renderer(renderer)
    frames = render_frames(mj_model, qpos[indices], camera=camera, width=width, height=height,
                           renderer=used, quality=quality, azimuth=azimuth)
    try:
        save_video(frames, out_path, fps=fps)
    except ImportError as error:  # the `render` extra is missing: the message names it
        raise RuntimeError(str(error)) from error
    strip = save_png_strip(frames, png_strip) if png_strip else None
    return {"video": out_path, "frames": len(frames), "fps": fps, "model": model_name,
            "renderer": f"mujoco ({gl_backend()})" if used == "mujoco" else "stick figures",
            "envs": qpos.shape[1] if qpos.ndim == 3 else 1, "png_strip": strip}


def _read_result(path) -> tuple[np.ndarray, np.ndarray, str]:
    """`time`, `qpos` and the model name of a result file (errors name the file and the key)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a simulate.npz from "
                                "`mskdiff simulate`)")
    with np.load(path) as data:
        missing = [key for key in REQUIRED_KEYS if key not in data.files]
        if missing:
            raise KeyError(f"{path} has no {', '.join(map(repr, missing))} "
                           f"(keys: {', '.join(data.files)}); render needs {list(REQUIRED_KEYS)}")
        model = str(data["model"]) if "model" in data.files else DEFAULT_MODEL
        return np.asarray(data["time"]), np.asarray(data["qpos"]), model


def _host_model(name: str) -> mujoco.MjModel:
    """The host `MjModel` of model `name`: myoLeg for 'myolegs', others from the registry."""
    from ..models import myoleg_mjmodel, registry

    name = registry.resolve(name)  # unknown names raise, listing the valid ones
    return myoleg_mjmodel() if name == DEFAULT_MODEL else registry.mjmodel(name)


def _select_envs(qpos: np.ndarray, env: int | str, nq: int, model: str) -> np.ndarray:
    """`qpos [T, nq]` of env `env`, or `[T, N, nq]` of all for 'all'; checked against `nq`."""
    if qpos.shape[-1] != nq or qpos.ndim not in (2, 3):
        raise ValueError(f"qpos has shape {qpos.shape}, but model {model!r} has nq = {nq}: "
                         "expected [T, N, nq] or [T, nq]")
    if qpos.ndim == 2 or env == "all":
        return qpos
    n_envs = qpos.shape[1]
    if not 0 <= int(env) < n_envs:
        raise ValueError(f"env {env} does not exist: the file has {n_envs} env(s), 0-{n_envs - 1}")
    return qpos[:, int(env)]


def _env(text: str) -> int | str:
    """`--env`: a non-negative integer or 'all'."""
    if text == "all":
        return text
    if not text.isdigit():
        raise ValueError(f"--env must be an env index (0, 1, ...) or 'all', got {text!r}")
    return int(text)


def run(args) -> int:
    """`mskdiff render`: write the video and say what was written."""
    out = args.out or Path(args.result).with_suffix(".mp4")
    result = write_video(args.result, out, env=_env(args.env), camera=args.camera, fps=args.fps,
                         width=args.width, height=args.height, renderer=args.renderer,
                         quality=args.quality, azimuth=args.azimuth, png_strip=args.png_strip)
    print(f"wrote video: {result['video']} ({result['frames']} frames at {result['fps']:.3g} "
          f"fps, {result['envs']} env(s) of {result['model']}, {result['renderer']})")
    if result["png_strip"]:
        print(f"wrote frame strip: {result['png_strip']}")
    return 0


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    render = commands.add_parser(
        "render", help="a video (.mp4/.gif) of a simulate.npz",
        description="Render the motion in a simulate.npz (from `mskdiff simulate`) to an .mp4 "
                    "or .gif: MuJoCo's renderer with the model's meshes where OpenGL works (EGL, "
                    "else OSMesa; MUJOCO_GL chooses when set), else stick figures. .mp4 needs "
                    'the render extra: pip install "mskdiff[render]".')
    render.add_argument("result", help="the simulate.npz")
    render.add_argument("--out", help="the video, .mp4 or .gif (default: RESULT with .mp4)")
    render.add_argument("--env", default="0", help="env index, or 'all' for side by side")
    render.add_argument("--camera", default="follow", choices=CAMERAS,
                        help="follow: tracks the pelvis (root body); fixed: stays where it "
                             "started")
    render.add_argument("--fps", type=float, default=30.0, help="frames per second (real time)")
    render.add_argument("--width", type=int, default=320, help="width of one env's panel [px]")
    render.add_argument("--height", type=int, default=240, help="height [px]")
    render.add_argument("--renderer", default="auto", choices=RENDERERS,
                        help="auto: MuJoCo's renderer if OpenGL works, else stick figures; "
                             "mujoco: fail without OpenGL; stick: stick figures")
    render.add_argument("--quality", default="fast", choices=QUALITIES,
                        help="fast: no shadows, reflections or anti-aliasing (software "
                             "OpenGL is ~15x faster); full: as the model says")
    render.add_argument("--azimuth", type=float, default=AZIMUTH, help="camera azimuth [deg]")
    render.add_argument("--png-strip", help="also write a PNG strip of 6 frames here")
    render.set_defaults(run=run)
