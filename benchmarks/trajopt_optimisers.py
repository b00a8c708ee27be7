"""Optimisers for `solve_trajectory`, on the tiny-leg tracking problem of `tests/test_trajectory.py`.

Runs host L-BFGS, Adam at three rates (single shooting), both on 2-segment multiple shooting,
and `optax.lbfgs` (zoom line search inside one jitted step) for N iterations each, float64 on
CPU, and records iterations and seconds to 1e-2, 1e-3 and 1e-4 of the starting objective, the
final error against the known motion and the largest defect (`docs/trajectory.md` quotes it).

    python benchmarks/trajopt_optimisers.py 100 --out benchmarks/trajopt_optimisers_cpu.json
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["XLA_FLAGS"] = "--xla_backend_optimization_level=0"  # as the tests compile it

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from device import device_info  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_trajectory  # noqa: E402

from mskdiff.solvers import (  # noqa: E402
    LBFGS,
    MultipleShooting,
    SingleShooting,
    objective_and_gradient,
    solve_trajectory,
)
from mskdiff.solvers.problem import evaluate  # noqa: E402


def summary(name, shooting, history, evaluations, wall, iterations, error, start, defect=0.0):
    """One row: iterations and seconds to 1e-2, 1e-3, 1e-4 of the starting objective."""
    row = {"optimiser": name, "shooting": shooting, "iterations": iterations,
           "evaluations": evaluations, "wall_s": round(wall, 2),
           "final": float(history[-1] / start), "qpos_err": error, "defect": defect}
    for level in (1e-2, 1e-3, 1e-4):
        hit = np.flatnonzero(np.asarray(history) <= level * start)
        row[f"iters_to_{level:g}"] = int(hit[0]) if hit.size else None
        row[f"s_to_{level:g}"] = round(wall * hit[0] / iterations, 2) if hit.size else None
    print(json.dumps(row), flush=True)
    return row


def optax_lbfgs(problem, truth, n, start):
    """`optax.lbfgs` with its zoom line search, all inside one jitted step."""
    transform = optax.lbfgs()

    @eqx.filter_jit
    def step(variables, state, problem):
        fn = lambda x: evaluate(problem, x).objective  # noqa: E731
        value, grad = optax.value_and_grad_from_state(fn)(variables, state=state)
        updates, state = transform.update(grad, state, variables, value=value, grad=grad,
                                          value_fn=fn)
        return optax.apply_updates(variables, updates), state, value

    variables = problem.variables()
    state = transform.init(variables)
    began = time.time()
    step.lower(variables, state, problem).compile()
    compile_s = time.time() - began
    history, began = [], time.time()
    for _ in range(n):
        variables, state, value = step(variables, state, problem)
        history.append(float(value))
    final = objective_and_gradient(problem, variables)[2]
    history.append(float(final.objective))
    error = float(jnp.max(jnp.abs(final.motion.trajectory.qpos - truth)))
    return summary(f"optax.lbfgs (zoom, jitted; compile {compile_s:.0f} s)", "SingleShooting",
                   history, None, time.time() - began, n, error, start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("iterations", type=int)
    parser.add_argument("--out", type=Path, default=Path("trajopt_optimisers_cpu.json"))
    args = parser.parse_args()
    problem, truth = test_trajectory.tracking.__wrapped__(test_trajectory.setup.__wrapped__())
    start = float(objective_and_gradient(problem, problem.variables())[2].objective)
    rows = []
    for name, optimiser, shooting in [
            ("LBFGS (host Wolfe)", LBFGS(), SingleShooting()),
            ("adam 1e-2", optax.adam(1e-2), SingleShooting()),
            ("adam 3e-2", optax.adam(3e-2), SingleShooting()),
            ("adam 1e-1", optax.adam(1e-1), SingleShooting()),
            ("LBFGS (host Wolfe)", LBFGS(), MultipleShooting(2)),
            ("adam 3e-2", optax.adam(3e-2), MultipleShooting(2))]:
        objective_and_gradient(problem, problem.variables(shooting.n_segments))  # compile first
        began = time.time()
        solution = solve_trajectory(problem, shooting=shooting, optimiser=optimiser,
                                    max_steps=args.iterations, progress=False, throw=False,
                                    rtol=0.0, atol=0.0, defect_tolerance=1e-6)
        error = float(jnp.max(jnp.abs(solution.trajectory.qpos - truth)))
        rows.append(summary(name, type(shooting).__name__, solution.stats["objective_history"],
                            solution.stats["num_evaluations"], time.time() - began,
                            solution.stats["num_steps"], error, start,
                            solution.stats["max_defect"]))
    rows.append(optax_lbfgs(problem, truth, args.iterations, start))
    args.out.write_text(json.dumps({"device": device_info(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
