"""The static-optimisation first guess of `mskdiff track --first-guess static`, on the trial.

Runs `mskdiff.solvers.gait_tracking.static_guess` for a model over the tracking window and
records its host time, how well the muscles reproduce the inverse-dynamics joint moments (RMS of
what they leave per dof [N m]), what the pelvis would need (root force RMS in body weights, at
the first frame and over the window) and the mean activation per muscle. The baseline printed
beside the time is one `mj_inverse` pass over the same frames (the static solve's overhead on
inverse dynamics alone).

    python benchmarks/static_guess.py --out benchmarks/static_guess_cpu.json
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from device import device_info


def main() -> None:
    reference = Path(__file__).resolve().parents[2] / "shared" / "reference"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="myolegs26")
    parser.add_argument("--start", type=float, default=0.268)
    parser.add_argument("--end", type=float, default=1.18)
    parser.add_argument("--out", default="static_guess_cpu.json")
    args = parser.parse_args()

    import mujoco

    from mskdiff.models import registry
    from mskdiff.models.kinematics import COORDINATE_SIGNS
    from mskdiff.solvers.gait_tracking import gait_reference, static_guess, tracking_problem
    from mskdiff.solvers.static_optimisation import inverse_dynamics

    plant = registry.load(args.model)
    mj_model = registry.host_mjmodel(args.model)
    walk = gait_reference(mj_model, reference / "walk_ik_coordinates.csv",
                          reference / "walk_grf.csv", args.start, args.end, plant.dt,
                          model_mass=float(plant.total_mass), signs=COORDINATE_SIGNS[args.model])
    problem = tracking_problem(plant, mj_model, walk)
    qacc = np.gradient(walk.qvel, walk.time, axis=0)
    began = time.perf_counter()
    inverse_dynamics(mj_model, walk.qpos, walk.qvel, qacc, walk.forces)
    inverse_s = time.perf_counter() - began
    static_guess(problem, walk, mj_model)  # compiles the muscle-force program once
    began = time.perf_counter()
    guess = static_guess(problem, walk, mj_model)
    static_s = time.perf_counter() - began
    weight = float(plant.total_mass) * 9.81
    root_force = np.linalg.norm(guess.unmatched[:, :3], axis=1) / weight
    dof_names = [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, int(mj_model.dof_jntid[d]))
                 for d in range(mj_model.nv)]
    unmatched_rms = np.sqrt(np.mean(guess.unmatched**2, axis=0))
    joints = {f"{dof_names[d]}": float(unmatched_rms[d]) for d in range(6, mj_model.nv)
              if unmatched_rms[d] > 0}
    record = {
        "device": device_info(), "model": args.model, "window_s": [args.start, args.end],
        "frames": len(walk.time), "static_guess_s": static_s, "inverse_dynamics_s": inverse_s,
        "ratio_static_over_inverse_dynamics": static_s / inverse_s,
        "unmatched_joint_rms_nm": joints,
        "root_force_rms_bw": float(np.sqrt(np.mean(root_force**2))),
        "root_force_first_frame_bw": float(root_force[0]),
        "mean_activation": dict(zip(plant.muscle_names,
                                    np.mean(guess.activation, axis=0).round(3).tolist(),
                                    strict=True)),
    }
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(f"{args.model}, {len(walk.time)} frames: static guess {static_s:.1f} s "
          f"({static_s / inverse_s:.0f}x one inverse-dynamics pass, {inverse_s:.2f} s); joint "
          f"moments left to residuals {min(joints.values()):.1f}-{max(joints.values()):.1f} N m "
          f"RMS per dof; the root needs {record['root_force_rms_bw']:.2f} BW RMS "
          f"({record['root_force_first_frame_bw']:.2f} BW at {args.start} s)")


if __name__ == "__main__":
    main()
