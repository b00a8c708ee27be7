"""Built-in models: every myo-sim model as a plant (`load`), myoLeg, myolegs26, the tiny test models.

myoLeg has the Rajagopal 2016 muscle parameters; the others are converted from MuJoCo's muscles.
Also here: poses, reference motions onto the models, and rollouts as OpenSim files.
"""

from .kinematics import (
    COORDINATE_SIGNS,
    MappedMotion,
    coordinates_from_qpos,
    map_motion,
    qpos_from_coordinates,
    read_ik_coordinates,
)
from .locomotion import (
    crouch_qpos,
    foot_geom_ids,
    place_on_floor,
    random_standing_qpos,
    satisfy_joint_equalities,
    standing_qpos,
)
from .mujoco_conversion import parameters_from_mujoco
from .myoleg import myoleg, myoleg_mjmodel, myoleg_spec
from .myolegs26 import myolegs26, myolegs26_mjmodel, myolegs26_spec
from .opensim_export import write_opensim_results
from .rajagopal2016 import (
    RAJAGOPAL2016_MUSCLE_NAMES,
    rajagopal2016,
    rajagopal2016_default_mtu_lengths,
)
from .registry import ALIASES, MODELS, describe, host_mjmodel, load
from .tiny import (
    TINY_BIPED_MUSCLES,
    TINY_LEG_MUSCLES,
    tiny_biped_mjmodel,
    tiny_biped_parameters,
    tiny_leg_mjmodel,
    tiny_leg_mtu_lengths,
    tiny_leg_parameters,
)

__all__ = [
    "ALIASES",
    "COORDINATE_SIGNS",
    "MODELS",
    "RAJAGOPAL2016_MUSCLE_NAMES",
    "TINY_BIPED_MUSCLES",
    "TINY_LEG_MUSCLES",
    "MappedMotion",
    "coordinates_from_qpos",
    "crouch_qpos",
    "describe",
    "foot_geom_ids",
    "host_mjmodel",
    "load",
    "map_motion",
    "myoleg",
    "myoleg_mjmodel",
    "myoleg_spec",
    "myolegs26",
    "myolegs26_mjmodel",
    "myolegs26_spec",
    "parameters_from_mujoco",
    "place_on_floor",
    "qpos_from_coordinates",
    "rajagopal2016",
    "rajagopal2016_default_mtu_lengths",
    "random_standing_qpos",
    "read_ik_coordinates",
    "satisfy_joint_equalities",
    "standing_qpos",
    "tiny_biped_mjmodel",
    "tiny_biped_parameters",
    "tiny_leg_mjmodel",
    "tiny_leg_mtu_lengths",
    "tiny_leg_parameters",
    "write_opensim_results",
]
