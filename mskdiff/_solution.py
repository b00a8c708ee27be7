"""How every iterative solve in mskdiff ends: `RESULTS`, the `Solution` shape, and `throw`.

Follows Diffrax and Optimistix: a solver returns a `Solution` whose `result` is a `RESULTS`
item (an array under `jit`), with `stats` (at least `num_steps`); with `throw=True` a failure
becomes an `eqx.error_if` error inside `jit` (`EquinoxRuntimeError`, message = the result's
text); with `throw=False` it stays in `result`, so vmapped sweeps keep going.

This module is the bottom of the layer stack (muscle solvers use it), so it imports nothing
from mskdiff.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Bool, PyTree


class RESULTS(optx.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Result codes of mskdiff's solvers (Optimistix's, plus the ones below)."""

    successful = ""
    max_steps_reached = "The maximum number of solver steps was reached. Try increasing `max_steps`."
    root_not_bracketed = (
        "The root is not bracketed: the residual has the same sign at both ends of the search "
        "interval (no equilibrium in the curves' domain for this input)."
    )
    nonfinite_state = "A state became non-finite (NaN or inf) during the solve."
    nonfinite_gradient = (
        "The objective was finite but its gradient was not (NaN or inf) at an accepted point; "
        "the solution's stats say in which variables."
    )
    data_not_reproduced = (
        "The solver stopped, but the fitted model does not reproduce the data: the residual is "
        "above the tolerance set for a fit (a local minimum, or a model that cannot fit them)."
    )


def is_successful(result: RESULTS) -> Bool[Array, ""]:
    """True where `result` is `RESULTS.successful` (an array; works under `jit` and `vmap`)."""
    return result == RESULTS.successful


def result_name(result: RESULTS) -> str:
    """The member name of a concrete (not traced) result, e.g. `'max_steps_reached'`."""
    index = int(jnp.asarray(result._value))
    for name, item in RESULTS._name_to_item.items():
        if int(item._value) == index:
            return name
    raise ValueError(f"unknown result index {index}")


def maybe_throw(value: PyTree, result: RESULTS, throw: bool) -> PyTree:
    """Return `value`; with `throw`, raise inside `jit` (`eqx.error_if`) when `result` failed."""
    if not throw:
        return value
    leaves, treedef = jax.tree_util.tree_flatten(value)
    inexact = [i for i, leaf in enumerate(leaves) if eqx.is_inexact_array(leaf)]
    if not inexact:
        return value
    first = inexact[0]
    leaves[first] = result.error_if(leaves[first], ~is_successful(result))
    return jax.tree_util.tree_unflatten(treedef, leaves)


class Solution(eqx.Module):
    """What every mskdiff solver returns.

    Attributes:
        value: the solution (parameters, a state, a trajectory: per solver).
        result: a `RESULTS` item; `RESULTS.successful` when the solve met its criteria.
        stats: at least `num_steps` (steps taken) and `max_steps`; solvers add their own.
    """

    value: PyTree
    result: RESULTS
    stats: dict[str, Any]

    @property
    def succeeded(self) -> Bool[Array, ""]:
        """`result == RESULTS.successful`, as an array."""
        return is_successful(self.result)
