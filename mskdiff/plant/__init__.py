"""The MJX plant: MuJoCo/MJX skeleton dynamics with mskdiff muscle-tendon units."""

from .batching import cpu_env_group_size, vmap_envs
from .plant import MJXPlant, PlantState
from .rollout import NonFiniteStateError, PlantTrajectory, check_trajectory, rollout

__all__ = ["MJXPlant", "NonFiniteStateError", "PlantState", "PlantTrajectory", "check_trajectory",
           "cpu_env_group_size", "rollout", "vmap_envs"]
