"""`mskdiff track`: track a measured gait with a leg model by direct shooting (elastic tendons).

The problem is `mskdiff.solvers.gait_tracking.tracking_problem` (coordinates, ground reactions,
effort, pelvis residuals), solved by `solve_trajectory` with single or multiple shooting.
Writes to `--out`:

- `track.json`: every figure of the solution (`tracking_figures`), the run (iterations, result,
  wall time, objective terms, largest defect) and the reference's mapping (floor offset,
  coordinates the model lacks);
- `track.npz`: `time`, `qpos` `[T, 2, nq]` (the solution and the reference, side by side for
  `mskdiff render`), `excitation`, `activation`, `residual_forces`, `grf`, `grf_reference`;
- `track.png`: objective history, coordinates against the reference, vertical GRF per foot;
- `opensim/`: the solution as OpenSim files with `result.json`, and `opensim/report/` from
  `mskdiff gait-report`;
- `checkpoint.eqx` every `--checkpoint-every` iterations (`--resume` continues from it);
- `track.gif`/`.mp4` with `--video`.
"""

import dataclasses
import json
import time
from functools import partial
from pathlib import Path

import numpy as np

#: The walking trial's window with both coordinates and both feet's forces: the right heel
#: strike at 0.268 s to the end of the shared inverse kinematics (1.18 s), 80 % of the cycle.
DEFAULT_WINDOW = (0.268, 1.18)
#: The trial's right heel strikes [s] (`walk_gait_events.csv`), the gait cycle of the report.
TRIAL_CYCLE = (0.268, 1.412)
#: Joints plotted in `track.png` (OpenSim names).
PLOTTED = ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "pelvis_ty")


def add_parser(commands) -> None:
    """The `track` subcommand's arguments."""
    parser = commands.add_parser("track", help="track a measured gait cycle (direct shooting)",
                                 description=__doc__.split("\n\n")[0])
    reference = Path(__file__).resolve().parents[3] / "shared" / "reference"
    parser.add_argument("--model", default="myolegs26", help="myolegs26 or myolegs (myoLeg)")
    parser.add_argument("--motion", default=str(reference / "walk_ik_coordinates.csv"),
                        help="coordinates: OpenSim .mot/.sto or a reference-format .csv")
    parser.add_argument("--grf", default=str(reference / "walk_grf.csv"),
                        help="ground reactions: .mot (external loads) or a reference-format .csv")
    parser.add_argument("--start", type=float, default=DEFAULT_WINDOW[0], help="first time [s]")
    parser.add_argument("--end", type=float, default=DEFAULT_WINDOW[1], help="last time [s]")
    parser.add_argument("--out", default="track_out", help="output folder")
    parser.add_argument("--segments", type=int, default=1,
                        help="shooting segments (1: single shooting)")
    parser.add_argument("--start-scale", type=float, nargs=3, default=None,
                        metavar=("QPOS", "QVEL", "MUSCLE"),
                        help="multiple shooting: the optimiser sees segment starts divided by "
                             "these [rad or m, rad/s or m/s, muscle-state units] (controls by 1)")
    parser.add_argument("--first-guess", choices=("constant", "static"), default="constant",
                        help="excitations: constant 0.1, or static optimisation of the "
                             "reference's inverse dynamics")
    parser.add_argument("--knot-interval", type=float, default=0.02, help="between knots [s]")
    parser.add_argument("--max-iterations", type=int, default=200, help="L-BFGS iterations at most")
    parser.add_argument("--checkpoint-every", type=int, default=10,
                        help="iterations between checkpoints (checkpoint.eqx in --out)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="time budget: stop after the checkpointed part that passes it")
    parser.add_argument("--resume", action="store_true", help="continue from checkpoint.eqx")
    parser.add_argument("--subject-mass", type=float, default=85.0668,
                        help="the trial subject's mass [kg] (GRF scaled to the model's weight)")
    parser.add_argument("--x64", action="store_true", help="float64 (slower; float32 default)")
    parser.add_argument("--video", action="store_true", help="also write track.gif")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=run)


def run(args) -> int:
    """`mskdiff track`: solve, write the outputs, print the headline figures."""
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    result = run_track(model=args.model, motion=args.motion, grf=args.grf, start=args.start,
                       end=args.end, out_dir=args.out, segments=args.segments,
                       start_scale=args.start_scale, knot_interval=args.knot_interval,
                       first_guess=args.first_guess,
                       max_iterations=args.max_iterations,
                       checkpoint_every=args.checkpoint_every, resume=args.resume,
                       subject_mass=args.subject_mass, video=args.video,
                       progress=not args.no_progress,
                       time_budget_s=None if args.minutes is None else 60 * args.minutes)
    figures = result["figures"]
    print(f"{result['result']} after {result['iterations']} iterations, "
          f"{result['wall_time_s']:.0f} s: coordinates RMS {figures['coordinates_rms_mean_deg']:.2f}"
          f" deg mean, {figures['coordinates_rms_max_deg']:.2f} deg max "
          f"({figures['coordinates_rms_max_name']}); vertical GRF r "
          f"{figures['grf']['r']['vertical_r']:.2f} (r), {figures['grf']['l']['vertical_r']:.2f} "
          f"(l); pelvis residual force RMS {figures['residual_force_rms_bw'] * 100:.1f} % BW; "
          f"largest defect {result['max_defect']:.2g}")
    print(f"wrote {result['out_dir']}")
    return 0


def run_track(*, model="myolegs26", motion, grf, start=DEFAULT_WINDOW[0], end=DEFAULT_WINDOW[1],
              out_dir="track_out", segments=1, start_scale=None, knot_interval=0.02,
              first_guess="constant", max_iterations=200,
              checkpoint_every=10, resume=False, subject_mass=85.0668, video=False,
              progress=True, time_budget_s=None) -> dict:
    """Build, solve and report the tracking problem (module docstring); returns `track.json`'s dict.

    `first_guess`: `'constant'` (excitations 0.1) or `'static'` (`static_guess`: static
    optimisation of the reference's inverse dynamics, muscles of the first state and of the
    segment starts in equilibrium at its activations). `start_scale`: `(qpos, qvel, muscle)`
    scales of the segment starts (`variable_scale`; controls and residuals 1), or None
    (unscaled). With `time_budget_s`, the solve runs
    `checkpoint_every` iterations at a time (each part resuming from the checkpoint) and stops
    after the part that passes the budget [s].
    """
    import equinox as eqx
    import jax

    from .._solution import result_name
    from ..models import registry
    from ..models.kinematics import COORDINATE_SIGNS, coordinates_from_qpos
    from ..solvers import MultipleShooting, SingleShooting, solve_trajectory, variable_scale
    from ..solvers.gait_tracking import (
        FIRST_GUESS_EXCITATION,
        gait_reference,
        reference_starts,
        static_guess,
        tracking_problem,
    )

    model = registry.resolve(model)
    if model not in COORDINATE_SIGNS:
        raise ValueError(f"`--model` must be one of {sorted(COORDINATE_SIGNS)} (models with an "
                         f"OpenSim coordinate mapping), got {model!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plant = registry.load(model)
    mj_model = registry.host_mjmodel(model)
    reference = gait_reference(mj_model, motion, grf, start, end, plant.dt,
                               model_mass=float(plant.total_mass), subject_mass=subject_mass,
                               signs=COORDINATE_SIGNS[model])
    problem = tracking_problem(plant, mj_model, reference, knot_interval=knot_interval)
    shooting = SingleShooting() if segments == 1 else MultipleShooting(segments)
    init = scale = None
    activation = FIRST_GUESS_EXCITATION
    if first_guess == "static":
        guess = static_guess(problem, reference, mj_model)
        activation = guess.activation
        first = plant.init(reference.qpos[0], reference.qvel[0], activation=activation[0])
        problem = eqx.tree_at(lambda p: p.initial_state, problem, first)
        init = guess.variables
    if segments > 1:
        variables = problem.variables(1) if init is None else init
        init = type(variables)(variables.controls, variables.residuals,
                               reference_starts(problem, reference, segments, activation))
        if start_scale is not None:
            qpos, qvel, muscle = start_scale
            scale = variable_scale(init, qpos=qpos, qvel=qvel, muscle=muscle)
    began = time.perf_counter()
    solve = partial(solve_trajectory, problem, shooting=shooting, init=init, scale=scale,
                    checkpoint_path=out_dir / "checkpoint.eqx", checkpoint_every=checkpoint_every,
                    progress=progress, throw=False)
    steps = max_iterations if time_budget_s is None else min(checkpoint_every, max_iterations)
    solution = solve(max_steps=steps, resume=resume)
    while (steps < max_iterations and result_name(solution.result) == "max_steps_reached"
           and time.perf_counter() - began < time_budget_s):
        steps = min(steps + checkpoint_every, max_iterations)
        solution = solve(max_steps=steps, resume=True)
    wall = time.perf_counter() - began
    trajectory = jax.tree.map(np.asarray, solution.trajectory)
    # The plant's clock starts at 0 with the first state: put the solution on the trial's.
    trajectory = dataclasses.replace(trajectory, time=reference.time[1:])
    grf = _recorded_grf(problem, trajectory)
    signs = COORDINATE_SIGNS[model]
    solved = coordinates_from_qpos(mj_model, trajectory.qpos, signs=signs)
    wanted = coordinates_from_qpos(mj_model, reference.qpos[1:], signs=signs)
    figures = tracking_figures(mj_model, solved, wanted, reference, grf,
                               np.asarray(solution.residual_forces), float(plant.total_mass))
    summary = {
        "model": model, "window_s": [start, end], "segments": segments,
        "start_scale": None if start_scale is None else list(start_scale),
        "first_guess": first_guess,
        "knot_interval_s": knot_interval, "result": result_name(solution.result),
        "iterations": int(solution.stats["num_steps"]), "time_budget_s": time_budget_s,
        "evaluations": int(solution.stats["num_evaluations"]), "wall_time_s": wall,
        "objective": float(solution.objective),
        "terms": {k: float(v) for k, v in solution.terms.items()},
        "max_defect": float(solution.stats["max_defect"]),
        "penalty": float(solution.stats["penalty"]),
        "multiplier_updates": int(solution.stats["multiplier_updates"]),
        "nonfinite_gradient": solution.stats["nonfinite_gradient"],
        "objective_history": [float(x) for x in solution.stats["objective_history"]],
        "floor_offset_m": reference.floor_offset,
        "unused_coordinates": list(reference.unused_coordinates),
        "missing_joints": list(reference.missing_joints),
        "device": jax.devices()[0].device_kind, "figures": figures, "out_dir": str(out_dir),
    }
    _write_npz(out_dir / "track.npz", model, reference, trajectory, grf, solution)
    _plot(out_dir / "track.png", model, solved, wanted, reference, trajectory.time, grf, summary)
    summary["report"] = _write_opensim_and_report(out_dir / "opensim", model, plant, mj_model,
                                                  trajectory, float(plant.total_mass))
    if video:
        from .render import write_video

        summary["video"] = str(write_video(out_dir / "track.npz", out_dir / "track.gif",
                                           env="all")["video"])
    (out_dir / "track.json").write_text(json.dumps(summary, indent=1))
    return summary


def _recorded_grf(problem, trajectory) -> dict[str, np.ndarray]:
    """Side -> the floor's force on the foot [N], world frame, per step, from the solve's record."""
    index = problem.term_names.index("ground_reactions")
    forces = np.asarray(trajectory.extra[index])
    term = problem.terms[index]
    return {side: forces[:, k] for k, side in enumerate(term.feet)}


def tracking_figures(mj_model, solved: dict, wanted: dict, reference, grf: dict, residual_forces,
                     body_mass: float) -> dict:
    """Coordinate RMS [deg, cm], GRF RMS [BW] and r per foot, pelvis residuals [N, N m, % BW].

    `solved` and `wanted`: OpenSim coordinates (`coordinates_from_qpos`) of the solution and of
    the reference at the same times, the end of every step (the reference's frames 1..T).
    """
    from ..models.kinematics import PELVIS_COORDINATES
    from ..solvers.gait_tracking import root_joint

    rms = {}
    for name in solved:
        error = solved[name] - wanted[name]
        translation = name in PELVIS_COORDINATES[3:]
        rms[name] = float(np.sqrt(np.mean(error**2)) * (100.0 if translation else 180 / np.pi))
    angles = {k: v for k, v in rms.items() if k not in PELVIS_COORDINATES[3:]}
    worst = max(angles, key=angles.get)
    weight = body_mass * 9.81
    feet = {}
    for side, force in grf.items():
        target = reference.forces[side][:-1]  # the record is at each step's start
        feet[side] = {
            "vertical_rms_bw": float(np.sqrt(np.mean((force[:, 2] - target[:, 2]) ** 2)) / weight),
            "vertical_r": _pearson(force[:, 2], target[:, 2]),
            "fore_aft_rms_bw": float(np.sqrt(np.mean((force[:, 1] - target[:, 1]) ** 2)) / weight),
            "fore_aft_r": _pearson(force[:, 1], target[:, 1]),
        }
    root = int(mj_model.jnt_dofadr[root_joint(mj_model)])
    force = np.linalg.norm(residual_forces[:, root:root + 3], axis=1)
    torque = np.linalg.norm(residual_forces[:, root + 3:root + 6], axis=1)
    return {
        "coordinates_rms": rms, "coordinates_rms_mean_deg": float(np.mean(list(angles.values()))),
        "coordinates_rms_max_deg": angles[worst], "coordinates_rms_max_name": worst,
        "grf": feet,
        "residual_force_rms_n": float(np.sqrt(np.mean(force**2))),
        "residual_force_peak_n": float(force.max()),
        "residual_force_rms_bw": float(np.sqrt(np.mean(force**2)) / weight),
        "residual_torque_rms_nm": float(np.sqrt(np.mean(torque**2))),
        "residual_torque_peak_nm": float(torque.max()),
    }


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _write_npz(path, model, reference, trajectory, grf, solution) -> None:
    both = np.stack([trajectory.qpos, reference.qpos[1:]], axis=1)
    np.savez_compressed(
        path, model=model, time=trajectory.time, qpos=both,
        excitation=np.asarray(solution.excitation), activation=trajectory.muscle.activation,
        residual_forces=np.asarray(solution.residual_forces),
        grf=np.stack([grf[s] for s in ("r", "l")], axis=1),
        grf_reference=np.stack([reference.forces[s][:-1] for s in ("r", "l")], axis=1))


def _plot(path, model, solved, wanted, reference, t, grf, summary) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    axes[0, 0].semilogy(summary["objective_history"])
    axes[0, 0].set(title="objective", xlabel="iteration")
    for ax, name in zip(axes.flat[1:5], PLOTTED, strict=True):
        scale = 1.0 if name == "pelvis_ty" else 180 / np.pi
        ax.plot(t, wanted[name] * scale, "k--", label="reference")
        ax.plot(t, solved[name] * scale, label="tracked")
        ax.set(title=name, xlabel="time [s]", ylabel="m" if scale == 1.0 else "deg")
    axes[0, 1].legend()
    for side, style in (("r", "-"), ("l", ":")):
        axes[1, 2].plot(t, reference.forces[side][:-1, 2], "k" + style, lw=1)
        axes[1, 2].plot(t, grf[side][:, 2], style, label=f"{side} tracked")
    axes[1, 2].set(title="vertical GRF (black: measured, scaled)", xlabel="time [s]", ylabel="N")
    axes[1, 2].legend()
    fig.suptitle(f"mskdiff track: {model}, {summary['result']}, {summary['iterations']} iterations")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _write_opensim_and_report(folder, model, plant, mj_model, trajectory, body_mass) -> str:
    """The solution as OpenSim files with `result.json`, and the gait report (`report/`).

    The report covers the part of the trial's cycle that the solution spans. Returns the
    report's path, or why it could not be written (e.g. no reference folder).
    """
    from ..models.kinematics import COORDINATE_SIGNS
    from ..models.opensim_export import write_opensim_results
    from .gait_report import write_gait_report

    compliant = ~np.asarray(plant.mtu.params.ignore_tendon_compliance)
    write_opensim_results(
        folder, mj_model, trajectory.time, trajectory.qpos, trajectory.qvel,
        muscle_names=plant.muscle_names, actuator_ids=np.asarray(plant.actuator_ids),
        excitation=trajectory.excitation, activation=trajectory.muscle.activation,
        fiber_length=trajectory.fiber_length, tendon_force=trajectory.tendon_force,
        tendon_compliant=compliant, signs=COORDINATE_SIGNS[model])
    (Path(folder) / "result.json").write_text(json.dumps(
        {"model": model, "body_mass": body_mass, "gait_cycle": list(TRIAL_CYCLE)}))
    try:
        return str(write_gait_report(folder, Path(folder) / "report")["markdown"])
    except (OSError, ValueError, KeyError) as error:
        return f"not written: {error}"
