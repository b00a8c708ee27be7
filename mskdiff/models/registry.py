"""Every model of myo-sim's registry as a plant: `load(name)`, `MODELS`, `describe(name)`.

`myolegs` is mskdiff's myoLeg (`mskdiff.models.myoleg`, Rajagopal 2016 parameters) and
`myolegs26` its own builder (`mskdiff.models.myolegs26`). Every other model is
myo-sim's spec (`myo_sim.build.compose.build_spec(name)`) in a *generic scene* for MJX, with its
MuJoCo muscles converted to elastic-tendon MTUs (`parameters_from_mujoco`):

- models with a free joint (myolegs_abdomen, myofullbody) get myoLeg's locomotion scene
  (`mskdiff.models.locomotion.make_locomotion_scene`): floor at z = 0, pedestal removed,
  colliding body geoms touch the floor only (`body_contact`), ellipsoids become capsules;
- fixed-base models (torso, arms, hands) collide with nothing: the floor is out of their reach
  and MJX would still check every colliding geom against it each step (54 candidate contacts
  for myohand_r); myo-sim's explicit geom pairs (finger-finger, arm-torso) are kept only with
  `self_collision=True` (ellipsoids in them become capsules);
- mesh geoms never collide: MJX collides meshes through their convex hulls, whose contact points
  jump between vertices (and it has no cylinder-mesh or ellipsoid-mesh collision at all);
- sensors are dropped; the physics options are the plant's (`myoleg.TIMESTEP`,
  `SOLVER_ITERATIONS`, `LINESEARCH_ITERATIONS`) unless given.
"""

import importlib.metadata
import os

import mujoco
import numpy as np

from ..muscle import make_mtu
from ..plant import AbstractPlant, MJXPlant, MuJoCoMusclePlant
from .locomotion import build_myo_sim_spec, compile_spec, make_locomotion_scene
from .mujoco_conversion import Overrides, parameters_from_mujoco, tendonless_muscles
from .myoleg import (
    BODY_CONTACT,
    LINESEARCH_ITERATIONS,
    SOLVER_ITERATIONS,
    TIMESTEP,
    myoleg,
    myoleg_mjmodel,
)
from .myolegs26 import myolegs26, myolegs26_mjmodel

#: myo-sim's registry (`myo_sim.build.compose.MODEL_REGISTRY`), in its order.
MODELS: tuple[str, ...] = (
    "myotorso", "myotorso_abdomen", "myotorso_arms", "myotorso_arm_r", "myoarms", "myoarm_r",
    "myohands", "myohand_r", "myolegs", "myolegs26", "myolegs_abdomen", "myofullbody",
)
#: myo-sim's aliases (`myo_sim.build.compose.ALIASES`).
ALIASES: dict[str, str] = {"hand": "myohand_r", "myohand": "myohand_r", "myoarm": "myoarm_r"}


def resolve(name: str) -> str:
    """The registry name of `name` or of its alias; unknown names raise, listing the valid ones."""
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list(MODELS)} "
                         f"(aliases: {ALIASES})")
    return name


def _myo_sim_version() -> str:
    return importlib.metadata.version("myo-sim")


def scene_spec(name: str, *, self_collision: bool = False,
               body_contact: bool = BODY_CONTACT) -> mujoco.MjSpec:
    """myo-sim's model `name` in the generic MJX scene (module docstring); options not yet set."""
    spec = build_myo_sim_spec(resolve(name))
    floating = any(j.type == mujoco.mjtJoint.mjJNT_FREE for j in spec.joints)
    make_locomotion_scene(spec, set(), self_collision=self_collision,
                          body_contact=body_contact and floating)
    for geom in spec.geoms:
        if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
            geom.contype, geom.conaffinity = 0, 0
    for pair in list(spec.pairs):
        if mujoco.mjtGeom.mjGEOM_MESH in (spec.geom(pair.geomname1).type,
                                          spec.geom(pair.geomname2).type):
            spec.delete(pair)
    return spec


def mjmodel(name: str, *, timestep: float = TIMESTEP, solver_iterations: int = SOLVER_ITERATIONS,
            linesearch_iterations: int = LINESEARCH_ITERATIONS, self_collision: bool = False,
            body_contact: bool = BODY_CONTACT) -> mujoco.MjModel:
    """The compiled generic scene of myo-sim's model `name` with the plant's physics options.

    For myolegs and myolegs26 this is not the model `load(name)` runs (their own builders add
    foot capsules and armature): poses for a loaded plant come from `host_mjmodel(name)`.

    Args:
        name: a name of `MODELS` (or an alias).
        timestep: physics step [s].
        solver_iterations: Newton iterations per step.
        linesearch_iterations: line-search iterations per Newton iteration.
        self_collision: keep myo-sim's explicit geom pairs.
        body_contact: free-floating models: the non-foot body geoms touch the floor too.
    """
    return compile_spec(scene_spec(name, self_collision=self_collision, body_contact=body_contact),
                        timestep=timestep, solver_iterations=solver_iterations,
                        linesearch_iterations=linesearch_iterations)


def load(name: str, *, formulation: str = "tendon_force", tendon_compliance: str = "file",
         mujoco_muscles: bool = False, overrides: Overrides | None = None,
         **model_options) -> AbstractPlant:
    """The plant of a myo-sim model: its muscles as mskdiff MTUs (elastic tendons by default).

    Args:
        name: a name of `MODELS` (or an alias of `ALIASES`).
        formulation: a name of `mskdiff.muscle.FORMULATIONS`.
        tendon_compliance: 'file' (myolegs: Rajagopal's 46 elastic, 34 rigid tendons; converted
            models: all elastic unless `overrides` say otherwise), 'all_elastic' or 'all_rigid'.
        mujoco_muscles: a `MuJoCoMusclePlant` with MuJoCo's own muscles instead; the muscle
            options must then keep their defaults.
        overrides: per-muscle parameters (`parameters_from_mujoco`'s `overrides`); for myolegs
            only an `.osim` path (`myoleg(osim=...)`).
        **model_options: `mjmodel`'s options (timestep, solver_iterations, ...), or the
            options of `myoleg` / `myolegs26` for those models.

    Raises:
        ValueError: an unknown model (the valid names listed), formulation or compliance mode;
            muscle options with `mujoco_muscles=True`; invalid overrides.
    """
    name = resolve(name)
    if name == "myolegs":
        return myoleg(formulation=formulation, tendon_compliance=tendon_compliance,
                      mujoco_muscles=mujoco_muscles, osim=_osim_only(name, overrides),
                      **model_options)
    if name == "myolegs26":
        return myolegs26(formulation=formulation, tendon_compliance=tendon_compliance,
                         mujoco_muscles=mujoco_muscles, overrides=overrides, **model_options)
    mj_model = mjmodel(name, **model_options)
    if mujoco_muscles:
        if (formulation, tendon_compliance, overrides) != ("tendon_force", "file", None):
            raise ValueError("`mujoco_muscles=True` uses MuJoCo's muscles: `formulation`, "
                             "`tendon_compliance` and `overrides` do not apply")
        return MuJoCoMusclePlant.from_mjmodel(mj_model)
    params = parameters_from_mujoco(mj_model, overrides=overrides)
    mtu = make_mtu(params.with_tendon_compliance(tendon_compliance), formulation)
    return MJXPlant.from_mjmodel(mj_model, mtu)


def _osim_only(name: str, overrides) -> str | os.PathLike | None:
    """The `osim` of `myoleg`: `overrides` must be None or an `.osim` path."""
    if overrides is None or (isinstance(overrides, str | os.PathLike)
                             and str(overrides).lower().endswith(".osim")):
        return overrides
    raise ValueError(f"{name} takes its parameters from Rajagopal 2016; `overrides` may only "
                     "be an `.osim` model for it")


def source(name: str) -> str:
    """Where the model's skeleton and muscle parameters come from."""
    name = resolve(name)
    spec = f"myo-sim {_myo_sim_version()}: myo_sim.build.compose.build_spec({name!r})"
    if name == "myolegs":
        return f"mskdiff.models.myoleg() (Rajagopal 2016 parameters) on {spec}"
    if name == "myolegs26":
        return f"mskdiff.models.myolegs26.myolegs26() on {spec}"
    return spec


def describe(name: str) -> dict:
    """Size and origin of a model's plant (host compile only, no MJX).

    Returns:
        `name`, `muscles`, `dof` (= `nv`), `nq`, `nv`, `neq` (equality constraints),
        `tendonless` (muscles given the minimum tendon by the conversion; 0 for myolegs),
        `contacts` (colliding geoms + pairs of the scene) and `source`.
    """
    name = resolve(name)
    model = host_mjmodel(name)
    tendonless = 0 if name == "myolegs" else len(tendonless_muscles(model))
    colliding = int(np.sum((model.geom_contype != 0) | (model.geom_conaffinity != 0)))
    return {"name": name, "muscles": int(model.nu), "dof": int(model.nv), "nq": int(model.nq),
            "nv": int(model.nv), "neq": int(model.neq), "tendonless": tendonless,
            "contacts": f"{colliding} geoms, {model.npair} pairs", "source": source(name)}


def host_mjmodel(name: str, **model_options) -> mujoco.MjModel:
    """The host `MjModel` that `load(name, **model_options)` builds its plant on."""
    name = resolve(name)
    if name == "myolegs":
        return myoleg_mjmodel(**model_options)
    if name == "myolegs26":
        return myolegs26_mjmodel(**model_options)
    return mjmodel(name, **model_options)
