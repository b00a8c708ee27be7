"""OpenSim motion files: `.mot`/`.sto` tables (read and write) and `.trc` marker files (read).

A table has a header that ends with the line `endheader`, a line of column labels (the first is
time), then one line of numbers per time, separated by tabs (or by spaces, on lines without a
tab). Header lines are `key=value` (OpenSim 4's `version=3` TimeSeriesTable files and version 1
Storage files: `version=1`, `nRows`, `nColumns` with the time column, `inDegrees=yes|no`), or
`key value` in old SIMM files (`datarows`, `datacolumns`, `range`, `name`); the first line of a
Storage file names it. Declared row and column counts are checked against the file.

`write_table` writes OpenSim's version 1 Storage layout (as `grf_walk.mot` and OpenSim's
inverse-kinematics `.mot` files have it), which `opensim.Storage` and `opensim.TimeSeriesTable`
both read. Numbers are written as the shortest decimal that reads back as the same float64
(`repr`), or with `precision` significant digits; `read_table` returns exactly the numbers
written.

A `.trc` file has five header lines (`PathFileType`, a line of keys such as `DataRate` and
`Units` and a line of their values, `Frame#`/`Time`/marker names, `X1 Y1 Z1 ...`), then one line
per frame: frame number, time, and X, Y, Z of each marker; an empty field is a missing value.

Malformed files raise `ValueError` naming the file and the line (and the column, for a field that
is not a number).
"""

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import check_shape

#: `key value` header lines of SIMM-era `.mot` files.
_SIMM_KEYS = ("datarows", "datacolumns", "range", "name")
#: Header keys that declare the number of rows, and of columns (time included).
_ROW_KEYS, _COLUMN_KEYS = ("nRows", "datarows"), ("nColumns", "datacolumns")


@dataclass(frozen=True, eq=False)
class MotionTable:
    """The contents of a `.mot` or `.sto` file.

    Attributes:
        time: `(n_rows,)` values of the first column [s].
        labels: the labels of the other columns, `n_columns` of them.
        values: `(n_rows, n_columns)`, as in the file (degrees for rotations where `in_degrees`).
        metadata: the header's `key=value` (and SIMM `key value`) lines, keys as written.
        name: the header's first line where it is not a `key=value` line, else ''.
        in_degrees: the header's `inDegrees` (False where absent, as OpenSim assumes).
    """

    time: np.ndarray
    labels: tuple[str, ...]
    values: np.ndarray
    metadata: dict[str, str]
    name: str
    in_degrees: bool

    def column(self, label: str) -> np.ndarray:
        """The `(n_rows,)` values of the column `label`."""
        if label not in self.labels:
            raise KeyError(f"no column {label!r}; available: {list(self.labels)}")
        return self.values[:, self.labels.index(label)]


@dataclass(frozen=True, eq=False)
class MarkerTable:
    """The contents of a `.trc` file.

    Attributes:
        frame: `(n_frames,)` frame numbers.
        time: `(n_frames,)` [s].
        markers: the marker names, `n_markers` of them.
        values: `(n_frames, n_markers, 3)` X, Y, Z in `units`; NaN where a marker is missing.
        units: the `Units` of the header ('mm' or 'm').
        metadata: the header's keys (second line) and values (third line).
    """

    frame: np.ndarray
    time: np.ndarray
    markers: tuple[str, ...]
    values: np.ndarray
    units: str
    metadata: dict[str, str]

    def marker(self, name: str) -> np.ndarray:
        """The `(n_frames, 3)` positions of the marker `name`, in `units`."""
        if name not in self.markers:
            raise KeyError(f"no marker {name!r}; available: {list(self.markers)}")
        return self.values[:, self.markers.index(name)]


def read_table(path: str | os.PathLike) -> MotionTable:
    """Read an OpenSim `.mot` or `.sto` file (see the module docstring for the format).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: no `endheader` line, no column labels, duplicate labels, a row with the wrong
            number of values, a value that is not a number, an `inDegrees` other than yes/no, or
            declared counts that differ from the file's (the message names the file and line).
    """
    path = Path(path)
    lines = _read_lines(path)
    end = _endheader_line(lines, path)
    name, metadata = _parse_header(lines[:end])
    body = [(number, line) for number, line in enumerate(lines[end + 1:], start=end + 2)
            if line.strip()]
    if not body:
        raise ValueError(f"{path}: no column labels after 'endheader' (line {end + 1})")
    (label_line, header), rows = body[0], body[1:]
    labels = _split(header)
    if len(set(labels)) != len(labels):
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        raise ValueError(f"{path}: line {label_line}: duplicate column labels {duplicates}")
    values = np.array([_numbers(line, number, labels, path) for number, line in rows],
                      dtype=float).reshape(len(rows), len(labels))
    _check_declared(metadata, _ROW_KEYS, len(rows), "rows", path)
    _check_declared(metadata, _COLUMN_KEYS, len(labels), "columns (time included)", path)
    return MotionTable(time=values[:, 0], labels=tuple(labels[1:]), values=values[:, 1:],
                       metadata=metadata, name=name, in_degrees=_in_degrees(metadata, path))


def read_trc(path: str | os.PathLike) -> MarkerTable:
    """Read an OpenSim `.trc` marker file (see the module docstring for the format).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: a missing or malformed header line, a row with more values than markers, a
            value that is not a number, or `NumMarkers`/`NumFrames` that differ from the file's
            (the message names the file and line).
    """
    path = Path(path)
    lines = _read_lines(path)
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise ValueError(f"{path}: not a .trc file (expected 5 header lines, the first "
                         f"'PathFileType ...')")
    keys, entries = lines[1].split(), lines[2].split()
    if len(keys) != len(entries):
        raise ValueError(f"{path}: line 3: {len(entries)} values for the {len(keys)} keys of line 2")
    metadata = dict(zip(keys, entries, strict=True))
    if "Units" not in metadata:
        raise ValueError(f"{path}: line 2: no 'Units' key")
    markers = [field.strip() for field in lines[3].split("\t")[2:] if field.strip()]
    columns = ["Frame#", "Time", *(f"{m}.{axis}" for m in markers for axis in "XYZ")]
    rows = [_trc_numbers(line, number, columns, path)
            for number, line in enumerate(lines[5:], start=6) if line.strip()]
    values = np.array(rows, dtype=float).reshape(len(rows), len(columns))
    _check_declared(metadata, ("NumMarkers",), len(markers), "markers", path)
    _check_declared(metadata, ("NumFrames",), len(rows), "frames", path)
    return MarkerTable(frame=values[:, 0].astype(int), time=values[:, 1], markers=tuple(markers),
                       values=values[:, 2:].reshape(len(rows), len(markers), 3),
                       units=metadata["Units"], metadata=metadata)


def write_table(path: str | os.PathLike, time, labels: Sequence[str], values, *,
                in_degrees: bool = False, precision: int | None = None) -> None:
    """Write a table in OpenSim's version 1 Storage layout (`.mot` or `.sto`).

    Args:
        path: the file to write; its stem names the table (the header's first line).
        time: `(n_rows,)` [s].
        labels: the column labels after `time`, as OpenSim names them.
        values: `(n_rows, n_columns)`, one column per label.
        in_degrees: the header's `inDegrees` (whether rotations are in degrees).
        precision: significant digits; None writes the shortest decimal that reads back exactly.

    Raises:
        ValueError: shapes that do not match, or labels that are empty, repeated, `time`, or hold
            a tab or line break.
    """
    path = Path(path)
    time, values = np.asarray(time, dtype=float), np.asarray(values, dtype=float)
    _check_labels(labels)
    check_shape("time", time, (len(time),))
    check_shape("values", values, (len(time), len(labels)))
    number = repr if precision is None else (lambda x: f"{x:.{precision}g}")
    header = [path.stem, "version=1", f"nRows={len(time)}", f"nColumns={len(labels) + 1}",
              f"inDegrees={'yes' if in_degrees else 'no'}", "endheader", "\t".join(["time", *labels])]
    rows = ("\t".join(number(float(x)) for x in row)
            for row in np.column_stack([time, values]))
    path.write_text("\n".join([*header, *rows]) + "\n")


def _check_labels(labels: Sequence[str]) -> None:
    """Raise `ValueError` for labels a table cannot hold."""
    if isinstance(labels, str):
        raise TypeError(f"`labels` must be a sequence of names, got the string {labels!r}")
    bad = [label for label in labels
           if not label or label == "time" or any(c in label for c in "\t\r\n")]
    if bad:
        raise ValueError(f"column labels must be non-empty, not 'time', without tabs or line "
                         f"breaks; offending: {bad}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"column labels must be unique; repeated: "
                         f"{sorted({label for label in labels if list(labels).count(label) > 1})}")


def _read_lines(path: Path) -> list[str]:
    """The file's lines, without line ends."""
    if not path.is_file():
        raise FileNotFoundError(f"motion file not found: {path}")
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _endheader_line(lines: list[str], path: Path) -> int:
    """Index of the `endheader` line."""
    for index, line in enumerate(lines):
        if line.strip().lower() == "endheader":
            return index
    raise ValueError(f"{path}: no 'endheader' line (an OpenSim .mot/.sto header ends with one)")


def _parse_header(lines: list[str]) -> tuple[str, dict[str, str]]:
    """`(name, metadata)` of the lines before `endheader`."""
    name, metadata = "", {}
    for index, line in enumerate(lines):
        key, sep, value = line.partition("=")
        simm_key, _, simm_value = line.strip().partition(" ")
        if sep:
            metadata[key.strip()] = value.strip()
        elif simm_key in _SIMM_KEYS:
            metadata[simm_key] = simm_value.strip()
            name = metadata.get("name", name)
        elif index == 0:
            name = line.strip()
    return name, metadata


def _split(line: str) -> list[str]:
    """Fields of a line: tab-separated where it has a tab, else whitespace-separated."""
    if "\t" in line:
        return [field.strip() for field in line.rstrip().split("\t")]
    return line.split()


def _numbers(line: str, number: int, labels: list[str], path: Path) -> list[float]:
    """The numbers of one table row, one per label."""
    fields = _split(line)
    if len(fields) != len(labels):
        raise ValueError(f"{path}: line {number}: {len(fields)} values, expected {len(labels)} "
                         f"(one per column label)")
    return [_number(text, number, label, path) for text, label in zip(fields, labels, strict=True)]


def _trc_numbers(line: str, number: int, columns: list[str], path: Path) -> list[float]:
    """The numbers of one `.trc` row; empty and trailing missing fields are NaN."""
    fields = [field.strip() for field in line.split("\t")]
    while len(fields) > len(columns) and not fields[-1]:
        fields.pop()
    if len(fields) > len(columns) or len(fields) < 2:
        raise ValueError(f"{path}: line {number}: {len(fields)} values, expected {len(columns)} "
                         f"(frame, time and X, Y, Z of {(len(columns) - 2) // 3} markers)")
    fields += [""] * (len(columns) - len(fields))
    return [math.nan if not text and column not in ("Frame#", "Time")
            else _number(text, number, column, path)
            for text, column in zip(fields, columns, strict=True)]


def _number(text: str, number: int, column: str, path: Path) -> float:
    """`text` as a float; `ValueError` naming the file, line and column otherwise."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: line {number}, column {column!r}: not a number: {text!r}") from None


def _check_declared(metadata: dict[str, str], keys: Sequence[str], actual: int, what: str,
                    path: Path) -> None:
    """Raise `ValueError` if a header count (the first of `keys` present) differs from `actual`."""
    key = next((k for k in keys if k in metadata), None)
    if key is None:
        return
    declared = metadata[key]
    if not declared.isdigit() or int(declared) != actual:
        raise ValueError(f"{path}: the header declares {key}={declared}, the file has {actual} {what}")


def _in_degrees(metadata: dict[str, str], path: Path) -> bool:
    """The header's `inDegrees` flag."""
    flag = metadata.get("inDegrees", "no").lower()
    if flag not in ("yes", "no"):
        raise ValueError(f"{path}: inDegrees must be yes or no, got {metadata['inDegrees']!r}")
    return flag == "yes"
