"""The muscle-tendon unit interface shared by every formulation, and its outputs."""

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx

from .._solution import Solution, maybe_throw
from . import curves
from ._geometry import fiber_from_length_along_tendon, fiber_multipliers
from ._solve import solved
from .activation import AbstractActivationDynamics
from .implicit import implicit_residual
from .parameters import MuscleArray, MuscleParameters


class MTUOutputs(eqx.Module):
    """Forces and fiber kinematics of every muscle at one instant (OpenSim's output names).

    Lengths in m, velocities in m/s (lengthening positive), forces in N, angles in rad.
    """

    tendon_force: MuscleArray
    norm_tendon_force: MuscleArray
    tendon_length: MuscleArray
    tendon_velocity: MuscleArray
    fiber_length: MuscleArray
    norm_fiber_length: MuscleArray
    fiber_velocity: MuscleArray
    norm_fiber_velocity: MuscleArray
    pennation_angle: MuscleArray
    fiber_force: MuscleArray
    fiber_force_along_tendon: MuscleArray
    active_fiber_force: MuscleArray
    passive_fiber_force: MuscleArray
    active_force_length_multiplier: MuscleArray
    force_velocity_multiplier: MuscleArray
    passive_force_multiplier: MuscleArray


def fiber_outputs(params: MuscleParameters, activation, fiber_length, cos_pennation,
                  fiber_velocity, tendon_length, tendon_velocity, tendon_force) -> MTUOutputs:
    """Assemble `MTUOutputs` from fiber kinematics, with fiber forces from the De Groote curves.

    `tendon_force` [N] is passed in because formulations differ in what carries it.
    """
    active_fl, passive_fl = fiber_multipliers(params, fiber_length)
    norm_velocity = fiber_velocity / params.max_fiber_velocity
    force_velocity = curves.force_velocity_multiplier(norm_velocity)
    active = params.max_isometric_force * activation * active_fl * force_velocity
    passive = params.max_isometric_force * (passive_fl + params.fiber_damping * norm_velocity)
    fiber_force = active + passive
    return MTUOutputs(
        tendon_force=tendon_force,
        norm_tendon_force=tendon_force / params.max_isometric_force,
        tendon_length=tendon_length,
        tendon_velocity=tendon_velocity,
        fiber_length=fiber_length,
        norm_fiber_length=fiber_length / params.optimal_fiber_length,
        fiber_velocity=fiber_velocity,
        norm_fiber_velocity=norm_velocity,
        # atan2(width, length along the tendon), not arccos(cos): arccos has an infinite
        # slope at zero pennation, which made gradients NaN for unpennated muscles.
        pennation_angle=jnp.arctan2(params.fiber_width, fiber_length * cos_pennation),
        fiber_force=fiber_force,
        fiber_force_along_tendon=fiber_force * cos_pennation,
        active_fiber_force=active,
        passive_fiber_force=passive,
        active_force_length_multiplier=active_fl,
        force_velocity_multiplier=force_velocity,
        passive_force_multiplier=passive_fl,
    )


def rigid_tendon_outputs(params: MuscleParameters, activation, mtu_length, mtu_velocity
                         ) -> MTUOutputs:
    """Outputs with a rigid tendon: the fiber follows the MTU, tendon force = fiber force along it."""
    fiber_length, cos_pennation = fiber_from_length_along_tendon(
        params, mtu_length - params.tendon_slack_length)
    fiber_velocity = mtu_velocity * cos_pennation
    out = fiber_outputs(params, activation, fiber_length, cos_pennation, fiber_velocity,
                        params.tendon_slack_length, jnp.zeros_like(mtu_length),
                        jnp.zeros_like(mtu_length))
    return eqx.tree_at(lambda o: (o.tendon_force, o.norm_tendon_force), out,
                       (out.fiber_force_along_tendon,
                        out.fiber_force_along_tendon / params.max_isometric_force))


def output_tendon_force(mtu: "AbstractMTU", state, mtu_length, mtu_velocity) -> MuscleArray:
    """`mtu.outputs(...).tendon_force` [N]: `tendon_force` where it is the outputs' one."""
    return mtu.outputs(state, mtu_length, mtu_velocity).tendon_force


def linearly_implicit_fiber_step(acceleration, fiber_length, fiber_velocity, dt):
    r"""Linearly implicit Euler on $(l, \dot l)$: $(I - hJ)\,\Delta = h f$, per muscle 2x2.

    $J = [[0, 1], [\partial\ddot l/\partial l, \partial\ddot l/\partial\dot l]]$; L-stable
    for a stiff fiber mode. `acceleration(l, v)` is the fiber acceleration [m/s^2] at fiber
    length `l` [m] and velocity `v` [m/s] (muscles independent); `dt` [s]. Returns the new
    `(l, v)`.
    """
    l, v = fiber_length, fiber_velocity
    ones = jnp.ones_like(l)
    f, d_dl = jax.jvp(lambda x: acceleration(x, v), (l,), (ones,))
    d_dv = jax.jvp(lambda y: acceleration(l, y), (v,), (ones,))[1]
    # (I - h J) = [[1, -h], [-h d_dl, 1 - h d_dv]]; right-hand side h (v, f).
    a21, a22 = -dt * d_dl, 1.0 - dt * d_dv
    determinant = a22 + dt * a21
    delta_l = (dt * v * a22 + dt * dt * f) / determinant
    delta_v = (dt * f - a21 * dt * v) / determinant
    return l + delta_l, v + delta_v


def select_outputs(rigid_mask, rigid: MTUOutputs, elastic: MTUOutputs) -> MTUOutputs:
    """Per muscle, the rigid-tendon outputs where `rigid_mask`, else the elastic ones."""
    return jax.tree.map(lambda r, e: jnp.where(rigid_mask, r, e), rigid, elastic)


def _equilibrium_residual(norm_tendon_force, args):
    """OpenSim's implicit residual with zero tendon velocity, for one muscle (scalars)."""
    params, mtu_length, mtu_velocity, activation = args
    return implicit_residual(params, mtu_length, mtu_velocity, activation, norm_tendon_force,
                             jnp.zeros_like(norm_tendon_force))


#: Bracket of the normalised tendon force searched by the equilibrium solve [-].
EQUILIBRIUM_BRACKET = (-0.19, 50.0)


def solve_equilibrium_norm_tendon_force(params: MuscleParameters, mtu_length, mtu_velocity,
                                        activation, *, rtol: float = 1e-13, atol: float = 1e-13,
                                        max_steps: int = 200) -> Solution:
    """Normalised tendon force at fiber-tendon force equilibrium with zero tendon velocity.

    The same condition as OpenSim's `equilibrateMuscles` for `DeGrooteFregly2016Muscle`
    (bisection on the implicit residual with zero tendon-force derivative). Solved per
    muscle by bisection on `EQUILIBRIUM_BRACKET`; its gradient is the implicit-function
    gradient (optimistix's `ImplicitAdjoint`), not an unrolled loop.

    Args:
        params: muscle parameters.
        mtu_length: MTU length [m], shape `(n_muscles,)`.
        mtu_velocity: MTU lengthening velocity [m/s].
        activation: activation [-].
        rtol: relative tolerance on the force.
        atol: absolute tolerance on the force.
        max_steps: bisection steps allowed per muscle.

    Returns:
        `Solution`: the force `(n_muscles,)`; `root_not_bracketed` when the residual has one
        sign over the bracket, `max_steps_reached` unless optimistix's criteria are met or the
        bracket is at the float resolution, `nonfinite_state` (force or final residual);
        `num_steps` of the slowest muscle.
    """
    lower, upper = EQUILIBRIUM_BRACKET
    solver = optx.Bisection(rtol=rtol, atol=atol, flip=False)

    def solve_one(p, length, velocity, a):
        args = (p, length, velocity, a)
        y0 = jnp.asarray(0.5, dtype=length.dtype)
        sol = optx.root_find(_equilibrium_residual, solver, y0, args,
                             options=dict(lower=lower, upper=upper), max_steps=max_steps,
                             throw=False)
        ends = [_equilibrium_residual(jnp.asarray(end, dtype=length.dtype), args)
                for end in (lower, upper)]
        # Also converged: a bracket at the float resolution, where rounding keeps the residual
        # above `atol` (float32).
        width = jnp.abs(sol.state.upper - sol.state.lower)
        resolution = 8 * jnp.finfo(length.dtype).eps * (jnp.abs(sol.value) + atol)
        converged = (sol.result == optx.RESULTS.successful) | (width <= resolution)
        bracketed = ~(ends[0] > 0) & ~(ends[1] < 0)  # NaN: left to the finiteness check
        finite = jnp.isfinite(sol.state.error)
        return sol.value, sol.stats["num_steps"], converged, bracketed, finite

    shape = (params.n_muscles,)
    mtu_length, mtu_velocity, activation = (
        jnp.broadcast_to(jnp.asarray(x, dtype=float), shape)
        for x in (mtu_length, mtu_velocity, activation))
    params_axes = jax.tree.map(lambda _: 0, params)
    force, steps, converged, bracketed, finite = jax.vmap(
        solve_one, in_axes=(params_axes, 0, 0, 0))(params, mtu_length, mtu_velocity, activation)
    return solved(force, steps, max_steps, converged, bracketed, finite)


def equilibrium_norm_tendon_force(params: MuscleParameters, mtu_length, mtu_velocity,
                                  activation, *, throw: bool = True, **options):
    """`solve_equilibrium_norm_tendon_force(...).value`; with `throw`, failures raise in `jit`.

    `options`: `rtol`, `atol`, `max_steps` of the solve.
    """
    sol = solve_equilibrium_norm_tendon_force(params, mtu_length, mtu_velocity, activation,
                                              **options)
    return maybe_throw(sol.value, sol.result, throw)


class AbstractMTU(eqx.Module):
    """A vectorised muscle-tendon unit model: parameters, activation dynamics, formulation.

    Every method works on arrays of shape `(n_muscles,)`; states are Modules passed in and
    returned, never stored. Tendon compliance is per muscle
    (`params.ignore_tendon_compliance`): rigid muscles use the rigid-tendon equations inside
    the same vectorised computation.
    """

    params: eqx.AbstractVar[MuscleParameters]
    activation_dynamics: eqx.AbstractVar[AbstractActivationDynamics]

    @abc.abstractmethod
    def solve_init_state(self, mtu_length, mtu_velocity, activation) -> Solution:
        """The equilibrium state, as a `Solution` (value: the state; result; `num_steps`).

        From MTU length [m], lengthening velocity [m/s] and activation [-], each
        `(n_muscles,)`. Formulations with an iterative solve take keyword options
        (`max_steps`, ...).
        """

    def init_state(self, mtu_length, mtu_velocity, activation, *, throw: bool = True):
        """The equilibrium state (`solve_init_state(...).value`).

        With `throw`, a failed solve raises `EquinoxRuntimeError` (inside `jit` too).
        """
        sol = self.solve_init_state(mtu_length, mtu_velocity, activation)
        return maybe_throw(sol.value, sol.result, throw)

    @abc.abstractmethod
    def derivative(self, state, excitation, mtu_length, mtu_velocity):
        """Time derivative of `state` (same pytree structure, per second)."""

    @abc.abstractmethod
    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fiber kinematics at `state`."""

    @abc.abstractmethod
    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        """Advance the non-activation states by `dt` [s], activation held."""

    @abc.abstractmethod
    def tendon_force(self, state, mtu_length, mtu_velocity):
        """Tendon force [N]: the force the MTU applies."""

    @property
    def n_muscles(self) -> int:
        """Number of muscles."""
        return self.params.n_muscles

    def with_generic_names(self) -> "AbstractMTU":
        """The same model with its muscles named by index ("0", "1", ...).

        Names are static in compiled programs: models that differ only in their muscles' names
        (e.g. the single muscles of many reference cases) share one program after this.
        """
        names = tuple(str(k) for k in range(self.n_muscles))
        return eqx.tree_at(lambda m: m.params, self, dataclasses.replace(self.params, names=names))
