"""The only place in mskdiff that reads MJX's private fields (`mjx.Data._impl`).

MJX keeps backend-specific arrays (actuator moment arms and velocities, the constraint
Jacobian, contacts) in `data._impl`, whose layout is not public API and may move between
MuJoCo releases. Every private read goes through the accessors below; a missing field raises
`MJXCompatibilityError` naming the installed MuJoCo version, and `tests/test_mjx_compat.py`
checks every field in `PRIVATE_FIELDS` on the installed MJX.
"""

import mujoco
from jax import Array
from mujoco import mjx

#: Fields of `mjx.Data._impl` (JAX backend) that mskdiff reads.
PRIVATE_FIELDS = ("actuator_moment", "actuator_velocity", "efc_J", "contact")


class MJXCompatibilityError(RuntimeError):
    """The installed MJX no longer has a private field mskdiff reads."""


def _private(data: mjx.Data, field: str):
    """`data._impl.<field>`, or `MJXCompatibilityError` naming the MuJoCo version."""
    impl = getattr(data, "_impl", None)
    if impl is None or not hasattr(impl, field):
        raise MJXCompatibilityError(
            f"MJX (mujoco {mujoco.__version__}) has no `mjx.Data._impl.{field}`, which mskdiff "
            "reads (mskdiff/plant/_mjx_compat.py): the private layout moved; update the "
            "accessors there, or install a mujoco-mjx release that has it (3.17 does)")
    return getattr(impl, field)


def check_private_fields(data: mjx.Data) -> None:
    """Raise `MJXCompatibilityError` unless every field in `PRIVATE_FIELDS` exists on `data`."""
    for field in PRIVATE_FIELDS:
        _private(data, field)


def actuator_moment(data: mjx.Data) -> Array:
    """Actuator moment arms `(nu, nv)` [m] (filled in by `mjx.fwd_position`)."""
    return _private(data, "actuator_moment")


def actuator_velocity(data: mjx.Data) -> Array:
    """Actuator velocities `(nu,)` [m/s for tendons] (filled in by `mjx.fwd_velocity`)."""
    return _private(data, "actuator_velocity")


def has_constraints(data: mjx.Data) -> bool:
    """Whether the model has constraint rows (a static property of the shapes)."""
    return _private(data, "efc_J").size > 0


def contact_distance(data: mjx.Data) -> Array:
    """Signed distances [m] of MJX's candidate contacts (negative: penetration)."""
    return _private(data, "contact").dist
