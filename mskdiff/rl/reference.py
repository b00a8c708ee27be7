r"""The imitation reference: one gait cycle of the shared walking trial on a model, loopable.

The shared trial's inverse kinematics (`walk_ik_coordinates.csv`) ends at 1.18 s, before the
right foot's second heel strike (1.412 s), so it holds 80 % of a cycle. The reference cycle is
therefore built from its first *half*, right heel strike to left heel strike
(`walk_gait_events.csv`: 0.268 s to 0.8365 s), followed by the same half mirrored: right and
left coordinates swapped, the pelvis's list, rotation and lateral position and the lumbar
bending and rotation negated, and the forward position advanced by the half's progress. The
cycle (2 x 0.5685 s against the trial's 1.144 s) is then periodic: looping it advances the
pelvis by one stride per cycle (`ReferenceCycle.stride`).

The coordinates are mapped onto the model by `mskdiff.models.map_motion` (cubic splines, the
model's sign conventions) on the environment's control grid, lowered or raised so that the
lower foot sinks `penetration` into the floor on the median frame (`floor_offset`).
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import mujoco
import numpy as np

from ..io.reference import read_csv
from ..models.kinematics import map_motion, read_ik_coordinates
from ..models.locomotion import floor_offset

#: Coordinates negated by the left-right mirror (OpenSim names).
MIRROR_NEGATED = ("pelvis_list", "pelvis_rotation", "pelvis_tz", "lumbar_bending",
                  "lumbar_rotation")
#: Bodies whose positions relative to the pelvis the end-effector term tracks.
END_EFFECTORS = ("calcn_r", "calcn_l")


class ReferenceCycle(NamedTuple):
    """One loopable gait cycle on a model's control grid.

    Attributes:
        dt: sample period [s] (the env's `ctrl_dt`).
        qpos: `(n_frames, nq)`; frame `n_frames` would be frame 0 advanced by `stride`.
        qvel: `(n_frames, nv)`.
        end_effectors: `(n_frames, n_ee, 3)` positions [m] of `END_EFFECTORS` relative to the
            pelvis, world axes.
        com: `(n_frames, 3)` whole-body centre of mass [m].
        stride: `(3,)` root displacement [m] over one cycle.
        end_effector_bodies: body ids of `END_EFFECTORS`.
    """

    dt: float
    qpos: np.ndarray
    qvel: np.ndarray
    end_effectors: np.ndarray
    com: np.ndarray
    stride: np.ndarray
    end_effector_bodies: np.ndarray


def mirrored_name(name: str) -> str:
    """The other side's coordinate (`hip_flexion_r` <-> `hip_flexion_l`, `knee_angle_r_beta` too)."""
    swap = {"r": "l", "l": "r"}
    return re.sub(r"_([rl])(?=_|$)", lambda m: "_" + swap[m.group(1)], name)


def half_cycle_events(events_path) -> tuple[float, float]:
    """`(first right heel strike, the left heel strike after it)` [s] from a gait-events CSV."""
    table = read_csv(events_path, required=("side", "event", "time"))
    rows = list(zip(table["side"], table["event"], np.asarray(table["time"], dtype=float),
                    strict=True))
    right = sorted(t for s, e, t in rows if s == "r" and e == "heel_strike")
    if not right:
        raise ValueError(f"{Path(events_path).name}: no right heel strike")
    left = sorted(t for s, e, t in rows if s == "l" and e == "heel_strike" and t > right[0])
    if not left:
        raise ValueError(f"{Path(events_path).name}: no left heel strike after the right one "
                         f"at {right[0]} s")
    return right[0], left[0]


def symmetric_cycle(time: np.ndarray, coordinates: dict[str, np.ndarray], start: float,
                    middle: float) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """`(times, coordinates, period)` of the half `[start, middle)` followed by its mirror.

    Raises:
        ValueError: the motion does not cover `[start, middle]`.
    """
    if not time[0] <= start < middle <= time[-1]:
        raise ValueError(f"the motion ({time[0]}-{time[-1]} s) does not cover the half cycle "
                         f"{start}-{middle} s")
    half = middle - start
    inside = (time >= start) & (time < middle)
    sample_times = np.concatenate([[start], time[inside & (time > start)], [middle]])
    values = {k: np.interp(sample_times, time, v) for k, v in coordinates.items()}
    progress = values["pelvis_tx"][-1] - values["pelvis_tx"][0]
    first = {k: v[:-1] for k, v in values.items()}
    second = {}
    for name in coordinates:
        source = first.get(mirrored_name(name), first[name])
        sign = -1.0 if name in MIRROR_NEGATED else 1.0
        second[name] = sign * source + (progress if name == "pelvis_tx" else 0.0)
    times = np.concatenate([sample_times[:-1], sample_times[:-1] + half]) - start
    # one sample of the next cycle closes the spline (the first one, two half-progresses on)
    cycle = {k: np.concatenate([first[k], second[k],
                                [first[k][0] + (2 * progress if k == "pelvis_tx" else 0.0)]])
             for k in coordinates}
    return np.concatenate([times, [2 * half]]), cycle, 2 * half


def reference_cycle(mj_model: mujoco.MjModel, reference_dir, dt: float, *,
                    signs: Mapping[str, float] | None = None,
                    penetration: float = 1e-3) -> ReferenceCycle:
    """The shared trial's symmetric cycle (module docstring) on `mj_model` every `dt` [s].

    Args:
        mj_model: the host model (myoLeg, myolegs26, the tiny biped).
        reference_dir: the folder with `walk_ik_coordinates.csv` and `walk_gait_events.csv`.
        dt: the control period [s].
        signs: the model's `COORDINATE_SIGNS` (joints that turn the other way from OpenSim's).
        penetration: depth [m] of the lower foot in the floor on the median frame.

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: events the motion does not cover, a model without the tracked bodies.
    """
    folder = Path(reference_dir)
    motion, events = folder / "walk_ik_coordinates.csv", folder / "walk_gait_events.csv"
    for path in (motion, events):
        if not path.is_file():
            raise FileNotFoundError(f"the imitation reference needs {path} (the shared walking "
                                    "trial; pass `reference_dir`)")
    time, coordinates = read_ik_coordinates(motion)
    times, cycle, period = symmetric_cycle(time, coordinates, *half_cycle_events(events))
    n_frames = int(round(period / dt))
    grid = np.arange(n_frames + 1) * period / n_frames  # the period rounded to whole steps
    mapped = map_motion(mj_model, times, cycle, times=grid, signs=signs)
    qpos, qvel = mapped.qpos.copy(), mapped.qvel * (period / (n_frames * dt))
    qpos[:, 2] += floor_offset(mj_model, qpos, penetration)
    ee_bodies = np.array([mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, b)
                          for b in END_EFFECTORS])
    pelvis = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
    if min(ee_bodies.min(), pelvis) < 0:
        raise ValueError(f"the model lacks one of the bodies {END_EFFECTORS + ('pelvis',)}")
    ee, com = _kinematics(mj_model, qpos[:-1], ee_bodies, pelvis)
    return ReferenceCycle(dt, qpos[:-1], qvel[:-1], ee, com, qpos[-1, :3] - qpos[0, :3],
                          ee_bodies)


def _kinematics(mj_model: mujoco.MjModel, qpos: np.ndarray, bodies: np.ndarray, root: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `bodies` relative to `root` and the whole-body centre of mass, per frame."""
    data = mujoco.MjData(mj_model)
    ee, com = [], []
    for frame in qpos:
        data.qpos[:] = frame
        mujoco.mj_kinematics(mj_model, data)
        mujoco.mj_comPos(mj_model, data)
        ee.append(data.xpos[bodies] - data.xpos[root])
        com.append(data.subtree_com[0].copy())
    return np.array(ee), np.array(com)
