"""Gymnasium interfaces (`mskdiff.rl.gymnasium`): Gymnasium's env checker on the single env, and
the vector env against Gymnasium's own `SyncVectorEnv` of single envs (autoreset included)."""

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium", reason="the `rl` extra (gymnasium) is not installed")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import mskdiff.rl as rl  # noqa: E402  (registers the ids)
from mskdiff.rl.gymnasium import IDS, MuscleGymEnv, MuscleVectorEnv  # noqa: E402

#: Episodes of 3 control steps, so a short run crosses autoresets.
OPTIONS = {"episode_seconds": 0.06, "check_actions": False}


@pytest.fixture(scope="module")
def stand():
    return rl.make("stand", "tiny_biped", **OPTIONS)


# unbounded observations (velocities, forces), as in Gymnasium's own MuJoCo envs
@pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum) value is:UserWarning")
def test_single_env_passes_gymnasiums_checker():
    env = gymnasium.make("mskdiff/TinyBipedStand-v0", render_mode="rgb_array", **OPTIONS).unwrapped
    assert isinstance(env, MuscleGymEnv)
    check_env(env, skip_render_check=False)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert "reward/upright" in info
    frame = env.render()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    endings = []
    for _ in range(3):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        endings.append((terminated, truncated))
    assert endings[-1] in ((False, True), (True, False))


def test_vector_env_matches_gymnasiums_sync_vector_env(stand):
    n = 3
    vector = MuscleVectorEnv(stand, n)
    reference = gymnasium.vector.SyncVectorEnv([lambda: MuscleGymEnv(stand) for _ in range(n)])
    assert vector.observation_space == reference.observation_space
    assert vector.action_space == reference.action_space
    assert vector.metadata["autoreset_mode"] == reference.metadata["autoreset_mode"]
    obs, _ = vector.reset(seed=7)
    want, _ = reference.reset(seed=7)
    np.testing.assert_allclose(obs, want, atol=1e-5)
    rng = np.random.default_rng(0)
    autoresets = 0
    for _ in range(8):  # crosses two episode ends: the step after each resets
        actions = rng.uniform(-1, 1, vector.action_space.shape).astype(np.float32)
        got = vector.step(actions)
        expected = reference.step(actions)
        for a, b in zip(got[:4], expected[:4], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)
        autoresets += int(np.any(got[2] | got[3]))
    assert autoresets >= 2
    assert vector.observation_space.contains(got[0])


def test_registered_ids_make_envs():
    assert "mskdiff/MyoLegs26Walk-v0" in gymnasium.registry and len(IDS) == 9
    env = gymnasium.make("mskdiff/TinyBipedStand-v0", **OPTIONS)
    assert env.unwrapped.env.action_size == 12
    vector = gymnasium.make_vec("mskdiff/TinyBipedStand-v0", num_envs=2, **OPTIONS)
    assert isinstance(vector, MuscleVectorEnv) and vector.num_envs == 2
    with pytest.raises(ValueError, match="num_envs"):
        MuscleVectorEnv(vector.env, 0)
