"""The MJX plant: MuJoCo/MJX skeleton dynamics with mskdiff muscle-tendon units."""

from .batching import cpu_env_group_size, vmap_envs
from .energetics import cost_of_transport, metabolic_energy, metabolic_rates
from .ground_reactions import GroundReaction, ground_reactions
from .mujoco_muscles import MuJoCoMusclePlant
from .plant import AbstractPlant, MJXPlant, PlantState
from .randomize import (
    QUANTITIES,
    Range,
    absolute,
    apply_sample,
    batched_axes,
    randomize,
    randomize_batch,
    relative,
    sample,
)
from .rollout import NonFiniteStateError, PlantTrajectory, check_trajectory, rollout

__all__ = ["QUANTITIES", "AbstractPlant", "GroundReaction", "MJXPlant", "MuJoCoMusclePlant",
           "NonFiniteStateError", "PlantState", "PlantTrajectory", "Range", "absolute",
           "apply_sample", "batched_axes", "check_trajectory", "cost_of_transport",
           "cpu_env_group_size", "ground_reactions", "metabolic_energy", "metabolic_rates",
           "randomize", "randomize_batch", "relative", "rollout", "sample", "vmap_envs"]
