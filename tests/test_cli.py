"""The `mskdiff` command: help texts and the main job on the built-in default model."""

import subprocess
import sys

import numpy as np
import pytest

from mskdiff.cli import main
from mskdiff.io import read_csv
from mskdiff.cli.mtu import MTU_COLUMNS
from mskdiff.muscle import FORMULATIONS


def test_help_lists_subcommands():
    result = subprocess.run([sys.executable, "-m", "mskdiff.cli", "--help"], capture_output=True,
                            text=True, check=True)
    assert "mtu" in result.stdout and "validate-opensim" in result.stdout


@pytest.mark.parametrize("formulation", list(FORMULATIONS))
def test_mtu_job_writes_plot_and_csv(tmp_path, formulation):
    assert main(["mtu", "--out", str(tmp_path), "--duration", "0.3",
                 "--formulation", formulation]) == 0
    table = read_csv(tmp_path / f"mtu_soleus_r_{formulation}.csv")
    assert tuple(table) == MTU_COLUMNS
    assert len(table["time"]) == 151
    assert (tmp_path / f"mtu_soleus_r_{formulation}.png").stat().st_size > 10_000
    force = table["tendon_force"]
    assert np.all(np.isfinite(force))
    # The step (0.1 s) raises the force from passive-plus-5 % to several kN.
    assert force[-1] > 5 * force[0] and force[-1] > 2000.0


def test_mtu_job_rejects_unknown_muscle(tmp_path):
    with pytest.raises(ValueError, match="unknown muscle"):
        main(["mtu", "--muscle", "bicep_r", "--out", str(tmp_path)])


def test_simulate_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="envs >= 1"):
        main(["simulate", "--envs", "0", "--out", str(tmp_path)])
