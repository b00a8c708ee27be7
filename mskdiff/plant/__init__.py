"""The MJX plant: MuJoCo/MJX skeleton dynamics with mskdiff muscle-tendon units."""

from .plant import MJXPlant, PlantState
from .rollout import NonFiniteStateError, PlantTrajectory, check_trajectory, rollout

__all__ = ["MJXPlant", "NonFiniteStateError", "PlantState", "PlantTrajectory", "check_trajectory",
           "rollout"]
