r"""Millard 2012 equilibrium MTU with fibre damping, as OpenSim 4.6's `Millard2012EquilibriumMuscle`.

States: activation $a$ and fibre length $l_M$. With constant-thickness pennation
($l_M \sin\alpha = l_{opt} \sin\alpha_0$) the tendon length is $l_T = l_{MT} - l_M\cos\alpha$ and
the normalised tendon force $f_T(l_T / l_{T,s})$. The normalised fibre velocity $\tilde v$ is the
root of the damped force balance along the tendon

$$\left(a\, f_L(\tilde l_M)\, f_V(\tilde v) + f_{PE}(\tilde l_M) + \beta \tilde v\right)\cos\alpha = f_T,$$

unique for fibre damping $\beta > 0$; $\dot l_M = \tilde v\, v_{max} l_{opt}$. Curves: Millard's
(`mskdiff.muscle.millard_curves`); activation: `FirstOrderActivation` (Millard's, with its
minimum-activation clamp; the forces use the clamped activation). A fibre at its minimum length
that would shorten further is held there (OpenSim's clamp).
"""

import functools
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._checks import is_concrete
from .._solution import Solution
from . import millard_curves
from ._geometry import MAX_PENNATION_ANGLE
from ._solve import solved
from .activation import AbstractActivationDynamics, FirstOrderActivation
from .millard_curves import SegmentedQuinticBezierCurve
from .mtu import AbstractMTU, MTUOutputs, output_tendon_force
from .parameters import MuscleArray, MuscleParameters

#: Safeguarded-Newton iterations of the fibre-velocity and equilibrium solves.
_ROOT_ITERATIONS = 40
_VELOCITY_NOT_CONVERGED = (
    f"The Millard fibre-velocity root solve did not converge in {_ROOT_ITERATIONS} iterations. "
    "Set `throw=False` on the MTU to continue with the last iterate.")


class MillardCurves(eqx.Module):
    """The four Millard 2012 curves: one set shared by all muscles, or one per muscle.

    Per-muscle curves carry a leading muscle axis on every leaf (`n_muscles` is then set).
    """

    active_force_length: SegmentedQuinticBezierCurve
    force_velocity: SegmentedQuinticBezierCurve
    fiber_force_length: SegmentedQuinticBezierCurve
    tendon_force_length: SegmentedQuinticBezierCurve

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Mapping[str, ArrayLike]] | None = None
                        ) -> "MillardCurves":
        """From OpenSim curve properties per curve class.

        E.g. `{"ActiveForceLengthCurve": {"minimum_value": 0.1}}`; absent classes or
        properties take OpenSim's defaults (`millard_curves.in_use_properties`). Values of
        shape `(n_muscles,)` give a curve per muscle (scalars are then shared), unless every
        such array is uniform: then one shared set is built.

        Raises:
            ValueError: unknown curve class or property, optional properties given in part,
                values that are not scalars or of one common length.
        """
        parameters = {curve: dict(values) for curve, values in (parameters or {}).items()}
        for curve, values in parameters.items():
            millard_curves.in_use_properties(curve, {k: None for k in values})  # names only
        arrays = {curve: {k: np.asarray(v, dtype=float) for k, v in values.items()}
                  for curve, values in parameters.items()}
        lengths = {v.shape for values in arrays.values() for v in values.values() if v.ndim}
        if any(len(shape) != 1 for shape in lengths) or len(lengths) > 1:
            raise ValueError(f"curve properties must be scalars or arrays of one common length "
                             f"(n_muscles,), got shapes {sorted(lengths)}")
        builders = millard_curves.CURVE_BUILDERS
        if all(np.all(v == v.flat[0]) for values in arrays.values() for v in values.values()):
            arrays = {curve: {k: v.flat[0] for k, v in values.items()}
                      for curve, values in arrays.items()}
            lengths = set()
        if not lengths:
            return cls(*(builders[curve](**arrays.get(curve, {})) for curve in builders))
        (n,), = lengths
        per_muscle = {curve: {k: np.broadcast_to(v, (n,)) for k, v in arrays.get(curve, {}).items()}
                      for curve in builders}
        return cls(*(jax.vmap(lambda values, build=builders[curve]: build(**values),
                              axis_size=n)(per_muscle[curve]) for curve in builders))

    @classmethod
    def damped_equilibrium(cls, parameters: Mapping[str, Mapping[str, ArrayLike]] | None = None
                           ) -> "MillardCurves":
        """The curves a damped `Millard2012EquilibriumMuscle` uses, from its curve properties.

        As `from_parameters` after OpenSim's damped-model updates
        (`millard_curves.damped_model_properties`: active force-length minimum and
        force-velocity slopes at +-vmax set to 0). With no properties: the class defaults.
        """
        return cls.from_parameters(millard_curves.damped_model_properties(dict(parameters or {})))

    @property
    def n_muscles(self) -> int | None:
        """Number of muscles of per-muscle curves; None when one set is shared."""
        return self.active_force_length.n_curves

    @classmethod
    def rajagopal2016(cls) -> "MillardCurves":
        """The curves of every muscle of Rajagopal et al. (2016)'s OpenSim model."""
        return cls.from_parameters({
            "ActiveForceLengthCurve": dict(
                min_norm_active_fiber_length=0.25, transition_norm_fiber_length=0.77,
                max_norm_active_fiber_length=1.9, shallow_ascending_slope=0.75, minimum_value=0.0),
            "ForceVelocityCurve": dict(
                concentric_slope_at_vmax=0.0, concentric_slope_near_vmax=0.25, isometric_slope=5.0,
                eccentric_slope_at_vmax=0.0, eccentric_slope_near_vmax=0.15,
                max_eccentric_velocity_force_multiplier=1.4),
            "FiberForceLengthCurve": dict(strain_at_zero_force=0.0, strain_at_one_norm_force=0.7),
        })


def check_curve_count(curves: eqx.Module, n_muscles: int) -> None:
    """Raise unless every per-muscle curve in `curves` has one curve per muscle."""
    counts = {c.n_curves for c in jax.tree.leaves(
        curves, is_leaf=lambda x: isinstance(x, SegmentedQuinticBezierCurve))}
    wrong = sorted(counts - {None, n_muscles})
    if wrong:
        raise ValueError(f"curves for {wrong} muscles given for {n_muscles} muscles: build them "
                         "from properties of shape (n_muscles,), or from scalars to share them")


class MillardEquilibriumState(eqx.Module):
    """Activation [-] and fibre length [m], each `(n_muscles,)`."""

    activation: MuscleArray
    fiber_length: MuscleArray


class MillardEquilibriumMTU(AbstractMTU):
    """Elastic-tendon MTUs in Millard's damped equilibrium formulation (`fiber_damping` > 0).

    `curves` default to OpenSim's class defaults as the damped model uses them
    (`MillardCurves.damped_equilibrium()`); Rajagopal's model changes the active
    force-length curve (`MillardCurves.rajagopal2016()`). `throw` (static): a fibre-velocity
    root solve that does not converge raises `EquinoxRuntimeError` (inside `jit` too).
    """

    params: MuscleParameters
    curves: MillardCurves = eqx.field(default_factory=MillardCurves.damped_equilibrium)
    activation_dynamics: AbstractActivationDynamics = FirstOrderActivation()
    throw: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_curve_count(self.curves, self.params.n_muscles)
        damping = self.params.fiber_damping
        if is_concrete(damping) and not np.all(np.asarray(damping) > 0):
            bad = [n for n, d in zip(self.params.names, np.asarray(damping), strict=True)
                   if not d > 0]
            raise ValueError(f"MillardEquilibriumMTU needs fiber_damping > 0 (the undamped "
                             f"variant is not implemented); offending muscles: {bad}")

    def min_fiber_length(self) -> MuscleArray:
        """Shortest fibre [m]: the active curve's lower end, or where pennation reaches its maximum."""
        p = self.params
        lowest_active = self.curves.active_force_length.x_start
        return jnp.maximum(lowest_active * p.optimal_fiber_length,
                           p.fiber_width / jnp.sin(MAX_PENNATION_ANGLE))

    def _balance_terms(self, activation, fiber_length, mtu_length):
        """The force balance's terms at a fibre length (normalised forces).

        Returns cos(pennation), tendon length [m], tendon force, a f_L (clamped activation)
        and f_PE.
        """
        p = self.params
        along = jnp.sqrt(fiber_length**2 - p.fiber_width**2)
        tendon_length = mtu_length - along
        norm_tendon_force = self.curves.tendon_force_length(tendon_length / p.tendon_slack_length)
        norm_length = fiber_length / p.optimal_fiber_length
        active = self._activation(activation) * self.curves.active_force_length(norm_length)
        passive = self.curves.fiber_force_length(norm_length)
        return along / fiber_length, tendon_length, norm_tendon_force, active, passive

    def _norm_fiber_velocity(self, fiber_length, terms):
        """Root of the damped force balance [optimal fibre lengths * v_max]; 0 when clamped."""
        cos_pennation, _, norm_tendon_force, active, passive = terms
        beta = self.params.fiber_damping
        max_fv = self.curves.force_velocity.y_end
        low = -(active * max_fv + passive + norm_tendon_force / cos_pennation) / beta - 1.0
        high = norm_tendon_force / (cos_pennation * beta) + 1.0
        v, _, converged = _root(_velocity_residual, _ROOT_ITERATIONS,
                                (self.curves.force_velocity, beta, terms), low, high,
                                jnp.zeros_like(low))
        if self.throw:
            v = eqx.error_if(v, ~converged, _VELOCITY_NOT_CONVERGED)
        clamped = (fiber_length <= self.min_fiber_length()) & (v < 0)
        return jnp.where(clamped, 0.0, v)

    def _activation(self, activation):
        """The activation the forces use: clamped to [minimum_activation, 1]."""
        return jnp.clip(activation, self.params.minimum_activation, 1.0)

    def solve_init_state(self, mtu_length, mtu_velocity, activation, *,
                         max_steps: int = _ROOT_ITERATIONS) -> Solution:
        """Fibre length in static equilibrium (zero fibre velocity) at `activation`.

        The fibre force along the tendon at zero velocity equals the tendon force; the root
        lies between the shortest fibre and a slack tendon. Where even the shortest fibre
        pulls harder than the tendon, the rest state is the shortest fibre (the fibre-velocity
        clamp holds it there). Rigid-tendon muscles follow the MTU. At most `max_steps`
        iterations.
        """
        del mtu_velocity
        p = self.params
        shape = (p.n_muscles,)
        mtu_length, activation = (jnp.broadcast_to(jnp.asarray(x, dtype=float), shape)
                                  for x in (mtu_length, activation))
        low = self.min_fiber_length()
        along_slack = jnp.maximum(mtu_length - p.tendon_slack_length,
                                  jnp.sqrt(low**2 - p.fiber_width**2))
        high = jnp.sqrt(along_slack**2 + p.fiber_width**2)
        args = (self, activation, mtu_length)
        elastic, steps, converged = _root(_static_residual, max_steps, args, low, high,
                                          0.5 * (low + high))
        rigid = p.ignore_tendon_compliance
        state = MillardEquilibriumState(
            activation, jnp.where(rigid, self._rigid_fiber_length(mtu_length), elastic))
        return solved(state, steps, max_steps, converged | rigid)

    def _rigid_fiber_length(self, mtu_length):
        """Fibre length [m] with a rigid tendon of slack length (no shorter than the minimum)."""
        p = self.params
        along = mtu_length - p.tendon_slack_length
        return jnp.maximum(jnp.sqrt(along**2 + p.fiber_width**2), self.min_fiber_length())

    def derivative(self, state, excitation, mtu_length, mtu_velocity) -> MillardEquilibriumState:
        """Activation rate [1/s] and fibre lengthening velocity [m/s]."""
        p = self.params
        activation_rate = self.activation_dynamics.derivative(p, excitation, state.activation)
        norm_velocity, *_ = self._fiber_kinematics(state, mtu_length, mtu_velocity)
        return MillardEquilibriumState(activation_rate, norm_velocity * p.max_fiber_velocity)

    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        r"""Explicit Euler on the fibre length, limited where the fibre mode is faster than `dt`.

        $l \leftarrow l + h f / \max(1, -h J)$, $f$ the fibre velocity and $J = \partial f /
        \partial l$: explicit Euler while $hJ \ge -1$; beyond, the Newton step $-f/J$ onto the
        quasi-static fibre length, which the fast mode (time constant below $h$; ~0.1 ms for
        short damped fibres on stiff tendons) reaches within the step anyway. Stable for any
        $h$; activation held. The fibre stays at or above its minimum length.
        """
        p = self.params

        def velocity(fiber_length):
            trial = MillardEquilibriumState(state.activation, fiber_length)
            return self._fiber_kinematics(trial, mtu_length, mtu_velocity)[0] * p.max_fiber_velocity

        rate, slope = jax.jvp(velocity, (state.fiber_length,), (jnp.ones_like(state.fiber_length),))
        step = dt * rate / jnp.maximum(1.0, -dt * slope)
        fiber_length = jnp.maximum(state.fiber_length + step, self.min_fiber_length())
        return MillardEquilibriumState(state.activation, fiber_length)

    def tendon_force(self, state, mtu_length, mtu_velocity):
        """Tendon force [N] (the outputs' `tendon_force`)."""
        return output_tendon_force(self, state, mtu_length, mtu_velocity)

    def _fiber_kinematics(self, state, mtu_length, mtu_velocity):
        """Normalised fibre velocity, fibre length [m] and the balance terms there.

        Rigid-tendon muscles follow the MTU (fibre velocity = MTU velocity times cos(pennation)).
        """
        p = self.params
        rigid = p.ignore_tendon_compliance
        fiber_length = jnp.where(rigid, self._rigid_fiber_length(mtu_length), state.fiber_length)
        terms = self._balance_terms(state.activation, fiber_length, mtu_length)
        elastic = self._norm_fiber_velocity(fiber_length, terms)
        rigid_velocity = mtu_velocity * terms[0] / p.max_fiber_velocity
        return jnp.where(rigid, rigid_velocity, elastic), fiber_length, terms

    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fibre kinematics (passive force includes fibre damping, as in OpenSim)."""
        p = self.params
        norm_velocity, fiber_length, terms = self._fiber_kinematics(state, mtu_length, mtu_velocity)
        cos_pennation, tendon_length, norm_tendon_force, activated_fl, passive_fl = terms
        norm_length = fiber_length / p.optimal_fiber_length
        active_fl = self.curves.active_force_length(norm_length)
        force_velocity = self.curves.force_velocity(norm_velocity)
        fiber_velocity = norm_velocity * p.max_fiber_velocity
        active = p.max_isometric_force * activated_fl * force_velocity
        passive = p.max_isometric_force * (passive_fl + p.fiber_damping * norm_velocity)
        along_velocity = fiber_velocity / cos_pennation  # d(l_M cos a)/dt at constant thickness
        rigid = p.ignore_tendon_compliance
        norm_tendon_force = jnp.where(rigid, (active + passive) * cos_pennation
                                      / p.max_isometric_force, norm_tendon_force)
        return MTUOutputs(
            tendon_force=p.max_isometric_force * norm_tendon_force,
            norm_tendon_force=norm_tendon_force,
            tendon_length=jnp.where(rigid, p.tendon_slack_length, tendon_length),
            tendon_velocity=jnp.where(rigid, 0.0, mtu_velocity - along_velocity),
            fiber_length=fiber_length,
            norm_fiber_length=norm_length,
            fiber_velocity=fiber_velocity,
            norm_fiber_velocity=norm_velocity,
            pennation_angle=jnp.arctan2(p.fiber_width, fiber_length * cos_pennation),
            fiber_force=active + passive,
            fiber_force_along_tendon=(active + passive) * cos_pennation,
            active_fiber_force=active,
            passive_fiber_force=passive,
            active_force_length_multiplier=active_fl,
            force_velocity_multiplier=force_velocity,
            passive_force_multiplier=passive_fl,
        )


def _velocity_residual(v, args):
    """Damped force balance along the tendon at normalised fibre velocity `v` (normalised force)."""
    force_velocity, beta, (cos_pennation, _, norm_tendon_force, active, passive) = args
    return (active * force_velocity(v) + passive + beta * v) * cos_pennation - norm_tendon_force


def _static_residual(fiber_length, args):
    """Fibre force along the tendon at zero velocity minus the tendon force (normalised)."""
    mtu, activation, mtu_length = args
    cos_pennation, _, norm_tendon_force, active, passive = mtu._balance_terms(
        activation, fiber_length, mtu_length)
    return (active + passive) * cos_pennation - norm_tendon_force


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _root(residual, max_steps: int, args, low, high, start):
    """Root of an elementwise `residual(x, args)` with `residual(low) < 0 < residual(high)`.

    Newton steps from `start`, replaced by bisection when they leave the shrinking sign
    bracket or do not halve the previous step (as in Numerical Recipes' `rtsafe`), until every
    step is below sqrt(eps) (|start| + 1e-3 |high - low|) (at most `max_steps`), then one
    more Newton step. Derivatives come from the implicit function theorem (`custom_jvp`), so
    the loop is never differentiated and derivatives of every order are exact.

    Returns the root, the iterations taken and, per element, whether its last step met the
    tolerance (true for NaN: non-finite values are left to the callers' checks). An element
    stays where it met it.
    """
    tolerance = np.sqrt(np.finfo(jnp.result_type(low)).eps) * (
        jnp.abs(start) + 1e-3 * jnp.abs(high - low))

    def iteration(carry):
        k, x, low, high, last_step = carry
        r, slope = jax.jvp(lambda y: residual(y, args), (x,), (jnp.ones_like(x),))
        new_low, new_high = jnp.where(r < 0, x, low), jnp.where(r < 0, high, x)
        step = r / jnp.where(slope > 0, slope, 1.0)
        newton = x - step
        # Newton only while it stays in the bracket and at least halves its step, or once its
        # step is within the tolerance (rtsafe; at the root's last bits `x - step == x`).
        use_newton = (slope > 0) & (((newton > new_low) & (newton < new_high)
                                     & (jnp.abs(step) < 0.5 * jnp.abs(last_step)))
                                    | ~(jnp.abs(step) > tolerance))
        bisection = 0.5 * (new_low + new_high)
        # Converged elements stay (as rtsafe returns): iterated on, a Newton step at rounding
        # level fails the halving test and bisection would leave the root.
        keep = lambda old, new: jnp.where(jnp.abs(last_step) > tolerance, new, old)
        return (k + 1, keep(x, jnp.where(use_newton, newton, bisection)), keep(low, new_low),
                keep(high, new_high),
                keep(last_step, jnp.where(use_newton, step, 0.5 * (new_high - new_low))))

    def unconverged(carry):
        k, x, _, _, last_step = carry
        return (k < max_steps) & jnp.any(jnp.abs(last_step) > tolerance)

    start = jnp.clip(start, low, high)
    steps, root, _, _, last_step = jax.lax.while_loop(unconverged, iteration,
                                                      (0, start, low, high, high - low))
    value, slope = jax.jvp(lambda y: residual(y, args), (root,), (jnp.ones_like(root),))
    root = jnp.clip(root - value / jnp.where(slope > 0, slope, jnp.inf), low, high)
    return root, steps, ~(jnp.abs(last_step) > tolerance)


@_root.defjvp
def _root_jvp(residual, max_steps, primals, tangents):
    """Implicit function theorem at the root: dx = -(dR/dargs . d_args) / (dR/dx).

    The bracket and the start carry no derivative.
    """
    args, low, high, start = primals
    root, steps, converged = _root(residual, max_steps, args, low, high, start)
    _, slope = jax.jvp(lambda y: residual(y, args), (root,), (jnp.ones_like(root),))
    _, d_residual = jax.jvp(lambda a: residual(root, a), (args,), (tangents[0],))
    no_tangent = lambda x: np.zeros(np.shape(x), dtype=jax.dtypes.float0)
    return ((root, steps, converged),
            (-d_residual / jnp.where(slope > 0, slope, jnp.inf), no_tangent(steps),
             no_tangent(converged)))
