"""`mskdiff gait-report DIR`: a gait result against the walking trial, as Markdown, PNGs and JSON.

DIR holds the OpenSim files of a result (`mskdiff.models.opensim_export.FILES`) and optionally a
`result.json` (`mskdiff.validation.gait.RESULT_KEYS`). The comparisons are
`mskdiff.validation.gait.gait_report`'s; this module draws them and writes `report.md` (the
plots embedded as PNG files beside it) and `report.json` (every number and curve of the plots).
"""

import json
from pathlib import Path

import numpy as np

from ..validation.gait import EMG_THRESHOLD, gait_report

#: The shared reference folder beside the repository (`shared/reference`, see its README).
DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
#: The figures, by report section.
FIGURES = {"coordinates": "joint_angles.png", "ground_reactions": "grf.png", "emg": "emg.png"}
#: Titles of the ground reaction components.
GRF_TITLES = {"r_vy": "right, vertical", "r_vx": "right, fore-aft", "l_vy": "left, vertical",
              "l_vx": "left, fore-aft"}


def write_gait_report(directory, out_dir, *, reference_dir=DEFAULT_REFERENCE_DIR, cycle=None,
                      emg_threshold: float = EMG_THRESHOLD) -> dict[str, Path]:
    """Compare the result in `directory` with the trial and write the report into `out_dir`.

    Args:
        directory: the result folder.
        out_dir: the report's folder (created).
        reference_dir: the reference folder.
        cycle: the result's gait cycle `(t0, t1)` [s]; default as `gait_report`.
        emg_threshold: the on/off threshold, a fraction of each signal's peak in the cycle.

    Returns:
        The paths written: `markdown`, `json` and one per figure drawn (`FIGURES`' keys).
    """
    report = gait_report(directory, reference_dir, cycle=cycle, emg_threshold=emg_threshold)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {"coordinates": plot_coordinates, "ground_reactions": plot_ground_reactions,
             "emg": plot_emg}
    paths = {}
    for section, plot in plots.items():
        if report[section]:
            paths[section] = out_dir / FIGURES[section]
            plot(report, paths[section])
    paths["json"] = out_dir / "report.json"
    paths["json"].write_text(json.dumps(report, indent=1))
    paths["markdown"] = out_dir / "report.md"
    paths["markdown"].write_text(format_markdown(report, {k: p.name for k, p in paths.items()}))
    return paths


def _pyplot():
    """Pyplot on matplotlib's Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(plt, n_panels: int, n_columns: int, panel=(3.2, 2.2)):
    """A figure with `n_panels` axes in rows of `n_columns` (unused axes hidden)."""
    n_rows = max(1, -(-n_panels // n_columns))
    width, height = panel[0] * n_columns, panel[1] * n_rows  # [in]
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=0.6 / width, right=1 - 0.15 / width, bottom=0.5 / height,
                        top=1 - 0.6 / height, hspace=0.7, wspace=0.3)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _curve(values) -> np.ndarray:
    """A report curve (None for missing samples) as floats with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _against_reference(ax, report: dict, entry: dict, reference_label: str) -> None:
    """One panel: the reference (dashed black) and the result over the cycle."""
    ax.plot(report["percent"], _curve(entry["reference"]), "k--", label=reference_label)
    ax.plot(report["percent"], _curve(entry["result"]), "C0-", label="result")


def plot_coordinates(report: dict, path) -> None:
    """Each compared coordinate over the cycle, result against the trial's inverse kinematics."""
    plt = _pyplot()
    coordinates = report["coordinates"]["coordinates"]
    fig, axes = _grid(plt, len(coordinates), 5)
    for ax, (name, entry) in zip(axes, coordinates.items(), strict=False):
        _against_reference(ax, report, entry, "trial (IK)")
        ax.set_title(f"{name}: RMS {_number(entry['rms'], 2)} {entry['unit']}", fontsize=8)
        ax.set_ylabel(f"[{entry['unit']}]", fontsize=7)
        ax.set_xlabel("gait cycle [%]", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_ground_reactions(report: dict, path) -> None:
    """Vertical and fore-aft force per foot over the cycle [BW], result against measured."""
    plt = _pyplot()
    components = report["ground_reactions"]["components"]
    fig, axes = _grid(plt, len(components), 2, panel=(4.5, 2.6))
    for ax, (name, entry) in zip(axes, components.items(), strict=False):
        _against_reference(ax, report, entry, "measured")
        ax.set_title(f"{GRF_TITLES[name]}: RMS {_number(entry['rms'], 3)} BW, "
                     f"r = {_number(entry['r'], 2)}", fontsize=9)
        ax.set_ylabel("force [BW]")
        ax.set_xlabel("gait cycle [%]")
    axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_emg(report: dict, path) -> None:
    """Activation against EMG per channel (peak-normalised), with on/off bars below."""
    plt = _pyplot()
    channels = report["emg"]["channels"]
    fig, axes = _grid(plt, max(1, len(channels)), 2, panel=(4.5, 2.0))
    for ax, (channel, entry) in zip(axes, channels.items(), strict=False):
        percent = report["percent"]
        ax.fill_between(percent, 0, _curve(entry["emg"]), color="0.8", label="EMG")
        ax.plot(percent, _curve(entry["activation"]), "C0-", label="activation")
        for y, intervals, color in ((-0.12, entry["emg_on"], "0.4"),
                                    (-0.25, entry["activation_on"], "C0")):
            ax.broken_barh([(a, max(b - a, 0.5)) for a, b in intervals], (y, 0.08), color=color)
        ax.set_ylim(-0.3, 1.05)
        ax.set_title(f"{channel} ({', '.join(entry['muscles'])}): agreement "
                     f"{_number(entry['agreement'], 0)} %, r = {_number(entry['r'], 2)}", fontsize=8)
        ax.set_xlabel("gait cycle [%]", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6, loc="upper right")
    fig.suptitle(f"on: >= {report['emg']['threshold']:g} x peak in the cycle "
                 "(bars: EMG grey, model blue)", fontsize=9)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _number(x, digits: int) -> str:
    """`x` with `digits` decimals, 'n/a' for None."""
    return "n/a" if x is None else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _intervals(intervals) -> str:
    """On intervals [%] as text: '12-40, 80-95'."""
    return ", ".join(f"{a:.0f}-{b:.0f}" for a, b in intervals) or "never"


def format_markdown(report: dict, files: dict[str, str]) -> str:
    """The report as Markdown; `files` names the figure files by section."""
    lines = [f"# Gait report: {report['result']}", "",
             f"- model: {report['model'] or 'not given (no `model` in result.json)'}",
             f"- result's gait cycle: {report['result_cycle'][0]:.4g}-{report['result_cycle'][1]:.4g} s;"
             f" trial's: {report['reference_cycle'][0]:.4g}-{report['reference_cycle'][1]:.4g} s "
             "(right heel strikes), both normalised to 0-100 %; the result's data cover "
             f"{report['result_covers'][0]:.0f}-{report['result_covers'][1]:.0f} % of it",
             f"- reference: {report['reference']}",
             f"- body weight: {report['body_weight']['mass']:.4g} kg "
             f"({report['body_weight']['source']})", ""]
    for section, format_section in (("coordinates", _coordinates_section),
                                    ("ground_reactions", _grf_section), ("emg", _emg_section)):
        if report[section]:
            lines += format_section(report[section], files.get(section)) + [""]
    lines += _metabolics_section(report["metabolics"]) + [""]
    if report["missing"]:
        lines += ["## Missing", "", *(f"- {item}" for item in report["missing"]), ""]
    return "\n".join(lines)


def _coordinates_section(section: dict, figure: str) -> list[str]:
    """Joint angles: the figure, RMS per coordinate, what is missing."""
    covered = section["reference_covers"]
    lines = ["## Joint angles", "", f"![joint angles]({figure})", "",
             "RMS difference from the trial's inverse kinematics (rotations in degrees, "
             "translations in cm)" + (f", over {covered[0]:.0f}-{covered[1]:.0f} % of the cycle "
                                      "(the reference's extent) where the result has data."
                                      if covered else "."), "",
             *_table(["coordinate", "RMS", "unit"],
                     [[name, _number(e["rms"], 2), e["unit"]]
                      for name, e in section["coordinates"].items()])]
    if section["missing"]:
        lines += ["", f"Not in the result: {', '.join(section['missing'])}."]
    return lines


def _grf_section(section: dict, figure: str) -> list[str]:
    """Ground reactions: the figure, RMS [BW] and r per component."""
    lines = ["## Ground reaction forces", "", f"![ground reaction forces]({figure})", "",
             *_table(["component", "RMS [BW]", "r"],
                     [[GRF_TITLES[name], _number(e["rms"], 3), _number(e["r"], 3)]
                      for name, e in section["components"].items()])]
    if section["missing"]:
        lines += ["", f"Not in the result: {', '.join(section['missing'])}."]
    return lines


def _emg_section(section: dict, figure: str) -> list[str]:
    """EMG: the threshold, the figure, on/off timing, agreement and r per channel."""
    rows = [[channel, ", ".join(e["muscles"]), _intervals(e["emg_on"]), _intervals(e["activation_on"]),
             _number(e["agreement"], 0), _number(e["r"], 2), _number(e["peak_activation"], 3)]
            for channel, e in section["channels"].items()]
    lines = ["## Muscle activations against EMG", "",
             f"Signals from {section['source']}, muscles by the {section['mapping']} channel map. "
             f"A signal is on where it is at least {section['threshold']:g} x its peak within the "
             "cycle; agreement is the % of the cycle where EMG and model are both on or both off; "
             "r is Pearson's correlation of the shapes.", "", f"![activations and EMG]({figure})", "",
             *_table(["channel", "muscles", "EMG on [%]", "model on [%]", "agreement [%]", "r",
                      "peak activation"], rows)]
    if section["missing"]:
        lines += ["", "Channels without muscles in the result: " + "; ".join(
            f"{c} ({', '.join(m)})" for c, m in section["missing"].items()) + "."]
    return lines


def _metabolics_section(section: dict) -> list[str]:
    """Cost of transport of the result next to the published costs."""
    speed = "unknown" if section["speed"] is None else f"{section['speed']:.3g} m/s"
    cost = section["cost_of_transport"]
    lines = ["## Metabolic cost of transport", "",
             f"Result: {_number(cost, 2)} J/(kg m)" + (
                 f" ({section['how']}; metabolic model: {section['metabolic_model'] or 'not given'}; "
                 f"basal rate {'included' if section['includes_basal'] else 'excluded'})"
                 if cost is not None else f" ({section['missing']})") + f"; speed {speed} "
             f"(trial: {section['trial_speed']:.3g} m/s).",
             "", "Published costs are gross (resting metabolism included); the result's cost "
             f"with the basal rate added: {_number(section['with_basal'], 2)} J/(kg m).", "",
             *_table(["source", "kind", "speed [m/s]", "cost [J/(kg m)]", "note"],
                     [[p["source"], p["kind"], f"{p['speed']:.3g}", _number(p["cost_of_transport"], 2),
                       p["note"]] for p in section["published"]]),
             "", *(f"- {p['citation']}" for p in section["published"])]
    return lines


def run(args) -> int:
    """Write the report and say where."""
    out = args.out or Path(args.directory) / "report"
    paths = write_gait_report(args.directory, out, reference_dir=args.reference_dir,
                              cycle=args.cycle, emg_threshold=args.emg_threshold)
    print(f"wrote {paths['markdown']}, {paths['json'].name} and "
          f"{len(paths) - 2} figure(s) in {Path(out)}")
    return 0


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    report = commands.add_parser(
        "gait-report", help="a gait result against the walking trial (Markdown, PNGs, JSON)",
        description="Compare a gait result folder (OpenSim files: coordinates.mot, states.sto, "
                    "controls.sto, ground_reactions.mot; optional result.json with model, "
                    "body_mass, metabolic_energy, distance or cost_of_transport, gait_cycle) with "
                    "the walking trial over one gait cycle normalised to 0-100 %: joint angles "
                    "(RMS), ground reactions (RMS in body weights, r), activations against EMG "
                    "(on/off timing and agreement, r) and the metabolic cost of transport next to "
                    "published values. Writes report.md with PNG plots and report.json.")
    report.add_argument("directory", help="the result folder")
    report.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR,
                        help="the reference folder (walk_ik_coordinates.csv, walk_grf.csv, "
                             "walk_emg.csv, walk_emg_channel_map.csv, walk_gait_events.csv)")
    report.add_argument("--cycle", type=float, nargs=2, metavar=("T0", "T1"),
                        help="the result's gait cycle [s] (default: result.json's gait_cycle, "
                             "else the trial's right heel strikes)")
    report.add_argument("--emg-threshold", type=float, default=EMG_THRESHOLD,
                        help="on/off threshold, a fraction of each signal's peak in the cycle")
    report.add_argument("--out", help="the report folder (default: DIRECTORY/report)")
    report.set_defaults(run=run)
