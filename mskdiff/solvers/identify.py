r"""Parameter identification: fit muscle parameters to measured or simulated behaviour.

The free parameters $p$ (a chosen subset of `MuscleParameters` fields, per muscle or shared by
all muscles) live in a box $[p_\mathrm{lo}, p_\mathrm{hi}]$ through the smooth map
$p = p_\mathrm{lo} + (p_\mathrm{hi} - p_\mathrm{lo})\,\sigma(z)$, so the optimiser works on an
unconstrained $z$. The residuals are, for every experiment and every quantity $q$ it observes,

$$r_q = w_q\,(\hat y_q(p) - y_q) / s_q,$$

with $\hat y_q$ the model's prediction (a simulation through `jax`, differentiated exactly),
$s_q$ the per-muscle range of the data (so quantities of different units are comparable) and
$w_q$ a user weight; an optional prior adds $\lambda\,(p - p_0)/p_0$. Levenberg-Marquardt from
optimistix solves the least-squares problem with forward-mode Jacobians: optimistix (with lineax)
is maintained with Diffrax and already a dependency, whereas jaxopt is unmaintained.

Uncertainty is the Gauss-Newton estimate at the solution, in physical units:
$\mathrm{Cov}(p) = \hat\sigma^2 (J^\top J)^{-1}$ with $J = \partial r/\partial p$ and
$\hat\sigma^2 = \lVert r\rVert^2 / (m - n)$ (data residuals only), giving standard errors,
95 % intervals ($\pm 1.96$ SE) and correlations.
"""

import dataclasses
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax import Array
from jax.flatten_util import ravel_pytree

from .._solution import RESULTS, Solution, maybe_throw, result_name
from ..integrate.integrators import AbstractIntegrator, SemiImplicitEuler
from ..integrate.simulate import simulate
from ..muscle.mtu import AbstractMTU, MTUOutputs
from ..muscle.parameters import PARAMETER_FIELDS

#: Per-muscle quantities a residual can use: `MTUOutputs` fields, plus `activation`.
OBSERVABLES = (*MTUOutputs.__dataclass_fields__, "activation")
#: Joint moments [N m]: `sum_i moment_arm[s, i, j] * tendon_force[s, i]`, shape (n_samples, n_coordinates).
JOINT_MOMENT = "joint_moment"
#: Default box for a free parameter, relative to its starting value.
DEFAULT_BOUNDS = (0.5, 1.5)


class AbstractExperiment(eqx.Module):
    """Data for the muscles of one MTU model and how to predict it from the model.

    `targets` maps a quantity to measured values: per-muscle quantities (`OBSERVABLES`) have
    shape `(n_samples, n_muscles)`; `"joint_moment"` [N m] has shape
    `(n_samples, n_coordinates)` and needs `moment_arms` [m] of shape
    `(n_samples, n_muscles, n_coordinates)`.
    """

    targets: dict[str, Array]
    moment_arms: Array | None = eqx.field(default=None, kw_only=True)

    def predict(self, mtu: AbstractMTU, quantities: Sequence[str] | None = None
                ) -> dict[str, Array]:
        """Per-muscle `quantities` (default: the per-muscle targets), `(n_samples, n_muscles)`."""
        raise NotImplementedError

    def muscle_quantities(self) -> tuple[str, ...]:
        """The per-muscle quantities the targets need (tendon force for joint moments)."""
        needed = [q for q in self.targets if q != JOINT_MOMENT]
        if JOINT_MOMENT in self.targets and "tendon_force" not in needed:
            needed.append("tendon_force")
        return tuple(needed)

    def target_values(self, per_muscle: dict[str, Array]) -> dict[str, Array]:
        """Every target's predicted value from the per-muscle predictions."""
        out = {q: per_muscle[q] for q in self.targets if q != JOINT_MOMENT}
        if JOINT_MOMENT in self.targets:
            out[JOINT_MOMENT] = jnp.einsum("smj,sm->sj", self.moment_arms,
                                           per_muscle["tendon_force"])
        return {q: out[q] for q in self.targets}


class AdaptiveRecord(eqx.Module):
    """One adaptive Diffrax solve over a whole record, saved at the sample times.

    Tsit5 (explicit, 5th order) with a PID step controller at `rtol`/`atol` (state units:
    activation [-] and the formulation's fibre state), differentiated in forward mode
    (`dfx.ForwardMode`), as the fit's Jacobians are. The default tolerances put the
    integration error near 1e-6 N of tendon force on OpenSim's isolated-MTU cases, below
    OpenSim's own (Runge-Kutta-Merson at 1e-8): a fit's bias from integration is negligible.
    A solve that fails (`max_steps` steps, or a non-finite state) gives infinite predictions.
    """

    solver: dfx.AbstractSolver = dfx.Tsit5()
    rtol: float = 1e-10
    atol: float = 1e-12
    max_steps: int = eqx.field(static=True, default=2**18)  # millardacc: 94k at the truth

    def states(self, mtu: AbstractMTU, state0, times: Array, drive: Callable):
        """The states at `times` [s], from `state0` at `times[0]` (leading axis `n_times`)."""

        def vector_field(t, y, args):
            return mtu.derivative(y, *drive(t))

        solution = dfx.diffeqsolve(
            dfx.ODETerm(vector_field), self.solver, times[0], times[-1],
            0.1 * (times[1] - times[0]), state0, saveat=dfx.SaveAt(ts=times),
            stepsize_controller=dfx.PIDController(rtol=self.rtol, atol=self.atol),
            adjoint=dfx.ForwardMode(), max_steps=self.max_steps, throw=False)
        return solution.ys


class TimeSeriesExperiment(AbstractExperiment):
    """A simulation from equilibrium at `times[0]`, driven by excitation and MTU length.

    `drive(t) -> (excitation, mtu_length [m], mtu_velocity [m/s])`, each `(n_muscles,)`;
    targets are sampled at `times` [s]. `integrator`: `AdaptiveRecord()` (no integration
    bias) or a fixed-step `AbstractIntegrator`, one step per sample interval (default
    `SemiImplicitEuler(4)`: fast, with a bias of order its step).
    """

    times: Array
    drive: Callable
    initial_activation: Array
    integrator: AbstractIntegrator | AdaptiveRecord = SemiImplicitEuler(4)

    def predict(self, mtu: AbstractMTU, quantities: Sequence[str] | None = None
                ) -> dict[str, Array]:
        """Simulate from equilibrium and sample the quantities at `times`."""
        _, length, velocity = self.drive(self.times[0])
        start = mtu.solve_init_state(length, velocity, self.initial_activation)
        state0, mtu = start.value, _without_throw(mtu)
        if isinstance(self.integrator, AdaptiveRecord):
            states = self.integrator.states(mtu, state0, self.times, self.drive)
            _, lengths, velocities = jax.vmap(self.drive)(self.times)
            outputs = jax.vmap(mtu.outputs)(states, lengths, velocities)
        else:
            trajectory = simulate(mtu, state0, self.times, self.drive, integrator=self.integrator)
            outputs, states = trajectory.outputs, trajectory.states
        return {q: _unless_failed(start.result, _observable(outputs, states, q))
                for q in (quantities or self.muscle_quantities())}


def _without_throw(mtu: AbstractMTU) -> AbstractMTU:
    """`mtu` with its internal solves' `throw` off, where it has one.

    A fit's trial parameters, and an adaptive solver's rejected trial stages, may leave a
    fibre-velocity root unconverged: the trial is rejected on its residual, not aborted.
    """
    return dataclasses.replace(mtu, throw=False) if hasattr(mtu, "throw") else mtu


class EquilibriumExperiment(AbstractExperiment):
    """Static equilibria of the muscles.

    Each sample is a muscle in equilibrium at an MTU length [m], lengthening velocity [m/s]
    and activation; all three have shape `(n_samples, n_muscles)`.
    """

    mtu_length: Array
    mtu_velocity: Array
    activation: Array

    def predict(self, mtu: AbstractMTU, quantities: Sequence[str] | None = None
                ) -> dict[str, Array]:
        """The quantities at each sample's equilibrium."""
        quiet = _without_throw(mtu)

        def one(length, velocity, activation):
            start = mtu.solve_init_state(length, velocity, activation)
            return quiet.outputs(start.value, length, velocity), start.value, start.result

        outputs, states, results = jax.vmap(one)(self.mtu_length, self.mtu_velocity,
                                                 self.activation)
        return {q: _unless_failed(results, _observable(outputs, states, q))
                for q in (quantities or self.muscle_quantities())}


def _observable(outputs: MTUOutputs, states, quantity: str) -> Array:
    return states.activation if quantity == "activation" else getattr(outputs, quantity)


def _unless_failed(result: RESULTS, prediction: Array) -> Array:
    """`prediction`, or inf where the (initial) equilibrium solve failed.

    Levenberg-Marquardt rejects a trial point with infinite residuals and retries a shorter
    step; a fit that ends there is `nonfinite_state`.
    """
    ok = result == RESULTS.successful  # () or (n_samples,)
    ok = jnp.reshape(ok, ok.shape + (1,) * (prediction.ndim - ok.ndim))
    return jnp.where(ok, prediction, jnp.inf)


@dataclasses.dataclass(frozen=True)
class FreeParameters:
    """Which parameters to fit.

    Args:
        fields: `MuscleParameters` field names (OpenSim spelling).
        shared: the subset of `fields` fitted as one value for all muscles.
        bounds: per field, `(lower, upper)` as factors of the starting value
            (default `DEFAULT_BOUNDS`).
    """

    fields: tuple[str, ...]
    shared: tuple[str, ...] = ()
    bounds: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "shared", tuple(self.shared))
        unknown = [f for f in (*self.fields, *self.bounds) if f not in PARAMETER_FIELDS]
        if unknown:
            raise ValueError(f"unknown parameter fields {unknown}; known: {list(PARAMETER_FIELDS)}")
        if not self.fields:
            raise ValueError("no free parameters given")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"duplicate free parameters in {list(self.fields)}")
        stray = [f for f in (*self.shared, *self.bounds) if f not in self.fields]
        if stray:
            raise ValueError(f"{stray} are shared or bounded but not free")
        for field, (low, high) in self.bounds.items():
            if not 0 <= low < 1 < high:
                raise ValueError(f"bounds of {field!r} must satisfy 0 <= lower < 1 < upper "
                                 f"(factors of the start), got {(low, high)}")

    def factors(self, field: str) -> tuple[float, float]:
        """`(lower, upper)` bound factors of `field`."""
        return self.bounds.get(field, DEFAULT_BOUNDS)


class FitResult(Solution):
    """What `fit` found: a `Solution` with the fit's extras.

    `value` is `fitted`; `result` is `RESULTS.successful` only when Levenberg-Marquardt met its
    tolerance *and* the fitted model reproduces the data (`data_not_reproduced` otherwise,
    `nonfinite_state` for a non-finite prediction, `max_steps_reached`); `stats` holds
    `num_steps`, `max_steps`, `num_evaluations`, `solver_result` (Levenberg-Marquardt's own
    code), `relative_rms` (worst RMS error over quantities and muscles, in data ranges) and
    `max_residual` (its limit). Values per field have shape `(n_muscles,)` (shared fields repeat).
    """

    names: tuple[str, ...]
    fields: tuple[str, ...]
    initial: dict[str, np.ndarray]
    standard_error: dict[str, np.ndarray]
    covariance: np.ndarray  # over the flat free vector (`flat_labels` order)
    correlation: np.ndarray
    flat_labels: tuple[str, ...]  # "field" (shared) or "field[muscle]"
    cost_history: np.ndarray  # 0.5 * sum of squared residuals at every evaluated point
    residual_rms: dict[str, float]  # final RMS of (prediction - data) per quantity, data units
    predicted: tuple[dict[str, np.ndarray], ...]  # per experiment: the fit's values of its targets

    @property
    def fitted(self) -> dict[str, np.ndarray]:
        """Fitted values per field, `(n_muscles,)` (= `value`)."""
        return self.value

    @property
    def n_steps(self) -> int:
        """Levenberg-Marquardt steps taken (= `stats["num_steps"]`)."""
        return int(self.stats["num_steps"])

    @property
    def converged(self) -> bool:
        """Levenberg-Marquardt met its tolerance (the data may still not be reproduced)."""
        return bool(self.stats["solver_result"] == RESULTS.successful)

    @property
    def outcome(self) -> str:
        """The result's member name, e.g. `'successful'` or `'data_not_reproduced'`."""
        return result_name(self.result)

    def interval95(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """95 % confidence interval (Gauss-Newton, normal approximation) of a field."""
        half = 1.959963984540054 * self.standard_error[field]
        return self.fitted[field] - half, self.fitted[field] + half

    def summary(self) -> str:
        """A plain-text table: fitted, initial and standard error per muscle and field."""
        rows = [f"{'muscle':<16}{'field':<32}{'initial':>14}{'fitted':>14}{'std error':>12}"]
        for field in self.fields:
            for k, name in enumerate(self.names):
                rows.append(f"{name:<16}{field:<32}{self.initial[field][k]:>14.6g}"
                            f"{self.fitted[field][k]:>14.6g}{self.standard_error[field][k]:>12.2g}")
        rows.append("final RMS residual: " + ", ".join(
            f"{q} {v:.3g}" for q, v in self.residual_rms.items()))
        rows.append(f"result: {self.outcome} ({self.n_steps} steps, worst relative RMS "
                    f"{self.stats['relative_rms']:.3g}, limit {self.stats['max_residual']:.3g})")
        return "\n".join(rows)


def fit(mtu: AbstractMTU, experiments: Sequence[AbstractExperiment], free: FreeParameters, *,
        weights: Mapping[str, float] | None = None, prior_weight: float = 0.0,
        max_steps: int = 100, rtol: float = 1e-6, atol: float = 1e-6,
        max_residual: float = 0.05, progress: bool = True, throw: bool = True) -> FitResult:
    """Fit the free parameters of `mtu` to the experiments by Levenberg-Marquardt.

    Args:
        mtu: the muscle model at the starting parameters (formulation + parameters).
        experiments: data for the model's muscles (all muscles in each experiment).
        free: which parameters to fit, shared or per muscle, and their bounds.
        weights: per quantity (default 1).
        prior_weight: weight of the relative deviation from the starting values.
        max_steps: Levenberg-Marquardt iteration limit.
        rtol: relative convergence tolerance: the fit stops when an accepted step changes
            the latent parameters and every residual by less than `atol + rtol * |value|`.
            Levenberg-Marquardt converges superlinearly, so the solution is far more precise
            than this (1e-6 gives slack lengths to 1e-13 relative on exact data); much tighter
            values only add rejected steps at the noise floor.
        atol: absolute convergence tolerance (same test).
        max_residual: the data count as reproduced when, for every quantity and muscle, the
            RMS error is at most this fraction of the data's range (default 0.05: above
            noise of a few % of the range; a wrong basin is far above). Otherwise the result
            is `RESULTS.data_not_reproduced`.
        progress: show a progress bar of evaluated points.
        throw: raise `EquinoxRuntimeError` when the result is not successful; with `False`
            the outcome is only in `result`.

    Repeated fits with the same model structure, drives and data shapes reuse one compiled
    solve (e.g. a noise study over seeds); fits in several threads run independently.
    """
    experiments = tuple(experiments)
    _check_experiments(experiments, mtu.n_muscles)
    problem = _Problem(
        mtu=mtu.with_generic_names(), experiments=experiments,
        scales=tuple({q: _data_scale(y) for q, y in e.targets.items()} for e in experiments),
        packing=_Packing.create(free, mtu), weights=tuple(sorted((weights or {}).items())),
        prior_weight=float(prior_weight))
    with _Recorder(progress, 2 * max_steps) as recorder:  # a residual and a Jacobian per step
        solution = _solve(problem, problem.packing.z0, recorder.key, rtol, atol, max_steps)
    values = problem.packing.to_values(solution.value)
    r, jacobian, rms, relative, predicted = jax.tree.map(np.asarray, _at_solution(problem, values))
    covariance = _gauss_newton_covariance(jacobian, r)
    packing = problem.packing
    solver_result = RESULTS.promote(solution.result)
    result = _outcome(solver_result, np.isfinite(r).all(), float(relative), max_residual)
    fitted = {f: np.asarray(v) for f, v in packing.unpack(values).items()}
    stats = {"num_steps": int(solution.stats["num_steps"]), "max_steps": max_steps,
             "num_evaluations": len(recorder.costs), "solver_result": solver_result,
             "relative_rms": float(relative), "max_residual": float(max_residual)}
    maybe_throw(values, result, throw)
    return FitResult(
        value=fitted, result=result, stats=stats, names=mtu.params.names, fields=free.fields,
        initial={f: np.asarray(v) for f, v in packing.unpack(packing.start).items()},
        standard_error={f: np.asarray(v) for f, v in packing.unpack(
            jnp.sqrt(jnp.asarray(np.clip(np.diag(covariance), 0.0, None)))).items()},
        covariance=covariance, correlation=_correlation(covariance),
        flat_labels=packing.labels(mtu.params.names), cost_history=np.asarray(recorder.costs),
        residual_rms={q: float(v) for q, v in rms.items()}, predicted=tuple(predicted))


def _outcome(solver_result, finite: bool, relative_rms: float, max_residual: float) -> RESULTS:
    """The fit's result: the solver's failure first, then non-finite, then data reproduced."""
    if solver_result != RESULTS.successful:
        return solver_result
    if not finite:
        return RESULTS.nonfinite_state
    return RESULTS.successful if relative_rms <= max_residual else RESULTS.data_not_reproduced


class _Packing(eqx.Module):
    """Flat free vector <-> per-field values; the bounded (sigmoid) reparametrisation."""

    start: Array
    low: Array
    high: Array
    fields: tuple[str, ...] = eqx.field(static=True)
    shared: tuple[str, ...] = eqx.field(static=True)
    n_muscles: int = eqx.field(static=True)

    @classmethod
    def create(cls, free: FreeParameters, mtu: AbstractMTU) -> "_Packing":
        start = [jnp.asarray(getattr(mtu.params, f), dtype=float) for f in free.fields]
        start = jnp.concatenate([jnp.atleast_1d(jnp.mean(x)) if f in free.shared else x
                                 for f, x in zip(free.fields, start, strict=True)])
        sizes = [1 if f in free.shared else mtu.n_muscles for f in free.fields]
        factors = jnp.asarray(np.repeat([free.factors(f) for f in free.fields], sizes, axis=0))
        return cls(start, start * factors[:, 0], start * factors[:, 1], free.fields, free.shared,
                   mtu.n_muscles)

    @property
    def sizes(self) -> list[int]:
        return [1 if f in self.shared else self.n_muscles for f in self.fields]

    @property
    def z0(self) -> Array:
        fraction = (self.start - self.low) / (self.high - self.low)
        return jnp.log(fraction) - jnp.log1p(-fraction)

    def to_values(self, z: Array) -> Array:
        return self.low + (self.high - self.low) * jax.nn.sigmoid(z)

    def unpack(self, flat: Array) -> dict[str, Array]:
        pieces = jnp.split(flat, np.cumsum(self.sizes)[:-1])
        return {f: jnp.broadcast_to(p, (self.n_muscles,))
                for f, p in zip(self.fields, pieces, strict=True)}

    def apply(self, mtu: AbstractMTU, flat: Array) -> AbstractMTU:
        values = self.unpack(flat)
        return eqx.tree_at(lambda m: [getattr(m.params, f) for f in self.fields], mtu,
                           [values[f] for f in self.fields])

    @property
    def colour(self) -> np.ndarray:
        """Field index of every entry of the flat vector."""
        return np.repeat(np.arange(len(self.fields)), self.sizes)

    @property
    def muscle(self) -> np.ndarray:
        """Muscle index of every entry of the flat vector (-1 for a shared field)."""
        return np.concatenate([np.full(1, -1) if f in self.shared else np.arange(self.n_muscles)
                               for f in self.fields])

    def labels(self, names: Sequence[str]) -> tuple[str, ...]:
        return tuple(f if f in self.shared else f"{f}[{n}]"
                     for f in self.fields for n in ((None,) if f in self.shared else names))


class _Problem(eqx.Module):
    """Everything the residuals need, as one pytree (so repeated fits share a compile)."""

    mtu: AbstractMTU
    experiments: tuple
    scales: tuple
    packing: _Packing
    weights: tuple = eqx.field(static=True)
    prior_weight: float = eqx.field(static=True)


def _per_muscle(problem: _Problem, values: Array) -> list[dict[str, Array]]:
    """Every experiment's per-muscle predictions at the free values.

    Trials of one structure (same type, static fields such as the drive, and array shapes)
    are stacked and predicted by one `vmap`.
    """
    model = problem.packing.apply(problem.mtu, values)
    out: list = [None] * len(problem.experiments)
    for members in _same_structure(problem.experiments):
        trials = [problem.experiments[k] for k in members]
        predictions = [trials[0].predict(model)] if len(trials) == 1 else _predict_stacked(
            trials, model)
        for k, predicted in zip(members, predictions, strict=True):
            out[k] = predicted
    return out


def _predict_stacked(trials: list, model: AbstractMTU) -> list[dict[str, Array]]:
    """Predictions of trials of one structure, by one `vmap` over their stacked arrays."""
    static = eqx.filter(trials[0], eqx.is_array, inverse=True)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *[eqx.filter(t, eqx.is_array) for t in trials])
    batch = jax.vmap(lambda d: eqx.combine(d, static).predict(model))(stacked)
    return [jax.tree.map(lambda x, i=i: x[i], batch) for i in range(len(trials))]


def _same_structure(experiments) -> list[list[int]]:
    """Indices of the experiments grouped by structure (treedef, static leaves, shapes)."""
    groups: dict = {}
    for k, experiment in enumerate(experiments):
        arrays, static = eqx.partition(experiment, eqx.is_array)
        leaves, treedef = jax.tree.flatten(arrays)
        key = (treedef, jax.tree.structure(static),
               tuple(jax.tree.leaves(static)),
               tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves))
        try:
            groups.setdefault(key, []).append(k)
        except TypeError:  # an unhashable static leaf: its own group
            groups.setdefault(("unhashable", k), []).append(k)
    return list(groups.values())


def _residuals_of(problem: _Problem, per_muscle: list[dict[str, Array]]) -> Array:
    """Weighted, range-scaled errors of every target, flat; affine in the predictions."""
    weights = dict(problem.weights)
    out = []
    for experiment, scale, predicted in zip(problem.experiments, problem.scales, per_muscle,
                                            strict=True):
        values = experiment.target_values(predicted)
        for q, y in experiment.targets.items():
            out.append((weights.get(q, 1.0) * (values[q] - y) / scale[q]).ravel())
    return jnp.concatenate(out)


def _data_residuals(problem: _Problem, values: Array) -> Array:
    return _residuals_of(problem, _per_muscle(problem, values))


def _data_jacobian(problem: _Problem, values: Array) -> Array:
    """d(data residuals)/d(free values), exact, with one JVP per free field.

    A per-muscle prediction of muscle i depends on muscle i's values only (and on shared
    ones), so seeding all muscles of one field at once and keeping each muscle's rows gives
    that field's columns (column compression). The residuals are affine in the predictions
    (joint moments mix muscles through the moment arms): that map is applied to every column.
    """
    packing = problem.packing
    per_muscle = _per_muscle(problem, values)
    flat, unravel = ravel_pytree(per_muscle)
    row_muscle = np.concatenate([np.arange(np.size(leaf)) % packing.n_muscles
                                 for leaf in jax.tree.leaves(per_muscle)])
    colour, muscle = packing.colour, packing.muscle
    seeds = jnp.asarray(colour[None, :] == np.arange(len(packing.fields))[:, None],
                        dtype=values.dtype)
    predict = lambda v: ravel_pytree(_per_muscle(problem, v))[0]
    columns = jax.vmap(lambda seed: jax.jvp(predict, (values,), (seed,))[1])(seeds)
    mask = (row_muscle[:, None] == muscle[None, :]) | (muscle[None, :] < 0)
    prediction_jacobian = columns.T[:, colour] * jnp.asarray(mask, dtype=values.dtype)
    linear = lambda column: jax.jvp(lambda p: _residuals_of(problem, unravel(p)), (flat,),
                                    (column,))[1]
    return jax.vmap(linear, in_axes=1, out_axes=1)(prediction_jacobian)


@eqx.filter_jit
def _at_solution(problem: _Problem, values: Array):
    """Residuals, Jacobian, RMS error per quantity, worst relative RMS, predictions.

    The worst relative RMS is over quantities and muscles, in units of the data's range.
    """
    per_muscle = _per_muscle(problem, values)
    residuals = _residuals_of(problem, per_muscle)
    jacobian = _data_jacobian(problem, values)
    predictions = [e.target_values(p) for e, p in zip(problem.experiments, per_muscle, strict=True)]
    squares: dict[str, list] = {}
    relative = []
    for experiment, scale, predicted in zip(problem.experiments, problem.scales, predictions,
                                            strict=True):
        for q, y in experiment.targets.items():
            squares.setdefault(q, []).append(jnp.ravel((predicted[q] - y) ** 2))
            relative.append(jnp.max(jnp.sqrt(jnp.mean(((predicted[q] - y) / scale[q]) ** 2, 0))))
    rms = {q: jnp.sqrt(jnp.mean(jnp.concatenate(s))) for q, s in squares.items()}
    return residuals, jacobian, rms, jnp.max(jnp.stack(relative)), predictions


def _residuals(z: Array, problem: _Problem, recorder: Array) -> Array:
    """The least-squares residuals of the latent vector `z` (prior appended when weighted).

    The cost goes to the `_Recorder` with key `recorder`.
    """
    values = problem.packing.to_values(z)
    r = _data_residuals(problem, values)
    if problem.prior_weight:
        start = problem.packing.start
        r = jnp.concatenate([r, problem.prior_weight * (values - start) / start])
    jax.debug.callback(_Recorder.report, recorder, 0.5 * jnp.sum(r**2))
    return r


def _latent_jacobian(z: Array, problem: _Problem) -> Array:
    """d(_residuals)/dz: the data Jacobian through the sigmoid box, plus the prior rows."""
    packing = problem.packing
    values = packing.to_values(z)
    dvalues = (packing.high - packing.low) * jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)
    jacobian = _data_jacobian(problem, values) * dvalues[None, :]
    if problem.prior_weight:
        prior = jnp.diag(problem.prior_weight * dvalues / packing.start)
        jacobian = jnp.concatenate([jacobian, prior])
    return jacobian


@eqx.filter_jit
def _solve(problem: _Problem, z0: Array, recorder: Array, rtol: float, atol: float,
           max_steps: int):
    """Levenberg-Marquardt on the latent vector, with a materialised forward-mode Jacobian.

    The residuals get a custom JVP that builds the full Jacobian (`_data_jacobian`: one JVP per
    free field) and applies it. This is cheaper than optimistix's default `linearize` (one
    JVP per entry), and with `linearize` the implicit-function JVP of the muscles'
    equilibrium initialisation received non-finite inputs at some trial points.
    """

    @jax.custom_jvp
    def residuals(z):
        return _residuals(z, problem, recorder)

    @residuals.defjvp
    def residuals_jvp(primals, tangents):
        (z,), (dz,) = primals, tangents
        return residuals(z), _latent_jacobian(z, problem) @ dz

    solver = optx.LevenbergMarquardt(rtol=rtol, atol=atol)
    return optx.least_squares(lambda z, _: residuals(z), solver, z0, max_steps=max_steps,
                              throw=False)


class _Recorder:
    """Collects the cost at every evaluated point and drives the progress bar (host side).

    Each fit registers its own recorder under a fresh integer key, passed into the compiled
    solve as an argument: the callback finds its fit's recorder by that key, so fits in
    several threads do not mix, and a key with no recorder (e.g. a traced solve inside
    another program) is ignored.
    """

    _live: dict[int, "_Recorder"] = {}
    _keys = itertools.count()
    _lock = threading.Lock()

    def __init__(self, progress: bool, total: int):
        from tqdm.auto import tqdm

        self.costs: list[float] = []
        self.bar = tqdm(total=total, desc="fit (evaluations)", disable=not progress, leave=False)
        with _Recorder._lock:
            self.index = next(_Recorder._keys) % 2**31

    @property
    def key(self) -> Array:
        return jnp.asarray(self.index, dtype=jnp.int32)

    def __enter__(self):
        with _Recorder._lock:
            _Recorder._live[self.index] = self
        return self

    def __exit__(self, *exc):
        with _Recorder._lock:
            _Recorder._live.pop(self.index, None)
        self.bar.close()

    @staticmethod
    def report(key, cost) -> None:
        recorder = _Recorder._live.get(int(key))
        if recorder is not None:
            recorder.costs.append(float(cost))
            recorder.bar.update(1)
            recorder.bar.set_postfix(cost=f"{float(cost):.4g}")


def _check_experiments(experiments, n_muscles: int) -> None:
    if not experiments:
        raise ValueError("no experiments given")
    for k, experiment in enumerate(experiments):
        if not experiment.targets:
            raise ValueError(f"experiment {k} has no targets")
        for q, y in experiment.targets.items():
            if q == JOINT_MOMENT:
                _check_joint_moments(k, y, experiment.moment_arms, n_muscles)
                continue
            if q not in OBSERVABLES:
                raise ValueError(f"experiment {k}: unknown quantity {q!r}; known: "
                                 f"{[*OBSERVABLES, JOINT_MOMENT]}")
            if jnp.ndim(y) != 2 or jnp.shape(y)[1] != n_muscles:
                raise ValueError(f"experiment {k}: {q} must have shape (n_samples, {n_muscles}), "
                                 f"got {jnp.shape(y)}")


def _check_joint_moments(k: int, moments, moment_arms, n_muscles: int) -> None:
    if moment_arms is None:
        raise ValueError(f"experiment {k}: joint_moment targets need moment_arms "
                         "(n_samples, n_muscles, n_coordinates)")
    n_samples, n_coordinates = jnp.shape(moments) if jnp.ndim(moments) == 2 else (None, None)
    if n_samples is None or jnp.shape(moment_arms) != (n_samples, n_muscles, n_coordinates):
        raise ValueError(f"experiment {k}: joint_moment {jnp.shape(moments)} and moment_arms "
                         f"{jnp.shape(moment_arms)} must have shapes (n_samples, n_coordinates) "
                         f"and (n_samples, {n_muscles}, n_coordinates)")


def _data_scale(y: Array) -> Array:
    """Per-muscle range of a signal, shape `(1, n_muscles)`, never zero.

    At least 1e-3 of the signal's largest |value|; 1 for an all-zero signal.
    """
    spread = jnp.max(y, axis=0, keepdims=True) - jnp.min(y, axis=0, keepdims=True)
    size = jnp.maximum(spread, 1e-3 * jnp.max(jnp.abs(y), axis=0, keepdims=True))
    return jnp.where(size > 0, size, 1.0)


def _gauss_newton_covariance(jacobian: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """`sigma^2 (J^T J)^+`; NaN where the fit ended at a non-finite point (no estimate)."""
    m, n = jacobian.shape
    if not (np.isfinite(jacobian).all() and np.isfinite(residuals).all()):
        return np.full((n, n), np.nan)
    sigma2 = float(residuals @ residuals) / max(m - n, 1)
    return sigma2 * np.linalg.pinv(jacobian.T @ jacobian)


def _correlation(covariance: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return covariance / np.outer(sd, sd)
