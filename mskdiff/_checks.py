"""Input validation shared by the library: clear errors at construction, not deep inside jit."""

from collections.abc import Sequence

import jax
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds values (not a tracer), so value checks can run."""
    return not isinstance(x, jax.core.Tracer)


def check_shape(field: str, x, shape: tuple[int, ...]) -> None:
    """Raise `ValueError` naming `field` if `x` does not have `shape`."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"`{field}` must have shape {shape}, got {tuple(x.shape)}")


def check_positive(field: str, x, names: Sequence[str]) -> None:
    """Raise `ValueError` naming `field` and the offending muscles unless all `x > 0`."""
    if not is_concrete(x):
        return
    value = np.asarray(x)
    bad = ~(np.isfinite(value) & (value > 0))
    if bad.any():
        offending = [n for n, b in zip(names, bad, strict=True) if b]
        raise ValueError(f"`{field}` must be > 0 and finite; offending muscles: {offending}")


def check_in_range(field: str, x, low: float, high: float, names: Sequence[str]) -> None:
    """Raise `ValueError` unless `low <= x < high` for every muscle."""
    if not is_concrete(x):
        return
    value = np.asarray(x)
    bad = ~((value >= low) & (value < high))
    if bad.any():
        offending = [n for n, b in zip(names, bad, strict=True) if b]
        raise ValueError(
            f"`{field}` must lie in [{low}, {high}); offending muscles: {offending}"
        )


def lookup_names(requested: Sequence[str], available: Sequence[str], what: str) -> list[int]:
    """Indices of `requested` in `available`; unknown names raise with the valid options."""
    index = {name: i for i, name in enumerate(available)}
    unknown = [n for n in requested if n not in index]
    if unknown:
        raise ValueError(
            f"unknown {what} name(s) {unknown}; available: {sorted(available)}"
        )
    return [index[n] for n in requested]
