r"""Standing: the excitations that hold a free-floating model upright, found by `jax.grad`.

Open-loop constant excitations let a leg model collapse within half a second (`mskdiff
simulate`). `standing_problem` asks for the excitations, at knots, that keep the model at its
standing pose for a horizon, with muscles alone (no residual actuators):

$$J = w_q\,\frac1T \sum_k \sum_j c_j\,(q_j(t_k) - q_j^\text{stand})^2
      + w_e\,\frac1T \sum_k \sum_i u_i(t_k)^2,$$

the pelvis translations weighted `translation` per m² against 1 per rad² for every other
`qpos` entry. It is a `TrajectoryProblem` (`CoordinateTracking` of the pose held constant plus
`Effort`), solved by `solve_trajectory` with single shooting through the whole plant: elastic
tendons, activation dynamics and contact.
"""

from typing import NamedTuple

import jax.numpy as jnp
import mujoco
import numpy as np

from ..models.locomotion import standing_qpos
from ..plant.plant import AbstractPlant
from .controls import KnotControls
from .gait_tracking import FIRST_GUESS_EXCITATION, root_joint
from .objectives import CoordinateTracking, Effort
from .problem import TrajectoryProblem


class StandingWeights(NamedTuple):
    """Weights of the standing objective (module docstring).

    Attributes:
        posture: $w_q$, on squared pose errors [rad^2, m^2] averaged over steps.
        translation: relative weight of the pelvis translations (per m^2 against per rad^2).
        effort: $w_e$, on squared excitations.
    """

    posture: float = 100.0
    translation: float = 10.0
    effort: float = 0.01


#: The weights `mskdiff stand` uses.
DEFAULT_STANDING_WEIGHTS = StandingWeights()


def standing_problem(plant: AbstractPlant, mj_model: mujoco.MjModel, *, seconds: float = 1.0,
                     knot_interval: float = 0.05,
                     weights: StandingWeights = DEFAULT_STANDING_WEIGHTS) -> TrajectoryProblem:
    """Hold the standing pose (`standing_qpos`) for `seconds` (module docstring).

    Args:
        plant: the plant of a model with a free root joint and a floor.
        mj_model: its host model.
        seconds: horizon [s], rounded to whole plant steps.
        knot_interval: time between excitation knots [s] (linear interpolation).
        weights: the objective's weights.

    Raises:
        ValueError: naming the argument: a model without a free root joint, a horizon or
            knot interval that is not positive, negative weights.
    """
    root_joint(mj_model)
    if not seconds > 0 or not knot_interval > 0:
        raise ValueError(f"`seconds` and `knot_interval` must be > 0, got {seconds} and "
                         f"{knot_interval}")
    if min(weights) < 0:
        raise ValueError(f"`weights` must be >= 0, got {weights}")
    horizon = max(1, round(seconds / plant.dt)) * plant.dt
    knots = np.linspace(0.0, horizon, max(2, round(horizon / knot_interval) + 1))
    latent = np.log(FIRST_GUESS_EXCITATION / (1 - FIRST_GUESS_EXCITATION))
    controls = KnotControls(np.full((len(knots), plant.n_muscles), latent), knots, "linear")
    pose = standing_qpos(mj_model)
    coordinate_weights = np.ones(mj_model.nq)
    root = int(mj_model.jnt_qposadr[root_joint(mj_model)])
    coordinate_weights[root:root + 3] = weights.translation
    objective = {
        "posture": CoordinateTracking(np.array([0.0, horizon]), np.stack([pose, pose]),
                                      coordinate_weights=coordinate_weights,
                                      weight=weights.posture),
        "effort": Effort(weight=weights.effort),
    }
    state = plant.init(jnp.asarray(pose), activation=FIRST_GUESS_EXCITATION)
    return TrajectoryProblem(plant, state, horizon, controls, objective)
