"""Reinforcement-learning layer: environments on MuJoCo Playground's contract, noise.

`make(task, model=...)` builds a task of `TASKS` (`stand`, `walk`, `imitate`) on a model of
`MODELS`; `MuscleEnv` is their base (`reset(rng)`, `step(state, action)`, Playground's `State`
fields); `domain_randomizer` gives Brax/Playground's `randomization_fn`. `noise`: excitation and
observation noise. `Reach` is a one-joint muscle task without MJX (seconds to train).
`mskdiff.rl.train` trains policies (PPO, APG, SHAC, gradient-augmented PPO, SAR).
`mskdiff.rl.gymnasium` (the `rl` extra) wraps the envs for Gymnasium and
registers them (`gymnasium.make("mskdiff/MyoLegs26Walk-v0")`) when Gymnasium is installed.
Importing `mskdiff.rl` needs no optional package. It defines `jax.device_put_replicated` where
JAX 0.10 removed it and Brax 0.14.2's trainers still call it (`_jax_compat`).
"""

from ._jax_compat import restore_device_put_replicated
from .env import OBSERVATIONS, EnvConfig, MuscleEnv, State, domain_randomizer, muscle_observation
from .noise import Noise, noisy_excitations, sample_noise
from .reach import Reach
from .reference import ReferenceCycle, reference_cycle
from .registry import MODELS, MUSCLES, TASKS, make
from .tasks import Imitate, Stand, Walk

restore_device_put_replicated()
try:
    import gymnasium as _gymnasium  # noqa: F401  (the `rl` extra)
except ImportError:  # pragma: no cover - Gymnasium is optional
    pass
else:
    from .gymnasium import register as _register_gymnasium_ids

    _register_gymnasium_ids()

__all__ = ["MODELS", "MUSCLES", "OBSERVATIONS", "TASKS", "EnvConfig", "Imitate", "MuscleEnv",
           "Noise", "Reach", "ReferenceCycle", "Stand", "State", "Walk", "domain_randomizer", "make",
           "muscle_observation", "noisy_excitations", "reference_cycle", "sample_noise"]
