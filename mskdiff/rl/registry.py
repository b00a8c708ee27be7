"""`make(task, model=..., **options)`: any task on any supported model; `TASKS`, `MODELS`.

Models: `myolegs26` (26 muscles), `myoleg` (myoLeg, 80 Rajagopal 2016 MTUs; registry name
`myolegs`) and `tiny_biped` (12 muscles, `mskdiff.models.tiny_biped_mjmodel`, for tests).
`muscles` picks the actuation, so one task compares them: `'elastic'` (mskdiff's MTUs with the
model's elastic tendons: all 26 for myolegs26, Rajagopal's 46 for myoLeg), `'rigid'` (the same
MTUs, every tendon rigid) or `'mujoco'` (MuJoCo's own muscles). Plants are built once per
`(model, muscles, formulation)` and shared by the envs made on them.
"""

import dataclasses
import functools
from pathlib import Path

from ..models.kinematics import COORDINATE_SIGNS
from ..models.registry import host_mjmodel, load
from ..models.tiny import tiny_biped_mjmodel, tiny_biped_parameters
from ..muscle import make_mtu
from ..plant import AbstractPlant, MJXPlant, MuJoCoMusclePlant
from .env import EnvConfig, MuscleEnv
from .reference import reference_cycle
from .tasks import TASK_CLASSES

#: Task names.
TASKS: tuple[str, ...] = tuple(TASK_CLASSES)
#: Model names `make` takes -> the model registry's name.
MODELS: dict[str, str] = {"myolegs26": "myolegs26", "myoleg": "myolegs", "myolegs": "myolegs",
                          "tiny_biped": "tiny_biped"}
#: Actuation names -> `mskdiff.models.load` options.
MUSCLES: dict[str, dict] = {"elastic": {}, "rigid": {"tendon_compliance": "all_rigid"},
                            "mujoco": {"mujoco_muscles": True}}
#: Episode length [s] of each task unless `episode_seconds` is given.
EPISODE_SECONDS = {"stand": 5.0, "walk": 10.0, "imitate": 10.0}
#: The shared reference folder beside the repository (`shared/reference`, its README).
DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference"

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(EnvConfig)}


@functools.cache
def _plant(registry_name: str, muscles: str, formulation: str):
    """The plant and host model of a model with an actuation (built once)."""
    if registry_name == "tiny_biped":
        return _tiny_biped_plant(muscles, formulation), tiny_biped_mjmodel()
    options = dict(MUSCLES[muscles])
    if muscles != "mujoco":
        options["formulation"] = formulation
    return load(registry_name, **options), host_mjmodel(registry_name)


def _tiny_biped_plant(muscles: str, formulation: str) -> AbstractPlant:
    """The tiny biped's plant with the actuation `muscles`."""
    mj_model = tiny_biped_mjmodel()
    if muscles == "mujoco":
        return MuJoCoMusclePlant.from_mjmodel(mj_model)
    compliance = MUSCLES[muscles].get("tendon_compliance", "all_elastic")
    mtu = make_mtu(tiny_biped_parameters(tendon_compliance=compliance), formulation)
    return MJXPlant.from_mjmodel(mj_model, mtu)


def make(task: str, model: str = "myolegs26", *, muscles: str = "elastic",
         formulation: str = "tendon_force", reference_dir=None, **options) -> MuscleEnv:
    """The env of `task` on `model`.

    Args:
        task: a name of `TASKS` (case-insensitive).
        model: a name of `MODELS`.
        muscles: 'elastic', 'rigid' or 'mujoco' (module docstring).
        formulation: the MTU formulation (`mskdiff.muscle.FORMULATIONS`) for mskdiff's MTUs.
        reference_dir: `imitate`: the folder of the walking trial (default: `shared/reference`
            beside the repository).
        **options: `EnvConfig` fields (`ctrl_dt`, `noise`, `reward_weights`, ...) and the task's
            own options (`Stand`: `push_fraction`, `push_seconds`, `push_interval`; `Walk`:
            `speed_range`; `Imitate`: `max_root_error`).

    Raises:
        ValueError: an unknown task, model, actuation or option (the valid ones listed).
    """
    name = str(task).lower()
    if name not in TASK_CLASSES:
        raise ValueError(f"unknown task {task!r}; choose from {list(TASKS)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(MODELS)}")
    if muscles not in MUSCLES:
        raise ValueError(f"unknown muscles {muscles!r}; choose from {list(MUSCLES)}")
    if muscles == "mujoco" and formulation != "tendon_force":
        raise ValueError("`formulation` applies to mskdiff's MTUs, not muscles='mujoco'")
    config_options = {k: v for k, v in options.items() if k in _CONFIG_FIELDS}
    task_options = {k: v for k, v in options.items() if k not in _CONFIG_FIELDS}
    config_options.setdefault("episode_seconds", EPISODE_SECONDS[name])
    config = EnvConfig(**config_options)
    plant, mj_model = _plant(MODELS[model], muscles, formulation)
    if name == "imitate":
        folder = DEFAULT_REFERENCE_DIR if reference_dir is None else reference_dir
        task_options["reference"] = reference_cycle(mj_model, folder, config.ctrl_dt,
                                                    signs=COORDINATE_SIGNS[MODELS[model]])
    elif reference_dir is not None:
        raise ValueError("`reference_dir` is an option of the imitate task only")
    try:
        return TASK_CLASSES[name](plant, mj_model, config, model_name=MODELS[model],
                                  **task_options)
    except TypeError as error:
        raise ValueError(f"{name}: {error}; EnvConfig options: {sorted(_CONFIG_FIELDS)}") from None
