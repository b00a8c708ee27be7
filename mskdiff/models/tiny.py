"""A tiny MJCF leg for fast tests: a pelvis on a vertical slider, hip and knee hinges, a foot.

Four muscles on straight tendons (hip flexor and extensor, knee extensor, a biarticular
hamstring-like muscle) with parameters whose resting lengths match the tendon paths, and a
sphere foot that touches the floor plane: contact, elastic tendons and all of the plant's
stages in a model that compiles in seconds.
"""

import mujoco
import numpy as np

from ..muscle.parameters import MuscleParameters

_TINY_LEG_XML = """
<mujoco model="tiny_leg">
  <option timestep="0.002" iterations="3" ls_iterations="8"/>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 0.1"/>
    <body name="pelvis" pos="0 0 0.86">
      <joint name="height" type="slide" axis="0 0 1" damping="1"/>
      <geom type="box" size="0.1 0.1 0.05" mass="40" contype="0" conaffinity="0"/>
      <site name="pelvis_front" pos="0.08 0 0.0"/>
      <site name="pelvis_back" pos="-0.08 0 0.0"/>
      <body name="thigh">
        <joint name="hip" type="hinge" axis="0 1 0" range="-1.5 1.5" damping="0.5"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.04" mass="4"
              contype="0" conaffinity="0"/>
        <site name="thigh_front" pos="0.04 0 -0.12"/>
        <site name="thigh_back" pos="-0.04 0 -0.12"/>
        <site name="thigh_front_low" pos="0.045 0 -0.3"/>
        <body name="shank" pos="0 0 -0.4">
          <joint name="knee" type="hinge" axis="0 1 0" range="0 2.5" damping="0.5"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.035" mass="2.5"
                contype="0" conaffinity="0"/>
          <geom name="foot" type="sphere" pos="0 0 -0.42" size="0.04" mass="0.5"/>
          <site name="shank_front" pos="0.04 0 -0.06"/>
          <site name="shank_back" pos="-0.04 0 -0.08"/>
        </body>
      </body>
    </body>
  </worldbody>
  <tendon>
    <spatial name="hip_flexor_tendon"><site site="pelvis_front"/><site site="thigh_front"/></spatial>
    <spatial name="hip_extensor_tendon"><site site="pelvis_back"/><site site="thigh_back"/></spatial>
    <spatial name="knee_extensor_tendon"><site site="thigh_front_low"/><site site="shank_front"/></spatial>
    <spatial name="hamstring_tendon"><site site="pelvis_back"/><site site="shank_back"/></spatial>
  </tendon>
  <actuator>
    <muscle name="hip_flexor" tendon="hip_flexor_tendon"/>
    <muscle name="hip_extensor" tendon="hip_extensor_tendon"/>
    <muscle name="knee_extensor" tendon="knee_extensor_tendon"/>
    <muscle name="hamstring" tendon="hamstring_tendon"/>
  </actuator>
</mujoco>
"""

#: Muscle names of the tiny leg (its actuator names).
TINY_LEG_MUSCLES = ("hip_flexor", "hip_extensor", "knee_extensor", "hamstring")


def tiny_leg_mjmodel() -> mujoco.MjModel:
    """The compiled tiny leg (2 ms step, 3 Newton iterations)."""
    return mujoco.MjModel.from_xml_string(_TINY_LEG_XML)


#: Pose (pelvis height, hip, knee) at which the muscles sit at optimal fibre length.
TINY_LEG_REST_POSE = (0.0, 0.3, 0.6)


def tiny_leg_parameters(*, tendon_compliance: str = "all_elastic") -> MuscleParameters:
    """Parameters for the tiny leg's muscles: slack + optimal length = the path length at rest.

    The rest pose is a crouch (`TINY_LEG_REST_POSE`), so a crouched leg is not driven by
    stretched passive fibres.
    """
    resting = tiny_leg_mtu_lengths(np.asarray(TINY_LEG_REST_POSE))
    optimal_fiber_length = np.array([0.04, 0.04, 0.06, 0.1])
    pennation = np.array([0.0, 0.1, 0.2, 0.0])
    slack = resting - optimal_fiber_length * np.cos(pennation)
    params = MuscleParameters.from_dict(
        {"max_isometric_force": np.array([400.0, 400.0, 1200.0, 600.0]),
         "optimal_fiber_length": optimal_fiber_length,
         "tendon_slack_length": slack,
         "pennation_angle_at_optimal": pennation},
        names=TINY_LEG_MUSCLES)
    return params.with_tendon_compliance(tendon_compliance)


def tiny_leg_mtu_lengths(qpos=None) -> np.ndarray:
    """MTU (tendon path) lengths [m] at `qpos` (default: the model's reference pose)."""
    model = tiny_leg_mjmodel()
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0 if qpos is None else qpos
    mujoco.mj_fwdPosition(model, data)
    return data.actuator_length.copy()


_TINY_BIPED_LEG = """
    <body name="femur_{side}" pos="{x} 0 -0.05">
      <joint name="hip_flexion_{side}" type="hinge" axis="-1 0 0" range="-0.8 1.5" damping="0.5"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.04" mass="4" contype="0" conaffinity="0"/>
      <site name="thigh_front_{side}" pos="0 -0.04 -0.12"/>
      <site name="thigh_back_{side}" pos="0 0.04 -0.12"/>
      <site name="thigh_front_low_{side}" pos="0 -0.045 -0.3"/>
      <body name="tibia_{side}" pos="0 0 -0.4">
        <joint name="knee_angle_{side}" type="hinge" axis="1 0 0" range="0 2.0" damping="0.5"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.035" mass="2.5" contype="0"
              conaffinity="0"/>
        <site name="shank_front_{side}" pos="0 -0.04 -0.06"/>
        <site name="shank_back_{side}" pos="0 0.04 -0.08"/>
        <site name="shank_back_low_{side}" pos="0 0.03 -0.2"/>
        <site name="shank_front_low_{side}" pos="0 -0.03 -0.2"/>
        <body name="calcn_{side}" pos="0 0 -0.42">
          <joint name="ankle_angle_{side}" type="hinge" axis="-1 0 0" range="-0.7 0.5"
                 damping="0.2"/>
          <geom name="foot_{side}" type="box" pos="0 -0.04 -0.02" size="0.04 0.1 0.02" mass="0.8"
                contype="2" conaffinity="1"/>
          <site name="heel_{side}" pos="0 0.05 -0.01"/>
          <site name="toe_{side}" pos="0 -0.1 -0.01"/>
        </body>
      </body>
    </body>"""

#: The tiny biped's muscles on one leg: name -> (origin site, insertion site).
_TINY_BIPED_PATHS = {
    "hip_flexor": ("pelvis_front_{side}", "thigh_front_{side}"),
    "hip_extensor": ("pelvis_back_{side}", "thigh_back_{side}"),
    "knee_extensor": ("thigh_front_low_{side}", "shank_front_{side}"),
    "hamstring": ("pelvis_back_{side}", "shank_back_{side}"),
    "plantarflexor": ("shank_back_low_{side}", "heel_{side}"),
    "dorsiflexor": ("shank_front_low_{side}", "toe_{side}"),
}
#: Per muscle of `_TINY_BIPED_PATHS`: (max isometric force [N], optimal fibre length [m]).
_TINY_BIPED_MUSCLE_SIZES = {"hip_flexor": (500.0, 0.04), "hip_extensor": (800.0, 0.04),
                            "knee_extensor": (1500.0, 0.06), "hamstring": (600.0, 0.1),
                            "plantarflexor": (1500.0, 0.04), "dorsiflexor": (400.0, 0.05)}
#: The tiny biped's muscle names (its actuator names), right leg first.
TINY_BIPED_MUSCLES = tuple(f"{m}_{s}" for s in ("r", "l") for m in _TINY_BIPED_PATHS)


def _tiny_biped_xml() -> str:
    """MJCF of the tiny biped (see `tiny_biped_mjmodel`)."""
    sides = {"r": -0.1, "l": 0.1}  # the world's -x is the model's right (as in myo-sim's legs)
    sites = "".join(f'<site name="pelvis_front_{s}" pos="{x} -0.08 -0.02"/>'
                    f'<site name="pelvis_back_{s}" pos="{x} 0.08 -0.02"/>' for s, x in sides.items())
    legs = "".join(_TINY_BIPED_LEG.format(side=s, x=x) for s, x in sides.items())
    tendons = "".join(f'<spatial name="{m}_{s}_tendon"><site site="{a.format(side=s)}"/>'
                      f'<site site="{b.format(side=s)}"/></spatial>'
                      for s in sides for m, (a, b) in _TINY_BIPED_PATHS.items())
    muscles = "".join(f'<muscle name="{name}" tendon="{name}_tendon"/>'
                      for name in TINY_BIPED_MUSCLES)
    # `pelvis` carries OpenSim's pelvis axes (x forward, y up, z right) in the world's frame
    # (`mskdiff.models.kinematics.OPENSIM_TO_WORLD`), so reference motions map onto the model
    return f"""
<mujoco model="tiny_biped">
  <option timestep="0.002" iterations="3" ls_iterations="8"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="root" pos="0 0 0.93">
      <freejoint name="root"/>
      <geom type="box" size="0.12 0.08 0.15" pos="0 0 0.15" mass="30" contype="0"
            conaffinity="0"/>
      <body name="pelvis" quat="0.5 0.5 -0.5 -0.5"/>
      {sites}{legs}
    </body>
  </worldbody>
  <tendon>{tendons}</tendon>
  <actuator>{muscles}</actuator>
</mujoco>"""


def tiny_biped_mjmodel() -> mujoco.MjModel:
    """A tiny two-legged model for fast tests of leg tasks (2 ms step, 3 Newton iterations).

    A 30 kg trunk on a free joint, two legs of hip, knee and ankle hinges named like OpenSim's
    coordinates (`hip_flexion_r`, `knee_angle_r`, `ankle_angle_r`, ...), box feet `foot_r` and
    `foot_l` (the only geoms that touch the floor; not each other, which keeps MJX's costly
    box-box collision out of every compiled step), bodies `pelvis` and `calcn_r`/`calcn_l`, and
    six muscles per leg on straight tendons (`TINY_BIPED_MUSCLES`). It faces the world's -y, like
    myo-sim's legs, so the environments and reference motions apply unchanged.
    """
    return mujoco.MjModel.from_xml_string(_tiny_biped_xml())


def tiny_biped_parameters(*, tendon_compliance: str = "all_elastic") -> MuscleParameters:
    """The tiny biped's muscles: slack + optimal length = the path length at the reference pose."""
    model = tiny_biped_mjmodel()
    data = mujoco.MjData(model)
    mujoco.mj_fwdPosition(model, data)
    sizes = np.array([_TINY_BIPED_MUSCLE_SIZES[n.rsplit("_", 1)[0]] for n in TINY_BIPED_MUSCLES])
    params = MuscleParameters.from_dict(
        {"max_isometric_force": sizes[:, 0], "optimal_fiber_length": sizes[:, 1],
         "tendon_slack_length": data.actuator_length - sizes[:, 1],
         "pennation_angle_at_optimal": np.zeros(len(TINY_BIPED_MUSCLES))},
        names=TINY_BIPED_MUSCLES)
    return params.with_tendon_compliance(tendon_compliance)
