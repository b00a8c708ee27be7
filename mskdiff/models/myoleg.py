"""MyoSuite's myoLeg (the `myo-sim` package) as a locomotion scene for the MJX plant.

myoLeg is Rajagopal et al. (2016)'s lower body converted to MuJoCo: 80 muscle actuators on
tendons with the OpenSim names, 29 joints, a passive torso. myo-sim builds it with
`MjSpec.attach`; `myoleg_spec` then makes a *locomotion scene* of it, because the package's
scene is not differentiable in MJX and wastes contact slots:

- the floor plane moves from z = -0.4 m (under the pedestal) to z = 0;
- the 1.05 m world cylinder (the pedestal) is removed: MJX's cylinder collisions give NaN
  gradients of the contact distance w.r.t. `qpos`;
- myo-sim's 27 collision geoms (5 per foot; torso, head, pelvis, thighs, shanks) collide with
  the floor only, not with each other: leg-leg pairs are kept only with `self_collision=True`.
  myo-sim's scene makes MJX allocate 120 candidate contacts every step for about 5 real ones;
  this scene has 54 (20 with `body_contact=False`, feet only: 1.4x faster per step, but a
  fallen body then sinks through the floor);
- the ellipsoid geoms (heels, pelvis, thorax, head) become capsules of the same length and
  mean radius: MJX collides ellipsoids through its general convex routine, whose gradients are
  not finite;
- the four touch sensors (and MuJoCo's own muscle dynamics, unless asked for) are left to the
  plant: sensors are dropped so that runs with contact disabled stay valid.
"""

import contextlib
import os
import warnings

import mujoco
import numpy as np

from .._quiet import mujoco_warnings_ignored
from ..io.osim import load_millard_curves, load_osim
from ..muscle import MillardCurves, make_mtu
from ..plant import AbstractPlant, MJXPlant, MuJoCoMusclePlant
from .rajagopal2016 import rajagopal2016

#: Foot collision geoms per side (myo-sim names without the `_r`/`_l` suffix).
FOOT_GEOMS = ("foot_col1", "foot_col3", "foot_col4", "bofoot_col1", "bofoot_col2")

#: Physics defaults for the muscle plant (see docs/plant.md for their effect on speed).
TIMESTEP = 0.002  # [s], myoLeg's own
SOLVER_ITERATIONS = 3  # Newton iterations, fixed (differentiable); MuJoCo C uses ~2 here
LINESEARCH_ITERATIONS = 8  # MJX's default of 50 runs all 50 under vmap
BODY_CONTACT = True  # torso, pelvis, thighs and shanks touch the floor too


def _build_myolegs_spec() -> mujoco.MjSpec:
    """myo-sim's composed `myolegs` model (torso scaffold + both legs, 80 muscles)."""
    from myo_sim.build.compose import build_spec

    with _spec_warnings_ignored():
        return build_spec("myolegs")


@contextlib.contextmanager
def _spec_warnings_ignored():
    """Drop MuJoCo's "Attaching a spec with an empty prefix" warning, and nothing else.

    myo-sim attaches with prefix "" and mskdiff never saves the spec; MuJoCo emits the warning
    through `mju_warning` or Python's `warnings`, depending on the call.
    """
    with warnings.catch_warnings(), mujoco_warnings_ignored():
        warnings.filterwarnings("ignore", message="Attaching a spec with an empty prefix")
        yield


def _foot_geom_names() -> set[str]:
    return {f"{g}_{side}" for g in FOOT_GEOMS for side in ("r", "l")}


def _ellipsoid_to_capsule(geom) -> None:
    """Replace an ellipsoid by a capsule along its longest semi-axis (same length, mean radius)."""
    size = np.asarray(geom.size, dtype=float)
    axis = int(np.argmax(size))
    radius = float(np.mean(np.delete(size, axis)))
    # A capsule lies along its local z: rotate local z onto the ellipsoid's long axis.
    turn = {0: [np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0],
            1: [np.cos(np.pi / 4), -np.sin(np.pi / 4), 0.0, 0.0],
            2: [1.0, 0.0, 0.0, 0.0]}[axis]
    quat = np.zeros(4)
    mujoco.mju_mulQuat(quat, np.asarray(geom.quat, dtype=float), np.asarray(turn))
    geom.type = mujoco.mjtGeom.mjGEOM_CAPSULE
    geom.size = [radius, max(size[axis] - radius, 1e-3), 0.0]
    geom.quat = quat


def _make_locomotion_scene(spec: mujoco.MjSpec, self_collision: bool, body_contact: bool) -> None:
    """Edit myo-sim's scene in place into the differentiable locomotion scene (module docstring)."""
    for geom in list(spec.worldbody.geoms):
        if geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER:
            spec.delete(geom)
    feet = _foot_geom_names()
    missing = feet - {g.name for g in spec.geoms}
    if missing:
        raise ValueError(f"myo-sim's myoLeg lacks the foot geoms {sorted(missing)}")
    for geom in spec.geoms:
        if geom.name == "floor":
            geom.contype, geom.conaffinity = 1, 1
            geom.pos = [0.0, 0.0, 0.0]
        elif geom.name in feet:
            geom.contype, geom.conaffinity = 1, 0
            if geom.type == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
                _ellipsoid_to_capsule(geom)
        elif (geom.contype or geom.conaffinity) and body_contact:
            geom.contype, geom.conaffinity = 1, 0  # the floor only, not each other
            if geom.type == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
                _ellipsoid_to_capsule(geom)
        elif geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = 0, 0
    for pair in list(spec.pairs):
        if not self_collision:
            spec.delete(pair)
        else:
            for name in (pair.geomname1, pair.geomname2):
                geom = spec.geom(name)
                if geom.type == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
                    _ellipsoid_to_capsule(geom)
    for sensor in list(spec.sensors):
        spec.delete(sensor)


def myoleg_spec(*, self_collision: bool = False, body_contact: bool = BODY_CONTACT) -> mujoco.MjSpec:
    """The myoLeg locomotion scene (see the module docstring); options not yet set."""
    spec = _build_myolegs_spec()
    _make_locomotion_scene(spec, self_collision, body_contact)
    return spec


def myoleg_mjmodel(*, timestep: float = TIMESTEP, solver_iterations: int = SOLVER_ITERATIONS,
                   linesearch_iterations: int = LINESEARCH_ITERATIONS,
                   self_collision: bool = False, body_contact: bool = BODY_CONTACT,
                   original_scene: bool = False) -> mujoco.MjModel:
    """The compiled host `MjModel` of myoLeg with the plant's physics defaults.

    Args:
        timestep: physics step [s].
        solver_iterations: constraint-solver iterations (MuJoCo C uses them as a maximum).
        linesearch_iterations: line-search iterations per solver iteration.
        self_collision: keep myo-sim's 26 leg-leg contact pairs.
        body_contact: let myo-sim's 17 torso, head, pelvis, thigh and shank collision geoms
            touch the floor (not each other), so that a fallen body lies on it; with `False`
            only the feet collide and everything else passes through the floor.
        original_scene: myo-sim's own scene (pedestal, all body geoms colliding, sensors),
            for comparisons; not differentiable in MJX.
    """
    if timestep <= 0:
        raise ValueError(f"`timestep` must be positive, got {timestep}")
    spec = (_build_myolegs_spec() if original_scene
            else myoleg_spec(self_collision=self_collision, body_contact=body_contact))
    spec.option.timestep = timestep
    spec.option.iterations = solver_iterations
    spec.option.ls_iterations = linesearch_iterations
    with _spec_warnings_ignored():
        return spec.compile()


def joint_equalities(mj_model: mujoco.MjModel) -> list[tuple[int, int, np.ndarray]]:
    """Active joint equalities as (follower, leader or -1, coefficients), leaders first."""
    return _leaders_first([(int(mj_model.eq_obj1id[e]), int(mj_model.eq_obj2id[e]),
             np.asarray(mj_model.eq_data[e, :5], dtype=float))
            for e in range(mj_model.neq)
            if mj_model.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT and mj_model.eq_active0[e]])


def _leaders_first(equalities):
    """Equalities ordered so that every leader joint is set before its followers."""
    pending, done, ordered = list(equalities), set(), []
    followers = {follower for follower, _, _ in equalities}
    while pending:
        ready = [eq for eq in pending if eq[1] < 0 or eq[1] not in followers or eq[1] in done]
        if not ready:
            raise ValueError("cyclic joint-equality constraints")
        for eq in ready:
            ordered.append(eq)
            done.add(eq[0])
            pending.remove(eq)
    return ordered


def satisfy_joint_equalities(mj_model: mujoco.MjModel, qpos) -> np.ndarray:
    r"""`qpos` (shape `(nq,)` or `(n_frames, nq)`) with every joint-equality follower set from its polynomial.

    MuJoCo's joint equality holds $y - y_0 = \sum_k c_k (x - x_0)^k$ ($y_0, x_0$ from `qpos0`; a
    constant $y - y_0 = c_0$ without a leader). myoLeg couples its knee translations/rotations
    and the patella ("beta") joints to `knee_angle_r/l` this way; a pose that violates them
    (myoLeg's own `qpos0` does, by up to 5 cm at the patella) puts the quadriceps paths far from
    OpenSim's (rectus femoris 18 cm).
    """
    qpos = np.array(qpos, dtype=float)
    for follower, leader, coefficients in joint_equalities(mj_model):
        follower_adr = mj_model.jnt_qposadr[follower]
        if leader < 0:
            offset = coefficients[0]
        else:
            leader_adr = mj_model.jnt_qposadr[leader]
            x = qpos[..., leader_adr] - mj_model.qpos0[leader_adr]
            offset = np.polynomial.polynomial.polyval(x, coefficients)
        qpos[..., follower_adr] = mj_model.qpos0[follower_adr] + offset
    return qpos


def place_on_floor(mj_model: mujoco.MjModel, qpos, *, penetration: float = 1e-3) -> np.ndarray:
    """`qpos` with the root height set so the lowest colliding geom sinks `penetration` [m] into the floor."""
    data = mujoco.MjData(mj_model)
    data.qpos[:] = qpos
    data.qpos[2] = 5.0  # high enough that no contact exists yet
    mujoco.mj_kinematics(mj_model, data)
    floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    lowest = min(mujoco.mj_geomDistance(mj_model, data, geom, floor, 10.0, np.zeros(6))
                 for geom in range(mj_model.ngeom)
                 if geom != floor and mj_model.geom_contype[geom])
    placed = data.qpos.copy()
    placed[2] = 5.0 - lowest - penetration
    return placed


def standing_qpos(mj_model: mujoco.MjModel, *, penetration: float = 1e-3) -> np.ndarray:
    """The reference pose with joint equalities satisfied, resting on the floor."""
    return place_on_floor(mj_model, satisfy_joint_equalities(mj_model, mj_model.qpos0),
                          penetration=penetration)


def crouch_qpos(mj_model: mujoco.MjModel, *, hip: float = 0.2, knee: float = 0.35,
                ankle: float = 0.15, penetration: float = 1e-3) -> np.ndarray:
    """Both legs flexed (hip, knee, ankle dorsiflexion [rad]), resting on the floor.

    Unlike `standing_qpos` (knees straight, exactly at their joint limit, where MuJoCo's limit
    constraints switch on and a rollout loss jumps), no joint is at a limit here, so gradients
    with respect to the pose are two-sided.
    """
    qpos = mj_model.qpos0.copy()
    for side in ("r", "l"):
        for joint, angle in (("hip_flexion", hip), ("knee_angle", knee), ("ankle_angle", ankle)):
            qpos[mj_model.jnt_qposadr[mujoco.mj_name2id(
                mj_model, mujoco.mjtObj.mjOBJ_JOINT, f"{joint}_{side}")]] = angle
    return place_on_floor(mj_model, satisfy_joint_equalities(mj_model, qpos),
                          penetration=penetration)


def random_standing_qpos(mj_model: mujoco.MjModel, rng: np.random.Generator, *,
                         spread: float = 0.15) -> np.ndarray:
    """A random pose near standing, resting on the floor.

    Each independent hinge moves uniformly by up to `spread` of its range (kept inside it);
    joint equalities are then satisfied.
    """
    qpos = satisfy_joint_equalities(mj_model, mj_model.qpos0)
    followers = {mj_model.eq_obj1id[e] for e in range(mj_model.neq)
                 if mj_model.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT}
    for joint in range(mj_model.njnt):
        if mj_model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_HINGE or joint in followers:
            continue
        low, high = mj_model.jnt_range[joint] if mj_model.jnt_limited[joint] else (-1.0, 1.0)
        adr = mj_model.jnt_qposadr[joint]
        step = rng.uniform(-spread, spread) * (high - low)
        qpos[adr] = np.clip(qpos[adr] + step, low, high)
    return place_on_floor(mj_model, satisfy_joint_equalities(mj_model, qpos))


def myoleg(*, formulation: str = "tendon_force", tendon_compliance: str = "file",
           osim: str | os.PathLike | None = None, mujoco_muscles: bool = False,
           **model_options) -> AbstractPlant:
    """The default plant: myoLeg with the Rajagopal 2016 muscle parameters.

    Parameters are attached by actuator name from the built-in Rajagopal 2016 table, or
    from `osim`; MuJoCo's own muscle gains (0.65-1.3 times Rajagopal's strengths) are not used
    by the mskdiff formulations.

    Args:
        formulation: 'tendon_force' (De Groote explicit), 'acceleration' (Millard 2012
            with De Groote curves), 'rigid', or 'millard_equilibrium' (OpenSim's own muscle
            model, with Rajagopal's Millard curves, or the curves of `osim`) or
            'millard_acceleration' (OpenSim's acceleration muscle, same curves; elastic tendons
            only: use `tendon_compliance="all_elastic"`).
        tendon_compliance: 'file' (Rajagopal: 46 elastic, 34 rigid tendons), 'all_elastic'
            or 'all_rigid'.
        osim: an OpenSim model to read the 80 muscles' parameters from instead.
        mujoco_muscles: return a `MuJoCoMusclePlant` instead, driven by MuJoCo's own
            rigid-tendon muscles (for comparison); `formulation`, `tendon_compliance` and
            `osim` must then keep their defaults.
        **model_options: passed to `myoleg_mjmodel` (timestep, solver_iterations, ...).

    Raises:
        ValueError: actuators without parameters or parameters without actuators (both
            listed), unknown formulation or compliance mode, mskdiff muscle options with
            `mujoco_muscles=True`.
    """
    mj_model = myoleg_mjmodel(**model_options)
    if mujoco_muscles:
        if (formulation, tendon_compliance, osim) != ("tendon_force", "file", None):
            raise ValueError("`mujoco_muscles=True` uses MuJoCo's muscles: `formulation`, "
                             "`tendon_compliance` and `osim` do not apply")
        return MuJoCoMusclePlant.from_mjmodel(mj_model)
    names = [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, i)
             for i in range(mj_model.nu)]
    if osim is None:
        params = rajagopal2016(names, tendon_compliance=tendon_compliance)
    else:
        params = load_osim(osim, names, tendon_compliance=tendon_compliance)
    options = {}
    if formulation.startswith("millard_"):
        options["curves"] = (MillardCurves.rajagopal2016() if osim is None
                             else load_millard_curves(osim, names))
    return MJXPlant.from_mjmodel(mj_model, make_mtu(params, formulation, **options))
