"""Metabolic models (float64): OpenSim's probe outputs, the clamps, smoothed-model gradients."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import directional_derivatives

from mskdiff.io import IsolatedMTUCase, find_metabolics_cases
from mskdiff.muscle import MuscleParameters
from mskdiff.muscle.metabolic import (
    Bhargava2004,
    Bhargava2004Smoothed,
    MetabolicInputs,
    MetabolicParameters,
    Umberger2010,
    basal_rate,
)
from mskdiff.validation.metabolics import METABOLIC_COLUMNS, metabolic_checks_from_states
from mskdiff.validation.report import TOLERANCES

MODELS = {"umberger": Umberger2010(), "bhargava": Bhargava2004(),
          "forcedep": Bhargava2004(force_dependent_shortening=True),
          "smoothed": Bhargava2004Smoothed()}


def params(n=1, **overrides):
    """A soleus-like muscle (OpenSim's default mass rule) repeated `n` times."""
    muscles = MuscleParameters.from_dict({
        "max_isometric_force": 6194.84, "optimal_fiber_length": 0.044,
        "tendon_slack_length": 0.2768, "pennation_angle_at_optimal": 0.3814},
        names=[f"m{i}" for i in range(n)])
    return MetabolicParameters.from_muscles(muscles, **overrides)


def inputs(**values):
    """One muscle's quantities: defaults at rest near optimal length, overridden by `values`."""
    fields = dict(excitation=1e-4, activation=1e-4, norm_fiber_length=1.0, fiber_velocity=0.0,
                  active_force_length_multiplier=1.0, active_fiber_force=50.0,
                  passive_fiber_force=0.0)
    fields.update(values)
    return MetabolicInputs(**{k: jnp.atleast_1d(jnp.asarray(v, dtype=float))
                              for k, v in fields.items()})


@pytest.mark.x64
def test_every_reference_column_from_opensims_states(reference_dir):
    """All probe and component outputs of every case, recomputed from OpenSim's muscle states:
    max |error| <= 1e-6 * max(1 W, max |reference|) per column (measured: <= 1.2e-15)."""
    cases = find_metabolics_cases(reference_dir)
    assert len(cases) >= 8
    assert TOLERANCES["metabolic_rate"] <= 1e-6
    for case in cases:
        checks = metabolic_checks_from_states(case)
        assert {c.quantity.split(" ")[0] for c in checks} == set(METABOLIC_COLUMNS), case.name
        assert all(c.status == "pass" and c.max_error <= 1e-12 for c in checks), case.name


@pytest.mark.x64
def test_derived_mass_is_opensims(reference_dir):
    for case in find_metabolics_cases(reference_dir):
        setup = case.setup["metabolic_muscle_parameters"]
        if setup["provided_muscle_mass_kg"] is not None:
            continue
        muscles = IsolatedMTUCase(case.states_path.with_name(
            f"mtu_sim_{case.name}_setup.json")).parameters()
        derived = MetabolicParameters.from_muscles(
            muscles, specific_tension=setup["specific_tension_Pa"],
            density=setup["density_kg_per_m3"])
        np.testing.assert_allclose(derived.muscle_mass, setup["derived_muscle_mass_kg"],
                                   rtol=1e-12)


@pytest.mark.x64
@pytest.mark.parametrize("name", ["umberger", "bhargava"])
def test_minimum_heat_rate_clamp(name):
    """At rest the heat is below 1 W/kg: the clamp lifts it to exactly 1 W/kg x mass (the
    reference cases never reach it)."""
    p, x = params(), inputs()
    clamped = MODELS[name](p, x)
    free = type(MODELS[name])(enforce_minimum_heat_rate=False)(p, x)
    heat = free.activation + free.maintenance + free.shortening
    assert float(heat[0]) < float(p.muscle_mass[0])
    np.testing.assert_allclose(clamped.total, p.muscle_mass + clamped.mechanical_work, rtol=1e-14)
    assert float(free.total[0]) < float(clamped.total[0])


@pytest.mark.x64
@pytest.mark.parametrize("name", ["umberger", "bhargava"])
def test_negative_total_power_is_forbidden(name):
    """Fast lengthening under force: negative work exceeds the heat, so the shortening heat is
    raised until the total is exactly zero (minimum heat off)."""
    p, x = params(), inputs(excitation=0.3, activation=0.3, fiber_velocity=0.3,
                            active_fiber_force=3000.0)
    model = type(MODELS[name])(enforce_minimum_heat_rate=False)
    unclamped = type(MODELS[name])(enforce_minimum_heat_rate=False,
                                   forbid_negative_total_power=False)(p, x)
    assert float(unclamped.total[0]) < 0
    rates = model(p, x)
    assert float(rates.total[0]) == pytest.approx(0.0, abs=1e-9)
    assert float(rates.shortening[0]) > float(unclamped.shortening[0])


@pytest.mark.x64
def test_smoothed_gradients_finite_everywhere_and_match_fd(getkey):
    """d(total)/d(inputs, parameters) of the smoothed model: finite over random states that
    include zero velocity, zero activation and zero excitation; equal to central differences
    away from the maintenance curve's breaks (0.5, 1.0, 1.5)."""
    n = 2048
    k = jr.split(getkey(), 6)
    u = jnp.concatenate([jnp.zeros(256), jr.uniform(k[0], (n - 256,))])
    x = MetabolicInputs(u, jnp.concatenate([jnp.zeros(512), jr.uniform(k[1], (n - 512,))]),
                        jr.uniform(k[2], (n,), minval=0.2, maxval=2.2),
                        jnp.concatenate([jnp.zeros(256), jr.uniform(k[3], (n - 256,),
                                                                    minval=-0.5, maxval=0.5)]),
                        jr.uniform(k[4], (n,)), 3000.0 * jr.uniform(k[5], (n,)),
                        jnp.full(n, 100.0))
    p = params(n)
    model = MODELS["smoothed"]
    total = lambda tree: jnp.sum(model(*tree).total)
    grad = jax.jit(jax.grad(total))((p, x))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grad))
    breaks = jnp.asarray([[0.5, 1.0, 1.5]])
    away = jnp.min(jnp.abs(x.norm_fiber_length[:, None] - breaks), 1) > 0.01
    keep = lambda a: a[:64][away[:64]] if a.ndim else a
    small = (jax.tree.map(keep, p), jax.tree.map(keep, x))
    for _ in range(3):
        ad, fd = directional_derivatives(total, small, key=getkey())
        assert ad == pytest.approx(fd, rel=1e-6)


@pytest.mark.x64
@pytest.mark.parametrize("name", ["umberger", "bhargava", "forcedep"])
def test_nonsmooth_model_gradients_match_fd_away_from_kinks(name, getkey):
    """d(total)/d(inputs, parameters) against central differences, at states away from the
    models' documented kinks (zero velocity, fibre length 0.5 / 1.0 / 1.5, zero excitation)."""
    n = 64
    k = jr.split(getkey(), 7)
    side = jnp.where(jr.bernoulli(k[0], 0.5, (n,)), 1.0, -1.0)
    lengths = jnp.concatenate([jr.uniform(k[1], (n // 4,), minval=0.55, maxval=0.95),
                               jr.uniform(k[2], (n - n // 4,), minval=1.05, maxval=1.45)])
    x = MetabolicInputs(jr.uniform(k[3], (n,), minval=0.1, maxval=1.0),
                        jr.uniform(k[4], (n,), minval=0.1, maxval=1.0), lengths,
                        side * jr.uniform(k[5], (n,), minval=0.05, maxval=0.5),
                        jr.uniform(k[6], (n,), minval=0.2, maxval=1.0), jnp.full(n, 1500.0),
                        jnp.full(n, 100.0))
    model = MODELS[name]
    total = lambda tree: jnp.sum(model(*tree).total)
    tree = (params(n), x)
    grad = jax.grad(total)(tree)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grad))
    for _ in range(3):
        ad, fd = directional_derivatives(total, tree, key=getkey(), grad=grad)
        assert ad == pytest.approx(fd, rel=1e-6)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match=r"ratio_slow_twitch_fibers.*\['m0'\]"):
        params(ratio_slow_twitch_fibers=1.5)
    with pytest.raises(ValueError, match=r"muscle_mass.*\['m0'\]"):
        params(muscle_mass=-1.0)


def test_basal_rate():
    assert float(basal_rate(70.0)) == pytest.approx(84.0)
    assert float(basal_rate(1.0)) == pytest.approx(1.2)
