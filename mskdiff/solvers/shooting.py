r"""Shooting schemes: one rollout over the horizon, or segments joined by an augmented Lagrangian.

**Single shooting** (`SingleShooting`) simulates the whole horizon from the first state:
the only decision variables are the controls (and the first state when it is free).

**Multiple shooting** (`MultipleShooting`) cuts the horizon into $S$ segments, each from a
free start state, simulated in parallel (`mskdiff.solvers.problem`). The continuity defects
$c(x)$ are driven to zero by an augmented Lagrangian: inner minimisations of

$$\mathcal L(x) = f(x) + \lambda^\top c(x) + \tfrac{\rho}{2} \lVert c(x) \rVert^2,$$

each ended when the inner optimiser has converged (the objective's relative change) or after
`update_every` iterations. Then, when $\lVert c \rVert_\infty$ fell below `required_decrease`
times its value at the last multiplier step, the multipliers step, $\lambda \leftarrow
\lambda + \rho\, c$; otherwise the penalty grows, $\rho \leftarrow \min(\gamma \rho,
\rho_\max)$ (Nocedal & Wright, *Numerical Optimization*, Alg. 17.4). The optimiser's state
restarts with every update (the objective changed). The solve succeeds when an inner
minimisation has converged with $\lVert c \rVert_\infty \le$ the defect tolerance.

The segment starts begin on a rollout of the starting controls (continuous, zero defects):
$S - 1$ evaluations of the batched rollout, each continuing one more segment. Pass
`init=` to `solve_trajectory` to start them elsewhere, e.g. on a reference motion
(`StartStates.from_states(plant.init_batch(qpos, qvel))` at the segment starts).
"""

import equinox as eqx


class AbstractShooting(eqx.Module):
    """How the horizon is simulated, and how continuity between segments is enforced."""

    n_segments: eqx.AbstractVar[int]


class SingleShooting(AbstractShooting):
    """One rollout over the whole horizon (module docstring)."""

    n_segments: int = eqx.field(static=True, default=1, init=False)


class MultipleShooting(AbstractShooting):
    r"""Segments from free start states, joined by an augmented Lagrangian (module docstring).

    Attributes:
        n_segments: segments $S$ (must divide the horizon's steps), >= 2.
        penalty: the first penalty $\rho$.
        penalty_growth: $\gamma$, the factor on $\rho$ when the defects did not drop enough.
        max_penalty: $\rho_\max$.
        update_every: the most inner iterations between multiplier updates.
        required_decrease: the factor by which $\lVert c \rVert_\infty$ must fall since the
            last multiplier step for the multipliers to step (else $\rho$ grows).
    """

    n_segments: int = eqx.field(static=True)
    penalty: float = eqx.field(static=True, default=10.0)
    penalty_growth: float = eqx.field(static=True, default=10.0)
    max_penalty: float = eqx.field(static=True, default=1e8)
    update_every: int = eqx.field(static=True, default=25)
    required_decrease: float = eqx.field(static=True, default=0.25)

    def __check_init__(self):
        checks = {"n_segments": self.n_segments >= 2, "penalty": self.penalty > 0,
                  "penalty_growth": self.penalty_growth >= 1,
                  "max_penalty": self.max_penalty >= self.penalty,
                  "update_every": self.update_every >= 1,
                  "required_decrease": 0 < self.required_decrease <= 1}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"MultipleShooting: invalid {bad} (n_segments >= 2, penalty > 0, "
                             "penalty_growth >= 1, max_penalty >= penalty, update_every >= 1, "
                             "0 < required_decrease <= 1)")

