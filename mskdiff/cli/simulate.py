"""`mskdiff simulate`: batched rollouts of a model (myoLeg by default) with a default excitation pattern.

Writes `simulate.npz` with these keys (T steps, N envs, M muscles):

- `time` [T] s; `qpos` [T, N, nq], `qvel` [T, N, nv] (MuJoCo units: m, rad, quaternion);
- `excitation`, `activation` [T, N, M] (-); `tendon_force` [T, N, M] N;
  `fiber_length`, `mtu_length` [T, N, M] m; `mtu_velocity` [T, N, M] m/s;
- `metabolic_rate` [T, N, M] W (smoothed Bhargava 2004, per muscle), `body_mass` kg;
- `muscle_names` [M], `joint_names` [nq entries, free-joint coordinates expanded],
  `env_steps_per_second` (throughput without compilation), `formulation`, `tendon`;
- `model` (the registry name, `mskdiff models`);
- for free-floating models only: `pelvis_height` [T, N] m (height of the root body, the pelvis,
  above the floor at z = 0),
  `on_floor` [N] bool (the env *ended on the floor*: final pelvis height below
  `floor_threshold` = `FLOOR_THRESHOLD` m; standing is 0.95 m, a body lying or sitting on the
  floor 0.03-0.3 m) and `envs_on_floor` (how many).

and `simulate.png` (hip/knee/ankle angles, tendon forces, fibre lengths and whole-body muscle
metabolic rate of env 0, and the pelvis height of every env).
"""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import mujoco
import numpy as np

from ..integrate.integrators import SemiImplicitEuler
from ..muscle import FORMULATIONS
from ..plant.energetics import metabolic_rates
from ..plant.plant import MJXPlant
from ..plant.rollout import NonFiniteStateError, PlantTrajectory, rollout
from .mtu import add_tendon_argument, tendon_compliance

#: Muscles driven above baseline by the default pattern (prefixes of myoLeg's and myolegs26's
#: names); models without any of them (arms, hands, torso) drive every muscle.
ANTIGRAVITY_PREFIXES = ("vas", "soleus", "gas", "glmax", "glmed", "glut", "recfem", "rectfem",
                        "tibant")
#: Joints shown in the plot (right side).
PLOTTED_JOINTS = ("hip_flexion_r", "knee_angle_r", "ankle_angle_r")
PLOTTED_MUSCLES = ("soleus_r", "gasmed_r", "vasint_r", "glmax1_r", "tibant_r")
#: An env *ended on the floor* when its final pelvis height is below this [m] (standing: 0.95 m).
FLOOR_THRESHOLD = 0.5


def default_excitation(plant: MJXPlant, n_steps: int, n_envs: int, *, key) -> jax.Array:
    """Excitations `[T, N, M]`: 0.02 everywhere; anti-gravity muscles 0.15 +- 0.1 at 1 Hz.

    Left and right legs in antiphase; each env gets a random phase, so the batch differs. A
    model with none of `ANTIGRAVITY_PREFIXES` drives every muscle this way.
    """
    names = plant.muscle_names
    driven = np.array([n.startswith(ANTIGRAVITY_PREFIXES) for n in names])
    driven = driven if driven.any() else np.ones_like(driven)
    side = np.array([np.pi if n.endswith("_l") else 0.0 for n in names])
    t = jnp.arange(1, n_steps + 1) * plant.dt
    phase = jr.uniform(key, (n_envs,), maxval=2 * np.pi)
    wave = jnp.sin(2 * np.pi * t[:, None, None] + phase[None, :, None] + side[None, None, :])
    return jnp.where(driven, 0.15 + 0.1 * wave, 0.02)


def joint_coordinate_names(mj_model: mujoco.MjModel) -> list[str]:
    """One name per `qpos` entry (free joints expand to x, y, z, qw, qx, qy, qz)."""
    names = []
    for j in range(mj_model.njnt):
        name = mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j)
        if mj_model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            names += [f"{name}_{c}" for c in ("x", "y", "z", "qw", "qx", "qy", "qz")]
        elif mj_model.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
            names += [f"{name}_{c}" for c in ("qw", "qx", "qy", "qz")]
        else:
            names.append(name)
    return names


def pelvis_height(mj_model: mujoco.MjModel, qpos) -> np.ndarray:
    """Height [m] of myoLeg's root body (the pelvis; its free joint's z) from `qpos [..., nq]`."""
    free = [j for j in range(mj_model.njnt) if mj_model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
    if not free:
        raise ValueError("the model has no free joint, so no pelvis height")
    return np.asarray(qpos)[..., mj_model.jnt_qposadr[free[0]] + 2]


def simulate_batch(plant: MJXPlant, qpos, n_envs: int, seconds: float, *, seed: int = 0,
                   substeps: int = 4, chunk_seconds: float = 0.1, progress: bool = True):
    """Roll out `n_envs` copies from `qpos` for `seconds`; returns (trajectory, env-steps/s).

    Runs in jitted chunks of `chunk_seconds` with a progress bar; the throughput excludes the
    first chunk (compilation). The rollout runs with `throw=False` and each chunk is checked for
    non-finite states here, on the host: JAX keeps no program with a host callback (such as
    `eqx.error_if`'s) in its persistent compilation cache, so the rollout is cached across runs
    only when it compiles without one.

    Raises:
        NonFiniteStateError: naming the first env that went non-finite, and the step.
    """
    from tqdm.auto import tqdm

    chunk = max(1, round(chunk_seconds / plant.dt))
    n_chunks = max(1, round(seconds / plant.dt / chunk))
    excitation = default_excitation(plant, n_chunks * chunk, n_envs, key=jr.key(seed))
    # throw=False here and in the rollout: programs without error checks (host callbacks)
    # go to the persistent compilation cache; the results are checked on the host instead.
    state = plant.init_batch(jnp.broadcast_to(jnp.asarray(qpos, dtype=float), (n_envs, len(qpos))),
                             activation=0.05, throw=False)
    _check_initial_muscles(state.muscle)
    integrator = SemiImplicitEuler(substeps)
    pieces, start = [], None
    for k in tqdm(range(n_chunks), desc=f"simulate {n_envs} envs", disable=not progress):
        state, piece = rollout(plant, state, excitation[k * chunk:(k + 1) * chunk],
                               integrator=integrator, checkpoint=False, throw=False)
        piece = jax.tree.map(np.asarray, piece)
        _check_finite(piece.qpos, first_step=k * chunk)
        pieces.append(piece)
        if k == 0:
            start = time.perf_counter()
    elapsed = time.perf_counter() - start
    rate = n_envs * chunk * (n_chunks - 1) / elapsed if n_chunks > 1 else float("nan")
    trajectory = jax.tree.map(lambda *x: np.concatenate(x), *pieces)
    return trajectory, rate


def _check_initial_muscles(muscle) -> None:
    """Raise `ValueError` if a muscle equilibrium came out non-finite in any env."""
    if not all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(muscle)):
        raise ValueError("the initial muscle equilibrium is not finite (NaN or inf): the "
                         "standing pose or the muscle parameters are outside the curves' domain")


def _check_finite(qpos: np.ndarray, first_step: int) -> None:
    """Raise `NonFiniteStateError` if any env's `qpos [T, N, nq]` is not finite."""
    bad = ~np.isfinite(qpos).all(axis=-1)
    if bad.any():
        steps, envs = np.nonzero(bad)
        first = int(np.argmin(steps))
        raise NonFiniteStateError(
            f"the state of env {envs[first]} became non-finite (NaN or inf) at step "
            f"{first_step + steps[first]}; {len(set(envs.tolist()))} env(s) in all")


def write_npz(path, plant: MJXPlant, mj_model, trajectory: PlantTrajectory, metabolic_rate,
              rate, formulation: str, tendon: str = "file", model: str = "myolegs") -> None:
    """Save the documented keys (module docstring)."""
    keys = dict(
        time=trajectory.time[:, 0], qpos=trajectory.qpos, qvel=trajectory.qvel,
        excitation=trajectory.excitation, activation=trajectory.muscle.activation,
        tendon_force=trajectory.tendon_force, fiber_length=trajectory.fiber_length,
        mtu_length=trajectory.mtu_length, mtu_velocity=trajectory.mtu_velocity,
        metabolic_rate=metabolic_rate, body_mass=float(plant.total_mass),
        muscle_names=np.array(plant.muscle_names),
        joint_names=np.array(joint_coordinate_names(mj_model)),
        env_steps_per_second=rate, formulation=formulation, tendon=tendon, model=model)
    if has_free_joint(mj_model):
        height = pelvis_height(mj_model, trajectory.qpos)
        on_floor = height[-1] < FLOOR_THRESHOLD
        keys.update(pelvis_height=height, on_floor=on_floor, envs_on_floor=int(on_floor.sum()),
                    floor_threshold=FLOOR_THRESHOLD)
    np.savez_compressed(path, **keys)


def has_free_joint(mj_model: mujoco.MjModel) -> bool:
    """True for a free-floating model (one with a free joint: a pelvis height to report)."""
    return bool(np.any(mj_model.jnt_type == mujoco.mjtJoint.mjJNT_FREE))


def plot_simulation(path, plant: MJXPlant, mj_model, trajectory: PlantTrajectory, metabolic_rate,
                    title: str):
    """Env 0's joint angles, tendon forces, fibre lengths, metabolic rate; every env's pelvis height.

    The pelvis panel draws env 0 in black and the floor threshold (`FLOOR_THRESHOLD`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = trajectory.time[:, 0]
    coordinates = joint_coordinate_names(mj_model)
    floating = has_free_joint(mj_model)
    fig, axes = plt.subplots(5 if floating else 4, 1, figsize=(8, 13 if floating else 10.5),
                             sharex=True)
    for joint in _shown(PLOTTED_JOINTS, _hinge_names(mj_model)):
        axes[0].plot(t, np.degrees(trajectory.qpos[:, 0, coordinates.index(joint)]), label=joint)
    axes[0].set_ylabel("env 0: joint angle [deg]")
    muscles = _shown(PLOTTED_MUSCLES, plant.muscle_names, n=5)
    for muscle in muscles:
        i = plant.muscle_names.index(muscle)
        axes[1].plot(t, trajectory.tendon_force[:, 0, i], label=muscle)
        axes[2].plot(t, 100 * trajectory.fiber_length[:, 0, i], label=muscle)
    axes[1].set_ylabel("env 0: tendon force [N]")
    axes[2].set_ylabel("env 0: fibre length [cm]")
    axes[3].plot(t, metabolic_rate[:, 0].sum(axis=-1) / float(plant.total_mass), color="k",
                 label="all muscles (smoothed Bhargava 2004)")
    axes[3].set_ylabel("env 0: metabolic rate [W/kg]")
    if floating:
        _plot_pelvis_height(axes[4], mj_model, trajectory)
    axes[-1].set_xlabel("time [s]")
    for ax in axes:
        ax.legend(fontsize=8, ncol=3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _hinge_names(mj_model: mujoco.MjModel) -> list[str]:
    """Names of the model's hinge joints, in order."""
    return [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(mj_model.njnt)
            if mj_model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]


def _shown(preferred, available, n: int = 3) -> list[str]:
    """The preferred names the model has, or else its first `n` names."""
    chosen = [name for name in preferred if name in available]
    return chosen or list(available)[:n]


def _plot_pelvis_height(ax, mj_model, trajectory: PlantTrajectory) -> None:
    """Every env's pelvis height, env 0 in black, and the floor threshold."""
    t = trajectory.time[:, 0]
    height = pelvis_height(mj_model, trajectory.qpos)
    n_envs = height.shape[1]
    on_floor = int((height[-1] < FLOOR_THRESHOLD).sum())
    if n_envs > 1:
        ax.plot(t, height[:, 1:], color="C0", lw=0.7, alpha=0.6)
        others = "env 1" if n_envs == 2 else f"envs 1-{n_envs - 1}"
        ax.plot([], [], color="C0", lw=0.7, label=others)
    ax.plot(t, height[:, 0], color="k", lw=1.5, label="env 0")
    ax.axhline(FLOOR_THRESHOLD, color="C3", ls="--", lw=1,
               label=f"on the floor below {FLOOR_THRESHOLD} m ({on_floor}/{n_envs} envs at the end)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("pelvis height [m]")


def run_simulate_job(*, model: str = "myolegs", envs: int = 8, seconds: float = 2.0,
                     out_dir="mskdiff_out", formulation: str = "tendon_force", tendon: str = "file",
                     substeps: int = 4, seed: int = 0, progress: bool = True,
                     opensim_out=None, video=None) -> dict:
    """`mskdiff simulate`: a model of `mskdiff models` from its initial pose; writes npz and png.

    `tendon` is 'file' (myoLeg: as Rajagopal's model says, 46 elastic, 34 rigid; converted
    models: elastic), 'elastic' or 'rigid'. Free-floating models start standing on the floor,
    fixed-base ones at `qpos0` (joint couplings held). With `opensim_out`, env 0 is also written
    as OpenSim files (`mskdiff.models.opensim_export`); with `video`, the envs are rendered side
    by side to that `.mp4`/`.gif` (`mskdiff render`). Returns the paths written (`npz`, `plot`,
    `opensim`, `video`), the throughput (`env_steps_per_second`), `envs` and, for free-floating
    models, how many envs ended on the floor (`envs_on_floor`, final pelvis height below
    `FLOOR_THRESHOLD`).
    """
    from ..models import registry

    if envs < 1 or seconds <= 0:
        raise ValueError(f"need envs >= 1 and seconds > 0, got envs={envs}, seconds={seconds}")
    model = registry.resolve(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plant = registry.load(model, formulation=formulation,
                          tendon_compliance=tendon_compliance(tendon))
    mj_model = registry.host_mjmodel(model)
    trajectory, rate = simulate_batch(plant, initial_qpos(mj_model), envs, seconds, seed=seed,
                                      substeps=substeps, progress=progress)
    metabolic_rate = np.asarray(metabolic_rates(plant, trajectory).total)
    paths = {"npz": out_dir / "simulate.npz", "plot": out_dir / "simulate.png"}
    write_npz(paths["npz"], plant, mj_model, trajectory, metabolic_rate, rate, formulation, tendon,
              model)
    shown = "env 0 shown" if envs == 1 else f"env 0 of {envs} shown"
    plot_simulation(paths["plot"], plant, mj_model, trajectory, metabolic_rate,
                    f"{model}, {formulation}, {tendon} tendons, {seconds:g} s ({shown})")
    result = {**paths, "env_steps_per_second": rate, "envs": envs}
    if has_free_joint(mj_model):
        on_floor = pelvis_height(mj_model, trajectory.qpos[-1]) < FLOOR_THRESHOLD
        result["envs_on_floor"] = int(on_floor.sum())
    if opensim_out is not None:
        result["opensim"] = write_opensim_env(opensim_out, model, plant, mj_model, trajectory)
    if video is not None:
        from .render import write_video

        result["video"] = write_video(paths["npz"], video, env="all")["video"]
    return result


def initial_qpos(mj_model: mujoco.MjModel) -> np.ndarray:
    """Standing on the floor for free-floating models, else `qpos0` with joint couplings held."""
    from ..models.locomotion import satisfy_joint_equalities, standing_qpos

    if has_free_joint(mj_model):
        return standing_qpos(mj_model)
    return satisfy_joint_equalities(mj_model, mj_model.qpos0)


def write_opensim_env(out_dir, model: str, plant: MJXPlant, mj_model, trajectory: PlantTrajectory,
                      env: int = 0) -> dict[str, Path]:
    """One env of the rollout as OpenSim files (coordinates, states, controls, ground reactions)."""
    from ..models.kinematics import COORDINATE_SIGNS
    from ..models.opensim_export import write_opensim_results

    def one(x):
        return np.asarray(x)[:, env]

    compliant = ~np.asarray(plant.mtu.params.ignore_tendon_compliance)
    return write_opensim_results(
        out_dir, mj_model, one(trajectory.time), one(trajectory.qpos), one(trajectory.qvel),
        muscle_names=plant.muscle_names, actuator_ids=np.asarray(plant.actuator_ids),
        excitation=one(trajectory.excitation), activation=one(trajectory.muscle.activation),
        fiber_length=one(trajectory.fiber_length), tendon_force=one(trajectory.tendon_force),
        tendon_compliant=compliant, signs=COORDINATE_SIGNS.get(model, {}))


def run(args) -> int:
    """`mskdiff simulate`: run the job and print what it wrote and the throughput."""
    result = run_simulate_job(model=args.model, envs=args.envs, seconds=args.seconds,
                              out_dir=args.out, formulation=args.formulation, tendon=args.tendon,
                              substeps=args.substeps, seed=args.seed,
                              progress=not args.no_progress, opensim_out=args.opensim_out,
                              video=args.video)
    print(f"wrote trajectory: {result['npz']}")
    print(f"wrote plot: {result['plot']}")
    for path in result.get("opensim", {}).values():
        print(f"wrote OpenSim file: {path}")
    if "video" in result:
        print(f"wrote video: {result['video']}")
    device = jax.devices()[0]
    if np.isfinite(result["env_steps_per_second"]):
        print(f"throughput: {result['env_steps_per_second']:.0f} env-steps/s "
              f"({args.envs} envs, {device.platform}:{device.device_kind}, compilation excluded)")
    else:  # the first chunk includes compilation, and there was no other
        print("throughput: not measured (it needs --seconds of at least 0.2: the first 0.1 s "
              "includes compilation)")
    if "envs_on_floor" in result:
        print(f"on the floor at the end: {result['envs_on_floor']} of {result['envs']} envs "
              f"(pelvis below {FLOOR_THRESHOLD} m; myoLeg stands at 0.95 m)")
    return 0


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    simulate = commands.add_parser(
        "simulate", help="batched rollouts of a model with elastic tendons (npz + plot)",
        description="Run a model of `mskdiff models` (default: MyoSuite's myoLeg with the "
                    "Rajagopal 2016 muscles, elastic tendons as in Rajagopal's model) in the MJX "
                    "plant for N envs from a standing pose (fixed-base models: their reference "
                    "pose), "
                    "with a default excitation pattern (anti-gravity muscles modulated at 1 Hz, "
                    "legs in antiphase, a random phase per env). Writes simulate.npz (qpos, "
                    "qvel, excitation, activation, tendon_force, fiber_length, mtu_length, "
                    "pelvis_height, names, ...) and simulate.png (env 0, and every env's pelvis "
                    f"height), and prints the throughput and how many envs ended on the floor "
                    f"(pelvis below {FLOOR_THRESHOLD} m). The first run compiles for about a "
                    "minute on a CPU; later runs reuse the compiled programs (see mskdiff --help).")
    simulate.add_argument("--model", default="myolegs",
                          help="a model of `mskdiff models` (myolegs is myoLeg)")
    simulate.add_argument("--envs", type=int, default=8, help="number of envs")
    simulate.add_argument("--seconds", type=float, default=2.0, help="simulated time [s]")
    simulate.add_argument("--formulation", default="tendon_force", choices=FORMULATIONS,
                          help="MTU formulation (tendon_force: De Groote explicit)")
    add_tendon_argument(simulate, default="file")
    simulate.add_argument("--substeps", type=int, default=4, help="MTU sub-steps per 2 ms step")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the excitation phases")
    simulate.add_argument("--out", default="mskdiff_out", help="output folder")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
    simulate.add_argument("--opensim-out", metavar="DIR", default=None,
                          help="also write env 0 as OpenSim files (coordinates.mot, states.sto, "
                               "controls.sto, ground_reactions.mot) in DIR")
    simulate.add_argument("--video", metavar="PATH", default=None,
                          help="also render the envs side by side to PATH (.mp4 or .gif)")
    simulate.set_defaults(run=run)

