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
