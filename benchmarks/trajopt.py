"""Time to a tracked gait: `mskdiff track` on the walking trial, against OpenSim Moco's figures.

Each configuration (model, shooting segments, iterations) runs `mskdiff.cli.track.run_track`
in this process and records the wall time (compilation included), iterations, objective
evaluations, seconds per gradient and the tracking figures (coordinate RMS, GRF r, pelvis
residuals, largest defect), beside the published figures of
direct collocation on CPUs: MocoTrack of a 3-D walking cycle, 101-148 min on 8 threads (Dembia
et al. 2020, PLoS Comput Biol 16(12): e1008493, Table 1), and a 3-D predictive gait, ~20-36 min
(Falisse et al. 2019, J R Soc Interface 16: 20190402). The ratio printed is Moco's lower figure
over this run's wall time (> 1: faster than Moco's published time; a like-for-like comparison
needs the same targets met, which the JSON's figures say).

    python benchmarks/trajopt.py --configs myolegs26:1:100 --out benchmarks/trajopt_cpu.json
    python benchmarks/trajopt.py --configs myolegs26:1:100,myolegs26:8:100 --start 0.268 --end 1.18

A configuration is `model:segments:iterations`, optionally followed by `:Q/V/M`, the segment
starts' scales (`mskdiff track --start-scale Q V M`), and by `:static`, the first guess from
static optimisation (`mskdiff track --first-guess static`). The JSON is written after every
configuration, with the process's peak resident memory so far (`peak_rss_mib`: it only grows,
so a configuration's own peak is exact only for the first one of a process).
"""

import argparse
import json
import resource
import time
from pathlib import Path

from device import device_info

#: Published CPU times of gait problems [min]: (low, high, what, source).
PUBLISHED = {
    "moco_track_walking_3d": (101.0, 148.0, "MocoTrack, 3-D walking cycle, 8 threads",
                              "Dembia et al. 2020, PLoS Comput Biol, Table 1"),
    "predictive_gait_3d": (20.0, 36.0, "3-D predictive gait, direct collocation (CasADi)",
                           "Falisse et al. 2019, J R Soc Interface"),
}


def run_config(model: str, segments: int, iterations: int, start_scale, first_guess: str, args,
               out_dir: Path) -> dict:
    """One `run_track` and its timings."""
    from mskdiff.cli.track import run_track

    began = time.perf_counter()
    summary = run_track(model=model, motion=args.motion, grf=args.grf, start=args.start,
                        end=args.end, out_dir=out_dir, segments=segments, start_scale=start_scale,
                        knot_interval=args.knot_interval, first_guess=first_guess,
                        max_iterations=iterations,
                        video=args.video, progress=True, resume=args.resume,
                        time_budget_s=None if args.minutes is None else 60 * args.minutes)
    total = time.perf_counter() - began
    summary.pop("objective_history")
    summary["out_dir"] = out_dir.name  # no machine path in the committed JSON
    summary["report"] = summary["report"].replace(str(out_dir), out_dir.name)
    summary.pop("video", None)
    summary["total_wall_s"] = total
    summary["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary["resumed"] = args.resume
    # A resumed part's wall time is not the run's: no per-evaluation time or ratio for it.
    summary["seconds_per_evaluation"] = None if args.resume else (
        summary["wall_time_s"] / max(1, summary["evaluations"]))
    summary["ratio_vs_moco_track_low"] = None if args.resume else (
        PUBLISHED["moco_track_walking_3d"][0] * 60 / total)
    return summary


def main() -> None:
    reference = Path(__file__).resolve().parents[2] / "shared" / "reference"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="myolegs26:1:100")
    parser.add_argument("--motion", default=str(reference / "walk_ik_coordinates.csv"))
    parser.add_argument("--grf", default=str(reference / "walk_grf.csv"))
    parser.add_argument("--start", type=float, default=0.268)
    parser.add_argument("--end", type=float, default=1.18)
    parser.add_argument("--knot-interval", type=float, default=0.02)
    parser.add_argument("--video", action="store_true")
    parser.add_argument("--minutes", type=float, default=None,
                        help="time budget per configuration (the solve stops at the checkpoint "
                             "after it)")
    parser.add_argument("--work", default="trajopt_runs", help="folder of the runs' outputs")
    parser.add_argument("--out", default="trajopt_cpu.json")
    parser.add_argument("--resume", action="store_true",
                        help="continue each configuration from its checkpoint in --work (the "
                             "JSON entry then counts every iteration; its wall time is this "
                             "part's)")
    parser.add_argument("--append", action="store_true",
                        help="keep the runs already in --out and add these after them")
    args = parser.parse_args()
    from mskdiff.cli import enable_compilation_cache

    enable_compilation_cache()
    record = {"device": device_info(), "published_min": PUBLISHED, "runs": []}
    if args.append and Path(args.out).is_file():
        record["runs"] = json.loads(Path(args.out).read_text())["runs"]
    for config in args.configs.split(","):
        model, segments, iterations, *options = config.split(":")
        first_guess = "static" if "static" in options else "constant"
        scaled = [x for x in options if x != "static"]
        start_scale = [float(x) for x in scaled[0].split("/")] if scaled else None
        out_dir = Path(args.work) / (f"{model}_{segments}seg_{iterations}it"
                                     + ("_scaled" if scaled else "")
                                     + ("_static" if first_guess == "static" else ""))
        run = run_config(model, int(segments), int(iterations), start_scale, first_guess, args,
                         out_dir)
        record["runs"].append(run)
        Path(args.out).write_text(json.dumps(record, indent=1))
        figures = run["figures"]
        ratio = run["ratio_vs_moco_track_low"]
        print(f"{config}: {run['result']} in {run['total_wall_s'] / 60:.1f} min "
              f"({run['iterations']} iterations, {run['seconds_per_evaluation'] or 0:.2f} "
              "s/evaluation, 0 when resumed);"
              f" coordinates {figures['coordinates_rms_mean_deg']:.2f} deg mean RMS, vertical GRF r "
              f"{figures['grf']['r']['vertical_r']:.2f}/{figures['grf']['l']['vertical_r']:.2f}; "
              "Moco's 101 min / this = " + ("- (resumed)" if ratio is None else f"{ratio:.2f}"))


if __name__ == "__main__":
    main()
