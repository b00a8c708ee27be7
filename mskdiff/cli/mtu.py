"""The command-line jobs, as library functions: run, write CSV and plots."""

import csv
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import DiffraxIntegrator, SemiImplicitEuler, Trajectory, simulate
from ..muscle import FORMULATIONS, make_mtu
from ..muscle.parameters import MuscleParameters

#: `--tendon` of `mtu` and `simulate` -> the library's `tendon_compliance`.
TENDON_MODES = {"file": "file", "elastic": "all_elastic", "rigid": "all_rigid"}
TENDON_HELP = ("tendon compliance: 'file' as the model says (Rajagopal 2016: 46 elastic, 34 rigid "
               "tendons), 'elastic' all elastic, 'rigid' all rigid")


def tendon_compliance(tendon: str) -> str:
    """The library's `tendon_compliance` for a `--tendon` value (`TENDON_MODES`)."""
    if tendon not in TENDON_MODES:
        raise ValueError(f"unknown tendon mode {tendon!r}; choose from {list(TENDON_MODES)}")
    return TENDON_MODES[tendon]


def add_tendon_argument(parser, default: str) -> None:
    """`--tendon {file,elastic,rigid}`, the same for every command."""
    parser.add_argument("--tendon", default=default, choices=list(TENDON_MODES), help=TENDON_HELP)


#: Columns of the `mskdiff mtu` CSV (OpenSim output names), in order.
MTU_COLUMNS = ("time", "excitation", "activation", "mtu_length", "fiber_length",
               "norm_fiber_length", "fiber_velocity", "pennation_angle", "tendon_length",
               "tendon_force", "norm_tendon_force")


def step_excitation(low: float = 0.05, high: float = 1.0, on: float = 0.1, off: float = 0.6,
                    ramp: float = 0.01):
    """Excitation as a function of time [s]: `low`, ramps to `high` at `on`, back at `off`."""
    knots_t = jnp.asarray([0.0, on, on + ramp, off, off + ramp, 1e9])
    knots_y = jnp.asarray([low, low, high, high, low, low])
    return lambda t: jnp.interp(t, knots_t, knots_y)


def isometric_step(params: MuscleParameters, *, formulation: str = "tendon_force",
                   duration: float = 1.0, dt: float = 2e-3, integrator=None,
                   low: float = 0.05, high: float = 1.0, **mtu_options) -> Trajectory:
    r"""Simulate isometric MTUs at $L_0 = l_s + l_{opt}\cos\alpha_0$ under a step excitation.

    Args:
        params: muscle parameters (any number of muscles, simulated together).
        formulation: a name of `mskdiff.muscle.FORMULATIONS`.
        duration: simulated time [s].
        dt: output and integrator step [s].
        integrator: defaults to `SemiImplicitEuler(4)`.
        low: excitation before and after the step [-].
        high: excitation during the step (0.1-0.6 s) [-].
        **mtu_options: passed to `make_mtu` (e.g. `curves` for 'millard_equilibrium').
    """
    mtu = make_mtu(params, formulation, **mtu_options)
    integrator = SemiImplicitEuler(4) if integrator is None else integrator
    length = params.tendon_slack_length + params.optimal_fiber_length * jnp.cos(
        params.pennation_angle_at_optimal)
    excitation = step_excitation(low, high)
    drive = lambda t: (jnp.full_like(length, excitation(t)), length, jnp.zeros_like(length))
    times = jnp.arange(round(duration / dt) + 1) * dt
    state0 = mtu.init_state(length, jnp.zeros_like(length), jnp.full_like(length, low))
    run = eqx.filter_jit(lambda s: simulate(mtu, s, times, drive, integrator=integrator))
    return run(state0)


def trajectory_columns(trajectory: Trajectory, muscle: int = 0) -> dict[str, np.ndarray]:
    """One muscle's trajectory as `MTU_COLUMNS` -> array."""
    out = trajectory.outputs
    sources = {"time": trajectory.times, "excitation": trajectory.excitation[:, muscle],
               "activation": trajectory.states.activation[:, muscle],
               "mtu_length": trajectory.mtu_length[:, muscle]}
    sources.update({name: getattr(out, name)[:, muscle] for name in MTU_COLUMNS
                    if name not in sources})
    return {name: np.asarray(sources[name]) for name in MTU_COLUMNS}


def write_csv(columns: dict[str, np.ndarray], path) -> None:
    """Write columns to CSV with full precision (%.17g)."""
    names = list(columns)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for row in zip(*(columns[n] for n in names), strict=True):
            writer.writerow([f"{v:.17g}" for v in row])


def plot_mtu(columns: dict[str, np.ndarray], title: str, path) -> None:
    """Three panels: excitation/activation, fiber length, tendon force."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = columns["time"]
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    axes[0].plot(t, columns["excitation"], "--", label="excitation")
    axes[0].plot(t, columns["activation"], label="activation")
    axes[0].set_ylabel("[-]")
    axes[0].legend()
    axes[1].plot(t, columns["fiber_length"] * 100)
    axes[1].set_ylabel("fiber length [cm]")
    axes[2].plot(t, columns["tendon_force"])
    axes[2].set_ylabel("tendon force [N]")
    axes[2].set_xlabel("time [s]")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_mtu_job(muscle: str = "soleus_r", *, formulation: str = "tendon_force",
                tendon: str = "elastic", integrator: str = "euler", substeps: int = 4,
                dt: float = 2e-3, duration: float = 1.0, out_dir="mskdiff_out",
                precision: str = "float64") -> dict[str, Path]:
    """`mskdiff mtu`: one Rajagopal 2016 muscle under a step excitation; writes CSV and PNG.

    `tendon` is 'file' (as Rajagopal's model says), 'elastic' or 'rigid' (`TENDON_MODES`).
    Returns the paths written (`csv`, `plot`).
    """
    from ..models import rajagopal2016
    from ..muscle import MillardCurves

    compliance = tendon_compliance(tendon)
    integrators = {"euler": lambda: SemiImplicitEuler(substeps), "diffrax": DiffraxIntegrator}
    if integrator not in integrators:
        raise ValueError(f"unknown integrator {integrator!r}; choose from {list(integrators)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with jax.enable_x64(precision == "float64"):
        params = rajagopal2016([muscle], tendon_compliance=compliance)
        options = ({"curves": MillardCurves.rajagopal2016()}
                   if formulation.startswith("millard_") else {})
        trajectory = isometric_step(params, formulation=formulation, duration=duration, dt=dt,
                                    integrator=integrators[integrator](), **options)
        columns = trajectory_columns(trajectory)
    stem = f"mtu_{muscle}_{formulation}"
    paths = {"csv": out_dir / f"{stem}.csv", "plot": out_dir / f"{stem}.png"}
    write_csv(columns, paths["csv"])
    plot_mtu(columns, f"{muscle}: {formulation} formulation, {tendon} tendon, isometric step",
             paths["plot"])
    return paths


def run(args) -> int:
    """`mskdiff mtu`: run the job and print what it wrote."""
    paths = run_mtu_job(args.muscle, formulation=args.formulation, tendon=args.tendon,
                        integrator=args.integrator, substeps=args.substeps, dt=args.dt,
                        duration=args.duration, out_dir=args.out, precision=args.precision)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    mtu = commands.add_parser(
        "mtu", help="simulate one Rajagopal 2016 muscle under a step excitation (plot + CSV)",
        description="Simulate one muscle of the built-in Rajagopal 2016 table, isometric at "
                    "tendon slack length + optimal fiber length x cos(pennation), with excitation "
                    "0.05 -> 1 (0.1-0.6 s) -> 0.05; writes a CSV of fiber length, tendon force "
                    "and activation, and a plot.")
    mtu.add_argument("--muscle", default="soleus_r",
                     help="muscle name, as in Rajagopal2016.osim (e.g. vasint_r, gasmed_l)")
    mtu.add_argument("--formulation", default="tendon_force", choices=FORMULATIONS,
                     help="MTU formulation (tendon_force: De Groote explicit)")
    add_tendon_argument(mtu, default="elastic")
    mtu.add_argument("--integrator", default="euler", choices=["euler", "diffrax"],
                     help="semi-implicit Euler with sub-steps, or Diffrax Tsit5")
    mtu.add_argument("--substeps", type=int, default=4, help="Euler sub-steps per step")
    mtu.add_argument("--dt", type=float, default=2e-3, help="output and integrator step [s]")
    mtu.add_argument("--duration", type=float, default=1.0, help="simulated time [s]")
    mtu.add_argument("--precision", default="float64", choices=["float32", "float64"],
                     help="floating-point precision")
    mtu.add_argument("--out", default="mskdiff_out", help="output folder")
    mtu.set_defaults(run=run)

