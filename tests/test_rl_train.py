"""Policy training (`mskdiff.rl.train`): each algorithm's loss against finite differences, each
solves the one-joint `Reach` task within a stated budget, resume equals an uninterrupted run,
two devices and two processes equal one device, SAR recovers known synergies, `mskdiff train`."""

import dataclasses
import json
import socket
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import directional_derivatives

from mskdiff.cli import main
from mskdiff.cli.train import make_algorithm, right_heel_strikes
from mskdiff.rl.reach import Reach
from mskdiff.rl.train import (
    APG,
    PPO,
    SHAC,
    BatchedEnv,
    GradientPPO,
    HorizonCut,
    Normalizer,
    env_mesh,
    load_policy,
    train,
)
from mskdiff.rl.train.apg import unroll
from mskdiff.rl.train.gippo import policy_shift
from mskdiff.rl.train.sar import SynergyEnv, fit_synergies, variance_accounted_for

WORKER = Path(__file__).with_name("train_worker.py")
#: Untrained, the final angle error is ~0.5 rad (initial angles and targets uniform in +-0.8).
SOLVED_ERROR = 0.1  # rad
#: name -> (algorithm, env steps): each reached SOLVED_ERROR in about half of its budget.
BUDGETS = {
    "ppo": (PPO(num_envs=64, unroll_length=16, num_epochs=4, learning_rate=1e-3,
                hidden=(32, 32)), 40_000),
    "apg": (APG(num_envs=64, horizon=25, learning_rate=3e-3, hidden=(32, 32)), 48_000),
    "shac": (SHAC(num_envs=64, horizon=16, hidden=(32, 32)), 48_000),
    "gippo": (GradientPPO(num_envs=64, unroll_length=16, num_epochs=4, learning_rate=1e-3,
                          hidden=(32, 32), adaptive=True), 48_000),
}


def test_bad_configurations_name_the_field():
    with pytest.raises(ValueError, match="learning_rate"):
        PPO(learning_rate=-1e-3)
    with pytest.raises(ValueError, match="divisible by `num_minibatches`"):
        PPO(num_envs=10, unroll_length=3, num_minibatches=4)
    with pytest.raises(ValueError, match=r"`num_envs` \(3\) must be divisible by the number of "
                                         r"devices \(2\)"):
        env_mesh(3, jax.devices() * 2)
    with pytest.raises(ValueError, match="unknown algorithm 'dqn'.*ppo"):
        make_algorithm("dqn")
    with pytest.raises(ValueError, match="adapt_factor"):
        GradientPPO(adapt_factor=1.0)
    with pytest.raises(ValueError, match="action_gradient_cost_range"):
        GradientPPO(action_gradient_cost_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="must lie in `action_gradient_cost_range`"):
        GradientPPO(adaptive=True, action_gradient_cost=10.0)
    with pytest.raises(ValueError, match="target_smoothing"):
        SHAC(target_smoothing=0.0)
    with pytest.raises(ValueError, match="horizon"):
        APG(horizon=0)
    with pytest.raises(ValueError, match="cut_threshold"):
        SHAC(cut_on="foot_forces", cut_threshold=0.0)
    with pytest.raises(ValueError, match="'foot_forces', which this env does not have"):
        SHAC(num_envs=4, cut_on="foot_forces").init(BatchedEnv(Reach(), 4), jr.key(0))
    with pytest.raises(ValueError, match="steps"):
        train(Reach(), PPO(), steps=0)
    with pytest.raises(ValueError, match="resume"):
        train(Reach(), PPO(), steps=10, resume=True)
    with pytest.raises(ValueError, match="moment_arm"):
        Reach(moment_arm=-0.01)
    with pytest.raises(ValueError, match="samples"):
        fit_synergies(np.zeros((3, 8)), 2)
    with pytest.raises(ValueError, match="phi"):
        SynergyEnv(Reach(), fit_synergies(np.random.default_rng(0).uniform(size=(40, 2)), 1), 0)


@pytest.mark.x64
def test_losses_match_central_differences(getkey):
    """d(loss)/d(networks) of PPO, gradient-augmented PPO, APG and SHAC (float64); APG's and
    SHAC's go through 5 steps of the muscle-driven joint, from random states."""
    env = BatchedEnv(Reach(), 4)
    normalizer = Normalizer.init(env.observation_size).update(jr.normal(getkey(), (64, 8)))
    actor, critic = PPO(hidden=(8, 8))._networks(env, getkey())
    obs = jr.normal(getkey(), (32, env.observation_size))
    actions = jax.vmap(actor.mean)(normalizer(obs)) + 0.3 * jr.normal(getkey(), (32, 2))
    batch = {"obs": obs, "action": actions,
             "log_prob": jax.vmap(actor.log_prob)(normalizer(obs), actions)
             + 0.05 * jr.normal(getkey(), (32,)),
             "advantage": jr.normal(getkey(), (32,)), "target": jr.normal(getkey(), (32,)),
             "action_gradient": jr.normal(getkey(), (32, 2))}
    ppo_losses = [eqx.filter_jit(lambda m, a=a: a.loss(m, normalizer, batch)[0])
                  for a in (PPO(), GradientPPO())]
    for loss in ppo_losses:
        _assert_gradient_matches(loss, (actor, critic), getkey)
    @eqx.filter_jit
    def random_state(key):  # 2 random steps from a reset
        keys = jr.split(key, 5)
        envs = env.reset(keys[0])
        for k in (1, 3):
            envs = env.step(envs, jr.uniform(keys[k], (4, 2), minval=-1), keys[k + 1])[0]
        return envs

    starts = [random_state(key) for key in jr.split(getkey(), 3)]
    apg = eqx.filter_jit(lambda a, e: APG(horizon=5).loss(a, normalizer, env, e, jr.key(1))[0])
    shac = eqx.filter_jit(lambda a, e: SHAC(num_envs=4, horizon=5).actor_loss(
        a, normalizer, critic, env, e, jr.key(1))[0])
    for loss in (apg, shac):
        _assert_gradient_matches(lambda a, loss=loss: loss(a, starts[0]), actor, getkey)
        for start in starts[1:]:  # finite from other random states
            grad = eqx.filter_jit(eqx.filter_grad(loss))(actor, start)
            assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(eqx.filter(grad,
                                                                                  eqx.is_array)))


def test_horizon_cut_stops_the_gradient_where_the_watched_part_jumps(getkey):
    """Cut on every step (the angle always moves): the last reward's gradient is one step's
    from the state before it; uncut, it also flows through the earlier steps."""
    env = BatchedEnv(Reach(), 4)
    normalizer = Normalizer.init(env.observation_size)
    actor, _ = PPO(hidden=(8,))._networks(env, getkey())
    start = env.reset(getkey())
    cut = HorizonCut.on(env, "angle", 1e-12)

    def last_reward(actor, start, horizon, cut):
        _, (_, step), cuts = unroll(actor, normalizer, env, start, jr.key(1), horizon, 0.0, cut)
        return jnp.sum(step.reward[-1]), cuts

    grad = eqx.filter_jit(eqx.filter_grad(last_reward, has_aux=True))
    cut_grad, cuts = grad(actor, start, 3, cut)
    assert np.all(np.asarray(cuts) == 1)
    before, _, _ = eqx.filter_jit(unroll)(actor, normalizer, env, start, jr.key(1), 2, 0.0)
    one_step_grad, _ = grad(actor, before, 1, None)
    uncut_grad, no_cuts = grad(actor, start, 3, None)
    assert np.all(np.asarray(no_cuts) == 0)
    flat = [np.concatenate([np.ravel(x) for x in jax.tree.leaves(eqx.filter(g, eqx.is_array))])
            for g in (cut_grad, one_step_grad, uncut_grad)]
    np.testing.assert_allclose(flat[0], flat[1], rtol=1e-6, atol=1e-9)
    assert np.linalg.norm(flat[2] - flat[1]) > 1e-3 * np.linalg.norm(flat[1])


def _assert_gradient_matches(loss, models, getkey):
    value, grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))(models)
    assert np.isfinite(value)
    leaves = jax.tree.leaves(eqx.filter(grad, eqx.is_array))
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves)
    assert any(np.any(leaf != 0) for leaf in leaves)
    for _ in range(2):
        ad, fd = directional_derivatives(loss, models, key=getkey(), grad=grad)
        assert abs(ad - fd) <= 1e-5 * abs(fd), (ad, fd)


@pytest.mark.parametrize("name", list(BUDGETS))
def test_algorithm_solves_reach(name):
    algorithm, steps = BUDGETS[name]
    result = train(Reach(), algorithm, steps=steps, num_eval_envs=64, progress=False)
    final = result.history[-1]
    assert final["eval/final/angle_error"] < SOLVED_ERROR, final
    assert all(row["grad_nonfinite"] == 0 for row in result.history)
    assert all(np.isfinite(row["grad_norm"]) for row in result.history)


def test_gradient_ppo_adapts_its_weight_as_gi_ppo_adapts_alpha(getkey):
    """Beta falls by `adapt_factor` when the update left PPO's clip range on too many samples,
    when PPO's surrogate rates it a loss, or when an action gradient was non-finite; else it
    grows, within its range. `policy_shift` against the Gaussians' ratio written out."""
    algorithm = GradientPPO(adaptive=True, max_out_of_range=0.5, adapt_factor=2.0,
                            action_gradient_cost_range=(0.1, 1.0))
    fine, finite = {"out_of_range": 0.4, "surrogate_gain": 0.01}, {"action_grad_nonfinite": 0.0}
    adapted = lambda cost, shift=fine, metrics=finite: float(algorithm.adapted_cost(
        jnp.asarray(cost), shift, metrics))
    assert adapted(0.2) == pytest.approx(0.4)
    assert adapted(0.2, {**fine, "out_of_range": 0.6}) == pytest.approx(0.1)
    assert adapted(0.4, {**fine, "surrogate_gain": -1e-3}) == pytest.approx(0.2)
    assert adapted(0.4, metrics={"action_grad_nonfinite": 1.0}) == pytest.approx(0.2)
    assert adapted(0.8) == pytest.approx(1.0) and adapted(0.15, {**fine, "out_of_range": 1.0}) \
        == pytest.approx(0.1)

    env = BatchedEnv(Reach(), 1)
    old, _ = PPO(hidden=(8,))._networks(env, getkey())
    new = eqx.tree_at(lambda a: a.log_std, old, old.log_std + 0.3)  # same mean, wider
    normalizer = Normalizer.init(env.observation_size)
    obs = jr.normal(getkey(), (256, env.observation_size))
    z = jr.normal(getkey(), (256, env.action_size))
    actions = jax.vmap(old.mean)(normalizer(obs)) + jnp.exp(old.log_std)[None] * z
    batch = {"obs": obs, "action": actions, "advantage": jr.normal(getkey(), (256,)),
             "log_prob": jax.vmap(old.log_prob)(normalizer(obs), actions)}  # collected by old
    shift = policy_shift(new, normalizer, batch, 0.2)
    z, advantage = np.asarray(z, float), np.asarray(batch["advantage"], float)
    ratio = np.exp(np.sum(0.5 * z ** 2 * (1 - np.exp(-0.6)) - 0.3, axis=1))
    normalised = (advantage - advantage.mean()) / advantage.std()
    assert float(shift["out_of_range"]) == pytest.approx(np.mean(np.abs(ratio - 1) > 0.2))
    assert float(shift["surrogate_gain"]) == pytest.approx(np.mean((ratio - 1) * normalised),
                                                           rel=1e-4)
    same = policy_shift(old, normalizer, batch, 0.2)
    assert float(same["out_of_range"]) == 0 and abs(float(same["surrogate_gain"])) < 1e-6


def test_gradient_ppo_updates_with_the_states_weight():
    """An adaptive GradientPPO update weights the analytic term by `TrainState.coefficients`:
    at 0 it moves the actor as PPO's update does (same rollout), at 0.5 elsewhere."""
    options = dict(num_envs=8, unroll_length=4, num_minibatches=2, hidden=(8,))
    env = BatchedEnv(Reach(), 8)
    gippo = GradientPPO(**options, adaptive=True)
    start = gippo.init(env, jr.key(3))
    with_weight = lambda w: dataclasses.replace(start, coefficients={
        "action_gradient_cost": jnp.asarray(w, float)})
    update = eqx.filter_jit(lambda algorithm, state: algorithm.update(env, state)[0].actor)
    flat = lambda actor: np.concatenate([np.ravel(x) for x in jax.tree.leaves(
        eqx.filter(actor, eqx.is_array))])
    ppo = flat(update(PPO(**options), dataclasses.replace(start, coefficients={})))
    np.testing.assert_allclose(flat(update(gippo, with_weight(0.0))), ppo, rtol=1e-5, atol=1e-7)
    assert np.max(np.abs(flat(update(gippo, with_weight(0.5))) - ppo)) > 1e-4


def test_gradient_ppo_reward_alone_leaves_the_critic_out(getkey):
    """`bootstrap_action_gradient=False`: g is the reward's alone, so another critic leaves it
    unchanged; with the critic's value (the default) it changes g."""
    env = BatchedEnv(Reach(), 4)
    key, other_critic = getkey(), PPO(hidden=(8,))._networks(env, getkey())[1]

    def gradients(algorithm):
        state = algorithm.init(env, key)
        collect = eqx.filter_jit(lambda s: algorithm._collect(env, s, key)[2]["action_gradient"])
        return [np.asarray(collect(s)) for s in
                (state, eqx.tree_at(lambda s: s.critic, state, other_critic))]

    options = dict(num_envs=4, unroll_length=2, hidden=(8,))
    alone = gradients(GradientPPO(**options, bootstrap_action_gradient=False))
    np.testing.assert_array_equal(alone[0], alone[1])
    assert np.all(np.isfinite(alone[0])) and np.any(alone[0] != 0)
    bootstrapped = gradients(GradientPPO(**options))
    assert not np.allclose(bootstrapped[0], bootstrapped[1])


def test_resume_equals_uninterrupted(tmp_path):
    """PPO with GI-PPO's adaptive analytic term: networks, optimiser, envs and the adapted
    weight all resume."""
    algorithm = GradientPPO(num_envs=8, unroll_length=8, num_minibatches=2, hidden=(8, 8),
                            adaptive=True)
    options = dict(num_eval_envs=4, checkpoint_every=2, progress=False)
    steps = 4 * algorithm.steps_per_update
    whole = train(Reach(), algorithm, steps=steps, out=tmp_path / "whole", **options)
    train(Reach(), algorithm, steps=steps // 2, out=tmp_path / "parts", **options)
    resumed = train(Reach(), algorithm, steps=steps, out=tmp_path / "parts", resume=True,
                    **options)
    as_numbers = lambda state: [np.asarray(jr.key_data(x) if jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key) else x) for x in jax.tree.leaves(eqx.filter(state,
                                                                                  eqx.is_array))]
    for a, b in zip(as_numbers(whole.state), as_numbers(resumed.state), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len({row["action_gradient_cost"] for row in whole.history}) > 1  # it adapted
    # the same metrics (the interrupted run also evaluated where it stopped), NaN == NaN
    training = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"
                              and not k.startswith("eval/")} for r in rows]
    np.testing.assert_equal(training(whole.history), training(resumed.history))
    np.testing.assert_equal(whole.history[-1]["eval/episode_return"],
                            resumed.history[-1]["eval/episode_return"])
    assert len((tmp_path / "parts" / "metrics.csv").read_text().splitlines()) == 5
    # a policy loads back for evaluation in two lines
    policy = load_policy(tmp_path / "whole")
    obs = jr.normal(jr.key(0), (Reach().observation_size,))
    np.testing.assert_array_equal(policy(obs), whole.policy(obs))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run_workers(commands: list[list[str]]) -> None:
    workers = [subprocess.Popen([sys.executable, str(WORKER), *c], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for c in commands]
    for worker in workers:
        output = worker.communicate(timeout=600)[0]
        assert worker.returncode == 0, output[-3000:]


def test_two_devices_and_two_processes_equal_one_device(tmp_path):
    """Data-parallel PPO (3 updates, 8 envs): sharded over 2 emulated CPU devices, and over 2
    processes joined by `jax.distributed.initialize`, it ends with one device's networks
    (float32; the sharded gradient sums in another order)."""
    port = str(_free_port())
    _run_workers([["devices", "2", str(tmp_path / "devices.npz")],
                  *[["process", str(k), "2", port, str(tmp_path / f"process{k}.npz")]
                    for k in range(2)]])
    devices = list(np.load(tmp_path / "devices.npz").values())
    two_devices, one_device = devices[:len(devices) // 2], devices[len(devices) // 2:]
    processes = [list(np.load(tmp_path / f"process{k}.npz").values()) for k in range(2)]
    for run in (two_devices, *processes):
        for got, want in zip(run, one_device, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    for a, b in zip(*processes, strict=True):  # every process holds the same networks
        np.testing.assert_array_equal(a, b)


def test_sar_recovers_known_synergies():
    """Activations mixed from 3 known non-negative synergies (independent, non-Gaussian
    drives, 1 % noise): VAF passes 0.99 at 3 synergies and not before; PCA -> ICA finds each
    synergy's direction (|cos| > 0.99); the composed map equals scikit-learn's chain."""
    rng = np.random.default_rng(0)
    synergies = rng.uniform(0.0, 1.0, (8, 3))
    drives = rng.exponential(0.1, (2000, 3))
    activations = np.clip(drives @ synergies.T + 0.01 * rng.normal(size=(2000, 8)), 0.0, 1.0)
    vaf = variance_accounted_for(activations)
    assert vaf[1] < 0.95 < 0.99 < vaf[2]
    fitted = fit_synergies(activations, 3)
    unit = lambda m: m / np.linalg.norm(m, axis=0)
    cosines = np.abs(unit(synergies).T @ unit(np.asarray(fitted.matrix)))
    assert np.all(cosines.max(axis=1) > 0.99), cosines
    # the synergy env: phi * synergy action + (1 - phi) * full action
    env = SynergyEnv(Reach(), fit_synergies(activations[:, :2], 1), phi=0.66)
    assert env.action_size == 1 + 2
    action = jnp.array([0.3, -0.5, 0.9])
    expected = 0.66 * (2 * env.synergies.activations(action[:1]) - 1) + 0.34 * action[1:]
    np.testing.assert_allclose(env.muscle_action(action), expected, rtol=1e-6)
    state = env.step(env.reset(jr.key(0)), action)
    assert np.isfinite(float(state.reward))


def test_train_command_writes_runs_and_loads_back(tmp_path, capsys):
    """`mskdiff train --algo sar`: the play phase, the synergies, the synergy phase, per seed."""
    out = tmp_path / "train"
    code = main(["train", "--task", "reach", "--algo", "sar", "--steps", "2048", "--seeds", "2",
                 "--num-envs", "16", "--hidden", "8,8", "--eval-every", "2", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    summary = json.loads((out / "train.json").read_text())
    assert [run["seed"] for run in summary["runs"]] == [0, 1]
    for run in summary["runs"]:
        assert np.isfinite(run["eval_return"]) and run["play_env_steps"] == 1024
        assert 1 <= run["n_synergies"] <= 2 and len(run["vaf"]) == 2
    assert (out / "train.png").is_file() and (out / "seed_1" / "play" / "metrics.csv").is_file()
    assert "final evaluation return" in capsys.readouterr().out
    policy = load_policy(out / "seed_0" / "synergy")  # actions: [synergies, 2 muscles]
    assert policy(jnp.zeros(8)).shape == (summary["runs"][0]["n_synergies"] + 2,)
    # --resume of finished runs: both phases load, the synergies are refitted, nothing changes
    assert main(["train", "--task", "reach", "--algo", "sar", "--steps", "2048", "--seeds", "1",
                 "--num-envs", "16", "--hidden", "8,8", "--eval-every", "2", "--out", str(out),
                 "--no-progress", "--resume"]) == 0
    resumed = json.loads((out / "train.json").read_text())["runs"][0]
    assert {k: v for k, v in resumed.items() if k != "wall_time_s"} == {
        k: v for k, v in summary["runs"][0].items() if k != "wall_time_s"}
    with pytest.raises(SystemExit) as usage:
        main(["train", "--algo", "dqn"])
    assert usage.value.code == 2


def test_heel_strikes_skip_contact_chatter():
    """The gait report's cycle: rises of the right foot's vertical force through 0.05 body
    weights, a rise within 0.4 s of the last strike being chatter (as one imitate policy's)."""
    time = np.arange(1, 101) * 0.02
    vertical = np.zeros(100)
    for start, stop in ((0.5, 0.52), (0.54, 0.9), (1.6, 2.0)):  # on, off 20 ms, on; later on
        vertical[(time >= start) & (time < stop)] = 0.8
    forces = np.zeros((100, 6))
    forces[:, 2] = vertical
    strikes = right_heel_strikes({"time": time, "foot_forces": forces})
    np.testing.assert_allclose(strikes, [0.5, 1.6])
