"""Generate mskdiff's built-in Rajagopal 2016 parameter table from the OpenSim reference export.

Usage: python tools/generate_rajagopal_table.py [SOURCE_CSV] [OUTPUT_CSV]
(defaults: ../shared/reference/rajagopal2016_muscles.csv -> mskdiff/models/rajagopal2016_muscles.csv)
"""

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "reference" / "rajagopal2016_muscles.csv"
OUTPUT = ROOT / "mskdiff" / "models" / "rajagopal2016_muscles.csv"

#: Output column -> source column (the Millard curves' strains become De Groote's parameters).
COLUMNS = {
    "name": "name",
    "max_isometric_force": "max_isometric_force",
    "optimal_fiber_length": "optimal_fiber_length",
    "tendon_slack_length": "tendon_slack_length",
    "pennation_angle_at_optimal": "pennation_angle_at_optimal",
    "max_contraction_velocity": "max_contraction_velocity",
    "tendon_strain_at_one_norm_force": "tendon_strain_at_one_norm_force",
    "passive_fiber_strain_at_one_norm_force": "fpe_strain_at_one_norm_force",
    "fiber_damping": "fiber_damping",
    "activation_time_constant": "activation_time_constant",
    "deactivation_time_constant": "deactivation_time_constant",
    "minimum_activation": "minimum_activation",
    "ignore_tendon_compliance": "ignore_tendon_compliance",
    "mtu_length_default_pose": "mtu_length_default_pose",
}


def main(source=SOURCE, output=OUTPUT) -> None:
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = sorted(set(COLUMNS.values()) - set(rows[0]))
    if missing:
        raise SystemExit(f"{source}: missing columns {missing}")
    with open(output, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row[c] if c == "name" else repr(float(row[c]))
                             for c in COLUMNS.values()])
    print(f"wrote {len(rows)} muscles to {output}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
