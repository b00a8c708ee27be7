"""Stick figures, the renderer that needs no OpenGL: a line from each body to its parent.

Bodies are drawn in an orthographic side view seen from the camera's azimuth (elevation
ignored), with the floor (z = 0) as a grey line and marks every `FLOOR_MARK_SPACING` m so that
motion shows under the follow camera. matplotlib draws the frames (Agg, no display).
"""

import mujoco
import numpy as np

from .camera import root_body

#: Spacing of the floor marks [m].
FLOOR_MARK_SPACING = 0.5
#: Colours (RGB, 0-1): bodies, floor.
BODY_COLOUR = (0.8, 0.1, 0.1)
FLOOR_COLOUR = (0.5, 0.5, 0.5)


def stick_frames(mj_model: mujoco.MjModel, qpos: np.ndarray, *, follow: bool, width: int,
                 height: int, distance: float, azimuth: float) -> np.ndarray:
    """`[T, height, N * width, 3]` uint8 frames of `qpos [T, N, nq]`, one panel per env.

    Args:
        mj_model: the host model.
        qpos: `[T, N, nq]`, MuJoCo units.
        follow: centre every frame on the root's subtree centre of mass (else on frame 0's).
        distance: camera distance [m]: the panel shows what MuJoCo's camera shows at this
            distance with the model's field of view (`vis.global_.fovy`).
        azimuth: camera azimuth [deg]; the panel's horizontal axis is perpendicular to it.
        width: width of one env's panel [px].
        height: height of the frames [px].
    """
    half_height = distance * np.tan(np.radians(mj_model.vis.global_.fovy) / 2)
    right = np.array([np.sin(np.radians(azimuth)), -np.cos(np.radians(azimuth)), 0.0])
    root, data = root_body(mj_model), mujoco.MjData(mj_model)
    bodies = np.flatnonzero((mj_model.body_rootid == mj_model.body_rootid[root])
                            & (mj_model.body_parentid != 0))
    figure = _Figure(width, height, half_height)
    frames = np.zeros((qpos.shape[0], height, qpos.shape[1] * width, 3), np.uint8)
    for env in range(qpos.shape[1]):
        for t in range(qpos.shape[0]):
            data.qpos[:] = qpos[t, env]
            mujoco.mj_kinematics(mj_model, data)
            mujoco.mj_comPos(mj_model, data)
            if follow or t == 0:
                centre = data.subtree_com[root].copy()
            points = np.stack([(data.xpos - centre) @ right, data.xpos[:, 2] - centre[2]], -1)
            segments = np.stack([points[mj_model.body_parentid[bodies]], points[bodies]], 1)
            frames[t, :, env * width:(env + 1) * width] = figure.draw(
                segments, floor=-centre[2], offset=float(centre @ right))
    return frames


class _Figure:
    """One matplotlib figure, redrawn for each frame (cheaper than a new figure per frame)."""

    def __init__(self, width: int, height: int, half_height: float):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure

        figure = Figure(figsize=(width / 100, height / 100), dpi=100)
        self._canvas = FigureCanvasAgg(figure)
        axes = figure.add_axes((0, 0, 1, 1))
        self._half_width = half_height * width / height
        axes.set_xlim(-self._half_width, self._half_width)
        axes.set_ylim(-half_height, half_height)
        axes.set_axis_off()
        self._bodies = LineCollection([], colors=[BODY_COLOUR], linewidths=2, capstyle="round")
        self._floor = LineCollection([], colors=[FLOOR_COLOUR], linewidths=1.5)
        axes.add_collection(self._floor)
        axes.add_collection(self._bodies)
        self._size = (height, width)

    def draw(self, segments: np.ndarray, *, floor: float, offset: float) -> np.ndarray:
        """RGB `[height, width, 3]` of body `segments [n, 2, 2]` [m, relative to the camera].

        The floor is a line at height `floor` [m] with marks fixed to the ground, the camera
        being `offset` m along it.
        """
        first = np.ceil((offset - self._half_width) / FLOOR_MARK_SPACING)
        marks = np.arange(first, first + 2 * self._half_width / FLOOR_MARK_SPACING + 1)
        marks = marks * FLOOR_MARK_SPACING - offset
        depth = 0.05 * self._half_width
        floor_lines = [[(-self._half_width, floor), (self._half_width, floor)]]
        floor_lines += [[(x, floor), (x - depth, floor - depth)] for x in marks]
        self._floor.set_segments(floor_lines)
        self._bodies.set_segments(segments)
        self._canvas.draw()
        return np.asarray(self._canvas.buffer_rgba())[:self._size[0], :self._size[1], :3]
