"""`mskdiff simulate`: batched myoLeg rollouts from standing with a default excitation pattern.

Writes `simulate.npz` with these keys (T steps, N envs, M muscles):

- `time` [T] s; `qpos` [T, N, nq], `qvel` [T, N, nv] (MuJoCo units: m, rad, quaternion);
- `excitation`, `activation` [T, N, M] (-); `tendon_force` [T, N, M] N;
  `fiber_length`, `mtu_length` [T, N, M] m; `mtu_velocity` [T, N, M] m/s;
- `metabolic_rate` [T, N, M] W (smoothed Bhargava 2004, per muscle), `body_mass` kg;
- `muscle_names` [M], `joint_names` [nq entries, free-joint coordinates expanded],
  `env_steps_per_second` (throughput without compilation), `formulation`.

and `simulate.png` (hip/knee/ankle angles, tendon forces, fibre lengths and whole-body muscle
metabolic rate of env 0).
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
from ..plant.rollout import PlantTrajectory, rollout

#: Muscles driven above baseline by the default pattern (prefixes of myoLeg's names).
ANTIGRAVITY_PREFIXES = ("vas", "soleus", "gas", "glmax", "glmed", "recfem", "tibant")
#: Joints shown in the plot (right side).
PLOTTED_JOINTS = ("hip_flexion_r", "knee_angle_r", "ankle_angle_r")
PLOTTED_MUSCLES = ("soleus_r", "gasmed_r", "vasint_r", "glmax1_r", "tibant_r")


def default_excitation(plant: MJXPlant, n_steps: int, n_envs: int, *, key) -> jax.Array:
    """Excitations `[T, N, M]`: 0.02 everywhere; anti-gravity muscles 0.15 +- 0.1 at 1 Hz.

    Left and right legs in antiphase; each env gets a random phase, so the batch differs.
    """
    names = plant.muscle_names
    driven = np.array([n.startswith(ANTIGRAVITY_PREFIXES) for n in names])
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


def simulate_batch(plant: MJXPlant, qpos, n_envs: int, seconds: float, *, seed: int = 0,
                   substeps: int = 4, chunk_seconds: float = 0.1, progress: bool = True):
    """Roll out `n_envs` copies from `qpos` for `seconds`; returns (trajectory, env-steps/s).

    Runs in jitted chunks of `chunk_seconds` with a progress bar; the throughput excludes the
    first chunk (compilation).
    """
    from tqdm.auto import tqdm

    chunk = max(1, round(chunk_seconds / plant.dt))
    n_chunks = max(1, round(seconds / plant.dt / chunk))
    excitation = default_excitation(plant, n_chunks * chunk, n_envs, key=jr.key(seed))
    state = plant.init_batch(jnp.broadcast_to(jnp.asarray(qpos, dtype=float), (n_envs, len(qpos))),
                             activation=0.05)
    integrator = SemiImplicitEuler(substeps)
    pieces, start = [], None
    for k in tqdm(range(n_chunks), desc=f"simulate {n_envs} envs", disable=not progress):
        state, piece = rollout(plant, state, excitation[k * chunk:(k + 1) * chunk],
                               integrator=integrator, checkpoint=False)
        jax.block_until_ready(piece)
        pieces.append(jax.tree.map(np.asarray, piece))
        if k == 0:
            start = time.perf_counter()
    elapsed = time.perf_counter() - start
    rate = n_envs * chunk * (n_chunks - 1) / elapsed if n_chunks > 1 else float("nan")
    trajectory = jax.tree.map(lambda *x: np.concatenate(x), *pieces)
    return trajectory, rate


def write_npz(path, plant: MJXPlant, mj_model, trajectory: PlantTrajectory, metabolic_rate,
              rate, formulation: str) -> None:
    """Save the documented keys (module docstring)."""
    np.savez_compressed(
        path, time=trajectory.time[:, 0], qpos=trajectory.qpos, qvel=trajectory.qvel,
        excitation=trajectory.excitation, activation=trajectory.muscle.activation,
        tendon_force=trajectory.tendon_force, fiber_length=trajectory.fiber_length,
        mtu_length=trajectory.mtu_length, mtu_velocity=trajectory.mtu_velocity,
        metabolic_rate=metabolic_rate, body_mass=float(plant.total_mass),
        muscle_names=np.array(plant.muscle_names),
        joint_names=np.array(joint_coordinate_names(mj_model)),
        env_steps_per_second=rate, formulation=formulation)


def plot_simulation(path, plant: MJXPlant, mj_model, trajectory: PlantTrajectory, metabolic_rate,
                    title: str):
    """Joint angles, tendon forces, fibre lengths and metabolic rate [W/kg] of env 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = trajectory.time[:, 0]
    coordinates = joint_coordinate_names(mj_model)
    fig, axes = plt.subplots(4, 1, figsize=(8, 11), sharex=True)
    for joint in PLOTTED_JOINTS:
        axes[0].plot(t, np.degrees(trajectory.qpos[:, 0, coordinates.index(joint)]), label=joint)
    axes[0].set_ylabel("joint angle [deg]")
    muscles = [m for m in PLOTTED_MUSCLES if m in plant.muscle_names]
    for muscle in muscles:
        i = plant.muscle_names.index(muscle)
        axes[1].plot(t, trajectory.tendon_force[:, 0, i], label=muscle)
        axes[2].plot(t, 100 * trajectory.fiber_length[:, 0, i], label=muscle)
    axes[1].set_ylabel("tendon force [N]")
    axes[2].set_ylabel("fibre length [cm]")
    axes[3].plot(t, metabolic_rate[:, 0].sum(axis=-1) / float(plant.total_mass), color="k",
                 label="all muscles (smoothed Bhargava 2004)")
    axes[3].set_ylabel("metabolic rate [W/kg]")
    axes[3].set_xlabel("time [s]")
    for ax in axes:
        ax.legend(fontsize=8, ncol=3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_simulate_job(*, envs: int = 8, seconds: float = 2.0, out_dir="mskdiff_out",
                     formulation: str = "tendon_force", tendon_compliance: str = "file",
                     substeps: int = 4, seed: int = 0, progress: bool = True) -> dict:
    """`mskdiff simulate`: myoLeg with elastic tendons from standing; writes npz and png.

    Returns the paths written and the throughput (`env_steps_per_second`).
    """
    from ..models.myoleg import myoleg, myoleg_mjmodel, standing_qpos

    if envs < 1 or seconds <= 0:
        raise ValueError(f"need envs >= 1 and seconds > 0, got envs={envs}, seconds={seconds}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plant = myoleg(formulation=formulation, tendon_compliance=tendon_compliance)
    mj_model = myoleg_mjmodel()
    trajectory, rate = simulate_batch(plant, standing_qpos(mj_model), envs, seconds, seed=seed,
                                      substeps=substeps, progress=progress)
    metabolic_rate = np.asarray(metabolic_rates(plant, trajectory).total)
    paths = {"npz": out_dir / "simulate.npz", "plot": out_dir / "simulate.png"}
    write_npz(paths["npz"], plant, mj_model, trajectory, metabolic_rate, rate, formulation)
    plot_simulation(paths["plot"], plant, mj_model, trajectory, metabolic_rate,
                    f"myoLeg, {formulation} ({tendon_compliance} tendons), {envs} envs")
    return {**paths, "env_steps_per_second": rate}


def run(args) -> int:
    """`mskdiff simulate`: run the job and print what it wrote and the throughput."""
    result = run_simulate_job(envs=args.envs, seconds=args.seconds, out_dir=args.out,
                              formulation=args.formulation, tendon_compliance=args.tendon,
                              substeps=args.substeps, seed=args.seed,
                              progress=not args.no_progress)
    print(f"wrote trajectory: {result['npz']}")
    print(f"wrote plot: {result['plot']}")
    device = jax.devices()[0]
    print(f"throughput: {result['env_steps_per_second']:.0f} env-steps/s "
          f"({args.envs} envs, {device.platform}:{device.device_kind}, compilation excluded)")
    return 0


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    simulate = commands.add_parser(
        "simulate", help="batched myoLeg with elastic tendons from standing (npz + plot)",
        description="Run MyoSuite's myoLeg with the Rajagopal 2016 muscles (elastic tendons as "
                    "in Rajagopal's model) in the MJX plant for N envs from a standing pose, "
                    "with a default excitation pattern (anti-gravity muscles modulated at 1 Hz, "
                    "legs in antiphase, a random phase per env). Writes simulate.npz (qpos, "
                    "qvel, excitation, activation, tendon_force, fiber_length, mtu_length, "
                    "names) and simulate.png, and prints the throughput.")
    simulate.add_argument("--envs", type=int, default=8, help="number of envs (default 8)")
    simulate.add_argument("--seconds", type=float, default=2.0, help="simulated time [s]")
    simulate.add_argument("--formulation", default="tendon_force",
                          choices=FORMULATIONS)
    simulate.add_argument("--tendon", default="file", choices=["file", "all_elastic", "all_rigid"],
                          help="tendon compliance (default: as Rajagopal's model, 46 elastic)")
    simulate.add_argument("--substeps", type=int, default=4, help="MTU sub-steps per 2 ms step")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the excitation phases")
    simulate.add_argument("--out", default="mskdiff_out", help="output folder")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
    simulate.set_defaults(run=run)

