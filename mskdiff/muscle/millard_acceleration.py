r"""Millard 2012 acceleration MTU, as OpenSim 4.6's `Millard2012AccelerationMuscle`.

States: activation $a$, fibre length $l$ [m] and fibre velocity $\dot l$ [m/s]. A mass $m$ sits
at the fibre-tendon junction and moves along the tendon; with constant-thickness pennation
($l \sin\phi = h = l_{opt}\sin\phi_0$, $\dot\phi = -(\dot l / l)\tan\phi$):

$$\ddot l = \frac{\cos\phi}{m}\left(F_{SE} - F_{CE,AT}\right) + l\,\dot\phi^2 .$$

Normalised quantities: $\tilde l = l / l_{opt}$, $\tilde v = \dot l / l_{opt}$ [1/s] (*not*
divided by $v_{max}$), $\tilde v_{AT} = \frac{d}{dt}(l\cos\phi) / (l_{opt}\cos\phi_0)$,
$\tilde v_T = \dot l_T / l_{T,s}$. Every elastic element carries Hunt-Crossley damping
(damping force proportional to the elastic force), saturated at zero:

$$\begin{aligned}
f_{SE} &= \max\big(f_T(\tilde l_T)(1 + \beta_{SE}\tilde v_T),\ 0\big), &
f_{PE} &= \max\big(f_P(\tilde l)(1 + \beta_{PE}\tilde v),\ 0\big), \\
f_{K} &= \max\big(f_k(\tilde l)(1 - \beta_{K}\tilde v),\ 0\big), &
f_{C\phi} &= \max\big(f_{c\phi}(\cos\phi)(1 - \beta_{C\phi}\tilde v_{AT}),\ 0\big),
\end{aligned}$$

plus linear fibre damping $\beta_{CE}\tilde v$. The forces [N] are

$$F_{CE,AT} = F_{max}\left[(a f_L f_V + f_{PE} - f_K + \beta_{CE}\tilde v)\cos\phi - f_{C\phi}\right],
\qquad F_{SE} = F_{max} f_{SE} .$$

$f_k$ (`FiberCompressiveForceLengthCurve`) pushes the fibre apart below half its optimal length,
$f_{c\phi}$ (`FiberCompressiveForceCosPennationCurve`) below $\cos\phi = \cos 85°$.
$\beta_{SE}$ = `tendon_force_length_damping` (OpenSim default 0.1), $\beta_{PE}$ =
`fiber_force_length_damping` (0.01), $\beta_K$ = `fiber_compressive_force_length_damping` (1),
$\beta_{C\phi}$ = `fiber_compressive_force_cos_pennation_damping` (1), $\beta_{CE}$ =
`params.fiber_damping` (0.01); mass 0.1 kg.

Two tendon forces: OpenSim's `tendon_force` output is the elastic $F_{max} f_T$ (what
`outputs(...).tendon_force` gives), while the force the muscle applies (OpenSim's actuation)
is $F_{SE}$, damping included (`applied_tendon_force`, which `tendon_force` returns).

Activation: `FirstOrderActivation` with `params.minimum_activation` (OpenSim's class uses 0); the
forces use the activation state unclamped, as OpenSim does. OpenSim does not implement rigid
tendons for this class; neither does this one.

Reference: Millard M, Uchida T, Seth A, Delp SL (2013). Flexing computational muscle:
modeling and simulation of musculotendon dynamics. J Biomech Eng 135:021005.
"""

from collections.abc import Mapping
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_in_range, check_positive, check_shape, is_concrete
from .._solution import Solution
from ._solve import solved
from .activation import AbstractActivationDynamics, FirstOrderActivation
from .millard_curves import SegmentedQuinticBezierCurve, corner_control_points, scale_curviness
from .millard_equilibrium import MillardCurves, check_curve_count
from .mtu import AbstractMTU, MTUOutputs, linearly_implicit_fiber_step
from .parameters import MuscleArray, MuscleParameters

#: OpenSim's defaults for the class's own properties: mass [kg] and damping coefficients [s].
DEFAULTS: dict[str, float] = {
    "mass": 0.1,
    "tendon_force_length_damping": 0.1,
    "fiber_compressive_force_length_damping": 1.0,
    "fiber_force_length_damping": 0.01,
    "fiber_compressive_force_cos_pennation_damping": 1.0,
}
_DAMPING_FIELDS = tuple(k for k in DEFAULTS if k != "mass")

#: Initial-equilibrium Newton solve, as OpenSim's `initMuscleState`: step fraction, iteration
#: limit, and the tolerance on the fibre acceleration [m/s^2] per newton of max isometric force.
_INIT_STEP_FRACTION = 0.75
_INIT_MAX_ITERATIONS = 500
_INIT_TOLERANCE_PER_NEWTON = 1e-8
#: Lower bound of the fibre length in that solve: OpenSim clamps at the pennation height (90
#: degrees, where its own derivatives fail); here at cos(pennation) = 0.01 or 1 % of optimal.
_INIT_MIN_COS_PENNATION = 0.01
#: sin(pennation) is held below 1 - this (the equations are singular at 90 degrees), or below
#: 1 - 16 eps where the precision is coarser (float32).
_SIN_PENNATION_MARGIN = 1e-12
#: SimTK::SignificantReal in double precision, eps^(7/8).
_SIGNIFICANT_REAL = float(np.finfo(np.float64).eps ** (7 / 8))


# --- the two compressive curves -------------------------------------------------------------

def _both_or_neither(curve: str, names: tuple[str, str], values) -> None:
    if (values[0] is None) != (values[1] is None):
        raise ValueError(f"{curve}: set both {names[0]} and {names[1]} or neither "
                         "(OpenSim's rule for its optional properties)")


def _check_value(curve: str, name: str, value, ok: bool) -> None:
    if is_concrete(ok) and not bool(np.all(ok)):
        raise ValueError(f"{curve}: invalid {name} = {value}")


def fiber_compressive_force_length_curve(norm_length_at_zero_force=0.5,
                                         stiffness_at_zero_length=None,
                                         curviness=None) -> SegmentedQuinticBezierCurve:
    """OpenSim's `FiberCompressiveForceLengthCurve` over normalised fibre length.

    One corner from (0, 1) with slope `stiffness_at_zero_length` to
    (`norm_length_at_zero_force`, 0) with slope 0; zero beyond. OpenSim's fitted defaults
    when both optional properties are unset: stiffness -2 / `norm_length_at_zero_force`,
    curviness 0.5.
    """
    name = "FiberCompressiveForceLengthCurve"
    _both_or_neither(name, ("stiffness_at_zero_length", "curviness"),
                     (stiffness_at_zero_length, curviness))
    x1 = jnp.asarray(norm_length_at_zero_force, dtype=float)
    k = (-2.0 / x1 if stiffness_at_zero_length is None
         else jnp.asarray(stiffness_at_zero_length, dtype=float))
    curviness = jnp.asarray(0.5 if curviness is None else curviness, dtype=float)
    _check_value(name, "norm_length_at_zero_force", x1, x1 > 0)
    _check_value(name, "stiffness_at_zero_length (must be < -1/norm_length_at_zero_force)", k,
                 k < -1.0 / x1)
    _check_value(name, "curviness (must lie in [0, 1])", curviness, (curviness >= 0) & (curviness <= 1))
    zero, one = jnp.zeros(()), jnp.ones(())
    corner = corner_control_points(zero, one, k, x1, zero, zero, scale_curviness(curviness))
    return SegmentedQuinticBezierCurve.from_corners([corner], k, 0.0)


def fiber_compressive_force_cos_pennation_curve(engagement_angle_in_degrees=85.0,
                                                stiffness_at_perpendicular=None,
                                                curviness=None) -> SegmentedQuinticBezierCurve:
    """OpenSim's `FiberCompressiveForceCosPennationCurve` over cos(pennation angle).

    One corner from (0, 1) with slope `stiffness_at_perpendicular` to (cos(engagement angle), 0)
    with slope 0; zero beyond. OpenSim's fitted defaults when both optional properties are
    unset: stiffness -2 / cos(engagement angle), curviness 0.1.
    """
    name = "FiberCompressiveForceCosPennationCurve"
    _both_or_neither(name, ("stiffness_at_perpendicular", "curviness"),
                     (stiffness_at_perpendicular, curviness))
    x1 = jnp.cos(jnp.asarray(engagement_angle_in_degrees, dtype=float) * np.pi / 180.0)
    k = (-2.0 / x1 if stiffness_at_perpendicular is None
         else jnp.asarray(stiffness_at_perpendicular, dtype=float))
    curviness = jnp.asarray(0.1 if curviness is None else curviness, dtype=float)
    _check_value(name, "engagement_angle_in_degrees (cos must lie in (0, 1))", x1, (x1 > 0) & (x1 < 1))
    _check_value(name, "stiffness_at_perpendicular", k, k < 1.0 / x1)
    _check_value(name, "curviness (must lie in [0, 1])", curviness, (curviness >= 0) & (curviness <= 1))
    zero, one = jnp.zeros(()), jnp.ones(())
    corner = corner_control_points(zero, one, k, x1, zero, zero, scale_curviness(curviness))
    return SegmentedQuinticBezierCurve.from_corners([corner], k, 0.0)


class MillardCompressiveCurves(eqx.Module):
    """The acceleration muscle's two compressive curves (shared by all muscles of a model)."""

    fiber_compressive_force_length: SegmentedQuinticBezierCurve
    fiber_compressive_force_cos_pennation: SegmentedQuinticBezierCurve

    @classmethod
    def from_parameters(cls, parameters: dict[str, dict[str, float]] | None = None
                        ) -> "MillardCompressiveCurves":
        """From OpenSim curve properties per curve class; absent ones take OpenSim's defaults.

        E.g. `{"FiberCompressiveForceLengthCurve": {"norm_length_at_zero_force": 0.4}}`.
        """
        parameters = parameters or {}
        return cls(
            fiber_compressive_force_length_curve(
                **parameters.get("FiberCompressiveForceLengthCurve", {})),
            fiber_compressive_force_cos_pennation_curve(
                **parameters.get("FiberCompressiveForceCosPennationCurve", {})))


def acceleration_muscle_curves(parameters: dict[str, dict[str, float]] | None = None
                               ) -> MillardCurves:
    """The four standard curves as `Millard2012AccelerationMuscle` builds them by default.

    OpenSim's class defaults, except that its constructor sets the active force-length
    curve's minimum to 0 and both force-velocity slopes at +-vmax to 0 (true asymptotes).
    `parameters` (`{curve class: {property: value}}`) override these.
    """
    merged = {"ActiveForceLengthCurve": {"minimum_value": 0.0},
              "ForceVelocityCurve": {"concentric_slope_at_vmax": 0.0, "eccentric_slope_at_vmax": 0.0}}
    for curve, values in (parameters or {}).items():
        merged[curve] = {**merged.get(curve, {}), **values}
    return MillardCurves.from_parameters(merged)


# --- the model ------------------------------------------------------------------------------

class MillardAccelerationState(eqx.Module):
    """Activation [-], fibre length [m] and fibre lengthening velocity [m/s], each `(n_muscles,)`."""

    activation: MuscleArray
    fiber_length: MuscleArray
    fiber_velocity: MuscleArray


class _Pennation(NamedTuple):
    """Pennation angle [rad], its sine and cosine, and its rate [rad/s]."""

    angle: MuscleArray
    sin: MuscleArray
    cos: MuscleArray
    rate: MuscleArray


class _Forces(NamedTuple):
    """Everything the dynamics and the outputs need at one state (forces in N)."""

    pennation: _Pennation
    tendon_length: MuscleArray
    tendon_velocity: MuscleArray
    active_force_length: MuscleArray
    force_velocity: MuscleArray
    passive_force_length: MuscleArray
    norm_tendon_force: MuscleArray  # elastic f_T
    tendon_force: MuscleArray  # applied F_SE (elastic + damping, saturated)
    fiber_force_along_tendon: MuscleArray
    fiber_force: MuscleArray
    active_fiber_force: MuscleArray
    passive_fiber_force: MuscleArray  # OpenSim's: (f_PE - f_K - f_Cphi cos) Fmax, no fibre damping
    fiber_acceleration: MuscleArray  # [m/s^2]


def _per_muscle(value, n: int):
    x = jnp.asarray(value, dtype=float)
    return jnp.broadcast_to(x, (n,)) if x.ndim == 0 else x


class MillardAccelerationMTU(AbstractMTU):
    """Elastic-tendon MTUs in OpenSim's `Millard2012AccelerationMuscle` formulation.

    Per-muscle arrays `(n_muscles,)` (scalars broadcast): `mass` [kg] and the four Hunt-Crossley
    damping coefficients [s]; the linear fibre damping is `params.fiber_damping` [s]. Defaults
    are OpenSim's (`DEFAULTS`); `curves` default to `acceleration_muscle_curves()`. Build from an
    OpenSim property table with `from_properties`.

    Stiff: at 0.1 kg the fast fibre mode's eigenvalue is about -4e4 /s at low activation and
    -5e5 /s at full activation (soleus), so `fiber_step` is linearly implicit (stable at 2 ms
    steps with a few sub-steps). For tight solutions Tsit5 at rtol 1e-8 works (50-150 steps per
    ms); Kvaerno5 stalls where activation approaches 1, at the activation clamp's kink.
    """

    params: MuscleParameters
    curves: MillardCurves
    mass: MuscleArray
    tendon_force_length_damping: MuscleArray
    fiber_compressive_force_length_damping: MuscleArray
    fiber_force_length_damping: MuscleArray
    fiber_compressive_force_cos_pennation_damping: MuscleArray
    activation_dynamics: AbstractActivationDynamics
    compressive_curves: MillardCompressiveCurves

    def __init__(self, params: MuscleParameters, curves: MillardCurves | None = None,
                 mass=DEFAULTS["mass"],
                 tendon_force_length_damping=DEFAULTS["tendon_force_length_damping"],
                 fiber_compressive_force_length_damping=DEFAULTS["fiber_compressive_force_length_damping"],
                 fiber_force_length_damping=DEFAULTS["fiber_force_length_damping"],
                 fiber_compressive_force_cos_pennation_damping=DEFAULTS[
                     "fiber_compressive_force_cos_pennation_damping"],
                 activation_dynamics: AbstractActivationDynamics | None = None, *,
                 compressive_curves: MillardCompressiveCurves | None = None):
        n = params.n_muscles
        self.params = params
        self.curves = acceleration_muscle_curves() if curves is None else curves
        self.mass = _per_muscle(mass, n)
        self.tendon_force_length_damping = _per_muscle(tendon_force_length_damping, n)
        self.fiber_compressive_force_length_damping = _per_muscle(
            fiber_compressive_force_length_damping, n)
        self.fiber_force_length_damping = _per_muscle(fiber_force_length_damping, n)
        self.fiber_compressive_force_cos_pennation_damping = _per_muscle(
            fiber_compressive_force_cos_pennation_damping, n)
        self.activation_dynamics = (FirstOrderActivation() if activation_dynamics is None
                                    else activation_dynamics)
        self.compressive_curves = (MillardCompressiveCurves.from_parameters()
                                   if compressive_curves is None else compressive_curves)

    def __check_init__(self):
        p = self.params
        for field in ("mass", *_DAMPING_FIELDS):
            check_shape(field, getattr(self, field), (p.n_muscles,))
        check_positive("mass", self.mass, p.names)
        for field in _DAMPING_FIELDS:
            check_in_range(field, getattr(self, field), 0.0, np.inf, p.names)
        check_curve_count((self.curves, self.compressive_curves), p.n_muscles)
        rigid = p.ignore_tendon_compliance
        if is_concrete(rigid) and np.any(np.asarray(rigid)):
            bad = [n for n, r in zip(p.names, np.asarray(rigid), strict=True) if r]
            raise NotImplementedError(
                "MillardAccelerationMTU has no rigid-tendon variant (nor has OpenSim's "
                f"Millard2012AccelerationMuscle); muscles with ignore_tendon_compliance: {bad}. "
                "Make every tendon elastic: tendon_compliance='all_elastic' (myoleg, load_osim, "
                "rajagopal2016) or `mskdiff simulate --tendon all_elastic`")

    @classmethod
    def from_equilibrium_parameters(cls, params: MuscleParameters,
                                    curves: MillardCurves | None = None, **kwargs
                                    ) -> "MillardAccelerationMTU":
        """The acceleration muscle of parameters in mskdiff's (and the equilibrium muscle's) units.

        `params.fiber_damping` there multiplies the velocity in v_max units; this class's
        multiplies it per optimal length per second, so it is divided by
        `max_contraction_velocity` (the same damping force: Rajagopal's 0.1 becomes 0.01,
        OpenSim's default for this class). `minimum_activation` becomes 0, as OpenSim's class
        has it. `make_mtu(params, "millard_acceleration")` builds this.
        """
        n = params.n_muscles
        params = eqx.tree_at(lambda p: (p.fiber_damping, p.minimum_activation), params,
                             (params.fiber_damping / params.max_contraction_velocity,
                              jnp.zeros((n,))))
        return cls(params, curves, **kwargs)

    @classmethod
    def from_properties(cls, params: MuscleParameters, properties: Mapping[str, object],
                        curves: MillardCurves | None = None, **kwargs) -> "MillardAccelerationMTU":
        """From OpenSim property values, e.g. `IsolatedMTUCase.properties()` (one value per key).

        Reads `mass` and the four damping coefficients where present (else OpenSim's defaults)
        and `fiber_damping` where present (else `params.fiber_damping` is kept, read as this
        class's coefficient), and sets `minimum_activation` to the property's value or
        OpenSim's 0 (the class's activation model has no lower bound by default).

        Recipe for a reference case:
        `MillardAccelerationMTU.from_properties(case.parameters(), case.properties(),
        acceleration_muscle_curves(case.setup.get("millard_curve_changes")))`.
        """
        n = params.n_muscles
        values = {k: float(properties.get(k, v)) for k, v in DEFAULTS.items()}
        replaced = {"minimum_activation": float(properties.get("minimum_activation", 0.0))}
        if "fiber_damping" in properties:
            replaced["fiber_damping"] = float(properties["fiber_damping"])
        for field, value in replaced.items():
            params = eqx.tree_at(lambda p: getattr(p, field), params,  # noqa: B023
                                 jnp.full((n,), value))
        return cls(params, curves, **values, **kwargs)

    # --- kinematics and forces -------------------------------------------------------------

    def _pennation(self, fiber_length, fiber_velocity) -> _Pennation:
        """Constant-thickness pennation (OpenSim's `MuscleFixedWidthPennationModel`)."""
        h = self.params.fiber_width
        margin = max(_SIN_PENNATION_MARGIN, 16 * float(jnp.finfo(jnp.result_type(h)).eps))
        shortest = jnp.maximum(h / (1.0 - margin), 1e-9 * self.params.optimal_fiber_length)
        angle = jnp.arcsin(h / jnp.maximum(fiber_length, shortest))
        rate = -(fiber_velocity / fiber_length) * jnp.tan(angle)
        return _Pennation(angle, jnp.sin(angle), jnp.cos(angle), rate)

    def _forces(self, activation, fiber_length, fiber_velocity, mtu_length, mtu_velocity,
                tendon_velocity=None) -> _Forces:
        """Forces and fibre acceleration at a state.

        `tendon_velocity` [m/s] defaults to the kinematic one; the initial solve passes its
        own (OpenSim's stiffness-based split of the MTU velocity).
        """
        p = self.params
        l, v, a = fiber_length, fiber_velocity, activation
        pen = self._pennation(l, v)
        tendon_length = mtu_length - l * pen.cos
        if tendon_velocity is None:
            tendon_velocity = mtu_velocity - v * pen.cos + l * pen.sin * pen.rate
        along_velocity = v * pen.cos - l * pen.sin * pen.rate
        norm_length = l / p.optimal_fiber_length
        norm_velocity = v / p.optimal_fiber_length  # [1/s]; OpenSim's damping velocity
        norm_along_velocity = along_velocity / (p.optimal_fiber_length
                                                * jnp.cos(p.pennation_angle_at_optimal))
        norm_tendon_velocity = tendon_velocity / p.tendon_slack_length

        c = self.curves
        fal = c.active_force_length(norm_length)
        fv = c.force_velocity(v / p.max_fiber_velocity)
        fpe = c.fiber_force_length(norm_length)
        fse = c.tendon_force_length(tendon_length / p.tendon_slack_length)
        fk = self.compressive_curves.fiber_compressive_force_length(norm_length)
        fcphi = self.compressive_curves.fiber_compressive_force_cos_pennation(pen.cos)

        # Hunt-Crossley viscoelastic elements, saturated: tension (compression) only.
        saturate = lambda x: jnp.where(x < 0, 0.0, x)
        fse_ve = saturate(fse + fse * norm_tendon_velocity * self.tendon_force_length_damping)
        fpe_ve = saturate(fpe + fpe * norm_velocity * self.fiber_force_length_damping)
        fk_ve = saturate(fk - fk * norm_velocity * self.fiber_compressive_force_length_damping)
        fcphi_ve = saturate(fcphi - fcphi * norm_along_velocity
                            * self.fiber_compressive_force_cos_pennation_damping)
        fiber_viscous = norm_velocity * p.fiber_damping

        fmax = p.max_isometric_force
        active = a * fal * fv
        along_fiber = active + fpe_ve - fk_ve + fiber_viscous
        force_i = fmax * (along_fiber * pen.cos - fcphi_ve)  # along the tendon
        force_j = fmax * (along_fiber * pen.sin)  # perpendicular to it
        tendon_force = fmax * fse_ve
        acceleration = (1 / self.mass) * (tendon_force - force_i) * pen.cos + l * pen.rate**2
        return _Forces(
            pennation=pen, tendon_length=tendon_length, tendon_velocity=tendon_velocity,
            active_force_length=fal, force_velocity=fv, passive_force_length=fpe,
            norm_tendon_force=fse, tendon_force=tendon_force, fiber_force_along_tendon=force_i,
            fiber_force=force_i * pen.cos + force_j * pen.sin,
            active_fiber_force=fmax * active,
            passive_fiber_force=fmax * ((fpe_ve - fk_ve) - fcphi_ve * pen.cos),
            fiber_acceleration=acceleration)

    def _state_forces(self, state, mtu_length, mtu_velocity) -> _Forces:
        return self._forces(state.activation, state.fiber_length, state.fiber_velocity,
                            mtu_length, mtu_velocity)

    # --- the MTU interface -------------------------------------------------------------------

    def derivative(self, state, excitation, mtu_length, mtu_velocity) -> MillardAccelerationState:
        r"""$(\dot a, \dot l, \ddot l)$ in (1/s, m/s, m/s^2)."""
        rate = self.activation_dynamics.derivative(self.params, excitation, state.activation)
        forces = self._state_forces(state, mtu_length, mtu_velocity)
        return MillardAccelerationState(rate, state.fiber_velocity, forces.fiber_acceleration)

    def fiber_step(self, state, mtu_length, mtu_velocity, dt):
        r"""`linearly_implicit_fiber_step` on $(l, \dot l)$, activation held.

        L-stable for the stiff fibre mode. The MTU length is taken at the end of the sub-step.
        """
        mtu_length = mtu_length + dt * mtu_velocity
        accel = lambda x, y: self._forces(state.activation, x, y, mtu_length,
                                          mtu_velocity).fiber_acceleration
        length, velocity = linearly_implicit_fiber_step(accel, state.fiber_length,
                                                        state.fiber_velocity, dt)
        return MillardAccelerationState(state.activation, length, velocity)

    def outputs(self, state, mtu_length, mtu_velocity) -> MTUOutputs:
        """Forces and fibre kinematics, in OpenSim's output conventions.

        `tendon_force` is the elastic tendon force $F_{max} f_T$ (OpenSim's `tendon_force`
        output); the applied force is `applied_tendon_force`. `fiber_force` includes the linear
        fibre damping, `passive_fiber_force` does not (both as OpenSim).
        """
        p = self.params
        forces = self._state_forces(state, mtu_length, mtu_velocity)
        pen = forces.pennation
        return MTUOutputs(
            tendon_force=p.max_isometric_force * forces.norm_tendon_force,
            norm_tendon_force=forces.norm_tendon_force,
            tendon_length=forces.tendon_length,
            tendon_velocity=forces.tendon_velocity,
            fiber_length=state.fiber_length,
            norm_fiber_length=state.fiber_length / p.optimal_fiber_length,
            fiber_velocity=state.fiber_velocity,
            norm_fiber_velocity=state.fiber_velocity / p.max_fiber_velocity,
            pennation_angle=pen.angle,
            fiber_force=forces.fiber_force,
            fiber_force_along_tendon=forces.fiber_force_along_tendon,
            active_fiber_force=forces.active_fiber_force,
            passive_fiber_force=forces.passive_fiber_force,
            active_force_length_multiplier=forces.active_force_length,
            force_velocity_multiplier=forces.force_velocity,
            passive_force_multiplier=forces.passive_force_length,
        )

    def applied_tendon_force(self, state, mtu_length, mtu_velocity) -> MuscleArray:
        r"""Force the MTU applies [N]: $F_{max}\max(f_T (1 + \beta_{SE}\tilde v_T), 0)$.

        OpenSim's actuation; differs from the elastic `outputs(...).tendon_force` by the
        tendon's Hunt-Crossley damping.
        """
        return self._state_forces(state, mtu_length, mtu_velocity).tendon_force

    def tendon_force(self, state, mtu_length, mtu_velocity) -> MuscleArray:
        """The applied tendon force [N] (`applied_tendon_force`): what a plant should apply."""
        return self.applied_tendon_force(state, mtu_length, mtu_velocity)

    # --- initial state -----------------------------------------------------------------------

    def solve_init_state(self, mtu_length, mtu_velocity, activation, *,
                         max_steps: int = _INIT_MAX_ITERATIONS) -> Solution:
        """OpenSim's `computeInitialFiberEquilibrium`: zero fibre acceleration at `activation`.

        A damped Newton solve (step fraction 0.75, tendon starting at 1.01 slack lengths) until
        |fibre acceleration| <= 1e-8 Fmax (as OpenSim: in m/s^2), with OpenSim's split of the
        MTU velocity between fibre and tendon by their stiffnesses in series; at most
        `max_steps` iterations (`max_steps_reached` beyond, where OpenSim raises). The values
        are OpenSim's iterate; the gradients are those of the iteration's fixed point
        (implicit function theorem), not of the loop.
        """
        shape = (self.params.n_muscles,)
        inputs = tuple(jnp.broadcast_to(jnp.asarray(x, dtype=float), shape)
                       for x in (activation, mtu_length, mtu_velocity))
        (length, velocity, _), steps, converged = _initial_equilibrium(self, inputs, max_steps)
        state = MillardAccelerationState(inputs[0], length, velocity)
        return solved(state, steps, max_steps, converged)

    def _init_terms(self, fiber_length, fiber_velocity, tendon_velocity, activation, mtu_length,
                    mtu_velocity):
        """OpenSim's `initMuscleState` quantities at fixed fibre and tendon velocities [m/s].

        Returns the fibre acceleration [m/s^2], its slope in the fibre length [1/s^2], and the
        stiffnesses [N/m] of the fibre along the tendon and of the tendon.
        """

        def terms(l):
            f = self._forces(activation, l, fiber_velocity, mtu_length, mtu_velocity,
                             tendon_velocity)
            return f.fiber_acceleration, f.fiber_force_along_tendon, f.tendon_force, l * f.pennation.cos

        (acceleration, *_), (slope, d_fiber, d_tendon, d_along) = jax.jvp(
            terms, (fiber_length,), (jnp.ones_like(fiber_length),))
        # d(l cos phi)/dl; the tendon shortens as the fibre's projection lengthens.
        return acceleration, slope, d_fiber / d_along, -d_tendon / d_along

    def _velocity_split(self, fiber_length, fiber_stiffness, tendon_stiffness, mtu_length,
                        mtu_velocity):
        """OpenSim's split of the MTU velocity, fibre and tendon as springs in series.

        Returns (fibre velocity, tendon velocity) [m/s]; all goes to a slack tendon.
        """
        cos = self._pennation(fiber_length, jnp.zeros_like(fiber_length)).cos
        total = fiber_stiffness + tendon_stiffness
        in_series = ((jnp.abs(total) > _SIGNIFICANT_REAL)
                     & (mtu_length - fiber_length * cos > self.params.tendon_slack_length))
        safe = lambda x: jnp.where(in_series, x, 1.0)
        series_stiffness = fiber_stiffness * tendon_stiffness / safe(total)
        tendon_velocity = jnp.where(
            in_series, (1 / safe(tendon_stiffness)) * series_stiffness * mtu_velocity, mtu_velocity)
        return (mtu_velocity - tendon_velocity) * cos, tendon_velocity

    def _init_fixed_point(self, x, activation, mtu_length, mtu_velocity):
        """The converged iteration as G(l, dl/dt, dl_T/dt) = 0.

        Zero fibre acceleration, and a velocity split that reproduces itself.
        """
        length, velocity, tendon_velocity = x
        acceleration, _, fiber_stiffness, tendon_stiffness = self._init_terms(
            length, velocity, tendon_velocity, activation, mtu_length, mtu_velocity)
        split = self._velocity_split(length, fiber_stiffness, tendon_stiffness, mtu_length,
                                     mtu_velocity)
        return acceleration, velocity - split[0], tendon_velocity - split[1]

    def _init_newton(self, activation, mtu_length, mtu_velocity, max_steps: int):
        """OpenSim's `initMuscleState` iteration (no gradients).

        Returns (l, dl/dt, dl_T/dt), the iterations taken and, per muscle, whether the
        tolerance was met. Differences: no random restart when the slope vanishes (the iterate
        stays), and the lower bound of the fibre length (`_INIT_MIN_COS_PENNATION`); no
        exception when the iteration limit is reached (the last iterate is returned).
        """
        p = self.params
        # OpenSim's tolerance, or 64 eps of the force / mass acceleration scale where the
        # precision cannot reach it (float32).
        resolution = 64 * float(jnp.finfo(jnp.result_type(mtu_length)).eps)
        tolerance = jnp.maximum(_INIT_TOLERANCE_PER_NEWTON * p.max_isometric_force,
                                jnp.maximum(resolution * p.max_isometric_force / self.mass,
                                            10 * _SIGNIFICANT_REAL))
        h = p.fiber_width
        shortest = jnp.maximum(h / np.sqrt(1 - _INIT_MIN_COS_PENNATION**2),
                               0.01 * p.optimal_fiber_length)
        along = mtu_length - 1.01 * p.tendon_slack_length
        length = jnp.where(along >= jnp.sqrt(shortest**2 - h**2),
                           jnp.sqrt(h**2 + along**2), shortest)
        velocity = mtu_velocity * self._pennation(length, jnp.zeros_like(length)).cos

        def unconverged(carry):
            *_, done, iteration = carry
            return (iteration < max_steps) & ~jnp.all(done)

        def iterate(carry):
            length, velocity, tendon_velocity, done, iteration = carry
            acceleration, slope, fiber_stiffness, tendon_stiffness = self._init_terms(
                length, velocity, tendon_velocity, activation, mtu_length, mtu_velocity)
            done = done | (jnp.abs(acceleration) <= tolerance)
            newton = jnp.abs(slope) > _SIGNIFICANT_REAL
            step = jnp.where(newton, -acceleration / jnp.where(newton, slope, 1.0), 0.0)
            new_length = jnp.maximum(length + _INIT_STEP_FRACTION * step, shortest)
            # Stiffnesses of the old length, pennation of the new one (as OpenSim).
            new_velocity, new_tendon_velocity = self._velocity_split(
                new_length, fiber_stiffness, tendon_stiffness, mtu_length, mtu_velocity)
            keep = lambda old, new: jnp.where(done, old, new)
            return (keep(length, new_length), keep(velocity, new_velocity),
                    keep(tendon_velocity, new_tendon_velocity), done, iteration + 1)

        start = (length, velocity, jnp.zeros_like(length), jnp.zeros(length.shape, bool), 0)
        length, velocity, tendon_velocity, done, steps = jax.lax.while_loop(
            unconverged, iterate, start)
        return (length, velocity, tendon_velocity), steps, done


@eqx.filter_custom_jvp
def _initial_equilibrium(mtu: MillardAccelerationMTU, inputs, max_steps: int):
    """OpenSim's initial iterate, the iterations taken and the per-muscle convergence flags.

    The iterate is `(3, n)`: fibre length [m], fibre and tendon velocities [m/s].
    """
    x, steps, converged = mtu._init_newton(*inputs, max_steps)
    return jnp.stack(x), steps, converged


@_initial_equilibrium.def_jvp
def _initial_equilibrium_jvp(primals, tangents):
    """Implicit function theorem on the iteration's fixed point G(x; mtu, inputs) = 0."""
    mtu, inputs, max_steps = primals
    solution, steps, converged = _initial_equilibrium(mtu, inputs, max_steps)
    fixed_point = lambda model, x, args: jnp.stack(model._init_fixed_point(x, *args))
    basis = jnp.broadcast_to(jnp.eye(3)[:, :, None], (3, *solution.shape))
    jacobian = jax.vmap(lambda t: jax.jvp(lambda x: fixed_point(mtu, x, inputs), (solution,),
                                          (t,))[1])(basis)  # [j, i, k] = dG_i / dx_j, muscle k
    _, change = eqx.filter_jvp(lambda model, args: fixed_point(model, solution, args),
                               primals[:2], tangents[:2])
    step = jnp.linalg.solve(jnp.transpose(jacobian, (2, 1, 0)), change.T[..., None])[..., 0]
    return (solution, steps, converged), (-step.T, None, None)
