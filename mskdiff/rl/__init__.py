"""Reinforcement-learning layer: what environments add on top of the plant.

`noise`: excitation and observation noise (standard deviations, sampling, application).
Importing `mskdiff.rl` needs no optional package.
"""

from .noise import Noise, noisy_excitations, sample_noise

__all__ = ["Noise", "noisy_excitations", "sample_noise"]
