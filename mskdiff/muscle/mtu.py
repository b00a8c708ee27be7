"""The muscle-tendon unit interface shared by every formulation, and its outputs."""

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx

from . import curves
from ._geometry import fiber_from_length_along_tendon, fiber_multipliers
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


def equilibrium_norm_tendon_force(params: MuscleParameters, mtu_length, mtu_velocity,
                                  activation, *, rtol: float = 1e-13, atol: float = 1e-13):
    """Normalised tendon force at fiber-tendon force equilibrium with zero tendon velocity.

    The same condition as OpenSim's `equilibrateMuscles` for `DeGrooteFregly2016Muscle`
    (bisection on the implicit residual with zero tendon-force derivative). Solved per
    muscle by bisection; its gradient is the implicit-function gradient (optimistix's
    `ImplicitAdjoint`), not an unrolled loop.

    Args:
        params: muscle parameters.
        mtu_length: MTU length [m], shape `(n_muscles,)`.
        mtu_velocity: MTU lengthening velocity [m/s].
        activation: activation [-].
        rtol: relative tolerance on the force.
        atol: absolute tolerance on the force.
    """
    lower, upper = EQUILIBRIUM_BRACKET
    solver = optx.Bisection(rtol=rtol, atol=atol, flip=False)

    def solve_one(p, length, velocity, a):
        y0 = jnp.asarray(0.5, dtype=length.dtype)
        sol = optx.root_find(_equilibrium_residual, solver, y0, (p, length, velocity, a),
                             options=dict(lower=lower, upper=upper), max_steps=200,
                             throw=False)
        return sol.value

    shape = (params.n_muscles,)
    mtu_length, mtu_velocity, activation = (
        jnp.broadcast_to(jnp.asarray(x, dtype=float), shape)
        for x in (mtu_length, mtu_velocity, activation))
    params_axes = jax.tree.map(lambda _: 0, params)
    return jax.vmap(solve_one, in_axes=(params_axes, 0, 0, 0))(
        params, mtu_length, mtu_velocity, activation)


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
    def init_state(self, mtu_length, mtu_velocity, activation):
        """Equilibrium state from MTU length [m], lengthening velocity [m/s] and activation."""

    @abc.abstractmethod
    def derivative(self, state, excitation, mtu_length, mtu_velocity):
        """Time derivative of `state` (same pytree structure, per second)."""

    @abc.abstractmethod
    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fiber kinematics at `state`."""

    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        """Advance the non-activation states by `dt` [s], activation held (explicit Euler).

        Sub-classes with stiff fiber states override this with a stabler scheme.
        """
        rate = self.derivative(state, state.activation, mtu_length, mtu_velocity)
        rate = eqx.tree_at(lambda s: s.activation, rate, jnp.zeros_like(state.activation))
        return jax.tree.map(lambda y, dy: y + dt * dy, state, rate)

    def tendon_force(self, state, mtu_length, mtu_velocity):
        """Tendon force [N]."""
        return self.outputs(state, mtu_length, mtu_velocity).tendon_force

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
