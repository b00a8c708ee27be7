"""Writing frames to files: `.mp4` (H.264 through imageio-ffmpeg), `.gif` and a PNG strip.

`.gif` and `.png` need only Pillow (a core dependency, through matplotlib); `.mp4` needs the
`render` extra: `pip install "mskdiff[render]"` (imageio and imageio-ffmpeg, which ships its own
ffmpeg binary).
"""

from pathlib import Path

import numpy as np

from ._fork import exec_fork_warning_ignored

#: File types `save_video` writes.
VIDEO_SUFFIXES = (".mp4", ".gif")
#: Frames in a PNG strip.
STRIP_FRAMES = 6


def save_video(frames, path, *, fps: float) -> Path:
    """Write `frames [T, H, W, 3]` uint8 to `path` (`.mp4` or `.gif`) at `fps` frames per second.

    An `.mp4` gets odd sizes padded to even (H.264 needs them) with black. Returns the path.

    Raises:
        ValueError: an unknown suffix or a bad shape.
        ImportError: `.mp4` without the `render` extra (the message says how to install it).
    """
    path, frames = Path(path), _check_frames(frames)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"{path}: unknown video type {suffix!r}; choose from {list(VIDEO_SUFFIXES)}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        _save_gif(frames, path, fps)
    else:
        _save_mp4(frames, path, fps)
    return path


def save_png_strip(frames, path, *, n_frames: int = STRIP_FRAMES) -> Path:
    """Write `n_frames` evenly spaced frames of `frames [T, H, W, 3]` side by side as a PNG."""
    from PIL import Image

    frames = _check_frames(frames)
    picked = np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).round().astype(int)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(frames[picked], axis=1)).save(path)
    return path


def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T >= 1, H, W, 3], got {frames.dtype} "
                         f"{frames.shape}")
    return frames


def _save_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    """Pillow's GIF writer, looping; each frame gets its own palette.

    GIF delays are whole hundredths of a second, so the frame time is rounded to 10 ms.
    """
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=10 * max(1, round(100 / fps)), optimize=True)


def _save_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    """H.264 (yuv420p, plays everywhere) through imageio-ffmpeg's own ffmpeg."""
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (imageio's ffmpeg plugin needs it)
    except ImportError as error:
        raise ImportError(f"writing {path.name} needs imageio and imageio-ffmpeg: pip install "
                          '"mskdiff[render]"') from error
    pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
    with exec_fork_warning_ignored(), imageio.get_writer(
            path, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p",
            quality=7) as writer:
        for frame in np.pad(frames, pad):
            writer.append_data(frame)
