"""The `mskdiff` command as a new user meets it: help with defaults, one-line errors, exit codes,
one `--tendon` vocabulary, quiet imports, and the main jobs on the built-in default model."""

import argparse
import subprocess
import sys
from types import SimpleNamespace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mskdiff.cli.mtu
import mskdiff.cli.simulate
from mskdiff.cli import build_parser, error_line, main
from mskdiff.cli.mtu import MTU_COLUMNS, TENDON_MODES
from mskdiff.io import read_csv
from mskdiff.muscle import FORMULATIONS


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _one_error_line(capsys, *expected: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mskdiff: error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_failure_from_a_shell_is_one_line_and_exit_1(tmp_path):
    """The one subprocess test (JAX's import is slow): what a user sees in a terminal."""
    result = subprocess.run([sys.executable, "-m", "mskdiff", "mtu", "--muscle", "bicep_r",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()], result.stderr  # one line
    assert result.stderr.startswith("mskdiff: error: ") and "bicep_r" in result.stderr
    assert "warp" not in result.stdout + result.stderr  # MJX's "Failed to import warp" is gone
    assert "Traceback" not in result.stderr


def test_help_lists_subcommands_and_the_cache(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "mtu" in out and "validate-opensim" in out
    assert "MSKDIFF_JAX_CACHE" in out


@pytest.mark.parametrize("command", ["mtu", "simulate", "stand", "track", "fit", "validate-opensim",
                                     "train"])
def test_help_shows_every_default(command, capsys):
    parser = _subparsers()[command]
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in parser._actions:
        if action.default in (None, False, argparse.SUPPRESS):
            continue
        assert action.help, f"{command} {action.option_strings}: no help"
        assert f"(default: {action.default})" in text or "default" in action.help.lower(), \
            f"{command} {action.option_strings}: default {action.default!r} not shown"


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


def test_unknown_muscle_is_one_line_exit_1(tmp_path, capsys):
    assert main(["mtu", "--muscle", "bicep_r", "--out", str(tmp_path)]) == 1
    _one_error_line(capsys, "unknown muscle", "bicep_r")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="unknown muscle"):
        main(["--debug", "mtu", "--muscle", "bicep_r", "--out", str(tmp_path)])


def test_simulate_bad_sizes_are_one_line_exit_1(tmp_path, capsys):
    assert main(["simulate", "--envs", "0", "--out", str(tmp_path)]) == 1
    _one_error_line(capsys, "envs >= 1")


def test_fit_missing_data_folder_is_one_line_exit_1(tmp_path, capsys):
    assert main(["fit", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 1
    _one_error_line(capsys, "not found", "nowhere")


def test_validate_missing_folder_is_one_line_exit_1(tmp_path, capsys):
    assert main(["validate-opensim", str(tmp_path / "nowhere"), "--no-progress"]) == 1
    _one_error_line(capsys, "nowhere")


@pytest.mark.parametrize("argv", [["mtu", "--tendon", "all_elastic"], ["simulate", "--envs", "two"],
                                  ["fit"], ["nonsense"], []])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("use_filter_jit", [True, False])
def test_error_raised_inside_jit_is_its_own_message(tmp_path, capsys, caplog, monkeypatch,
                                                    use_filter_jit):
    """`eqx.error_if` inside `jit`: the message, not JAX's preamble or equinox's advice, and not
    the traceback JAX logs when a callback inside `jax.jit` fails."""
    jit = eqx.filter_jit if use_filter_jit else jax.jit
    failing = jit(lambda x: eqx.error_if(x, x > 0, "env 3: state not finite at step 7"))

    def job(*args, **kwargs):
        return failing(jnp.asarray(1.0))

    monkeypatch.setattr(mskdiff.cli.mtu, "run_mtu_job", job)
    assert main(["mtu", "--out", str(tmp_path)]) == 1
    line = _one_error_line(capsys)
    assert line == "mskdiff: error: env 3: state not finite at step 7"
    assert "callback failed" not in caplog.text


def test_error_line():
    assert error_line(KeyError("soleus_x")) == "soleus_x"
    assert error_line(FileNotFoundError("data folder not found: x")) == "data folder not found: x"
    assert error_line(ValueError("first\nsecond")) == "first"
    unexpected = error_line(ZeroDivisionError("division by zero"))
    assert unexpected.startswith("ZeroDivisionError: division by zero") and "--debug" in unexpected


def test_tendon_has_one_vocabulary():
    parsers = _subparsers()
    for command in ("mtu", "simulate"):
        (tendon,) = [a for a in parsers[command]._actions if "--tendon" in a.option_strings]
        assert list(tendon.choices) == ["file", "elastic", "rigid"], command
    assert TENDON_MODES == {"file": "file", "elastic": "all_elastic", "rigid": "all_rigid"}


def test_mtu_rigid_tendon_keeps_slack_length(tmp_path):
    assert main(["mtu", "--out", str(tmp_path), "--duration", "0.3", "--tendon", "rigid"]) == 0
    table = read_csv(tmp_path / "mtu_soleus_r_tendon_force.csv")
    assert np.ptp(table["tendon_length"]) < 1e-12  # a rigid tendon does not stretch
    assert table["tendon_force"][-1] > 2000.0


def _synthetic_rollout(mj_model, n_steps: int = 20, n_envs: int = 3, n_muscles: int = 80):
    """A trajectory of the shape `rollout` returns: env 0 stands, the others fall."""
    from mskdiff.models import standing_qpos

    qpos = np.broadcast_to(standing_qpos(mj_model), (n_steps, n_envs, mj_model.nq)).copy()
    qpos[:, 1:, 2] = np.linspace(0.95, 0.2, n_steps)[:, None]
    muscle = np.full((n_steps, n_envs, n_muscles), 0.1)
    return SimpleNamespace(
        time=np.broadcast_to(0.002 * np.arange(1, n_steps + 1)[:, None], (n_steps, n_envs)),
        qpos=qpos, qvel=np.zeros((n_steps, n_envs, mj_model.nv)), excitation=muscle,
        muscle=SimpleNamespace(activation=muscle), tendon_force=100 * muscle,
        fiber_length=muscle, mtu_length=muscle, mtu_velocity=0 * muscle)


def test_simulate_counts_envs_on_the_floor(tmp_path, capsys, monkeypatch):
    """The job's outputs around the rollout (the rollout itself: tests/test_myoleg.py)."""
    from mskdiff.models import myoleg_mjmodel

    trajectory = _synthetic_rollout(myoleg_mjmodel())
    monkeypatch.setattr(mskdiff.cli.simulate, "simulate_batch",
                        lambda plant, qpos, n_envs, seconds, **kw: (trajectory, 1234.0))
    monkeypatch.setattr(mskdiff.cli.simulate, "metabolic_rates",
                        lambda plant, traj: SimpleNamespace(total=np.ones(traj.tendon_force.shape)))
    assert main(["simulate", "--envs", "3", "--seconds", "0.04", "--out", str(tmp_path),
                 "--tendon", "elastic", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "on the floor at the end: 2 of 3 envs (pelvis below 0.5 m" in out
    assert "throughput: 1234 env-steps/s" in out
    data = np.load(tmp_path / "simulate.npz")
    assert data["pelvis_height"].shape == (20, 3)
    assert list(data["on_floor"]) == [False, True, True] and int(data["envs_on_floor"]) == 2
    assert float(data["floor_threshold"]) == mskdiff.cli.simulate.FLOOR_THRESHOLD == 0.5
    assert str(data["tendon"]) == "elastic"
    assert (tmp_path / "simulate.png").stat().st_size > 10_000


def test_simulate_names_the_first_non_finite_env_and_step():
    qpos = np.zeros((5, 3, 4))
    mskdiff.cli.simulate._check_finite(qpos, first_step=50)
    qpos[3, 2, 1] = qpos[4, 1, 0] = np.nan
    with pytest.raises(RuntimeError, match="env 2 became non-finite .* at step 53; 2 env"):
        mskdiff.cli.simulate._check_finite(qpos, first_step=50)


def test_mujoco_attach_warning_is_silenced_and_others_are_not(capfd):
    import mujoco
    from myo_sim.build.compose import build_spec

    from mskdiff._quiet import mujoco_warnings_ignored

    build_spec("myolegs")
    assert "Attaching a spec with an empty prefix" in capfd.readouterr().err  # it does warn
    with mujoco_warnings_ignored():
        build_spec("myolegs")
        mujoco.get_mju_user_warning()("some other MuJoCo warning")
    err = capfd.readouterr().err
    assert "Attaching" not in err and "WARNING: some other MuJoCo warning" in err
    assert mujoco.get_mju_user_warning() is None  # restored
