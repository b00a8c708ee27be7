"""Write muscle parameters into a copy of an OpenSim `.osim` model, leaving every other byte as it is.

The model is never re-serialised. Expat reports where each muscle and property starts in the original
bytes, and the new numbers are spliced in there. Whitespace, comments, attribute order, line endings
and the XML declaration stay byte-identical. Only the text between a changed property's tags differs,
and whitespace around that text is kept. A property whose text already reads as the requested value
is left alone, so writing a file's own values back reproduces the file byte for byte.

Numbers are written as `repr(float(x))`: the shortest decimal that reads back as the same float64, at
most 17 significant digits (`0.2`, `0.035450291324676`, `1e-05`, `10.0`). `load_osim` under x64 thus
returns exactly the value written. OpenSim itself writes `%.17g` (`0.035450291324676003`); it reads
both forms.

New bytes appear in one case only. OpenSim omits default-valued properties, so a muscle may lack the
property. It then gets a new `<name>value</name>` element just after its opening tag, preceded by a
copy of the whitespace that follows that tag (the line break and indentation of its first child).
The muscle's own value then takes precedence over the model's `<defaults>` and the class default, as
in OpenSim.

Fields are `MuscleParameters` field names, mapped to properties as `load_osim` maps them (see
`mskdiff.io.osim`). A field can be written where its property is a direct child of the muscle
element: every float field of `DeGrooteFregly2016Muscle` except `minimum_activation` (it has none),
Thelen's strains as `FmaxTendonStrain` and `FmaxMuscleStrain`, but not Millard's curve strains (nested
in `TendonForceLengthCurve` and `FiberForceLengthCurve`) nor fields a class does not have. Files must
use an ASCII-compatible encoding such as UTF-8 or Latin-1, because the spliced text is ASCII.
"""

import math
import os
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._checks import check_in_range, check_positive
from ..muscle.parameters import PARAMETER_FIELDS
from .osim import _PROPERTY_PATHS, _check_selection, _find_muscles, _read_model

#: Allowed range [low, high) of each field that may be 0. All other fields must be > 0, as
#: `MuscleParameters` requires.
_RANGES: dict[str, tuple[float, float]] = {
    "pennation_angle_at_optimal": (0.0, math.pi / 2),
    "fiber_damping": (0.0, math.inf),
    "minimum_activation": (0.0, 1.0),
}

#: A start or empty-element tag from '<' to '>' (a quoted attribute value may contain '>').
_START_TAG = re.compile(rb"""<(?:[^"'>]|"[^"]*"|'[^']*')*>""")
_WHITESPACE = re.compile(rb"[ \t\r\n]*")

#: A splice: replace `data[start:stop]` with the bytes.
_Edit = tuple[int, int, bytes]
#: Byte span of an element, from the '<' of its start tag to the '<' of its end tag.
_Span = tuple[int, int]


def write_osim_parameters(source: str | os.PathLike, destination: str | os.PathLike,
                          values: Mapping[str, Mapping[str, float] | Sequence[float]], *,
                          muscles: Sequence[str] | None = None) -> None:
    """Copy an OpenSim model with new muscle parameter values, changing only their text.

    The module docstring describes the fields that can be written, the number format and the one
    case where new bytes appear.

    Args:
        source: the `.osim` file to copy (str or `Path`). It is never modified.
        destination: the file to write (replaced if it exists). It must not be `source`.
        values: field -> {muscle name: value}, in SI units (N, m, rad, s; `max_contraction_velocity`
            in optimal fiber lengths per second). With `muscles`, field -> a sequence or array of
            shape `(len(muscles),)`, for example a `MuscleParameters` field.
        muscles: the names for the entries of sequence-valued `values`, in order. Default: `values`
            holds mappings.

    Raises:
        FileNotFoundError: there is no file at `source`.
        TypeError: `values` holds sequences without `muscles`, or `muscles` is a single string.
        ValueError: `source` is not XML, not an OpenSim model, or not in an ASCII-compatible
            encoding; `destination` is `source`; a field is unknown, or its property is nested or
            missing from a muscle's class; a muscle name is unknown or repeated; a value is
            non-finite or out of range (lengths, forces and time constants must be > 0); a property
            holds more than plain text.
    """
    source, destination = Path(source), Path(destination)
    columns = _as_columns(values, muscles)
    _check_values(columns)
    _read_model(source)
    if destination.exists() and destination.samefile(source):
        raise ValueError(f"refusing to overwrite the source model {source}; choose another destination")
    data = _read_bytes(source)
    root, spans = _parse_with_spans(data)
    found, unsupported = _find_muscles(root.find("Model"), source)
    names = list(dict.fromkeys(name for column in columns.values() for name in column))
    _check_selection(names, found, unsupported, source)
    _check_writable(columns, found, source)
    edits = [edit for field, column in columns.items() for name, value in column.items()
             if (edit := _edit(data, spans, found[name], field, value, source)) is not None]
    destination.write_bytes(_splice(data, edits))


def _as_columns(values: Mapping, muscles: Sequence[str] | None) -> dict[str, dict[str, float]]:
    """Convert `values` to field -> {muscle: float}, pairing sequences with `muscles`."""
    if muscles is None:
        sequences = [field for field, column in values.items() if not isinstance(column, Mapping)]
        if sequences:
            raise TypeError(f"`values` for {sequences} must map muscle names to values, or pass "
                            f"`muscles=` with the names in order")
        return {field: {str(n): float(v) for n, v in column.items()} for field, column in values.items()}
    if isinstance(muscles, str):
        raise TypeError(f"`muscles` must be a sequence of names, got the string {muscles!r}")
    names = [str(n) for n in muscles]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"`muscles` names some muscles more than once: {repeated}")
    columns = {}
    for field, column in values.items():
        x = np.asarray(column, dtype=float)
        if x.shape != (len(names),):
            raise ValueError(f"`{field}` must have shape ({len(names)},) to match `muscles`, got {x.shape}")
        columns[field] = dict(zip(names, x.tolist(), strict=True))
    return columns


def _check_values(columns: dict[str, dict[str, float]]) -> None:
    """Raise `ValueError` for unknown fields and for values that `load_osim` would reject."""
    unknown = [field for field in columns if field not in PARAMETER_FIELDS]
    if unknown:
        raise ValueError(f"unsupported field(s) {unknown}; supported: {list(PARAMETER_FIELDS)}")
    for field, column in columns.items():
        names, x = list(column), np.array(list(column.values()), dtype=float)
        if field in _RANGES:
            check_in_range(field, x, *_RANGES[field], names)
        else:
            check_positive(field, x, names)


def _read_bytes(path: Path) -> bytes:
    """Read the bytes of `path` and check that its encoding is ASCII-compatible (not UTF-16/32)."""
    data = path.read_bytes()
    if b"\x00" in data[:4]:
        raise ValueError(f"{path}: only ASCII-compatible encodings (UTF-8, Latin-1, ...) can be "
                         f"written, and this file looks like UTF-16 or UTF-32")
    return data


def _parse_with_spans(data: bytes) -> tuple[ET.Element, dict[ET.Element, _Span]]:
    """Build the element tree of `data` (without text) and each element's byte span.

    The spans are expat's `CurrentByteIndex` at the start and end events. For an empty element
    `<a/>`, the span ends just past the tag.
    """
    builder = ET.TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()
    open_elements: list[tuple[ET.Element, int]] = []
    spans: dict[ET.Element, _Span] = {}

    def start(tag: str, attributes: dict[str, str]) -> None:
        open_elements.append((builder.start(tag, attributes), parser.CurrentByteIndex))

    def end(tag: str) -> None:
        element, begin = open_elements.pop()
        spans[element] = (begin, parser.CurrentByteIndex)
        builder.end(tag)

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.Parse(data, True)
    return builder.close(), spans


def _check_writable(columns: dict[str, dict[str, float]], found: dict[str, ET.Element],
                    path: Path) -> None:
    """Raise `ValueError` for fields whose property a muscle's class nests or lacks."""
    problems = []
    for field, column in columns.items():
        by_class: dict[str, list[str]] = {}
        for name in column:
            by_class.setdefault(found[name].tag, []).append(name)
        for cls, names in by_class.items():
            tag = _PROPERTY_PATHS[cls].get(field, field)
            if tag is None:
                problems.append(f"{cls} has no property for `{field}` (muscles {names})")
            elif "/" in tag:
                problems.append(f"`{field}` of {cls} is the nested property {tag}, which is not "
                                f"written (muscles {names})")
    if problems:
        raise ValueError(f"{path}: cannot write " + "; ".join(problems))


def _edit(data: bytes, spans: dict[ET.Element, _Span], muscle: ET.Element, field: str,
          value: float, path: Path) -> _Edit | None:
    """Build the splice that sets `field` of `muscle`, or None if its text already reads `value`."""
    tag = _PROPERTY_PATHS[muscle.tag].get(field, field)
    where = f"{path}: muscle {muscle.get('name')!r}, <{tag}>"
    prop = muscle.find(tag)
    if prop is None:
        return _insertion(data, spans[muscle][0], tag, value, where)
    return _replacement(data, spans[prop], value, where)


def _insertion(data: bytes, muscle_start: int, tag: str, value: float, where: str) -> _Edit:
    """Insert `<tag>value</tag>` after the muscle's start tag, with the whitespace that follows it."""
    end = _start_tag_end(data, muscle_start, where)
    indent = _WHITESPACE.match(data, end).group()
    return end, end, indent + b"<%s>%s</%s>" % (tag.encode(), _format(value), tag.encode())


def _replacement(data: bytes, span: _Span, value: float, where: str) -> _Edit | None:
    """Replace a property's text, keeping the whitespace around it; None if it already reads `value`."""
    begin, end = _start_tag_end(data, span[0], where), span[1]
    content = data[begin:end]
    if b"<" in content or b"&" in content:
        raise ValueError(f"{where}: holds more than plain text: {content!r}")
    old = content.strip()
    if _read_float(old) == value:
        return None
    begin += len(content) - len(content.lstrip())
    return begin, begin + len(old), _format(value)


def _start_tag_end(data: bytes, start: int, where: str) -> int:
    """Find the index just past the start tag that begins at `start`; `ValueError` for `<a/>`."""
    tag = _START_TAG.match(data, start)
    if tag.group().endswith(b"/>"):
        raise ValueError(f"{where}: cannot write into an empty element: {data[start:start + 80]!r}")
    return tag.end()


def _format(value: float) -> bytes:
    """Format `value` as the shortest decimal that reads back as the same float64."""
    return repr(float(value)).encode()


def _read_float(text: bytes) -> float:
    """Parse a property's text as a float; NaN if it is not a number."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _splice(data: bytes, edits: list[_Edit]) -> bytes:
    """Apply non-overlapping edits to `data`; insertions at the same index keep their list order."""
    pieces, position = [], 0
    for start, stop, text in sorted(edits, key=lambda edit: edit[0]):
        pieces += [data[position:start], text]
        position = stop
    pieces.append(data[position:])
    return b"".join(pieces)
