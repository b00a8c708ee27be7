"""A gait result against the walking trial: joint angles, ground reactions, EMG timing, energy.

A *result* is a folder of the OpenSim files `models.opensim_export.write_opensim_results` writes
(`FILES`: coordinates `.mot`, muscle states and controls `.sto`, ground reactions `.mot` in the
external-loads layout, ground frame y up and x forward), plus an optional `result.json`
(`RESULT_KEYS`). The *reference* is a folder in the format of `shared/reference` (its README):
inverse kinematics (`walk_ik_coordinates.csv`), ground reactions (`walk_grf.csv`), EMG envelopes
(`walk_emg.csv`, `walk_emg_channel_map.csv`) and gait events (`walk_gait_events.csv`).

Everything is compared over one gait cycle normalised to 0-100 % (`N_POINTS` samples, linear
interpolation): the result's cycle `[t0, t1]` (from the caller or `result.json`'s `gait_cycle`,
default the trial's) against the trial's cycle (its first two right heel strikes). Rotations are
compared in degrees, translations in cm, forces in body weights; shapes by Pearson's r. A result
(or the reference) that covers only part of its cycle is compared over the part both cover; the
report's `result_covers` says which part [% of the cycle], and `missing` says so in a sentence.

EMG on/off: a signal is *on* where it is at least `threshold` times its peak within the cycle
(`EMG_THRESHOLD`, 0.25), for the EMG envelope and for the model's activation alike; the agreement
is the percentage of the cycle's samples where both are on or both are off (all samples but the
last: 100 % is the next cycle's 0 %). The model's signal of a channel is the mean activation of
the channel's muscles (`channel_muscles`; `MYOLEGS26_CHANNEL_MUSCLES` for myolegs26).

Pure numpy: no JAX is needed to compare results.
"""

import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..io.motion import read_table
from ..io.reference import read_csv
from ..models.kinematics import read_ik_coordinates
from ..models.opensim_export import FILES

#: Samples per normalised cycle: 0, 1, ..., 100 %.
N_POINTS = 101
#: Standard gravity [m/s^2] (the reference README's body weight uses it).
GRAVITY = 9.80665
#: The trial subject's mass [kg] (reference README, section 4: 85.0668 kg, 834.22 N).
TRIAL_BODY_MASS = 85.0668
#: Default on/off threshold: fraction of a signal's peak within the cycle.
EMG_THRESHOLD = 0.25
#: Whole-body basal rate [W/kg]: `mskdiff.muscle.metabolic.basal_rate`'s default coefficient
#: (OpenSim's `basal_coefficient`), added to a muscle-only cost to compare with gross costs.
BASAL_RATE = 1.2
#: Energy per volume of oxygen [J/mL] (about 4.8 kcal/L, respiratory exchange ratio ~0.85).
OXYGEN_ENERGY = 20.1
#: Joules per calorie.
CALORIE = 4.184

#: Reference files, by kind.
REFERENCE_FILES = {"coordinates": "walk_ik_coordinates.csv", "grf": "walk_grf.csv",
                   "emg": "walk_emg.csv", "channel_map": "walk_emg_channel_map.csv",
                   "events": "walk_gait_events.csv"}
#: The optional description of a result folder.
RESULT_INFO = "result.json"
#: Keys `result.json` may have, with their meaning.
RESULT_KEYS = {
    "model": "registry name of the model (e.g. 'myolegs', 'myolegs26')",
    "body_mass": "the model's mass [kg]",
    "metabolic_energy": "muscle metabolic energy over the whole result [J]",
    "distance": "distance walked over the whole result [m]",
    "cost_of_transport": "metabolic cost of transport [J/(kg m)] (instead of energy and distance)",
    "metabolic_model": "the metabolic model (e.g. 'Bhargava2004Smoothed', 'Umberger2010')",
    "includes_basal": "whether the energy includes the basal rate (default false)",
    "gait_cycle": "[t0, t1], the result's gait cycle [s]",
}
#: Ground reaction components compared: vertical and fore-aft.
GRF_COMPONENTS = ("vy", "vx")
#: Feet, as OpenSim suffixes them.
SIDES = ("r", "l")

#: EMG channel -> (myolegs26 muscles, why), for myo-sim's 26-muscle model (lumped muscles).
MYOLEGS26_CHANNEL_MUSCLES = {
    "SOL": (("soleus_r",), "soleus"),
    "GAS": (("gastroc_r",), "one muscle for both gastrocnemii (Rajagopal map: gaslat_r)"),
    "TA": (("tibant_r",), "tibialis anterior"),
    "MH": (("hamstrings_r",), "biarticular hamstrings, lumped (semimembranosus path)"),
    "BF": (("hamstrings_r",), "long head, in the lumped biarticular hamstrings; bifemsh_r (the "
                              "short head) is left out, as the Rajagopal map uses bflh_r only"),
    "VL": (("vasti_r",), "the three vasti, lumped"),
    "VM": (("vasti_r",), "the three vasti, lumped"),
    "RF": (("rectfem_r",), "rectus femoris"),
    "GMAX": (("glutmax_r",), "gluteus maximus"),
    "GMED": (("abd_r",), "hip abductors (gluteus medius and minimus), lumped"),
}

#: Published costs of transport of level walking (gross: resting metabolism included).
PUBLISHED_COSTS = (
    {"source": "Waters & Mulroy 1999", "kind": "measured, gross", "speed": 80 / 60,
     "cost_of_transport": 0.15 * OXYGEN_ENERGY,
     "note": "adults 20-59 y at their comfortable speed, 80 m/min: oxygen cost 0.15 mL/(kg m) "
             f"x {OXYGEN_ENERGY} J/mL",
     "citation": "Waters RL, Mulroy S (1999) The energy expenditure of normal and pathologic "
                 "gait. Gait & Posture 9(3):207-231"},
)
#: Ralston's equation of the gross metabolic rate of walking (`ralston_cost_of_transport`).
RALSTON_CITATION = ("Ralston HJ (1958) Energy-speed relation and optimal speed during level "
                    "walking. Int Z Angew Physiol 17:277-283")


class TimeSeries(NamedTuple):
    """Named columns sampled at common times.

    Attributes:
        time: `(n_rows,)` [s], increasing.
        columns: name -> `(n_rows,)` values.
    """

    time: np.ndarray
    columns: dict[str, np.ndarray]


class GaitResult(NamedTuple):
    """A result folder in SI units; None where its file is absent.

    Attributes:
        directory: the folder.
        info: `result.json`'s keys (empty without the file).
        coordinates: OpenSim coordinates [rad, m].
        activations: muscle -> activation (excitation where only controls were written).
        activation_source: the file the activations come from.
        ground_reactions: `r_vy`, `r_vx`, `l_vy`, `l_vx` [N], ground frame.
        missing_files: the files the report uses that are not in the folder.
    """

    directory: Path
    info: dict
    coordinates: TimeSeries | None
    activations: TimeSeries | None
    activation_source: str | None
    ground_reactions: TimeSeries | None
    missing_files: tuple[str, ...]


class WalkingReference(NamedTuple):
    """The walking trial of a reference folder, SI units.

    Attributes:
        coordinates: inverse kinematics [rad, m].
        grf: `r_vy`, `r_vx`, `l_vy`, `l_vx` in body weights.
        emg: envelopes by channel, as stored.
        channel_map: channel -> Rajagopal 2016 muscles.
        cycle: `(t0, t1)`, the first two right heel strikes [s].
    """

    coordinates: TimeSeries
    grf: TimeSeries
    emg: TimeSeries
    channel_map: dict[str, tuple[str, ...]]
    cycle: tuple[float, float]


def normalise_cycle(time, values, t0: float, t1: float, n: int = N_POINTS, *,
                    partial: bool = False) -> np.ndarray:
    """`values` at 0, ..., 100 % of the cycle `[t0, t1]`, by linear interpolation.

    Args:
        time: `(n_rows,)` [s], increasing.
        values: `(n_rows, ...)`.
        t0: start of the cycle [s].
        t1: end of the cycle [s].
        n: samples of the normalised cycle.
        partial: NaN where `time` does not reach, instead of an error.

    Returns:
        `(n, ...)` values.

    Raises:
        ValueError: `t1 <= t0`, or (unless `partial`) `time` not covering `[t0, t1]`.
    """
    time, values = np.asarray(time, dtype=float), np.asarray(values, dtype=float)
    if not t1 > t0:
        raise ValueError(f"the gait cycle must end after it starts, got [{t0}, {t1}] s")
    if len(time) < 2:
        raise ValueError(f"need at least two samples to interpolate, got {len(time)}")
    eps = 1e-9 * max(1.0, abs(t1))
    if not partial and (time[0] > t0 + eps or time[-1] < t1 - eps):
        raise ValueError(f"the data cover {time[0]:.4g}-{time[-1]:.4g} s, not the whole gait "
                         f"cycle {t0:.4g}-{t1:.4g} s")
    at = np.linspace(t0, t1, n)
    k = np.clip(np.searchsorted(time, at, side="right") - 1, 0, len(time) - 2)
    w = np.clip((at - time[k]) / (time[k + 1] - time[k]), 0.0, 1.0)
    w = w.reshape(-1, *[1] * (values.ndim - 1))
    out = (1 - w) * values[k] + w * values[k + 1]
    out[(at < time[0] - eps) | (at > time[-1] + eps)] = np.nan
    return out


def _percent_of_cycle(n: int = N_POINTS) -> np.ndarray:
    """`(n,)` sample positions [% of the cycle], 0 to 100."""
    return np.linspace(0.0, 100.0, n)


def _rms(difference) -> float:
    """Root mean square over the finite samples (NaN where there are none)."""
    difference = np.asarray(difference, dtype=float)
    finite = difference[np.isfinite(difference)]
    return float(np.sqrt(np.mean(finite**2))) if finite.size else math.nan


def _pearson_r(a, b) -> float:
    """Pearson's correlation over the samples where both are finite (NaN if either is flat)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 2:
        return math.nan
    a, b = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    scale = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / scale if scale > 0 else math.nan


def _is_translation(coordinate: str) -> bool:
    """True for a translational coordinate (`pelvis_tx`, `knee_angle_r_translation1`)."""
    return re.search(r"_t[xyz]$", coordinate) is not None or "translation" in coordinate


def compare_coordinates(result: TimeSeries, reference: TimeSeries, result_cycle, reference_cycle,
                        n: int = N_POINTS) -> dict:
    """RMS difference per coordinate present in both, over the normalised cycle.

    Rotations in degrees, translations in cm. The reference may cover part of the cycle only
    (the shared trial's inverse kinematics ends at 1.18 s); the RMS is then over that part.

    Args:
        result: coordinates [rad, m] (part of `result_cycle` at least).
        reference: coordinates [rad, m].
        result_cycle: `(t0, t1)` of the result [s].
        reference_cycle: `(t0, t1)` of the reference [s].
        n: samples of the normalised cycle.

    Returns:
        `coordinates` (name -> `unit`, `rms`, `result`, `reference` curves), `missing` (reference
        coordinates the result lacks), `not_in_reference`, `reference_covers` ([first, last] %
        of the cycle the reference reaches).
    """
    shared = [name for name in reference.columns if name in result.columns]
    ours = normalise_cycle(result.time, _stack(result, shared), *result_cycle, n, partial=True)
    theirs = normalise_cycle(reference.time, _stack(reference, shared), *reference_cycle, n,
                             partial=True)
    scale = np.array([100.0 if _is_translation(name) else 180 / np.pi for name in shared])
    ours, theirs = ours * scale, theirs * scale
    covered = _percent_of_cycle(n)[np.isfinite(theirs).all(axis=1)] if shared else np.array([])
    return {
        "coordinates": {name: {"unit": "cm" if _is_translation(name) else "deg",
                               "rms": _rms(ours[:, k] - theirs[:, k]),
                               "result": ours[:, k], "reference": theirs[:, k]}
                        for k, name in enumerate(shared)},
        "missing": [name for name in reference.columns if name not in result.columns],
        "not_in_reference": [name for name in result.columns if name not in reference.columns],
        "reference_covers": [float(covered[0]), float(covered[-1])] if covered.size else None,
    }


def compare_ground_reactions(result: TimeSeries, body_weight: float, reference: TimeSeries,
                             result_cycle, reference_cycle, n: int = N_POINTS) -> dict:
    """Vertical and fore-aft force per foot in body weights: RMS difference and Pearson's r.

    Args:
        result: `r_vy`, `r_vx`, `l_vy`, `l_vx` [N], ground frame (part of `result_cycle` at
            least).
        body_weight: the model's weight [N].
        reference: the same columns in the trial's body weights.
        result_cycle: `(t0, t1)` of the result [s].
        reference_cycle: `(t0, t1)` of the reference [s].
        n: samples of the normalised cycle.

    Returns:
        `components` (`r_vy`, ... -> `rms` [BW], `r`, `result`, `reference` curves [BW]) and
        `missing` (components the result lacks).
    """
    names = [f"{side}_{c}" for side in SIDES for c in GRF_COMPONENTS]
    shared = [name for name in names if name in result.columns]
    ours = normalise_cycle(result.time, _stack(result, shared), *result_cycle, n,
                           partial=True) / body_weight
    theirs = normalise_cycle(reference.time, _stack(reference, shared), *reference_cycle, n,
                             partial=True)
    return {
        "components": {name: {"rms": _rms(ours[:, k] - theirs[:, k]),
                              "r": _pearson_r(ours[:, k], theirs[:, k]),
                              "result": ours[:, k], "reference": theirs[:, k]}
                       for k, name in enumerate(shared)},
        "missing": [name for name in names if name not in result.columns],
    }


def detect_on(values, threshold: float = EMG_THRESHOLD) -> np.ndarray:
    """Where a signal is on: at least `threshold` times its peak (boolean).

    Never on if the peak is <= 0; NaN samples (outside the data) are off and set no peak.
    """
    values = np.asarray(values, dtype=float)
    if not 0 < threshold < 1:
        raise ValueError(f"the on/off threshold is a fraction of the peak, in (0, 1); got {threshold}")
    peak = np.nanmax(values) if np.isfinite(values).any() else 0.0
    return values >= threshold * peak if peak > 0 else np.zeros(values.shape, bool)


def _peak_normalised(values) -> np.ndarray:
    """`values` divided by their peak (NaN where the peak is <= 0; NaN samples ignored)."""
    values = np.asarray(values, dtype=float)
    peak = np.nanmax(values) if np.isfinite(values).any() else 0.0
    return values / peak if peak > 0 else np.full(values.shape, np.nan)


def on_intervals(on, percent) -> list[list[float]]:
    """The `[start, end]` [% of the cycle] of each run of `on` samples."""
    on = np.asarray(on, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    return [[float(percent[a]), float(percent[b - 1])] for a, b in zip(edges[::2], edges[1::2],
                                                                       strict=True)]


def channel_muscles(model: str | None, channel_map: dict[str, tuple[str, ...]],
                    muscles) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The muscles of each EMG channel for a model, and which mapping that is.

    Args:
        model: the registry name, 'myolegs26' for its lumped muscles; any other name uses
            `channel_map` (Rajagopal 2016 names, myoLeg's). None: the mapping that finds more of
            `muscles`.
        channel_map: channel -> Rajagopal 2016 muscles (`walk_emg_channel_map.csv`).
        muscles: the result's muscle names.

    Returns:
        `(mapping, channel -> muscles)`, mapping 'myolegs26' or 'rajagopal2016'.
    """
    lumped = {channel: entry[0] for channel, entry in MYOLEGS26_CHANNEL_MUSCLES.items()}
    if model is None:
        found = {name: len({m for ms in table.values() for m in ms} & set(muscles))
                 for name, table in (("rajagopal2016", channel_map), ("myolegs26", lumped))}
        model = max(found, key=found.get)
    return ("myolegs26", lumped) if model == "myolegs26" else ("rajagopal2016", channel_map)


def compare_emg(result: TimeSeries, reference: TimeSeries, muscles_of: dict[str, tuple[str, ...]],
                result_cycle, reference_cycle, *, threshold: float = EMG_THRESHOLD,
                n: int = N_POINTS) -> dict:
    """Activation against EMG per channel: on/off timing, its agreement, and shape correlation.

    Args:
        result: muscle activations (part of `result_cycle` at least; timing, agreement and r
            are over the samples that both signals cover, each peak within them).
        reference: EMG envelopes by channel.
        muscles_of: channel -> the muscles whose mean activation stands for it; every channel
            of `reference` is reported, those without muscles in `result` as missing.
        result_cycle: `(t0, t1)` of the result [s].
        reference_cycle: `(t0, t1)` of the reference [s].
        threshold: on where at least this fraction of the signal's peak within the cycle.
        n: samples of the normalised cycle.

    Returns:
        `threshold`; `channels` (channel -> `muscles`, `missing_muscles`, `emg` and `activation`
        curves normalised to their peak, `peak_activation`, `emg_on` and `activation_on`
        intervals [%], `agreement` [% of the cycle], `r`); `missing` (channel -> its muscles, for
        channels none of whose muscles the result has).
    """
    percent = _percent_of_cycle(n)
    channels, missing = {}, {}
    for channel in reference.columns:
        muscles = muscles_of.get(channel, ())
        present = [m for m in muscles if m in result.columns]
        if not present:
            missing[channel] = list(muscles)
            continue
        activation = normalise_cycle(result.time, _stack(result, present), *result_cycle, n,
                                     partial=True).mean(axis=1)
        emg = normalise_cycle(reference.time, reference.columns[channel], *reference_cycle, n,
                              partial=True)
        both = np.isfinite(activation) & np.isfinite(emg)
        emg, activation = np.where(both, emg, np.nan), np.where(both, activation, np.nan)
        emg_on, model_on = detect_on(emg, threshold), detect_on(activation, threshold)
        counted = both[:-1]
        channels[channel] = {
            "muscles": present, "missing_muscles": [m for m in muscles if m not in present],
            "emg": _peak_normalised(emg), "activation": _peak_normalised(activation),
            "peak_activation": float(np.nanmax(activation)),
            "emg_on": on_intervals(emg_on, percent), "activation_on": on_intervals(model_on, percent),
            "agreement": float(100 * np.mean((emg_on[:-1] == model_on[:-1])[counted])),
            "r": _pearson_r(emg, activation),
        }
    return {"threshold": threshold, "channels": channels, "missing": missing}


def transport_cost(energy: float, body_mass: float, distance: float) -> float:
    """Metabolic cost of transport [J/(kg m)]: energy [J] / (body mass [kg] x distance [m])."""
    if not (body_mass > 0 and distance > 0):
        raise ValueError(f"body mass and distance must be > 0, got {body_mass} kg and {distance} m")
    return energy / (body_mass * distance)


def ralston_cost_of_transport(speed: float) -> float:
    """Gross cost of transport [J/(kg m)] at `speed` [m/s] by Ralston (1958).

    $E = 29 + 0.0053 v^2$ [cal/(kg min)], $v$ in m/min, divided by $v$.
    """
    v = 60.0 * speed
    return (29.0 / v + 0.0053 * v) * CALORIE


def walking_speed(coordinates: TimeSeries, cycle) -> float:
    """Mean forward speed [m/s] over the cycle: `pelvis_tx`'s change / the cycle's duration."""
    x = normalise_cycle(coordinates.time, coordinates.columns["pelvis_tx"], *cycle, 2)
    return float((x[-1] - x[0]) / (cycle[1] - cycle[0]))


def metabolic_summary(info: dict, coordinates: TimeSeries | None, speed: float | None) -> dict:
    """The result's cost of transport (from `result.json`) next to published costs.

    Args:
        info: `result.json`'s keys.
        coordinates: the result's coordinates (their `pelvis_tx` gives the distance when
            `info` has energy but no distance), or None.
        speed: the result's walking speed [m/s], or None.

    Returns:
        `cost_of_transport` [J/(kg m)] or None, `how` (or `missing`: what is lacking), the
        metabolic model, `includes_basal`, `with_basal` (the cost plus `BASAL_RATE` / speed, for
        the gross published costs), `speed`, and `published` (Ralston's at `speed`, then
        `PUBLISHED_COSTS`).
    """
    cost, how = _result_cost(info, coordinates)
    basal, moving = bool(info.get("includes_basal", False)), speed is not None and speed > 0
    with_basal = cost if cost is None or basal else (cost + BASAL_RATE / speed if moving else None)
    published = [dict(entry) for entry in PUBLISHED_COSTS]
    if moving:
        published.insert(0, {"source": "Ralston 1958", "kind": "measured, gross (fitted equation)",
                             "speed": speed, "cost_of_transport": ralston_cost_of_transport(speed),
                             "note": "E = 29 + 0.0053 v^2 cal/(kg min), v in m/min, at the "
                                     "result's speed", "citation": RALSTON_CITATION})
    return {"cost_of_transport": cost, ("how" if cost is not None else "missing"): how,
            "metabolic_model": info.get("metabolic_model"), "includes_basal": basal,
            "with_basal": with_basal, "speed": speed, "published": published}


def _result_cost(info: dict, coordinates: TimeSeries | None) -> tuple[float | None, str]:
    """The cost of transport of `result.json`'s keys, and how it was found (or what is missing)."""
    if "cost_of_transport" in info:
        return float(info["cost_of_transport"]), "result.json's cost_of_transport"
    if "metabolic_energy" not in info:
        return None, "result.json has no metabolic_energy (nor cost_of_transport)"
    if "body_mass" not in info:
        return None, "result.json has metabolic_energy but no body_mass"
    if "distance" in info:
        distance, where = float(info["distance"]), "result.json's distance"
    elif coordinates is not None and "pelvis_tx" in coordinates.columns:
        x = coordinates.columns["pelvis_tx"]
        distance, where = float(x[-1] - x[0]), "pelvis_tx's change over the whole result"
    else:
        return None, "result.json has metabolic_energy but no distance, and there is no pelvis_tx"
    if distance <= 0:
        return None, f"the distance walked is {distance:.3g} m ({where})"
    cost = transport_cost(float(info["metabolic_energy"]), float(info["body_mass"]), distance)
    return cost, f"metabolic_energy / (body_mass x distance), distance: {where}"


def read_gait_result(directory) -> GaitResult:
    """Read a result folder (module docstring); absent files are listed, not errors.

    Raises:
        FileNotFoundError: no folder at `directory`.
        ValueError: a malformed file or `result.json` key (the message names it).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"result folder not found: {directory}")
    present = {kind: directory / name for kind, name in FILES.items() if (directory / name).is_file()}
    activations, source = _read_activations(present)
    missing = [FILES[kind] for kind in ("coordinates", "ground_reactions") if kind not in present]
    if activations is None:
        missing.append(f"{FILES['states']} (or {FILES['controls']})")
    if not (directory / RESULT_INFO).is_file():
        missing.append(RESULT_INFO)
    return GaitResult(
        directory=directory, info=_read_result_info(directory / RESULT_INFO),
        coordinates=_read_coordinates(present["coordinates"]) if "coordinates" in present else None,
        activations=activations, activation_source=source,
        ground_reactions=(_read_ground_reactions(present["ground_reactions"])
                          if "ground_reactions" in present else None),
        missing_files=tuple(missing))


def _read_result_info(path) -> dict:
    """`result.json`'s keys (`RESULT_KEYS`), checked; an empty dict without the file.

    Raises:
        ValueError: naming the file and key: not a JSON object, an unknown key, a number that is
            not one (or not > 0 for masses and distances), or a `gait_cycle` that is not
            `[t0, t1]` with `t0 < t1`.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: expected a JSON object with keys {list(RESULT_KEYS)}")
    unknown = sorted(set(info) - set(RESULT_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {list(RESULT_KEYS)}")
    for key in ("body_mass", "distance"):
        if key in info and not (_is_number(info[key]) and info[key] > 0):
            raise ValueError(f"{path}: {key} must be a number > 0, got {info[key]!r}")
    for key in ("metabolic_energy", "cost_of_transport"):
        if key in info and not _is_number(info[key]):
            raise ValueError(f"{path}: {key} must be a number, got {info[key]!r}")
    if "gait_cycle" in info and not _is_cycle(info["gait_cycle"]):
        raise ValueError(f"{path}: gait_cycle must be [t0, t1] in s with t0 < t1, "
                         f"got {info['gait_cycle']!r}")
    if "includes_basal" in info and not isinstance(info["includes_basal"], bool):
        raise ValueError(f"{path}: includes_basal must be true or false, got {info['includes_basal']!r}")
    return info


def _is_cycle(cycle) -> bool:
    """True for `[t0, t1]` with numbers `t0 < t1`."""
    return (isinstance(cycle, list) and len(cycle) == 2 and all(map(_is_number, cycle))
            and cycle[0] < cycle[1])


def _is_number(x) -> bool:
    """True for an int or float that is not a bool."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _read_coordinates(path: Path) -> TimeSeries:
    """A coordinates `.mot` in radians and metres."""
    table = read_table(path)
    columns = {label: table.column(label) for label in table.labels}
    if table.in_degrees:
        columns = {k: v if _is_translation(k) else np.deg2rad(v) for k, v in columns.items()}
    return TimeSeries(table.time, columns)


def _read_activations(present: dict[str, Path]) -> tuple[TimeSeries | None, str | None]:
    """Activations from the states `.sto`, else excitations from the controls `.sto`."""
    for kind, pattern in (("states", r"/forceset/([^/]+)/activation"),
                          ("controls", r"/forceset/([^/]+)")):
        if kind in present:
            table = read_table(present[kind])
            found = {m.group(1): table.column(label) for label in table.labels
                     if (m := re.fullmatch(pattern, label))}
            return TimeSeries(table.time, found), FILES[kind]
    return None, None


def _read_ground_reactions(path: Path) -> TimeSeries:
    """`r_vy`, `r_vx`, ... [N] of a ground reactions `.mot` (external-loads layout)."""
    table = read_table(path)
    names = {f"ground_force_{side}_{c}": f"{side}_{c}" for side in SIDES for c in GRF_COMPONENTS}
    return TimeSeries(table.time, {names[k]: table.column(k) for k in table.labels if k in names})


def read_walking_reference(directory) -> WalkingReference:
    """Read the walking trial of a reference folder (`REFERENCE_FILES`).

    Raises:
        FileNotFoundError: a file of `REFERENCE_FILES` is not in `directory` (named).
        ValueError: a malformed file, or fewer than two right heel strikes.
    """
    directory = Path(directory)
    paths = {kind: directory / name for kind, name in REFERENCE_FILES.items()}
    absent = [path.name for path in paths.values() if not path.is_file()]
    if absent:
        raise FileNotFoundError(f"reference folder {directory} lacks {absent}")
    time, coordinates = read_ik_coordinates(paths["coordinates"])
    grf = read_csv(paths["grf"], required=("time", *(f"{s}_{c}_bw" for s in SIDES
                                                     for c in GRF_COMPONENTS)))
    emg = read_csv(paths["emg"], required=("time",))
    return WalkingReference(
        coordinates=TimeSeries(time, coordinates),
        grf=TimeSeries(grf["time"], {f"{s}_{c}": grf[f"{s}_{c}_bw"] for s in SIDES
                                     for c in GRF_COMPONENTS}),
        emg=TimeSeries(emg.pop("time"), emg),
        channel_map=_read_channel_map(paths["channel_map"]),
        cycle=_read_cycle(paths["events"]))


def _read_channel_map(path: Path) -> dict[str, tuple[str, ...]]:
    """Channel -> Rajagopal 2016 muscles (space-separated in the file)."""
    table = read_csv(path, required=("channel", "rajagopal_muscles"))
    return {str(c): tuple(str(m).split()) for c, m in zip(table["channel"],
                                                          table["rajagopal_muscles"], strict=True)}


def _read_cycle(path: Path) -> tuple[float, float]:
    """The first two right heel strikes [s]."""
    table = read_csv(path, required=("side", "event", "time"))
    strikes = sorted(float(t) for side, event, t in zip(table["side"], table["event"], table["time"],
                                                        strict=True)
                     if side == "r" and event == "heel_strike")
    if len(strikes) < 2:
        raise ValueError(f"{path.name}: need two right heel strikes for a gait cycle, found "
                         f"{len(strikes)}")
    return strikes[0], strikes[1]


def gait_report(directory, reference_dir, *, cycle=None, emg_threshold: float = EMG_THRESHOLD,
                n: int = N_POINTS) -> dict:
    """Every comparison of a result folder with the walking trial, as one JSON-ready dict.

    Args:
        directory: the result folder (module docstring).
        reference_dir: the reference folder (`REFERENCE_FILES`).
        cycle: the result's gait cycle `(t0, t1)` [s]; default `result.json`'s `gait_cycle`, else
            the trial's.
        emg_threshold: the on/off threshold, a fraction of each signal's peak in the cycle.
        n: samples of the normalised cycle.

    Returns:
        `result`, `reference`, `model`, `result_cycle`, `result_covers` ([first, last] % of
        the cycle the result's data reach), `reference_cycle`, `percent`,
        `body_weight`, `coordinates`, `ground_reactions`, `emg`, `metabolics` (each None where
        its input is absent) and `missing` (sentences: what could not be computed and why).
        Arrays are lists, NaN is None.

    Raises:
        ValueError: the result's data do not reach into the cycle at all.
    """
    result, reference = read_gait_result(directory), read_walking_reference(reference_dir)
    info = result.info
    result_cycle = tuple(cycle or info.get("gait_cycle") or reference.cycle)
    covers = result_covers(result, result_cycle)
    body_mass = float(info.get("body_mass", TRIAL_BODY_MASS))
    speed = _speed(result.coordinates, result_cycle)
    report = {
        "result": str(result.directory), "reference": str(Path(reference_dir)),
        "model": info.get("model"), "result_cycle": list(result_cycle), "result_covers": covers,
        "reference_cycle": list(reference.cycle), "percent": _percent_of_cycle(n),
        "body_weight": {"mass": body_mass, "weight": body_mass * GRAVITY,
                        "source": "result.json" if "body_mass" in info else
                        "the trial's; result.json has no body_mass"},
        "coordinates": None if result.coordinates is None else compare_coordinates(
            result.coordinates, reference.coordinates, result_cycle, reference.cycle, n),
        "ground_reactions": None if result.ground_reactions is None else compare_ground_reactions(
            result.ground_reactions, body_mass * GRAVITY, reference.grf, result_cycle,
            reference.cycle, n),
        "emg": None if result.activations is None else _compare_activations(
            result, reference, result_cycle, emg_threshold, n),
        "metabolics": {**metabolic_summary(info, result.coordinates, speed),
                       "trial_speed": walking_speed(reference.coordinates, _clip(
                           reference.cycle, reference.coordinates.time))},
    }
    return _jsonable({**report, "missing": _missing(result, report)})


def _compare_activations(result: GaitResult, reference: WalkingReference, result_cycle,
                         threshold: float, n: int) -> dict:
    """`compare_emg` with the model's channel map, naming the map and the activations' file."""
    mapping, muscles_of = channel_muscles(result.info.get("model"), reference.channel_map,
                                          result.activations.columns)
    return {"mapping": mapping, "source": result.activation_source,
            **compare_emg(result.activations, reference.emg, muscles_of, result_cycle,
                          reference.cycle, threshold=threshold, n=n)}


def result_covers(result: GaitResult, cycle, n: int = N_POINTS) -> list[float]:
    """`[first, last]` % of `cycle` that every time series of the result reaches.

    Raises:
        ValueError: naming the folder, when they do not reach into the cycle.
    """
    series = [s for s in (result.coordinates, result.ground_reactions, result.activations)
              if s is not None]
    first = max([cycle[0]] + [float(s.time[0]) for s in series])
    last = min([cycle[1]] + [float(s.time[-1]) for s in series])
    percent = _percent_of_cycle(n)
    at = np.linspace(*cycle, n)
    eps = 1e-9 * max(1.0, abs(cycle[1]))
    inside = percent[(at >= first - eps) & (at <= last + eps)]
    if not series or inside.size < 2:
        raise ValueError(f"{result.directory}: the result's data "
                         + (f"({first:.4g}-{last:.4g} s) " if series else "")
                         + f"do not cover the gait cycle {cycle[0]:.4g}-{cycle[1]:.4g} s")
    return [float(inside[0]), float(inside[-1])]


def _missing(result: GaitResult, report: dict) -> list[str]:
    """What the report could not compare, and why, one sentence each."""
    missing = [f"{name} is not in the result folder" for name in result.missing_files]
    first, last = report["result_covers"]
    if (first, last) != (0.0, 100.0):
        missing.append(f"the result covers {first:.0f}-{last:.0f} % of the gait cycle; every "
                       "figure is over that part")
    if report["emg"] is not None:
        missing += [f"EMG channel {c}: " + (f"the result has none of {m}" if m else
                                             "no muscle of the model is mapped to it")
                    for c, m in report["emg"]["missing"].items()]
    if "missing" in report["metabolics"]:
        missing.append(f"cost of transport: {report['metabolics']['missing']}")
    if report["metabolics"]["speed"] is None:
        missing.append("walking speed: the result has no pelvis_tx")
    return missing


def _speed(coordinates: TimeSeries | None, cycle) -> float | None:
    """The result's walking speed [m/s], or None without `pelvis_tx`."""
    if coordinates is None or "pelvis_tx" not in coordinates.columns:
        return None
    return walking_speed(coordinates, _clip(cycle, coordinates.time))


def _clip(cycle, time) -> tuple[float, float]:
    """The part of `cycle` [s] within `time`'s range."""
    return max(cycle[0], float(time[0])), min(cycle[1], float(time[-1]))


def _stack(series: TimeSeries, names) -> np.ndarray:
    """`(n_rows, len(names))` columns of `series`."""
    return np.column_stack([series.columns[name] for name in names]) if names else \
        np.zeros((len(series.time), 0))


def _jsonable(x):
    """`x` with arrays as lists, numpy scalars as Python numbers, and NaN as None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x
