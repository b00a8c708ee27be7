r"""Optimisers for `solve_trajectory`: one accepted step per iteration, run from the host.

Every evaluation of the objective is one call of a single compiled program (the rollout's
value, gradient and the motion): the optimisers below never trace the rollout themselves, so a
problem compiles its rollout once, whatever the optimiser, the line search or the number of
evaluations per iteration. Their own programs are small vector operations.

- `LBFGS`: the limited-memory BFGS direction of `optax.scale_by_lbfgs` with a weak-Wolfe line
  search run on the host (bisection/doubling: Armijo decrease $f(x + \alpha d) \le f(x) +
  c_1 \alpha\, g^\top d$ and curvature $g(x + \alpha d)^\top d \ge c_2\, g^\top d$), which
  keeps every memory pair's curvature $s^\top y$ positive. Trial points whose rollout went
  non-finite count as too long a step. After a (re)start the memory is empty and the first
  trial step has length `initial_step` along $-g$ (later ones take the L-BFGS step, $\alpha = 1$).
- `OptaxOptimiser`: any first-order `optax` transformation (e.g. `optax.adam(1e-2)`), one
  evaluation per iteration.

`docs/trajectory.md` compares the two on the tiny-leg tracking problem.
"""

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import PyTree


@dataclasses.dataclass(frozen=True)
class Point:
    """An evaluated iterate (host side).

    Attributes:
        variables: the decision variables.
        value: the objective being minimised there.
        grad: its gradient (a pytree like `variables`).
        aux: whatever else the evaluation returned.
    """

    variables: PyTree
    value: float
    grad: PyTree
    aux: Any


class AbstractOptimiser(eqx.Module):
    """Takes one accepted step per `step` call, evaluating through `evaluate`."""

    @abc.abstractmethod
    def init(self, variables: PyTree) -> PyTree:
        """The optimiser's state at `variables` (also its restart)."""

    @abc.abstractmethod
    def step(self, evaluate: Callable[[PyTree], Point], point: Point, state: PyTree
             ) -> tuple[Point, PyTree, int, bool]:
        """`(new point, new state, evaluations used, stalled)`.

        `stalled` is True when no step decreased the objective (the point is returned as is).
        """


@eqx.filter_jit
def _vdot(a: PyTree, b: PyTree):
    return optax.tree.vdot(a, b)


@eqx.filter_jit
def _move(variables: PyTree, direction: PyTree, step):
    return eqx.apply_updates(variables, jax.tree.map(lambda d: step * d, direction))


@eqx.filter_jit
def _lbfgs_direction(memory_size: int, grad: PyTree, state, variables: PyTree):
    """The L-BFGS descent direction (minus the preconditioned gradient) and the new state."""
    update, state = optax.scale_by_lbfgs(memory_size).update(grad, state, variables)
    return jax.tree.map(jnp.negative, update), state


class LBFGS(AbstractOptimiser):
    """L-BFGS with a host-side weak-Wolfe line search (module docstring).

    Attributes:
        memory_size: curvature pairs kept.
        max_linesearch_steps: trial points per iteration before giving up.
        armijo: $c_1$, the sufficient-decrease constant.
        curvature: $c_2$, the curvature constant ($c_1 < c_2 < 1$).
        initial_step: length of the first trial step with an empty memory (in the variables'
            units: latent excitations, normalised residuals, states).
    """

    memory_size: int = eqx.field(static=True, default=10)
    max_linesearch_steps: int = eqx.field(static=True, default=20)
    armijo: float = eqx.field(static=True, default=1e-4)
    curvature: float = eqx.field(static=True, default=0.9)
    initial_step: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        if not 0 < self.armijo < self.curvature < 1:
            raise ValueError(f"LBFGS needs 0 < armijo < curvature < 1, got {self.armijo}, "
                             f"{self.curvature}")

    def init(self, variables: PyTree) -> PyTree:
        """An empty memory."""
        return optax.scale_by_lbfgs(self.memory_size).init(variables)

    def step(self, evaluate, point, state):
        """One line search along the L-BFGS direction (restarted along -g if not descent)."""
        if not float(_vdot(point.grad, point.grad)) > 0:
            return point, state, 0, True
        fresh = int(state.count) == 0
        direction, new_state = _lbfgs_direction(self.memory_size, point.grad, state,
                                                point.variables)
        slope = float(_vdot(point.grad, direction))
        if not slope < 0:  # a stale memory: restart from the gradient
            fresh, state = True, self.init(point.variables)
            direction, new_state = _lbfgs_direction(self.memory_size, point.grad, state,
                                                    point.variables)
            slope = float(_vdot(point.grad, direction))
        state = new_state
        alpha = self.initial_step / math.sqrt(float(_vdot(direction, direction))) if fresh else 1.0
        low, high, armijo_point, used = 0.0, math.inf, None, 0
        for _ in range(self.max_linesearch_steps):
            trial = evaluate(_move(point.variables, direction, jnp.asarray(alpha)))
            used += 1
            if not (math.isfinite(trial.value)
                    and trial.value <= point.value + self.armijo * alpha * slope):
                high = alpha
            elif float(_vdot(trial.grad, direction)) < self.curvature * slope:
                low, armijo_point = alpha, trial
            else:
                return trial, state, used, False
            alpha = 0.5 * (low + high) if math.isfinite(high) else 2.0 * low
        if armijo_point is not None:  # decrease without curvature: accept, forget the memory
            return armijo_point, self.init(armijo_point.variables), used, False
        return point, self.init(point.variables), used, True


@eqx.filter_jit
def _optax_update(transform: optax.GradientTransformation, grad, state, variables):
    updates, state = transform.update(grad, state, variables)
    return eqx.apply_updates(variables, updates), state


class OptaxOptimiser(AbstractOptimiser):
    """A first-order optax transformation, e.g. `OptaxOptimiser(optax.adam(1e-2))`.

    Attributes:
        transform: the transformation (its `update` takes the gradient, state and variables).
    """

    transform: optax.GradientTransformation = eqx.field(static=True)

    def init(self, variables: PyTree) -> PyTree:
        """The transformation's state."""
        return self.transform.init(variables)

    def step(self, evaluate, point, state):
        """One update, then the evaluation of the new point."""
        variables, state = _optax_update(self.transform, point.grad, state, point.variables)
        return evaluate(variables), state, 1, False
