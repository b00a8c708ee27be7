"""Motion people can watch: frames of trajectories and the videos made of them.

`render_frames` draws `qpos` with MuJoCo's renderer (the model's meshes; OpenGL through EGL or
OSMesa, chosen by `gl_backend`) or, without OpenGL, as stick figures; `save_video` writes
`.mp4` (the `render` extra) or `.gif`. Nothing here needs an optional package at import.
"""

from .camera import AZIMUTH, CAMERAS, ELEVATION, auto_distance, root_body
from .frames import QUALITIES, RENDERERS, choose_renderer, frame_indices, render_frames
from .gl import gl_backend, no_gl_reason
from .stick import stick_frames
from .video import VIDEO_SUFFIXES, save_png_strip, save_video

__all__ = [
    "AZIMUTH",
    "CAMERAS",
    "ELEVATION",
    "QUALITIES",
    "RENDERERS",
    "VIDEO_SUFFIXES",
    "auto_distance",
    "choose_renderer",
    "frame_indices",
    "gl_backend",
    "no_gl_reason",
    "render_frames",
    "root_body",
    "save_png_strip",
    "save_video",
    "stick_frames",
]
