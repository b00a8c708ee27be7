"""The muscle layer's solves report how they ended: `RESULTS` from per-muscle flags."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._solution import RESULTS, Solution


def solve_result(converged, bracketed=True, finite=True) -> RESULTS:
    """One result for a vectorised solve from per-muscle flags (every muscle must pass).

    Priority: `root_not_bracketed`, then `nonfinite_state`, then `max_steps_reached`.
    """
    return RESULTS.where(
        ~jnp.all(bracketed), RESULTS.root_not_bracketed,
        RESULTS.where(~jnp.all(finite), RESULTS.nonfinite_state,
                      RESULTS.where(jnp.all(converged), RESULTS.successful,
                                    RESULTS.max_steps_reached)))


def solved(value, num_steps, max_steps: int, converged, bracketed=True,
           finite=True) -> Solution:
    """A `Solution` with `stats = {num_steps, max_steps}` (steps of the slowest muscle).

    `nonfinite_state` where `finite` is false or a leaf of `value` is not finite.
    """
    finite = jnp.all(finite) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(value) if eqx.is_inexact_array(x)],
        dtype=bool))
    return Solution(value, solve_result(converged, bracketed, finite),
                    {"num_steps": jnp.max(jnp.asarray(num_steps)),
                     "max_steps": jnp.asarray(max_steps, dtype=int)})


def no_solve(value) -> Solution:
    """The `Solution` of a formulation with nothing to solve: successful in 0 steps."""
    return solved(value, 0, 0, True)
