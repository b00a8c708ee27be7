"""Generate mskdiff's built-in Rajagopal 2016 parameter table from the OpenSim reference export.

Usage: python tools/generate_rajagopal_table.py [SOURCE_CSV [OUTPUT_CSV]]
(defaults: ../shared/reference/rajagopal2016_muscles.csv -> mskdiff/models/rajagopal2016_muscles.csv)

The source holds OpenSim 4.6's values for the 80 `Millard2012EquilibriumMuscle`s of
Rajagopal2016.osim. The output has one column per `MuscleParameters` field, plus
`mtu_length_default_pose` [m]; numbers are written with `repr`, so they read back bit for bit.
"""

import argparse
import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "reference" / "rajagopal2016_muscles.csv"
OUTPUT = ROOT / "mskdiff" / "models" / "rajagopal2016_muscles.csv"

#: Output column -> source column, or a constant where Millard has no such property.
COLUMNS: dict[str, str | float] = {
    "name": "name",
    "max_isometric_force": "max_isometric_force",
    "optimal_fiber_length": "optimal_fiber_length",
    "tendon_slack_length": "tendon_slack_length",
    "pennation_angle_at_optimal": "pennation_angle_at_optimal",
    "max_contraction_velocity": "max_contraction_velocity",
    "tendon_strain_at_one_norm_force": "tendon_strain_at_one_norm_force",
    "passive_fiber_strain_at_one_norm_force": "fpe_strain_at_one_norm_force",
    "active_force_width_scale": 1.0,
    "fiber_damping": "fiber_damping",
    "activation_time_constant": "activation_time_constant",
    "deactivation_time_constant": "deactivation_time_constant",
    "minimum_activation": "minimum_activation",
    "ignore_tendon_compliance": "ignore_tendon_compliance",
    "mtu_length_default_pose": "mtu_length_default_pose",
}


def read_rows(source: Path) -> list[dict[str, str]]:
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{source}: no muscles")
    needed = {c for c in COLUMNS.values() if isinstance(c, str)} | {"class"}
    missing = sorted(needed - set(rows[0]))
    if missing:
        raise SystemExit(f"{source}: missing columns {missing}")
    classes = {row["class"] for row in rows}
    if classes != {"Millard2012EquilibriumMuscle"}:
        raise SystemExit(f"{source}: expected only Millard2012EquilibriumMuscle, got {sorted(classes)}")
    return rows


def format_value(column: str, source: str | float, row: dict[str, str]) -> str:
    if not isinstance(source, str):
        return repr(source)
    if column == "name":
        return row[source]
    if column == "ignore_tendon_compliance":
        flag = float(row[source])
        if flag not in (0.0, 1.0):
            raise SystemExit(f"{row['name']}: ignore_tendon_compliance must be 0 or 1, got {flag}")
        return str(int(flag))
    return repr(float(row[source]))


def main(source: Path = SOURCE, output: Path = OUTPUT) -> None:
    rows = read_rows(source)
    with open(output, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([format_value(c, s, row) for c, s in COLUMNS.items()])
    print(f"wrote {len(rows)} muscles to {output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=SOURCE)
    parser.add_argument("output", nargs="?", type=Path, default=OUTPUT)
    args = parser.parse_args()
    main(args.source, args.output)
