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

The scene edits and the poses are shared with myolegs26 (`mskdiff.models.locomotion`).
"""

import os

import mujoco

from ..io.osim import load_millard_curves, load_osim
from ..muscle import MillardCurves, make_mtu
from ..plant import AbstractPlant, MJXPlant, MuJoCoMusclePlant
from .locomotion import (
    FOOT_GEOM_TEMPLATES,
    build_myo_sim_spec,
    compile_spec,
    crouch_qpos,
    foot_geom_names,
    joint_equalities,
    make_locomotion_scene,
    place_on_floor,
    random_standing_qpos,
    satisfy_joint_equalities,
    standing_qpos,
)
from .rajagopal2016 import rajagopal2016

__all__ = [
    "BODY_CONTACT",
    "FOOT_GEOMS",
    "LINESEARCH_ITERATIONS",
    "SOLVER_ITERATIONS",
    "TIMESTEP",
    "crouch_qpos",
    "joint_equalities",
    "myoleg",
    "myoleg_mjmodel",
    "myoleg_spec",
    "place_on_floor",
    "random_standing_qpos",
    "satisfy_joint_equalities",
    "standing_qpos",
]

#: Foot collision geoms per side (myo-sim names without the `_r`/`_l` suffix).
FOOT_GEOMS = tuple(t.removesuffix("_{side}") for t in FOOT_GEOM_TEMPLATES["myoleg"])

#: Physics defaults for the muscle plant (see docs/plant.md for their effect on speed).
TIMESTEP = 0.002  # [s], myoLeg's own
SOLVER_ITERATIONS = 3  # Newton iterations, fixed (differentiable); MuJoCo C uses ~2 here
LINESEARCH_ITERATIONS = 8  # MJX's default of 50 runs all 50 under vmap
BODY_CONTACT = True  # torso, pelvis, thighs and shanks touch the floor too


def myoleg_spec(*, self_collision: bool = False, body_contact: bool = BODY_CONTACT) -> mujoco.MjSpec:
    """The myoLeg locomotion scene (see the module docstring); options not yet set."""
    spec = build_myo_sim_spec("myolegs")
    feet = {name for names in foot_geom_names("myoleg").values() for name in names}
    make_locomotion_scene(spec, feet, self_collision=self_collision, body_contact=body_contact)
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
    spec = (build_myo_sim_spec("myolegs") if original_scene
            else myoleg_spec(self_collision=self_collision, body_contact=body_contact))
    return compile_spec(spec, timestep=timestep, solver_iterations=solver_iterations,
                        linesearch_iterations=linesearch_iterations)


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
