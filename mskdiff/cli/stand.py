"""`mskdiff stand`: find, by `jax.grad` through the plant, the excitations that keep a leg model standing.

The problem is `mskdiff.solvers.standing.standing_problem` (hold the standing pose for
`--seconds` with muscles alone, elastic tendons and contact in the loop), solved by
`solve_trajectory` (L-BFGS, single shooting). The first guess, constant excitations of 0.1, lets
the model fall; the optimised excitations hold it. Writes to `--out`:

- `stand.json`: the run (result, iterations, evaluations, wall time, objective history and
  terms) and, for the first guess and the solution, the pelvis height (at the end, lowest)
  [m], the pelvis tilt from standing (at the end, largest) [deg] and the joint angles' RMS
  error from standing (over the horizon, at the end) [deg];
- `stand.npz`: `time` [s], `qpos` `[T, 2, nq]` (the solution and the first guess, side by
  side for `mskdiff render`), `excitation` and `activation` of the solution `[T, n_muscles]`,
  `muscle_names`;
- `stand.png`: objective history; joint-angle error and pelvis tilt of both; the solution's
  excitations;
- `stand.gif` with `--video` (the solution left, the first guess right).
"""

import json
import time
from pathlib import Path

import numpy as np


def add_parser(commands) -> None:
    """The `stand` subcommand's arguments."""
    parser = commands.add_parser("stand", help="optimise excitations so that a leg model stands",
                                 description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="myolegs26", help="a free-floating model (`mskdiff "
                        "models`), e.g. myolegs26 or myolegs (myoLeg)")
    parser.add_argument("--seconds", type=float, default=0.5, help="horizon [s]")
    parser.add_argument("--knot-interval", type=float, default=0.05,
                        help="between excitation knots [s]")
    parser.add_argument("--iterations", type=int, default=15, help="L-BFGS iterations at most")
    parser.add_argument("--out", default="mskdiff_out", help="output folder")
    parser.add_argument("--video", action="store_true", help="also write stand.gif")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=run)


def run(args) -> int:
    """`mskdiff stand`: solve, write the outputs, print the headline figures."""
    summary = run_stand(model=args.model, seconds=args.seconds, knot_interval=args.knot_interval,
                        iterations=args.iterations, out_dir=args.out, video=args.video,
                        progress=not args.no_progress)
    guess, solved = summary["first_guess"], summary["solution"]
    print(f"{summary['result']} after {summary['iterations']} iterations "
          f"({summary['evaluations']} gradients, {summary['wall_time_s']:.0f} s): pelvis height "
          f"at {summary['seconds']:g} s {solved['pelvis_height_end_m']:.3f} m (first guess "
          f"{guess['pelvis_height_end_m']:.3f} m, standing {summary['standing_height_m']:.3f} m); "
          f"pelvis tilt at the end {solved['pelvis_tilt_end_deg']:.1f} deg (first guess "
          f"{guess['pelvis_tilt_end_deg']:.1f} deg); joint angles' RMS error "
          f"{solved['pose_rms_deg']:.1f} deg (first guess {guess['pose_rms_deg']:.1f} deg)")
    print(f"wrote {summary['out_dir']}")
    return 0


def run_stand(*, model="myolegs26", seconds=0.5, knot_interval=0.05, iterations=15,
              out_dir="mskdiff_out", video=False, progress=True) -> dict:
    """Build, solve and report the standing problem (module docstring); returns `stand.json`'s dict."""
    import jax

    from .._solution import result_name
    from ..models import registry
    from ..solvers import solve_trajectory
    from ..solvers.standing import standing_problem

    model = registry.resolve(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plant = registry.load(model)
    mj_model = registry.host_mjmodel(model)
    problem = standing_problem(plant, mj_model, seconds=seconds, knot_interval=knot_interval)
    began = time.perf_counter()
    # Zero iterations evaluate the first guess with the program the solve then reuses.
    guess = solve_trajectory(problem, max_steps=0, progress=False, throw=False)
    solution = solve_trajectory(problem, max_steps=iterations, progress=progress, throw=False)
    wall = time.perf_counter() - began
    pose = np.asarray(problem.terms[0].values[0])
    solved, guessed = np.asarray(solution.trajectory.qpos), np.asarray(guess.trajectory.qpos)
    summary = {
        "model": model, "seconds": float(problem.horizon.duration),
        "knot_interval_s": knot_interval, "result": result_name(solution.result),
        "iterations": int(solution.stats["num_steps"]),
        "evaluations": int(solution.stats["num_evaluations"]) + 1, "wall_time_s": wall,
        "objective": float(solution.objective),
        "terms": {k: float(v) for k, v in solution.terms.items()},
        "objective_history": [float(x) for x in solution.stats["objective_history"]],
        "standing_height_m": float(pose[2]), "standing_pose": pose.tolist(),
        "first_guess": _motion_figures(mj_model, guessed, pose),
        "solution": _motion_figures(mj_model, solved, pose),
        "device": jax.devices()[0].device_kind, "out_dir": str(out_dir),
    }
    t = problem.horizon.dt * np.arange(1, problem.horizon.n_steps + 1)
    np.savez_compressed(
        out_dir / "stand.npz", model=model, time=t,
        qpos=np.stack([solved, guessed], axis=1),
        excitation=np.asarray(solution.excitation),
        activation=np.asarray(solution.trajectory.muscle.activation),
        muscle_names=np.asarray(plant.muscle_names))
    _plot(out_dir / "stand.png", mj_model, t, summary, solved, guessed,
          np.asarray(solution.excitation), plant.muscle_names)
    if video:
        from .render import write_video

        summary["video"] = str(write_video(out_dir / "stand.npz", out_dir / "stand.gif",
                                           env="all")["video"])
    (out_dir / "stand.json").write_text(json.dumps(summary, indent=1))
    return summary


def _hinges(mj_model) -> list[int]:
    import mujoco

    return [int(mj_model.jnt_qposadr[j]) for j in range(mj_model.njnt)
            if mj_model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]


def _pose_error_deg(mj_model, qpos: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """RMS over the hinge joints of the error from `pose` [deg], per step."""
    hinges = _hinges(mj_model)
    return np.sqrt(np.mean(np.degrees(qpos[:, hinges] - pose[hinges]) ** 2, axis=1))


def _pelvis_tilt_deg(mj_model, qpos: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """The pelvis's rotation from its standing orientation [deg], per step."""
    from ..solvers.gait_tracking import root_joint

    adr = int(mj_model.jnt_qposadr[root_joint(mj_model)]) + 3
    quat = qpos[:, adr:adr + 4] / np.linalg.norm(qpos[:, adr:adr + 4], axis=1, keepdims=True)
    cosine = np.abs(quat @ pose[adr:adr + 4] / np.linalg.norm(pose[adr:adr + 4]))
    return np.degrees(2 * np.arccos(np.clip(cosine, 0.0, 1.0)))


def _motion_figures(mj_model, qpos: np.ndarray, pose: np.ndarray) -> dict:
    """Pelvis height at the end and lowest [m], pelvis tilt and pose error [deg]."""
    from ..solvers.gait_tracking import root_joint

    height = qpos[:, int(mj_model.jnt_qposadr[root_joint(mj_model)]) + 2]
    tilt = _pelvis_tilt_deg(mj_model, qpos, pose)
    error = _pose_error_deg(mj_model, qpos, pose)
    return {"pelvis_height_end_m": float(height[-1]), "pelvis_height_min_m": float(height.min()),
            "pelvis_tilt_end_deg": float(tilt[-1]), "pelvis_tilt_max_deg": float(tilt.max()),
            "pose_rms_deg": float(np.sqrt(np.mean(error**2))), "pose_rms_end_deg": float(error[-1])}


def _plot(path, mj_model, t, summary, solved, guess, excitation, muscle_names) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pose = np.asarray(summary["standing_pose"])
    fig, axes = plt.subplots(1, 4, figsize=(17, 4), constrained_layout=True)
    axes[0].semilogy(summary["objective_history"], marker="o")
    axes[0].set(title="objective", xlabel="L-BFGS iteration")
    for ax, quantity, title in ((axes[1], _pose_error_deg, "joint angles: RMS error from standing"),
                                (axes[2], _pelvis_tilt_deg, "pelvis tilt from standing")):
        ax.plot(t, quantity(mj_model, guess, pose), label="first guess (excitations 0.1)")
        ax.plot(t, quantity(mj_model, solved, pose), label="optimised")
        ax.set(title=title, xlabel="time [s]", ylabel="deg")
    axes[1].legend()
    image = axes[3].imshow(excitation.T, aspect="auto", origin="lower", vmin=0, vmax=1,
                           extent=(t[0], t[-1], -0.5, len(muscle_names) - 0.5), cmap="viridis")
    axes[3].set_yticks(range(len(muscle_names)), muscle_names, fontsize=6)
    axes[3].set(title="optimised excitations", xlabel="time [s]")
    fig.colorbar(image, ax=axes[3])
    fig.suptitle(f"mskdiff stand: {summary['model']}, {summary['result']}, "
                 f"{summary['iterations']} iterations, {summary['wall_time_s']:.0f} s")
    fig.savefig(path, dpi=90)
    plt.close(fig)
