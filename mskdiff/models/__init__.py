"""Built-in models: the Rajagopal 2016 muscle parameters."""

from .rajagopal2016 import (
    RAJAGOPAL2016_MUSCLE_NAMES,
    rajagopal2016,
    rajagopal2016_default_mtu_lengths,
)

__all__ = ["RAJAGOPAL2016_MUSCLE_NAMES", "rajagopal2016", "rajagopal2016_default_mtu_lengths"]
