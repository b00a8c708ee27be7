"""MuJoCo muscle -> mskdiff MTU conversion: parameters, forces against MuJoCo, elastic -> rigid."""

import equinox as eqx
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from helpers import directional_derivatives

from mskdiff.models.mujoco_conversion import parameters_from_mujoco, tendonless_muscles
from mskdiff.muscle import curves, make_mtu

# Three independent sliders, one muscle each on a fixed tendon (MTU length = slider position):
# MuJoCo's lengthrange then follows the slider's range. The names are Rajagopal's, so an .osim
# can override them. gasmed_r has no `force`: MuJoCo uses scale / acc0.
_SLIDERS_XML = """
<mujoco>
  <option gravity="0 0 0" timestep="0.002" iterations="3" ls_iterations="8"/>
  <worldbody>
    <body><joint name="x1" type="slide" range="0.30 0.42"/><geom size="0.05" mass="1"/></body>
    <body><joint name="x2" type="slide" range="0.35 0.65"/><geom size="0.05" mass="2"/></body>
    <body><joint name="x3" type="slide" range="0.25 0.35"/><geom size="0.05" mass="1"/></body>
  </worldbody>
  <tendon>
    <fixed name="t1"><joint joint="x1" coef="1"/></fixed>
    <fixed name="t2"><joint joint="x2" coef="1"/></fixed>
    <fixed name="t3"><joint joint="x3" coef="1"/></fixed>
  </tendon>
  <actuator>
    <muscle name="soleus_r" tendon="t1" range="0.3 0.6" force="3000" lmin="0.5" lmax="1.6"
            vmax="1.5" fpmax="1.3" fvmax="1.2" timeconst="0.01 0.04"/>
    <muscle name="tibant_r" tendon="t2" range="0.5 1.2" force="800" lmin="0.3" lmax="2.0"
            vmax="10" fpmax="0.8" fvmax="1.4" timeconst="0.015 0.05"/>
    <muscle name="gasmed_r" tendon="t3" range="0.8 1.2" scale="300" lmin="0.4" lmax="1.8"
            vmax="6" fpmax="2.5" fvmax="1.3"/>
  </actuator>
</mujoco>
"""


def _sliders() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(_SLIDERS_XML)


# MuJoCo's muscle curves (engine_util_misc.c: mju_muscleGain / mju_muscleBias), in numpy.
def _mujoco_fl(L, lmin, lmax):
    a, b = 0.5 * (lmin + 1), 0.5 * (1 + lmax)
    return np.select([(L <= lmin) | (L >= lmax), L <= a, L <= 1, L <= b],
                     [0.0, 0.5 * ((L - lmin) / (a - lmin)) ** 2,
                      1 - 0.5 * ((1 - L) / (1 - a)) ** 2, 1 - 0.5 * ((L - 1) / (b - 1)) ** 2],
                     0.5 * ((lmax - L) / (lmax - b)) ** 2)


def _mujoco_fv(V, fvmax):
    y = fvmax - 1
    return np.select([V <= -1, V <= 0, V <= y], [0.0, (V + 1) ** 2, fvmax - (y - V) ** 2 / y],
                     fvmax)


def _mujoco_fp(L, lmax, fpmax):
    b = 0.5 * (1 + lmax)
    return np.select([L <= 1, L <= b], [0.0, fpmax * 0.5 * ((L - 1) / (b - 1)) ** 2],
                     fpmax * (0.5 + (L - b) / (b - 1)))


def _forward(model, qpos, qvel, act) -> mujoco.MjData:
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:], data.act[:] = qpos, qvel, act
    mujoco.mj_forward(model, data)
    return data


def _qpos_at_norm_length(model, params, norm_length):
    """Slider positions putting each muscle (rigid tendon) at `norm_length`."""
    return np.asarray(params.tendon_slack_length + norm_length * params.optimal_fiber_length)


@pytest.mark.x64
def test_parameters_follow_mujocos_definitions():
    model = _sliders()
    params = parameters_from_mujoco(model)
    lr, prm = model.actuator_lengthrange, model.actuator_gainprm[:, :9]
    optimal = (lr[:, 1] - lr[:, 0]) / (prm[:, 1] - prm[:, 0])
    np.testing.assert_allclose(params.optimal_fiber_length, optimal, rtol=1e-12)
    np.testing.assert_allclose(params.tendon_slack_length, lr[:, 0] - prm[:, 0] * optimal,
                               rtol=1e-12)
    assert prm[2, 2] < 0  # gasmed_r: force from scale / acc0
    np.testing.assert_allclose(params.max_isometric_force,
                               [3000.0, 800.0, 300.0 / model.actuator_acc0[2]], rtol=1e-12)
    np.testing.assert_allclose(params.max_contraction_velocity, [1.5, 10.0, 6.0])
    np.testing.assert_allclose(params.activation_time_constant, model.actuator_dynprm[:, 0])
    np.testing.assert_allclose(params.deactivation_time_constant, model.actuator_dynprm[:, 1])
    np.testing.assert_array_equal(params.pennation_angle_at_optimal, 0.0)
    np.testing.assert_allclose(params.tendon_strain_at_one_norm_force, 0.049)
    assert not np.any(params.ignore_tendon_compliance)
    # The passive strain: MuJoCo's passive force there is exactly one max isometric force.
    strained = _qpos_at_norm_length(model, params, 1 + params.passive_fiber_strain_at_one_norm_force)
    bias = [mujoco.mju_muscleBias(strained[i], lr[i], model.actuator_acc0[i],
                                  model.actuator_biasprm[i, :9]) for i in range(model.nu)]
    np.testing.assert_allclose(bias, -np.asarray(params.max_isometric_force), rtol=1e-12)
    assert tendonless_muscles(model) == ()


@pytest.mark.x64
def test_normalised_kinematics_reproduce_mujocos_actuator_force():
    """MuJoCo's own curves at mskdiff's (rigid) normalised fibre length and velocity give
    `data.actuator_force` to rounding: the conversion's L0, slack, force and vmax are exact."""
    model = _sliders()
    params = parameters_from_mujoco(model)
    mtu = make_mtu(params, "rigid")
    rng = np.random.default_rng(0)
    prm = model.actuator_gainprm[:, :9]
    for _ in range(5):
        qpos = rng.uniform(model.actuator_lengthrange[:, 0], model.actuator_lengthrange[:, 1])
        qvel, act = rng.uniform(-0.3, 0.3, 3), rng.uniform(0.0, 1.0, 3)
        data = _forward(model, qpos, qvel, act)
        out = mtu.outputs(mtu.init_state(jnp.asarray(qpos), jnp.asarray(qvel), jnp.asarray(act)),
                          jnp.asarray(qpos), jnp.asarray(qvel))
        L, V = np.asarray(out.norm_fiber_length), np.asarray(out.norm_fiber_velocity)
        force = np.asarray(params.max_isometric_force)
        expected = -force * (act * _mujoco_fl(L, prm[:, 4], prm[:, 5]) * _mujoco_fv(V, prm[:, 8])
                             + _mujoco_fp(L, prm[:, 5], prm[:, 7]))
        np.testing.assert_allclose(data.actuator_force, expected, rtol=1e-10, atol=1e-9)


@pytest.mark.x64
def test_rigid_forces_coincide_with_mujoco_at_optimal_length():
    """At L = L0, v = 0: active forces equal (both curves are 1 to 1e-15); De Groote's passive
    force adds 0.0147-0.0183 F (MuJoCo's is 0 there), measured below."""
    model = _sliders()
    params = parameters_from_mujoco(model)
    mtu = make_mtu(params, "rigid")
    qpos = _qpos_at_norm_length(model, params, 1.0)
    zeros, ones = jnp.zeros(3), jnp.ones(3)
    out = mtu.outputs(mtu.init_state(jnp.asarray(qpos), zeros, ones), jnp.asarray(qpos), zeros)
    full, passive = (_forward(model, qpos, np.zeros(3), a) for a in (np.ones(3), np.zeros(3)))
    np.testing.assert_allclose(out.active_fiber_force, -(full.actuator_force
                                                         - passive.actuator_force), rtol=1e-12)
    np.testing.assert_array_equal(passive.actuator_force, 0.0)
    extra = np.asarray(out.passive_force_multiplier)
    assert np.all((extra > 0.0145) & (extra < 0.0185)), extra
    np.testing.assert_allclose(out.tendon_force, -full.actuator_force * (1 + extra), rtol=1e-12)


@pytest.mark.x64
def test_curve_differences_from_mujoco_are_as_measured():
    """De Groote's curves against MuJoCo's piecewise quadratics (soleus_r: lmin 0.5, lmax 1.6,
    fvmax 1.2, fpmax 1.3): max |dFL| 0.37 (at L = 0.685), max |dFV| over v in [-1, 1] 0.59 (at
    v = 1, eccentric: MuJoCo's fvmax 1.2 vs De Groote's 1.79); passive equal at 1 + e0."""
    model = _sliders()
    params = parameters_from_mujoco(model)
    lmin, lmax, fpmax, fvmax = model.actuator_gainprm[0, [4, 5, 7, 8]]
    length, velocity = np.linspace(lmin, lmax, 2001), np.linspace(-1, 1, 2001)
    d_fl = np.abs(np.asarray(curves.active_force_length_multiplier(length))
                  - _mujoco_fl(length, lmin, lmax))
    d_fv = np.abs(np.asarray(curves.force_velocity_multiplier(velocity))
                  - _mujoco_fv(velocity, fvmax))
    np.testing.assert_allclose([d_fl.max(), length[d_fl.argmax()]], [0.370, 0.685], atol=2e-3)
    np.testing.assert_allclose([d_fv.max(), velocity[d_fv.argmax()]], [0.594, 1.0], atol=2e-3)
    e0 = float(params.passive_fiber_strain_at_one_norm_force[0])
    np.testing.assert_allclose(curves.passive_force_multiplier(1 + e0, e0), 1.0, atol=2e-4)
    np.testing.assert_allclose(_mujoco_fp(1 + e0, lmax, fpmax), 1.0, rtol=1e-12)


@pytest.mark.x64
def test_plant_qfrc_actuator_matches_mujoco_at_optimal_length():
    """The MJX plant's rigid MTUs apply MuJoCo's forces through the same moment arms:
    `qfrc_actuator` = MuJoCo's x (1 + De Groote's passive multiplier) at L = L0, a = 1."""
    from mskdiff.plant import MJXPlant

    model = _sliders()
    params = parameters_from_mujoco(model)
    plant = MJXPlant.from_mjmodel(model, make_mtu(params, "rigid"))
    qpos = _qpos_at_norm_length(model, params, 1.0)
    state = plant.step(plant.init(qpos, activation=1.0), jnp.ones(3))
    reference = _forward(model, qpos, np.zeros(3), np.ones(3))
    extra = np.asarray(curves.passive_force_multiplier(
        1.0, params.passive_fiber_strain_at_one_norm_force))
    np.testing.assert_allclose(state.data.qfrc_actuator, reference.qfrc_actuator * (1 + extra),
                               rtol=1e-9)
    np.testing.assert_allclose(plant.tendon_force(state), -reference.actuator_force * (1 + extra),
                               rtol=1e-9)


@jax.jit
def _elastic_minus_rigid(params, strain, norm_length):
    """Max |elastic - rigid| static tendon force / F at `norm_length` (rigid), activation 1."""
    params = eqx.tree_at(lambda p: p.tendon_strain_at_one_norm_force, params,
                         jnp.full(3, strain))
    length = jnp.asarray(params.tendon_slack_length + norm_length * params.optimal_fiber_length)
    zeros, ones = jnp.zeros(3), jnp.ones(3)
    forces = []
    for formulation in ("tendon_force", "rigid"):
        mtu = make_mtu(params, formulation)
        forces.append(mtu.outputs(mtu.init_state(length, zeros, ones), length, zeros).tendon_force)
    return jnp.max(jnp.abs(forces[0] - forces[1]) / params.max_isometric_force)


@pytest.mark.x64
def test_elastic_forces_approach_rigid_as_the_tendon_stiffens():
    """Measured max |elastic - rigid| / F for tendon strains 0.049, 0.0049, 0.00049: 2.2e-2,
    2.1e-3, 2.1e-4 at L = 0.9 L0; 1.3e-2, 1.5e-3, 1.5e-4 at 1.1 L0: first order in the strain."""
    params = parameters_from_mujoco(_sliders())
    for norm_length in (0.9, 1.1):
        errors = [float(_elastic_minus_rigid(params, s, norm_length))
                  for s in (0.049, 0.0049, 0.00049)]
        assert errors[2] < 3e-4, errors
        ratios = np.array(errors[:-1]) / np.array(errors[1:])
        assert np.all((ratios > 8) & (ratios < 11)), (norm_length, errors)


@pytest.mark.x64
def test_gradient_of_converted_forces_matches_central_differences(getkey):
    """jax.grad of the converted MTUs' forces (rigid, moving; elastic, static equilibrium)
    w.r.t. every converted parameter, against central differences."""
    model = _sliders()
    params = parameters_from_mujoco(model)
    length = jnp.asarray(_qpos_at_norm_length(model, params, 1.05))
    velocity, activation = jnp.asarray([0.02, -0.05, 0.01]), jnp.full(3, 0.7)

    def forces(p):
        rigid, elastic = make_mtu(p, "rigid"), make_mtu(p, "tendon_force")
        moving = rigid.outputs(rigid.init_state(length, velocity, activation), length, velocity)
        static = elastic.outputs(elastic.init_state(length, 0 * velocity, activation), length,
                                 0 * velocity)
        return jnp.sum(moving.tendon_force + static.tendon_force)

    for _ in range(2):
        ad, fd = directional_derivatives(jax.jit(forces), params, key=getkey(), eps=1e-7)
        assert abs(ad - fd) <= 1e-6 * abs(fd), (ad, fd)


@pytest.mark.x64
def test_overrides_by_name_table_and_osim(rajagopal_osim):
    model = _sliders()
    params = parameters_from_mujoco(
        model, overrides={"tibant_r": {"tendon_strain_at_one_norm_force": 0.1,
                                       "ignore_tendon_compliance": True}})
    np.testing.assert_allclose(params.tendon_strain_at_one_norm_force, [0.049, 0.1, 0.049])
    np.testing.assert_array_equal(params.ignore_tendon_compliance, [False, True, False])
    from_osim = parameters_from_mujoco(model, overrides=rajagopal_osim)
    from mskdiff.io import load_osim

    rajagopal = load_osim(rajagopal_osim, ["soleus_r", "tibant_r", "gasmed_r"])
    np.testing.assert_allclose(from_osim.max_isometric_force, rajagopal.max_isometric_force)
    np.testing.assert_allclose(from_osim.tendon_slack_length, rajagopal.tendon_slack_length)
    one = parameters_from_mujoco(model, overrides=rajagopal.select(["soleus_r"]))
    np.testing.assert_allclose(one.max_isometric_force[0], rajagopal.max_isometric_force[0])
    np.testing.assert_allclose(one.max_isometric_force[1], 800.0)
    with pytest.raises(ValueError, match=r"\['bicep_r'\].*soleus_r"):
        parameters_from_mujoco(model, overrides={"bicep_r": {"max_isometric_force": 1.0}})
    with pytest.raises(ValueError, match="unknown field.*max_force"):
        parameters_from_mujoco(model, overrides={"soleus_r": {"max_force": 1.0}})


def test_non_muscle_and_non_tendon_actuators_raise_naming_them():
    motor = _SLIDERS_XML.replace("</actuator>", '<motor name="push" joint="x1"/></actuator>')
    with pytest.raises(ValueError, match=r"\['push'\] are not muscles"):
        parameters_from_mujoco(mujoco.MjModel.from_xml_string(motor))
    on_joint = _SLIDERS_XML.replace("</actuator>",
                                    '<muscle name="direct" joint="x2" lengthrange="0.35 0.65"/>'
                                    "</actuator>")
    with pytest.raises(ValueError, match=r"\['direct'\] are not on tendon"):
        parameters_from_mujoco(mujoco.MjModel.from_xml_string(on_joint))


@pytest.mark.x64
def test_real_myo_sim_model_myohand_r():
    """myohand_r (39 muscles): MuJoCo's curves at mskdiff's normalised kinematics reproduce
    `actuator_force` for the 36 muscles with a tendon; the 3 tendonless ones keep MuJoCo's MTU
    length at optimal fibre length; joint torques from the rigid MTUs differ from MuJoCo's only
    by the curves (measured: max 19 % of the largest torque at this random state)."""
    from mskdiff.models.registry import mjmodel

    model = mjmodel("myohand_r")
    params = parameters_from_mujoco(model)
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(model.nu)]
    tendonless = np.isin(names, tendonless_muscles(model))
    assert tendonless.sum() == 3
    rng = np.random.default_rng(1)
    data = _forward(model, model.qpos0, rng.uniform(-0.5, 0.5, model.nv),
                    rng.uniform(0.2, 1.0, model.nu))
    mtu = make_mtu(params, "rigid")
    length, velocity = jnp.asarray(data.actuator_length), jnp.asarray(data.actuator_velocity)
    out = mtu.outputs(mtu.init_state(length, velocity, jnp.asarray(data.act)), length, velocity)
    prm = model.actuator_gainprm[:, :9]
    L, V = np.asarray(out.norm_fiber_length), np.asarray(out.norm_fiber_velocity)
    expected = -np.asarray(params.max_isometric_force) * (
        data.act * _mujoco_fl(L, prm[:, 4], prm[:, 5]) * _mujoco_fv(V, prm[:, 8])
        + _mujoco_fp(L, prm[:, 5], prm[:, 7]))
    np.testing.assert_allclose(data.actuator_force[~tendonless], expected[~tendonless],
                               rtol=1e-9, atol=1e-8)
    lr, optimal_mtu = model.actuator_lengthrange, params.tendon_slack_length + params.optimal_fiber_length
    L0 = (lr[:, 1] - lr[:, 0]) / (prm[:, 1] - prm[:, 0])
    np.testing.assert_allclose(optimal_mtu, lr[:, 0] + (1 - prm[:, 0]) * L0, rtol=1e-12)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(moment, data.actuator_moment, data.moment_rownnz,
                            data.moment_rowadr, data.moment_colind)
    np.testing.assert_allclose(moment.T @ data.actuator_force, data.qfrc_actuator, atol=1e-9)
    torque = moment.T @ -np.asarray(out.tendon_force)
    difference = np.max(np.abs(torque - data.qfrc_actuator)) / np.max(np.abs(data.qfrc_actuator))
    assert np.isfinite(torque).all() and 0.1 < difference < 0.3, difference
