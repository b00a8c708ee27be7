"""myo-sim's 26-muscle gait model `myolegs26` as a locomotion scene for the MJX plant.

myolegs26 is the gait2392 lineage converted to MuJoCo: 13 muscles per leg (lumped: `abd`,
`add`, `hamstrings`, `vasti`, ...), planar knees, a passive torso; the quadriceps, hamstring,
gastrocnemius and psoas via points are slide joints coupled to the knee or hip by joint
equalities (nq 47, nv 46, 28 equalities). myo-sim collides its legs through the bone meshes
(convex hulls in MJX: contact points jump between hull vertices, and the gradient of a rollout
in contact w.r.t. the initial state came out 3x off its central differences). `myolegs26_spec`
instead gives the pelvis, thighs, shanks and feet myoLeg's primitive collision geoms
(`PRIMITIVE_COLLISION_BODIES`: the same bone meshes sit in the same body frames in both
models; 5 per foot, `foot_col1/3/4` and `bofoot_col1/2`) and keeps the meshes visual only, as
myoLeg does. It then applies the shared locomotion-scene edits
(`mskdiff.models.locomotion.make_locomotion_scene`): floor at z = 0, no pedestal, the 27 body
geoms touching the floor only (54 MJX candidate contacts per step, 2 per capsule; 20 with
`body_contact=False`, the feet only), ellipsoids as capsules, no sensors, and gives the 1 g
via-point bodies' slide joints an armature (`VIA_POINT_ARMATURE`; without it the plant diverges
within ~35 steps of strong excitation). myo-sim's own scene cannot be put into MJX at all (MJX
has no cylinder-mesh or ellipsoid-mesh collision).

There is no published parameter table for these lumped muscles: the plant's parameters come
from MuJoCo's own muscles (`mskdiff.models.mujoco_conversion.parameters_from_mujoco`: optimal
fibre and tendon slack lengths from the lengthrange, peak force, time constants, passive
strain), all tendons elastic.
"""

import mujoco

from ..muscle import make_mtu
from ..plant import AbstractPlant, MJXPlant, MuJoCoMusclePlant
from .locomotion import (
    SIDES,
    build_myo_sim_spec,
    compile_spec,
    foot_geom_names,
    make_locomotion_scene,
)
from .mujoco_conversion import Overrides, parameters_from_mujoco

#: Physics defaults for the muscle plant (myoLeg's; see docs/plant.md).
TIMESTEP = 0.002  # [s]
SOLVER_ITERATIONS = 3  # Newton iterations, fixed (differentiable)
LINESEARCH_ITERATIONS = 8  # MJX's default of 50 runs all 50 under vmap
BODY_CONTACT = True  # torso, head, pelvis, thighs and shanks touch the floor too
#: Armature [kg] of the via-point slide joints (myo-sim gives their bodies 1 g, armature 1e-5).
VIA_POINT_ARMATURE = 0.1
#: Bodies whose collision geoms are copied from myo-sim's myoLeg (`myolegs`); `{side}` is r or l.
PRIMITIVE_COLLISION_BODIES = ("pelvis", "femur_{side}", "tibia_{side}", "calcn_{side}",
                              "toes_{side}")
#: Geom attributes copied with them (myoLeg's collision class: group 4, 1 mm margin).
_COPIED_GEOM_FIELDS = ("type", "size", "pos", "quat", "alt", "fromto", "contype", "conaffinity",
                       "condim", "friction", "solref", "solimp", "solmix", "priority", "margin",
                       "gap", "mass", "density", "group", "rgba")


def myolegs26_spec(*, self_collision: bool = False,
                   body_contact: bool = BODY_CONTACT) -> mujoco.MjSpec:
    """The myolegs26 locomotion scene (see the module docstring); options not yet set."""
    spec = build_myo_sim_spec("myolegs26")
    _primitive_collision_geoms(spec)
    feet = {name for names in foot_geom_names("myolegs26").values() for name in names}
    make_locomotion_scene(spec, feet, self_collision=self_collision, body_contact=body_contact)
    _weigh_via_points(spec)
    return spec


def _primitive_collision_geoms(spec: mujoco.MjSpec) -> None:
    """Make every mesh visual only and give `PRIMITIVE_COLLISION_BODIES` myoLeg's collision geoms.

    Both models place the same bone meshes in the same frames of these bodies, so myoLeg's
    capsules and ellipsoids fit as they are; the bodies' inertias are explicit, so their masses
    do not change. The torso, neck and head already collide through primitives (myoLeg's).
    """
    for geom in spec.geoms:
        if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
            geom.contype, geom.conaffinity = 0, 0
    bodies = {template.format(side=side) for template in PRIMITIVE_COLLISION_BODIES
              for side in SIDES}
    myoleg = build_myo_sim_spec("myolegs")  # held: its geoms live as long as the spec
    for source in myoleg.geoms:
        if (source.parent.name in bodies and (source.contype or source.conaffinity)
                and source.type != mujoco.mjtGeom.mjGEOM_MESH):
            geom = spec.body(source.parent.name).add_geom(name=source.name)
            for field in _COPIED_GEOM_FIELDS:
                setattr(geom, field, getattr(source, field))


def _weigh_via_points(spec: mujoco.MjSpec) -> None:
    """Give the via-point slide joints `VIA_POINT_ARMATURE`.

    The quadriceps, hamstring, gastrocnemius and psoas via points are 1 g bodies on slide
    joints held to the knee or hip by soft joint equalities, while kN tendon forces pull on
    them; with the plant's 3 Newton iterations the constraint solve does not converge on such
    light bodies and the state diverges within ~35 steps of strong excitation. The armature
    adds armature x (slide per radian)^2, about 4e-4 kg m^2 in all, to each knee.
    """
    for body in spec.bodies:
        if "-P" in body.name:
            for joint in body.joints:
                joint.armature = VIA_POINT_ARMATURE


def myolegs26_mjmodel(*, timestep: float = TIMESTEP, solver_iterations: int = SOLVER_ITERATIONS,
                      linesearch_iterations: int = LINESEARCH_ITERATIONS,
                      self_collision: bool = False,
                      body_contact: bool = BODY_CONTACT) -> mujoco.MjModel:
    """The compiled host `MjModel` of myolegs26 with the plant's physics defaults.

    Args:
        timestep: physics step [s].
        solver_iterations: constraint-solver iterations (MuJoCo C uses them as a maximum).
        linesearch_iterations: line-search iterations per solver iteration.
        self_collision: keep myo-sim's 25 leg-leg mesh pairs (MJX's mesh-mesh collisions are
            slow to compile and run).
        body_contact: let the torso, head, pelvis, thigh and shank geoms touch the floor (not
            each other); with `False` only the 5 capsules of each foot collide.
    """
    spec = myolegs26_spec(self_collision=self_collision, body_contact=body_contact)
    return compile_spec(spec, timestep=timestep, solver_iterations=solver_iterations,
                        linesearch_iterations=linesearch_iterations)


def myolegs26(*, formulation: str = "tendon_force", tendon_compliance: str = "all_elastic",
              mujoco_muscles: bool = False, overrides: Overrides | None = None,
              **model_options) -> AbstractPlant:
    """myolegs26 in the MJX plant, muscle parameters converted from its MuJoCo muscles.

    Args:
        formulation: 'tendon_force' (De Groote explicit), 'acceleration', 'rigid',
            'millard_equilibrium' or 'millard_acceleration' (see `mskdiff.muscle.make_mtu`).
        tendon_compliance: 'all_elastic' (default; the conversion gives no per-muscle choice),
            'all_rigid' or 'file' (as converted: elastic).
        mujoco_muscles: return a `MuJoCoMusclePlant` driven by MuJoCo's own rigid-tendon
            muscles instead; the other muscle options must keep their defaults.
        overrides: per-muscle values replacing the converted ones (actuator name -> {field:
            value}, `MuscleParameters`, or an `.osim`/`.csv` path; see `parameters_from_mujoco`).
        **model_options: passed to `myolegs26_mjmodel` (timestep, solver_iterations, ...).

    Raises:
        ValueError: unknown formulation, compliance mode, override muscle or field; mskdiff
            muscle options with `mujoco_muscles=True`.
    """
    mj_model = myolegs26_mjmodel(**model_options)
    if mujoco_muscles:
        if (formulation != "tendon_force" or overrides is not None
                or tendon_compliance not in ("file", "all_elastic")):
            raise ValueError("`mujoco_muscles=True` uses MuJoCo's muscles: `formulation`, "
                             "`tendon_compliance` and `overrides` do not apply")
        return MuJoCoMusclePlant.from_mjmodel(mj_model)
    params = parameters_from_mujoco(mj_model, overrides=overrides)
    return MJXPlant.from_mjmodel(
        mj_model, make_mtu(params.with_tendon_compliance(tendon_compliance), formulation))
