r"""Control parameterisations of a trajectory problem: excitations and residual forces at knots.

A knot signal holds values $z_j$ at knot times $\tau_j$ and is evaluated at the start of every
plant step $t_k = k\,\Delta t$ as one fixed matrix product, $z(t_k) = \sum_j B_{kj} z_j$
(`interpolation_matrix`): the matrix depends on the knot and step times only, so it is built
once on the host and the compiled program multiplies.

- **Excitations** (`KnotControls`): $u_i(t) = \sigma(z_i(t))$, the logistic function of the
  interpolated latent values, so every excitation lies in (0, 1) smoothly whatever the
  optimiser does (interpolating the latent values and then bounding keeps cubic overshoot
  inside the bounds too).
- **Residual (reserve) actuators** (`ResidualActuators`): generalised forces
  $\tau_d(t) = s_d\, r_d(t)$ on chosen dofs, written to `data.qfrc_applied` before each step
  (unbounded; `ResidualPenalty` keeps them small). Pelvis residuals are the free root joint's
  6 dofs (forces [N] in the world frame, torques [N m] in the body frame, as MuJoCo's free
  joint `qfrc`), joint torques a hinge's dof [N m].
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy.interpolate import CubicSpline

from ..plant.plant import AbstractPlant
from ._joints import joint_id, qvel_ids

#: Interpolation between knots: piecewise linear, or a natural cubic spline (C2).
INTERPOLATIONS = ("linear", "cubic")


def _knot_times(times) -> tuple[float, ...]:
    return tuple(float(t) for t in np.atleast_1d(np.asarray(times, dtype=float)))


def _float_array(x) -> Array:
    return jnp.asarray(x, dtype=float)


def interpolation_matrix(knot_times, times, interpolation: str) -> np.ndarray:
    """`B` with `signal(times) = B @ knot_values`, shape `(len(times), n_knots)`.

    Args:
        knot_times: knot times [s], strictly increasing, shape `(n_knots,)`.
        times: evaluation times [s].
        interpolation: `'linear'` or `'cubic'` (natural cubic spline: zero second derivative
            at the end knots). Outside the knots the end values are held; one knot is a
            constant signal.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}, got {interpolation!r}")
    knots = np.asarray(knot_times, dtype=float)
    t = np.clip(np.asarray(times, dtype=float), knots[0], knots[-1])
    identity = np.eye(len(knots))
    if len(knots) == 1:
        return np.ones((len(t), 1))
    if interpolation == "linear":
        return np.stack([np.interp(t, knots, column) for column in identity], axis=1)
    return CubicSpline(knots, identity, bc_type="natural")(t)


class _KnotSignal(eqx.Module):
    """Values at knots (one column per channel) and how to interpolate them."""

    values: eqx.AbstractVar[Array]
    knot_times: eqx.AbstractVar[tuple[float, ...]]
    interpolation: eqx.AbstractVar[str]

    def __check_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}, got "
                             f"{self.interpolation!r}")
        if not self.knot_times or np.any(np.diff(self.knot_times) <= 0):
            raise ValueError(f"`knot_times` must be strictly increasing and not empty, got "
                             f"{list(self.knot_times)}")
        if jnp.ndim(self.values) != 2 or jnp.shape(self.values)[0] != len(self.knot_times):
            raise ValueError(f"`values` must have shape (n_knots={len(self.knot_times)}, "
                             f"n_channels), got {jnp.shape(self.values)}")

    def matrix(self, times) -> np.ndarray:
        """The interpolation matrix at `times` [s] (`interpolation_matrix`)."""
        return interpolation_matrix(self.knot_times, times, self.interpolation)

    def check_within(self, horizon: float, what: str) -> None:
        """Raise `ValueError` naming `what` unless every knot lies in `[0, horizon]` [s]."""
        outside = [t for t in self.knot_times if not -1e-12 <= t <= horizon + 1e-12]
        if outside:
            raise ValueError(f"`{what}.knot_times` must lie within the horizon [0, {horizon:g}] s; "
                             f"outside: {outside}")


class KnotControls(_KnotSignal):
    """Muscle excitations at knots: `excitation = sigmoid(B @ values)` (module docstring).

    Attributes:
        values: latent knot values, shape `(n_knots, n_muscles)`: the decision variables.
        knot_times: knot times [s] from the start of the horizon, strictly increasing.
        interpolation: `'linear'` or `'cubic'`.
    """

    values: Array = eqx.field(converter=_float_array)
    knot_times: tuple[float, ...] = eqx.field(static=True, converter=_knot_times)
    interpolation: str = eqx.field(static=True, default="linear")

    @classmethod
    def from_excitations(cls, knot_times, excitations, *, interpolation: str = "linear"
                         ) -> "KnotControls":
        """Controls whose knot excitations are `excitations` [-], shape `(n_knots, n_muscles)`.

        Values are clipped to [1e-6, 1 - 1e-6] before the logit (the bounds are open).
        """
        e = np.clip(np.asarray(excitations, dtype=float), 1e-6, 1 - 1e-6)
        return cls(np.log(e) - np.log1p(-e), knot_times, interpolation)

    def excitations(self, matrix: Array) -> Array:
        """Excitations [-] at the matrix's times, `(n_times, n_muscles)`."""
        return jax.nn.sigmoid(matrix @ self.values)


class ResidualActuators(_KnotSignal):
    """Generalised forces `scale * (B @ values)` on dofs, applied as `qfrc_applied`.

    Build with `ResidualActuators.on_joints(plant, joints, knot_times, scale)`.

    Attributes:
        values: knot values [-] (force / scale), shape `(n_knots, n_dofs)`: decision variables.
        scale: force per unit value [N or N m], one per dof.
        dofs: the `qvel` indices the forces act on.
        names: a label per dof, `'joint'` or `'joint[i]'` for multi-dof joints.
        knot_times: knot times [s] from the start of the horizon, strictly increasing.
        interpolation: `'linear'` or `'cubic'`.
    """

    values: Array = eqx.field(converter=_float_array)
    scale: tuple[float, ...] = eqx.field(static=True, converter=_knot_times)
    dofs: tuple[int, ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)
    knot_times: tuple[float, ...] = eqx.field(static=True, converter=_knot_times)
    interpolation: str = eqx.field(static=True, default="linear")

    def __check_init__(self):
        n = len(self.dofs)
        if len(self.scale) != n or len(self.names) != n or jnp.shape(self.values)[-1:] != (n,):
            raise ValueError(f"`scale`, `names` and the columns of `values` must match the {n} "
                             f"dofs; got {len(self.scale)}, {len(self.names)} and "
                             f"{jnp.shape(self.values)}")
        if not all(s > 0 for s in self.scale):
            raise ValueError(f"`scale` must be > 0 for every dof, got {list(self.scale)}")

    @classmethod
    def on_joints(cls, plant: AbstractPlant, joints, knot_times, scale, *,
                  interpolation: str = "linear") -> "ResidualActuators":
        """Residuals on every dof of `joints` (names; a free joint gives 6), starting at zero.

        Args:
            plant: the plant (its joint names).
            joints: joint names, e.g. the free root joint for pelvis residuals.
            knot_times: knot times [s] from the start of the horizon.
            scale: force per unit value [N or N m], scalar or one per dof.
            interpolation: `'linear'` or `'cubic'`.
        """
        dofs, names = [], []
        for joint in joints:
            ids = qvel_ids(plant.mjx_model, joint_id(plant.mjx_model, joint, "joints"))
            dofs += [int(i) for i in ids]
            names += [joint] if len(ids) == 1 else [f"{joint}[{k}]" for k in range(len(ids))]
        times = _knot_times(knot_times)
        return cls(np.zeros((len(times), len(dofs))),
                   np.broadcast_to(np.asarray(scale, dtype=float), (len(dofs),)),
                   tuple(dofs), tuple(names), times, interpolation)

    def controls(self, matrix: Array) -> Array:
        """Normalised residuals [-] (force / scale) at the matrix's times, `(n_times, n_dofs)`."""
        return matrix @ self.values

    def forces(self, matrix: Array, nv: int) -> Array:
        """Generalised forces [N or N m] at the matrix's times, `(n_times, nv)`."""
        scaled = self.controls(matrix) * jnp.asarray(self.scale, dtype=self.values.dtype)[None, :]
        return jnp.zeros((matrix.shape[0], nv), scaled.dtype).at[:, np.asarray(self.dofs)].set(
            scaled)
