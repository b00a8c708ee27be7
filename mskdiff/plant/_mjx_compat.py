r"""The only place in mskdiff that reads MJX's private fields (`mjx.Data._impl`) or patches MJX.

MJX keeps backend-specific arrays (actuator moment arms and velocities, the constraint
Jacobian, contacts) in `data._impl`, whose layout is not public API and may move between
MuJoCo releases. Every private read goes through the accessors below; a missing field raises
`MJXCompatibilityError` naming the installed MuJoCo version, and `tests/test_mjx_compat.py`
checks every field in `PRIVATE_FIELDS` on the installed MJX.

Two patches, applied when `mskdiff.plant` is imported.

`patch_wrap_angle_gradient`: MJX's wrap
angle of a spatial tendon around a sphere or cylinder, `support._length_circle`, is
$\arccos(\mathrm{clip}(\hat p_0 \cdot \hat p_1, -1, 1))$, whose derivative is infinite where
the two tangent points coincide (a tendon that leaves its wrapping geom: MJX evaluates every
branch and selects afterwards) and NaN where the clip is active ($0 \cdot \infty$). It put NaN
in myoLeg's rollout gradients on the walking trial (found with `jax_debug_nans` on single plant
steps) while the values stayed finite. The replacement computes the same angle
as $\operatorname{atan2}(|p_0 \times p_1|, p_0 \cdot p_1)$, whose gradient is finite there;
`tests/test_mjx_compat.py` checks equal values and the finite gradient.

`patch_muscle_timescale_gradient`: MJX's activation time constant of MuJoCo's own muscles,
`support.muscle_dynamics_timescale`, blends the activation and deactivation constants with a
quintic sigmoid of $\Delta u / w + 1/2$ and selects the hard switch where the smoothing width
$w$ is 0 (MuJoCo's default). With $w = 0$ the sigmoid's argument is $\Delta u / 10^{-15}$, whose
polynomial overflows in the unselected branch: the gradient of every step with MuJoCo's muscles
was NaN (`MuJoCoMusclePlant`; found when Brax's APG trainer diverged to NaN parameters on
`muscles="mujoco"`). The replacement clips the sigmoid's argument to [0, 1] before the
polynomial: the same values, a finite gradient.
"""

import jax.numpy as jnp
import mujoco
import numpy as np
from jax import Array
from mujoco import mjx

#: Fields of `mjx.Data._impl` (JAX backend) that mskdiff reads.
PRIVATE_FIELDS = ("actuator_moment", "actuator_velocity", "efc_J", "contact", "efc_force")


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


def contact_geoms(data: mjx.Data) -> Array:
    """Geom ids of MJX's candidate contacts, shape `(ncon, 2)`."""
    return _private(data, "contact").geom


def contact_position(data: mjx.Data) -> Array:
    """Contact points [m] in the world frame (midway between the geoms), shape `(ncon, 3)`."""
    return _private(data, "contact").pos


def contact_wrenches(mjx_model: mjx.Model, data: mjx.Data) -> tuple[Array, Array]:
    """Each contact's force [N] and torque [N m] on its second geom, world frame, `(ncon, 3)` each.

    MuJoCo's contact frame has the normal from the first geom to the second, and the solved force
    (`efc_force`, decoded from the pyramidal or elliptic cone by MJX's own `contact_force_dim`, as
    `mujoco.mj_contactForce` does in C) pushes the second geom along it. Candidate contacts
    that are not active carry zero force.
    """
    contact = _private(data, "contact")
    _private(data, "efc_force")
    try:
        from mujoco.mjx._src.support import contact_force_dim
    except ImportError as error:
        raise MJXCompatibilityError(
            f"MJX (mujoco {mujoco.__version__}) has no `mujoco.mjx._src.support.contact_force_dim`, "
            "which mskdiff/plant/_mjx_compat.py calls to decode contact forces") from error
    n = np.shape(contact.dim)[0]
    wrench = jnp.zeros((n, 6), dtype=contact.pos.dtype)
    for dim in sorted({int(d) for d in np.asarray(contact.dim)}):
        force, index = contact_force_dim(mjx_model, data, dim)
        wrench = wrench.at[index].set(force.astype(wrench.dtype))
    # Contact-frame rows are the axes: world = local @ frame.
    world = jnp.einsum("nki,nij->nkj", wrench.reshape(n, 2, 3), contact.frame.reshape(n, 3, 3))
    return world[:, 0], world[:, 1]


def wrap_angle_length(p0: Array, p1: Array, ind: Array, rad: Array) -> Array:
    """Arc length [m] of a tendon wrapped on a circle of radius `rad`.

    `p0`, `p1`: the tangent points (2-D, in the wrap plane); `ind` picks the side as MJX's
    `_length_circle` does.
    """
    p0, p1 = p0.reshape(-1), p1.reshape(-1)
    cross = p0[1] * p1[0] - p0[0] * p1[1]
    angle = jnp.arctan2(jnp.abs(cross), jnp.dot(p0, p1))  # in [0, pi], as arccos of the cosine
    flip = ((cross > 0) & (ind != 0)) | ((cross < 0) & (ind == 0))
    return rad * jnp.where(flip, 2 * jnp.pi - angle, angle)


#: MJX's own `support._length_circle`, kept once patched (for comparison).
MJX_LENGTH_CIRCLE = None


def _replace_support_function(name: str, replacement, purpose: str):
    """Put `replacement` in place of `mjx._src.support.<name>`; return MJX's original.

    Raises:
        MJXCompatibilityError: this MJX has no such function (`purpose` says what to check).
    """
    from mujoco.mjx._src import support

    original = getattr(support, name, None)
    if original is None:
        raise MJXCompatibilityError(
            f"MJX (mujoco {mujoco.__version__}) has no `mjx._src.support.{name}`, which "
            f"mskdiff/plant/_mjx_compat.py replaces {purpose}")
    setattr(support, name, replacement)
    return original


def patch_wrap_angle_gradient() -> None:
    """Replace MJX's `support._length_circle` with `wrap_angle_length` (module docstring)."""
    global MJX_LENGTH_CIRCLE
    original = _replace_support_function(
        "_length_circle", wrap_angle_length,
        "for a finite tendon-wrap gradient: check whether the new MJX still takes an arccos there")
    if MJX_LENGTH_CIRCLE is None:
        MJX_LENGTH_CIRCLE = original


#: MJX's own `support.muscle_dynamics_timescale`, kept once patched (for comparison).
MJX_MUSCLE_TIMESCALE = None


def muscle_timescale(dctrl: Array, tau_act: Array, tau_deact: Array, smoothing_width: Array
                     ) -> Array:
    """MuJoCo's muscle activation time constant [s] with a finite gradient (module docstring).

    `dctrl`: excitation minus activation; `tau_act`, `tau_deact`: the activation-scaled time
    constants [s]; `smoothing_width`: the sigmoid's width (0: switch at `dctrl = 0`).
    """
    hard = jnp.where(dctrl > 0, tau_act, tau_deact)
    width = jnp.where(smoothing_width < mujoco.mjMINVAL, 1.0, smoothing_width)
    x = jnp.clip(dctrl / width + 0.5, 0.0, 1.0)
    smooth = tau_deact + (tau_act - tau_deact) * x ** 3 * (3 * x * (2 * x - 5) + 10)
    return jnp.where(smoothing_width < mujoco.mjMINVAL, hard, smooth)


def patch_muscle_timescale_gradient() -> None:
    """Replace MJX's `support.muscle_dynamics_timescale` with `muscle_timescale` (docstring)."""
    global MJX_MUSCLE_TIMESCALE
    original = _replace_support_function(
        "muscle_dynamics_timescale", muscle_timescale,
        "for a finite muscle-activation gradient: check whether the new MJX still overflows there")
    if MJX_MUSCLE_TIMESCALE is None:
        MJX_MUSCLE_TIMESCALE = original
