r"""Muscle geometry of a MuJoCo model (myoLeg) against OpenSim's along a walking trial.

OpenSim's inverse-kinematics coordinates (`<trial>_ik_coordinates.csv`) are mapped onto the
model's `qpos`, MuJoCo C computes the MTU lengths (`actuator_length`) and moment arms
(`actuator_moment`), and both are compared with OpenSim's values for the *generic* Rajagopal 2016
model (`<trial>_generic_mtu_lengths.csv`, `<trial>_generic_moment_arms.csv`; the format of
`shared/reference`, see its README).

The coordinates are mapped onto `qpos` by `mskdiff.models.kinematics.qpos_from_coordinates`
(hinge/slide joints by name, joint-equality polynomials, the pelvis pose on the free root).

Moment arms follow OpenSim's sign convention, $r = -\,\mathrm{d}L/\mathrm{d}q$, and are total
derivatives: about a coordinate that drives dependent joints (the knee), the chain rule sums
$\partial L/\partial q_j \cdot \mathrm{d}q_j/\mathrm{d}q$ over them, as OpenSim's
`computeMomentArm` does through its coupled coordinates.
"""

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

import mujoco
import numpy as np

from ..io.reference import read_csv
from ..models.kinematics import (
    PELVIS_COORDINATES,
    coordinate_jacobian,
    is_scalar_joint,
    qpos_from_coordinates,
    rotations_in_degrees,
)
from ..models.myoleg import joint_equalities

#: Bounds on the RMS difference over the trial's frames [m], per muscle (MTU length) and per
#: muscle-coordinate pair (moment arm). The MTU-length bound is issue 3's; the moment-arm bound
#: is set from the measured worst pair, 8.5 mm (semimem_l about knee_angle_l; docs/geometry.md).
GEOMETRY_BOUNDS = {
    "mtu_length_rms": 0.01,
    "moment_arm_rms": 0.01,
}

#: Muscles exempt from the MTU-length bound, with the cause of each (at most `MAX_OUTLIERS`).
#: Empty: along the walking trial every myoLeg MTU length is within 5.4 mm RMS of OpenSim's,
#: including glmax1/glmax2/psoas/iliacus, whose wrapping objects myo-sim removed or changed.
MTU_LENGTH_OUTLIERS: dict[str, str] = {}
#: Muscles whose moment arms are exempt from the moment-arm bound, with the cause. Empty: the
#: worst pair is 8.5 mm RMS.
MOMENT_ARM_OUTLIERS: dict[str, str] = {}
#: The most outliers either list may hold (issue 3: at most 12 of the 80 muscles).
MAX_OUTLIERS = 12

#: myoLeg's knee rotations turn about the tibia's origin; OpenSim's walker knee turns about its child
#: frame, 8.9 mm away ((-8.1, -3.5, -1.5) mm in the tibia). Moving myoLeg's three knee rotation
#: joints there (`jnt_pos`) brings these muscles' MTU lengths to <= 2.3 mm RMS and their knee moment
#: arms to <= 3.2 mm RMS (docs/geometry.md).
_KNEE_CENTRE = "knee rotation centre 8.9 mm from OpenSim's (myo-sim)"
#: Documented causes of the largest remaining differences, by (muscle, joint prefix of the
#: coordinate): notes in the tables, not exemptions.
KNOWN_CAUSES: dict[tuple[str, str], str] = {
    **{(f"{m}_{s}", "knee"): _KNEE_CENTRE for s in "rl" for m in (
        "semimem", "semiten", "grac", "bfsh", "bflh", "tfl", "sart", "recfem", "vaslat", "vasint",
        "vasmed", "gaslat", "gasmed")},
    **{(f"{m}_{s}", "hip"): "pelvis wrap object removed (myo-sim)" for s in "rl"
       for m in ("glmax1", "glmax2", "psoas")},
    **{(f"iliacus_{s}", "hip"): "pelvic-brim wrap cylinder -> sphere (myo-sim)"
       for s in "rl"},
}


def _known_cause(muscle: str, coordinate: str | None) -> str:
    """The documented cause for a muscle (any joint) or a muscle-coordinate pair."""
    causes = [c for (m, joint), c in KNOWN_CAUSES.items()
              if m == muscle and (coordinate is None or coordinate.startswith(joint))]
    return "; ".join(dict.fromkeys(causes))


#: A pair whose moment arm exceeds this in some frame, in either model, is compared [m]; below it
#: the muscle does not cross the joint (OpenSim's zeros are ~1e-16 m).
_CROSSING = 1e-6
_IK = "{trial}_ik_coordinates.csv"
_LENGTHS = "{trial}_generic_mtu_lengths.csv"
_MOMENT_ARMS = "{trial}_generic_moment_arms.csv"
#: File names of a walking trial's geometry files (the trial is the part before the suffix).
GEOMETRY_FILE_PATTERNS = (r"(?P<trial>.+)_generic_mtu_lengths\.csv",
                          r"(?P<trial>.+)_generic_moment_arms\.csv")


@dataclasses.dataclass(frozen=True)
class GeometryResult:
    """One compared quantity: a muscle's MTU length or one muscle-coordinate moment arm.

    Attributes:
        quantity: `"mtu_length"` or `"moment_arm"`.
        muscle: the OpenSim/MuJoCo muscle name.
        coordinate: the coordinate of a moment arm; `None` for an MTU length.
        rms_error: RMS over the frames of model minus OpenSim [m].
        max_error: the largest absolute difference [m].
        mean_error: the mean difference, model minus OpenSim [m].
        reference_rms: RMS of OpenSim's value itself [m] (the size of the quantity).
        bound: the bound `rms_error` is held to [m]; `None` for an outlier.
        outlier: the outlier's cause; `""` when the muscle is held to the bound.
        note: a documented cause of the difference, for the tables.
    """

    quantity: str
    muscle: str
    coordinate: str | None
    rms_error: float
    max_error: float
    mean_error: float
    reference_rms: float
    bound: float | None
    outlier: str = ""
    note: str = ""

    @property
    def passed(self) -> bool:
        """True when within the bound (outliers pass by exemption; NaN never passes)."""
        if self.bound is None:
            return bool(np.isfinite(self.rms_error))
        return bool(np.isfinite(self.rms_error) and self.rms_error <= self.bound)


@dataclasses.dataclass(frozen=True)
class GeometryComparison:
    """MTU lengths and moment arms of a model against OpenSim's along one trial.

    Attributes:
        trial: the trial name (the file-name prefix, e.g. `"walk"`).
        times: the MTU-length frames' times [s], shape `(n_frames,)` (empty without a file).
        muscles: MTU-length muscles, in the reference file's order.
        mtu_length: the model's MTU lengths [m], `(n_frames, n_muscles)`; `None` without a file.
        mtu_length_reference: OpenSim's [m], same shape.
        moment_arm_times: the moment-arm frames' times [s].
        pairs: `(muscle, coordinate)` of every moment-arm column of the reference file.
        moment_arm: the model's moment arms (OpenSim's sign) [m], `(n_frames, n_pairs)`.
        moment_arm_reference: OpenSim's [m], same shape.
        crossing: per pair, whether either model's moment arm is non-zero in some frame.
        results: one `GeometryResult` per muscle (MTU length) and per crossing pair.
        ignored_coordinates: reference coordinates the model has no joint for.
        unset_joints: the model's hinge/slide joints no coordinate or constraint sets.
    """

    trial: str
    times: np.ndarray
    muscles: tuple[str, ...]
    mtu_length: np.ndarray | None
    mtu_length_reference: np.ndarray | None
    moment_arm_times: np.ndarray
    pairs: tuple[tuple[str, str], ...]
    moment_arm: np.ndarray | None
    moment_arm_reference: np.ndarray | None
    crossing: np.ndarray
    results: tuple[GeometryResult, ...]
    ignored_coordinates: tuple[str, ...]
    unset_joints: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when every result holds its bound and something was compared."""
        return bool(self.results) and all(r.passed for r in self.results)

    def select(self, quantity: str) -> list[GeometryResult]:
        """The results of one quantity (`"mtu_length"` or `"moment_arm"`)."""
        return [r for r in self.results if r.quantity == quantity]


def model_geometry(mj_model: mujoco.MjModel, qpos: np.ndarray,
                   actuators: list[str]) -> tuple[np.ndarray, np.ndarray]:
    r"""MTU lengths and the dense moment matrix of tendon actuators, frame by frame (MuJoCo C).

    Args:
        mj_model: the host model.
        qpos: configurations, shape `(n_frames, nq)`.
        actuators: actuator names (tendon transmissions).

    Returns:
        `(length, moment)`: tendon lengths [m], `(n_frames, n_actuators)`, and
        $\partial L/\partial q_\text{vel}$, `(n_frames, n_actuators, nv)` (`actuator_length` and
        `actuator_moment` divided by the gear).
    """
    ids = _actuator_ids(mj_model, actuators)
    gear = np.asarray(mj_model.actuator_gear[ids, 0], dtype=float)
    data = mujoco.MjData(mj_model)
    lengths = np.zeros((len(qpos), len(ids)))
    moments = np.zeros((len(qpos), len(ids), mj_model.nv))
    dense = np.zeros((mj_model.nu, mj_model.nv))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_fwdPosition(mj_model, data)
        lengths[i] = data.actuator_length[ids] / gear
        mujoco.mju_sparse2dense(dense, data.actuator_moment, data.moment_rownnz,
                                data.moment_rowadr, data.moment_colind)
        moments[i] = dense[ids] / gear[:, None]
    return lengths, moments


def _actuator_ids(mj_model: mujoco.MjModel, names) -> np.ndarray:
    ids = [mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in names]
    missing = [n for n, i in zip(names, ids, strict=True) if i < 0]
    if missing:
        raise ValueError(f"{len(missing)} muscle(s) of the OpenSim reference are not actuators of "
                         f"the MuJoCo model: {missing} (the model has {mj_model.nu} actuators)")
    return np.asarray(ids)


# --- files ----------------------------------------------------------------------------------

def find_walking_trials(directory) -> list[str]:
    """Trials (sorted) with `<trial>_generic_mtu_lengths.csv` or `..._moment_arms.csv` files."""
    trials = set()
    for path in Path(directory).iterdir():
        for pattern in GEOMETRY_FILE_PATTERNS:
            match = re.fullmatch(pattern, path.name)
            if match and path.is_file():
                trials.add(match["trial"])
    return sorted(trials)


def _read_coordinates(path: Path, mj_model: mujoco.MjModel) -> dict[str, np.ndarray]:
    table = read_csv(path)
    if "time" not in table:
        raise ValueError(f"{path.name}: no `time` column")
    numeric = {k: v for k, v in table.items() if v.dtype.kind == "f"}
    large = rotations_in_degrees(mj_model, numeric)
    if large:
        raise ValueError(f"{path.name}: coordinates {large} exceed 2 pi; they look like degrees "
                         "(the format's rotations are in radians)")
    return numeric


def _frames(reference_times: np.ndarray, ik_times: np.ndarray, name: str) -> np.ndarray:
    """Row of the IK table for every reference time (to 1 us); an error lists absent times."""
    index = np.searchsorted(ik_times, reference_times).clip(0, len(ik_times) - 1)
    below = (index - 1).clip(0)
    index = np.where(np.abs(ik_times[below] - reference_times)
                     < np.abs(ik_times[index] - reference_times), below, index)
    absent = np.abs(ik_times[index] - reference_times) > 1e-6
    if absent.any():
        raise ValueError(f"{name}: {int(absent.sum())} time(s) have no row in the IK coordinates, "
                         f"e.g. {reference_times[absent][:5].tolist()} s")
    return index


def _errors(computed: np.ndarray, reference: np.ndarray):
    diff = computed - reference
    return (float(np.sqrt(np.mean(diff**2))), float(np.max(np.abs(diff))), float(np.mean(diff)),
            float(np.sqrt(np.mean(reference**2))))


def _check_outliers(outliers: Mapping[str, str], kind: str) -> None:
    if len(outliers) > MAX_OUTLIERS:
        raise ValueError(f"{kind} outliers: {len(outliers)} > {MAX_OUTLIERS} muscles")
    uncaused = [m for m, cause in outliers.items() if not str(cause).strip()]
    if uncaused:
        raise ValueError(f"{kind} outliers without a cause: {uncaused}")


def compare_trial(mj_model: mujoco.MjModel, ik_path, *, lengths_path=None, moment_arms_path=None,
                  bounds: Mapping[str, float] = GEOMETRY_BOUNDS,
                  length_outliers: Mapping[str, str] = MTU_LENGTH_OUTLIERS,
                  moment_arm_outliers: Mapping[str, str] = MOMENT_ARM_OUTLIERS) -> GeometryComparison:
    """Compare one trial's MTU lengths and/or moment arms with the model's.

    Args:
        mj_model: the host model (actuators named like OpenSim's muscles).
        ik_path: `<trial>_ik_coordinates.csv` (`time` [s] + coordinates [rad, m]).
        lengths_path: `<trial>_generic_mtu_lengths.csv` (`time` + one column per muscle [m]).
        moment_arms_path: `<trial>_generic_moment_arms.csv` (`time` + `<muscle>__<coordinate>` [m]).
        bounds: `mtu_length_rms` and `moment_arm_rms` [m].
        length_outliers: muscle -> cause, exempt from the MTU-length bound.
        moment_arm_outliers: muscle -> cause, its moment arms exempt from the moment-arm bound.

    Returns:
        The comparison, over the reference files' frames (each must have a row in the IK file).
    """
    _check_outliers(length_outliers, "MTU-length")
    _check_outliers(moment_arm_outliers, "moment-arm")
    if lengths_path is None and moment_arms_path is None:
        raise ValueError("nothing to compare: give `lengths_path` and/or `moment_arms_path`")
    ik_path = Path(ik_path)
    if not ik_path.is_file():
        named = Path(lengths_path or moment_arms_path).name
        raise FileNotFoundError(f"{named} needs the IK coordinates {ik_path.name} beside it")
    coordinates = _read_coordinates(ik_path, mj_model)
    ik_times = coordinates.pop("time")
    results: list[GeometryResult] = []
    fields = {"times": np.zeros(0), "muscles": (), "mtu_length": None, "mtu_length_reference": None,
              "moment_arm_times": np.zeros(0), "pairs": (), "moment_arm": None,
              "moment_arm_reference": None, "crossing": np.zeros(0, dtype=bool)}

    def read(path):
        table = read_csv(path)
        if "time" not in table or len(table) < 2:
            raise ValueError(f"{Path(path).name}: needs a `time` column and at least one muscle column")
        times = np.asarray(table.pop("time"), dtype=float)
        rows = _frames(times, ik_times, Path(path).name)
        qpos = qpos_from_coordinates(mj_model, {k: v[rows] for k, v in coordinates.items()})
        return table, times, qpos

    if lengths_path is not None:
        table, times, qpos = read(lengths_path)
        muscles = tuple(table)
        lengths, _ = model_geometry(mj_model, qpos, list(muscles))
        reference = np.stack([table[m] for m in muscles], axis=1)
        fields.update(times=times, muscles=muscles, mtu_length=lengths, mtu_length_reference=reference)
        for k, muscle in enumerate(muscles):
            outlier = length_outliers.get(muscle, "")
            results.append(GeometryResult(
                "mtu_length", muscle, None, *_errors(lengths[:, k], reference[:, k]),
                None if outlier else bounds["mtu_length_rms"], outlier, _known_cause(muscle, None)))
    if moment_arms_path is not None:
        table, times, qpos = read(moment_arms_path)
        pairs = tuple(_split_pair(c, Path(moment_arms_path).name) for c in table)
        muscles = list(dict.fromkeys(m for m, _ in pairs))
        coordinate_names = list(dict.fromkeys(c for _, c in pairs))
        _actuator_ids(mj_model, muscles)  # missing muscles first: the clearer error
        absent = [c for c in coordinate_names if not is_scalar_joint(mj_model, c)]
        if absent:
            raise ValueError(f"{Path(moment_arms_path).name}: coordinates {absent} are not hinge or "
                             "slide joints of the MuJoCo model")
        _, moment = model_geometry(mj_model, qpos, muscles)
        jacobians = {c: coordinate_jacobian(mj_model, qpos, c) for c in coordinate_names}
        arms = np.stack([-np.einsum("fv,fv->f", moment[:, muscles.index(m)], jacobians[c])
                         for m, c in pairs], axis=1)
        reference = np.stack([table[f"{m}__{c}"] for m, c in pairs], axis=1)
        crossing = np.max(np.maximum(np.abs(arms), np.abs(reference)), axis=0) > _CROSSING
        fields.update(moment_arm_times=times, pairs=pairs, moment_arm=arms,
                      moment_arm_reference=reference, crossing=crossing)
        for k, (muscle, coordinate) in enumerate(pairs):
            if crossing[k]:
                outlier = moment_arm_outliers.get(muscle, "")
                results.append(GeometryResult(
                    "moment_arm", muscle, coordinate, *_errors(arms[:, k], reference[:, k]),
                    None if outlier else bounds["moment_arm_rms"], outlier,
                    _known_cause(muscle, coordinate)))
    scalar = {mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(mj_model.njnt)
              if is_scalar_joint(mj_model, j)}
    driven = {mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, d)
              for d, _, _ in joint_equalities(mj_model)}
    return GeometryComparison(
        trial=ik_path.name.removesuffix("_ik_coordinates.csv"), **fields, results=tuple(results),
        ignored_coordinates=tuple(sorted(set(coordinates) - scalar - set(PELVIS_COORDINATES))),
        unset_joints=tuple(sorted(scalar - driven - set(coordinates))))


def _split_pair(column: str, name: str) -> tuple[str, str]:
    muscle, sep, coordinate = column.partition("__")
    if not sep or not muscle or not coordinate:
        raise ValueError(f"{name}: column {column!r} is not `<muscle>__<coordinate>`")
    return muscle, coordinate


def compare_geometry(directory, mj_model: mujoco.MjModel, *, trial: str | None = None,
                     bounds: Mapping[str, float] = GEOMETRY_BOUNDS,
                     length_outliers: Mapping[str, str] = MTU_LENGTH_OUTLIERS,
                     moment_arm_outliers: Mapping[str, str] = MOMENT_ARM_OUTLIERS) -> GeometryComparison:
    """Compare a model's muscle geometry with a walking trial's OpenSim files in `directory`.

    Args:
        directory: a folder in the format of `shared/reference` with `<trial>_ik_coordinates.csv`
            and `<trial>_generic_mtu_lengths.csv` and/or `<trial>_generic_moment_arms.csv`.
        mj_model: the host model, e.g. `mskdiff.models.myoleg_mjmodel()`.
        trial: the trial's file-name prefix; by default the directory's only trial.
        bounds: `mtu_length_rms` and `moment_arm_rms` [m] (`GEOMETRY_BOUNDS`).
        length_outliers: muscle -> cause, exempt from the MTU-length bound (at most 12).
        moment_arm_outliers: muscle -> cause, exempt from the moment-arm bound (at most 12).

    Returns:
        A `GeometryComparison`; `.passed` tells whether every bound holds.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"reference directory not found: {directory}")
    trials = find_walking_trials(directory)
    if trial is None:
        if len(trials) != 1:
            raise ValueError(f"{directory}: give `trial`; walking geometry trials found: {trials}")
        trial = trials[0]
    elif trial not in trials:
        raise ValueError(f"{directory}: no geometry files for trial {trial!r}; found: {trials}")
    lengths = directory / _LENGTHS.format(trial=trial)
    arms = directory / _MOMENT_ARMS.format(trial=trial)
    return compare_trial(mj_model, directory / _IK.format(trial=trial),
                         lengths_path=lengths if lengths.is_file() else None,
                         moment_arms_path=arms if arms.is_file() else None, bounds=bounds,
                         length_outliers=length_outliers, moment_arm_outliers=moment_arm_outliers)


# --- reports ---------------------------------------------------------------------------------

def format_geometry_table(comparison: GeometryComparison) -> str:
    """A Markdown table per muscle: MTU-length RMS and max, moment-arm RMS per crossed coordinate."""
    lengths = {r.muscle: r for r in comparison.select("mtu_length")}
    arms: dict[str, list[GeometryResult]] = {}
    for r in comparison.select("moment_arm"):
        arms.setdefault(r.muscle, []).append(r)
    muscles = list(dict.fromkeys([*lengths, *arms]))
    lines = ["| muscle | MTU length RMS [mm] | max [mm] | mean [mm] | moment-arm RMS [mm] (OpenSim RMS) "
             "| status | note |", "|---|---:|---:|---:|---|---|---|"]
    for muscle in muscles:
        length = lengths.get(muscle)
        cells = ["-", "-", "-"] if length is None else [
            f"{length.rms_error * 1e3:.2f}", f"{length.max_error * 1e3:.2f}",
            f"{length.mean_error * 1e3:+.2f}"]
        arm_text = ", ".join(f"{r.coordinate} {r.rms_error * 1e3:.2f} ({r.reference_rms * 1e3:.1f})"
                             for r in arms.get(muscle, [])) or "-"
        mine = [r for r in (length, *arms.get(muscle, [])) if r is not None]
        status = "pass" if all(r.passed for r in mine) else "FAIL"
        if any(r.outlier for r in mine):
            status += " (outlier)"
        note = next((r.outlier for r in mine if r.outlier), "") or next((r.note for r in mine if r.note), "")
        lines.append(f"| {muscle} | {' | '.join(cells)} | {arm_text} | {status} | {note} |")
    return "\n".join(lines)


def summarize_geometry(comparison: GeometryComparison) -> str:
    """A few lines: worst muscles and pairs, bounds, outliers, verdict."""
    out = [f"trial {comparison.trial!r}: {len(comparison.times)} frames"]
    for quantity, label in (("mtu_length", "MTU length"), ("moment_arm", "moment arm")):
        results = comparison.select(quantity)
        if not results:
            continue
        rms = np.array([r.rms_error for r in results])
        worst = sorted(results, key=lambda r: -r.rms_error)[:5]
        bound = next((r.bound for r in results if r.bound is not None), None)
        out.append(f"{label}: {len(results)} compared, RMS median {np.median(rms) * 1e3:.3f} mm, "
                   f"max {rms.max() * 1e3:.2f} mm; bound {bound * 1e3 if bound else float('nan'):.1f} mm; "
                   f"{sum(not r.passed for r in results)} failed, "
                   f"{sum(bool(r.outlier) for r in results)} outliers")
        out.append("  worst: " + ", ".join(
            f"{r.muscle}{'/' + r.coordinate if r.coordinate else ''} {r.rms_error * 1e3:.2f} mm"
            for r in worst))
    out.append("PASSED" if comparison.passed else "FAILED")
    return "\n".join(out)


def write_geometry_csv(comparison: GeometryComparison, path) -> None:
    """Write every result as a CSV row (quantity, muscle, coordinate, errors [m], bound, status)."""
    rows = ["quantity,muscle,coordinate,rms_error,max_error,mean_error,reference_rms,bound,status,"
            "outlier,note"]
    for r in comparison.results:
        bound = "" if r.bound is None else repr(r.bound)
        rows.append(",".join([r.quantity, r.muscle, r.coordinate or "", repr(r.rms_error),
                              repr(r.max_error), repr(r.mean_error), repr(r.reference_rms), bound,
                              "pass" if r.passed else "FAIL", f'"{r.outlier}"', f'"{r.note}"']))
    Path(path).write_text("\n".join(rows) + "\n")


def plot_geometry(comparison: GeometryComparison, path) -> None:
    """Plot RMS per muscle and per pair against the bounds, and the worst time series (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(15, 9), gridspec_kw={"height_ratios": [1.1, 1]})
    lengths = comparison.select("mtu_length")
    arms = sorted(comparison.select("moment_arm"), key=lambda r: -r.rms_error)
    if lengths:
        ax = axes[0, 0]
        ax.bar(range(len(lengths)), [r.rms_error * 1e3 for r in lengths],
               color=["tab:red" if not r.passed else "tab:orange" if r.outlier else
                      "tab:purple" if r.note else "tab:blue" for r in lengths])
        ax.axhline(lengths[0].bound * 1e3 if lengths[0].bound else np.nan, color="k", ls="--",
                   label=f"bound {GEOMETRY_BOUNDS['mtu_length_rms'] * 1e3:.0f} mm")
        for color, label in (("tab:purple", "documented cause"), ("tab:orange", "outlier"),
                             ("tab:red", "over the bound")):
            ax.bar([0], [0], color=color, label=label)
        ax.set_xticks(range(len(lengths)), [r.muscle for r in lengths], rotation=90, fontsize=6)
        ax.set_ylabel("RMS difference [mm]")
        ax.set_title(f"MTU length, myoLeg - OpenSim (generic), {len(comparison.times)} frames")
        ax.legend()
        worst = max(range(len(lengths)), key=lambda k: lengths[k].rms_error)
        ax = axes[1, 0]
        k = comparison.muscles.index(lengths[worst].muscle)
        ax.plot(comparison.times, comparison.mtu_length_reference[:, k], "k-", label="OpenSim")
        ax.plot(comparison.times, comparison.mtu_length[:, k], "C0--", label="myoLeg (MuJoCo)")
        ax.set_xlabel("time [s]")
        ax.set_ylabel("MTU length [m]")
        ax.set_title(f"worst MTU length: {lengths[worst].muscle}")
        ax.legend()
    if arms:
        ax = axes[0, 1]
        coordinates = sorted({r.coordinate for r in arms})
        colors = {c: f"C{i}" for i, c in enumerate(coordinates)}
        ax.bar(range(len(arms)), [r.rms_error * 1e3 for r in arms],
               color=[colors[r.coordinate] for r in arms])
        ax.axhline(GEOMETRY_BOUNDS["moment_arm_rms"] * 1e3, color="k", ls="--",
                   label=f"bound {GEOMETRY_BOUNDS['moment_arm_rms'] * 1e3:.0f} mm")
        for c in coordinates:
            ax.bar([0], [0], color=colors[c], label=c)
        ax.set_xticks(range(len(arms)), [r.muscle for r in arms], rotation=90, fontsize=5)
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylabel("RMS difference [mm]")
        ax.set_title(f"moment arms ({len(arms)} muscle-coordinate pairs), sorted")
        ax.legend(fontsize=7, ncol=2)
        ax = axes[1, 1]
        shown = {}  # the worst pair of each joint (coordinate without its side)
        for r in arms:
            shown.setdefault(re.sub(r"_[rl]$", "", r.coordinate), r)
        for r, style in zip(list(shown.values())[:4], ("C0", "C1", "C2", "C3"), strict=False):
            k = comparison.pairs.index((r.muscle, r.coordinate))
            times = comparison.moment_arm_times
            ax.plot(times, comparison.moment_arm_reference[:, k] * 1e3, color=style, ls="-",
                    label=f"{r.muscle} / {r.coordinate}: OpenSim")
            ax.plot(times, comparison.moment_arm[:, k] * 1e3, color=style, ls="--", label="myoLeg")
        ax.set_xlabel("time [s]")
        ax.set_ylabel("moment arm [mm] (OpenSim sign)")
        ax.set_title("worst moment arm per joint (solid OpenSim, dashed myoLeg)")
        ax.legend(fontsize=7)
    for ax in axes.ravel():
        if not ax.has_data():
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
