"""The `mskdiff` command line: thin wrappers around library functions."""

import argparse
import sys

#: `mskdiff.muscle.FORMULATIONS`' names, here so that `--help` does not import JAX
#: (tests/test_cli.py checks they agree).
FORMULATION_NAMES = ("tendon_force", "acceleration", "rigid", "millard_equilibrium",
                     "millard_acceleration")


def _mtu(args) -> int:
    from .jobs import run_mtu_job

    paths = run_mtu_job(args.muscle, formulation=args.formulation, tendon=args.tendon,
                        integrator=args.integrator, substeps=args.substeps, dt=args.dt,
                        duration=args.duration, out_dir=args.out, precision=args.precision)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


def _simulate(args) -> int:
    from .plant.simulate_job import run_simulate_job

    result = run_simulate_job(envs=args.envs, seconds=args.seconds, out_dir=args.out,
                              formulation=args.formulation, tendon_compliance=args.tendon,
                              substeps=args.substeps, seed=args.seed,
                              progress=not args.no_progress)
    print(f"wrote trajectory: {result['npz']}")
    print(f"wrote plot: {result['plot']}")
    print(f"throughput: {result['env_steps_per_second']:.0f} env-steps/s "
          f"({args.envs} envs, {jax_device()}, compilation excluded)")
    return 0


def jax_device() -> str:
    """The default JAX device, in words."""
    import jax

    device = jax.devices()[0]
    return f"{device.platform}:{device.device_kind}"


def _validate_opensim(args) -> int:
    from .validation import format_table, passed, validate_opensim, write_json

    checks = validate_opensim(args.directory, progress=not args.no_progress)
    print(format_table(checks))
    if args.json:
        write_json(checks, args.json)
        print(f"wrote {args.json}")
    ok = passed(checks)
    print("validate-opensim: " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


def _fit(args) -> int:
    from .solvers.fit_job import format_report, run_fit_job

    report = run_fit_job(args.data, _comma_list(args.free), out_dir=args.out, osim=args.osim,
                         muscles=_comma_list(args.muscles) if args.muscles else None,
                         perturbation=args.perturb, seed=args.seed, json_path=args.json,
                         progress=not args.no_progress)
    print(format_report(report))
    for case in report["cases"]:
        print(f"wrote plot: {case['plot']}" + (f", model: {case['osim']}" if "osim" in case else ""))
    if args.json:
        print(f"wrote report: {args.json}")
    return 0 if all(c["converged"] for c in report["cases"]) else 1


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mskdiff",
        description="Differentiable musculoskeletal simulation (JAX): Hill-type muscle-tendon "
                    "units with elastic tendons, matched to OpenSim.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mtu = commands.add_parser(
        "mtu", help="simulate one Rajagopal 2016 muscle under a step excitation (plot + CSV)",
        description="Simulate one muscle of the built-in Rajagopal 2016 table, isometric at "
                    "tendon slack length + optimal fiber length x cos(pennation), with excitation "
                    "0.05 -> 1 (0.1-0.6 s) -> 0.05; writes a CSV of fiber length, tendon force "
                    "and activation, and a plot.")
    mtu.add_argument("--muscle", default="soleus_r", help="muscle name (default soleus_r)")
    mtu.add_argument("--formulation", default="tendon_force",
                     choices=FORMULATION_NAMES,
                     help="MTU formulation (default tendon_force: De Groote explicit)")
    mtu.add_argument("--tendon", default="elastic", choices=["elastic", "file", "rigid"],
                     help="tendon compliance: elastic (default), as the .osim file says, or rigid")
    mtu.add_argument("--integrator", default="euler", choices=["euler", "diffrax"],
                     help="semi-implicit Euler with sub-steps (default) or Diffrax Tsit5")
    mtu.add_argument("--substeps", type=int, default=4, help="Euler sub-steps per step")
    mtu.add_argument("--dt", type=float, default=2e-3, help="step [s] (default 0.002)")
    mtu.add_argument("--duration", type=float, default=1.0, help="simulated time [s]")
    mtu.add_argument("--precision", default="float64", choices=["float32", "float64"])
    mtu.add_argument("--out", default="mskdiff_out", help="output folder (default mskdiff_out)")
    mtu.set_defaults(run=_mtu)

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
                          choices=FORMULATION_NAMES)
    simulate.add_argument("--tendon", default="file", choices=["file", "all_elastic", "all_rigid"],
                          help="tendon compliance (default: as Rajagopal's model, 46 elastic)")
    simulate.add_argument("--substeps", type=int, default=4, help="MTU sub-steps per 2 ms step")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the excitation phases")
    simulate.add_argument("--out", default="mskdiff_out", help="output folder")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
    simulate.set_defaults(run=_simulate)

    fit = commands.add_parser(
        "fit", help="fit muscle parameters to reference data (isolated MTUs, equilibria)",
        description="Fit the free muscle parameters (Levenberg-Marquardt with exact forward-mode "
                    "Jacobians, float64) to every case in DATA: isolated-MTU simulations "
                    "(mtu_sim_<case>.csv + _setup.json; each starts from its set-up's "
                    "parameters) and equilibrium tables (<prefix>_equilibrium.csv; starting "
                    "from the *<prefix>*_muscles.csv beside it, or from --osim). Prints fitted, "
                    "starting and set-up values with standard errors, writes a plot per case, "
                    "and with --osim a copy of the model holding the fitted values. Exit 1 if "
                    "a fit did not converge.")
    fit.add_argument("--data", required=True, help="folder with the reference-format data")
    fit.add_argument("--free", default="tendon_slack_length",
                     help="comma-separated parameters to fit (default tendon_slack_length)")
    fit.add_argument("--muscles", help="comma-separated muscles (default: all in DATA)")
    fit.add_argument("--osim", help="starting model for equilibrium tables; the fitted values "
                                    "are written to a copy of it in --out")
    fit.add_argument("--perturb", type=float, default=0.0,
                     help="first move the free parameters this fraction up or down (random "
                          "sign per muscle), e.g. 0.1")
    fit.add_argument("--seed", type=int, default=0, help="seed of the perturbation signs")
    fit.add_argument("--out", default="mskdiff_out", help="output folder")
    fit.add_argument("--json", help="write the report to this JSON file")
    fit.add_argument("--no-progress", action="store_true", help="no progress bars")
    fit.set_defaults(run=_fit)

    validate = commands.add_parser(
        "validate-opensim",
        help="recompute OpenSim reference cases in a folder and compare (exit 1 on failure)",
        description="Recompute every known reference file in DIRECTORY (format of "
                    "shared/reference: curve samples, equilibrium residuals, isolated-MTU "
                    "simulations, walking equilibria, parameter tables, and myoLeg's MTU lengths "
                    "and moment arms along any walking trial with <trial>_ik_coordinates.csv and "
                    "<trial>_generic_mtu_lengths.csv / _generic_moment_arms.csv), print a table of "
                    "max/RMS errors against tolerances, and exit non-zero if any check fails. "
                    "Unknown files are listed as skipped; Millard 2012 cases are reported as "
                    "cross-model comparisons.")
    validate.add_argument("directory", help="folder with the reference files")
    validate.add_argument("--json", help="also write the results to this JSON file")
    validate.add_argument("--no-progress", action="store_true", help="no progress bar")
    validate.set_defaults(run=_validate_opensim)
    return parser


def main(argv=None) -> int:
    """Entry point of the `mskdiff` command."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
