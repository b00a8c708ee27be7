"""Locomotion scenes of myo-sim's leg models for the MJX plant, and poses on their floor.

myo-sim's scenes stand the model on a pedestal over a floor at z = -0.4 m, let every body geom
collide with every other one and carry touch sensors; none of that is differentiable in MJX or
cheap. `make_locomotion_scene` edits such a spec in place:

- the floor moves to z = 0;
- world cylinders (the pedestal) are removed: MJX's cylinder collisions give NaN gradients of the
  contact distance w.r.t. `qpos`;
- the foot geoms and (with `body_contact`) the other colliding body geoms touch the floor only,
  not each other; myo-sim's explicit geom pairs (leg-leg contacts) are kept only with
  `self_collision`;
- ellipsoids become capsules of the same length and mean radius: MJX collides ellipsoids through
  its general convex routine, whose gradients are not finite; colliding meshes lose their
  contact margin (myolegs26's 1 mm), which MJX does not implement for meshes;
- sensors are dropped, so that runs with contact disabled stay valid.

The poses (`standing_qpos`, `crouch_qpos`, `random_standing_qpos`) satisfy the models' joint
equalities (knee, patella and via-point couplings) and rest on the floor.
"""

import contextlib
import warnings

import mujoco
import numpy as np

from .._quiet import mujoco_warnings_ignored

#: Foot collision geoms of each model, `{side}` standing for "r" or "l".
FOOT_GEOM_TEMPLATES: dict[str, tuple[str, ...]] = {
    "myoleg": ("foot_col1_{side}", "foot_col3_{side}", "foot_col4_{side}",
               "bofoot_col1_{side}", "bofoot_col2_{side}"),
    # myoLeg's foot geoms, copied onto myolegs26's calcn and toes (`myolegs26_spec`).
    "myolegs26": ("foot_col1_{side}", "foot_col3_{side}", "foot_col4_{side}",
                  "bofoot_col1_{side}", "bofoot_col2_{side}"),
    # the tiny biped of the tests (`mskdiff.models.tiny.tiny_biped_mjmodel`)
    "tiny_biped": ("foot_{side}",),
}

SIDES = ("r", "l")


@contextlib.contextmanager
def spec_warnings_ignored():
    """Drop MuJoCo's "Attaching a spec with an empty prefix" warning, and nothing else.

    myo-sim attaches with prefix "" and mskdiff never saves the spec; MuJoCo emits the warning
    through `mju_warning` or Python's `warnings`, depending on the call.
    """
    with warnings.catch_warnings(), mujoco_warnings_ignored():
        warnings.filterwarnings("ignore", message="Attaching a spec with an empty prefix")
        yield


def build_myo_sim_spec(name: str) -> mujoco.MjSpec:
    """myo-sim's composed model `name` (e.g. "myolegs", "myolegs26"), its own scene."""
    from myo_sim.build.compose import build_spec

    with spec_warnings_ignored():
        return build_spec(name)


def compile_spec(spec: mujoco.MjSpec, *, timestep: float, solver_iterations: int,
                 linesearch_iterations: int) -> mujoco.MjModel:
    """Set the physics options (timestep [s], Newton and line-search iterations) and compile."""
    if timestep <= 0:
        raise ValueError(f"`timestep` must be positive, got {timestep}")
    spec.option.timestep = timestep
    spec.option.iterations = solver_iterations
    spec.option.ls_iterations = linesearch_iterations
    with spec_warnings_ignored():
        return spec.compile()


def foot_geom_names(model: str) -> dict[str, tuple[str, ...]]:
    """{"r": names, "l": names}: the foot collision geoms of `model` ("myoleg" or "myolegs26")."""
    if model not in FOOT_GEOM_TEMPLATES:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(FOOT_GEOM_TEMPLATES)}")
    return {side: tuple(t.format(side=side) for t in FOOT_GEOM_TEMPLATES[model])
            for side in SIDES}


def foot_geom_ids(mj_model: mujoco.MjModel) -> dict[str, np.ndarray]:
    """{"r": ids, "l": ids}: geom ids of each foot's collision geoms (myoLeg or myolegs26).

    The model is recognised by its geom names; a contact belongs to a foot when one of its two
    geoms is among that foot's ids.
    """
    names = {mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in range(mj_model.ngeom)}
    for model in FOOT_GEOM_TEMPLATES:
        feet = foot_geom_names(model)
        if all(set(feet[side]) <= names for side in SIDES):
            return {side: np.array([mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, n)
                                    for n in feet[side]], dtype=int) for side in SIDES}
    raise ValueError(f"the model has the foot geoms of none of {sorted(FOOT_GEOM_TEMPLATES)}")


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


def _floor_only(geom) -> None:
    """Let `geom` collide with the floor and nothing else, as a non-ellipsoid (MJX-ready)."""
    geom.contype, geom.conaffinity = 1, 0
    if geom.type == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        _ellipsoid_to_capsule(geom)
    if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
        geom.margin, geom.gap = 0.0, 0.0  # MJX has no margin for meshes


def make_locomotion_scene(spec: mujoco.MjSpec, feet: set[str], *, self_collision: bool,
                          body_contact: bool) -> None:
    """Edit myo-sim's scene in place into the differentiable locomotion scene (module docstring).

    Args:
        spec: a myo-sim model with a geom named "floor".
        feet: names of the foot collision geoms (they always touch the floor).
        self_collision: keep myo-sim's explicit geom pairs (leg-leg contacts).
        body_contact: let the other colliding geoms touch the floor (not each other).
    """
    for geom in list(spec.worldbody.geoms):
        if geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER:
            spec.delete(geom)
    missing = set(feet) - {g.name for g in spec.geoms}
    if missing:
        raise ValueError(f"the model lacks the foot geoms {sorted(missing)}")
    for geom in spec.geoms:
        if geom.name == "floor":
            geom.contype, geom.conaffinity = 1, 1
            geom.pos = [0.0, 0.0, 0.0]
        elif geom.name in feet or ((geom.contype or geom.conaffinity) and body_contact):
            _floor_only(geom)
        else:
            geom.contype, geom.conaffinity = 0, 0
    for pair in list(spec.pairs):
        if not self_collision:
            spec.delete(pair)
            continue
        for name in (pair.geomname1, pair.geomname2):
            if spec.geom(name).type == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
                _ellipsoid_to_capsule(spec.geom(name))
    for sensor in list(spec.sensors):
        spec.delete(sensor)


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
    and the patella ("beta") joints to `knee_angle_r/l` this way, myolegs26 its knee
    translations and the quadriceps/hamstring/gastrocnemius/psoas via points; a pose that
    violates them (myoLeg's own `qpos0` does, by up to 5 cm at the patella) puts the muscle
    paths far from OpenSim's (rectus femoris 18 cm).
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
    with respect to the pose are two-sided. The sign of `knee` follows the model's own
    `knee_angle` range (flexion is positive in myoLeg, negative in myolegs26).
    """
    qpos = mj_model.qpos0.copy()
    for side in SIDES:
        for joint, angle in (("hip_flexion", hip), ("knee_angle", knee), ("ankle_angle", ankle)):
            index = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_JOINT, f"{joint}_{side}")
            if index < 0:
                raise ValueError(f"the model has no joint {joint}_{side}")
            low, high = mj_model.jnt_range[index]
            sign = -1.0 if joint == "knee_angle" and high <= 0 < -low else 1.0
            qpos[mj_model.jnt_qposadr[index]] = sign * angle
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


def foot_heights(mj_model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Per frame, the lowest foot collision geom's signed distance to the floor [m], `(n,)`."""
    floor = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    geoms = np.concatenate(list(foot_geom_ids(mj_model).values()))
    data = mujoco.MjData(mj_model)
    heights = []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(mj_model, data)
        heights.append(min(mujoco.mj_geomDistance(mj_model, data, int(g), floor, 10.0, None)
                           for g in geoms))
    return np.asarray(heights)


def floor_offset(mj_model: mujoco.MjModel, qpos: np.ndarray, penetration: float) -> float:
    """Vertical shift [m] that sinks the lower foot `penetration` into the floor, median frame."""
    return float(-np.median(foot_heights(mj_model, qpos)) - penetration)
