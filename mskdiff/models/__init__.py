"""Built-in models: myoLeg with the Rajagopal 2016 muscle parameters, and a tiny test leg."""

from .kinematics import qpos_from_coordinates
from .myoleg import (
    crouch_qpos,
    myoleg,
    myoleg_mjmodel,
    myoleg_spec,
    place_on_floor,
    random_standing_qpos,
    satisfy_joint_equalities,
    standing_qpos,
)
from .rajagopal2016 import (
    RAJAGOPAL2016_MUSCLE_NAMES,
    rajagopal2016,
    rajagopal2016_default_mtu_lengths,
)
from .tiny import TINY_LEG_MUSCLES, tiny_leg_mjmodel, tiny_leg_mtu_lengths, tiny_leg_parameters

__all__ = [
    "RAJAGOPAL2016_MUSCLE_NAMES",
    "TINY_LEG_MUSCLES",
    "crouch_qpos",
    "myoleg",
    "myoleg_mjmodel",
    "myoleg_spec",
    "place_on_floor",
    "qpos_from_coordinates",
    "rajagopal2016",
    "rajagopal2016_default_mtu_lengths",
    "random_standing_qpos",
    "satisfy_joint_equalities",
    "standing_qpos",
    "tiny_leg_mjmodel",
    "tiny_leg_mtu_lengths",
    "tiny_leg_parameters",
]
