# %% [markdown]
# # mskdiff vs OpenSim on an isolated muscle-tendon unit
# Simulates one `../shared/reference` case with the three formulations and plots tendon force
# and fiber length against OpenSim 4.6's trajectory.
#
#     python examples/compare_opensim.py [CASE] [--out DIR]

# %%
import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mskdiff.integrate import SemiImplicitEuler, simulate
from mskdiff.io import IsolatedMTUCase
from mskdiff.muscle import make_mtu

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def main(case_name="dgf_soleus_r_isometric_step", out="mskdiff_out", dt=2e-3):
    case = IsolatedMTUCase(REFERENCE / f"mtu_sim_{case_name}_setup.json")
    reference = case.reference()
    times = jnp.arange(round(case.duration / dt) + 1) * dt
    _, length, velocity = case.drive(jnp.asarray(0.0))
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    axes[0].plot(reference["time"], reference["tendon_force"], "k", lw=3, alpha=0.4,
                 label="OpenSim 4.6")
    axes[1].plot(reference["time"], reference["fiber_length"] * 100, "k", lw=3, alpha=0.4)
    for formulation in ("tendon_force", "acceleration", "rigid"):
        mtu = make_mtu(case.parameters(), formulation)
        state = mtu.init_state(length, velocity, jnp.full((1,), case.initial_activation))
        traj = simulate(mtu, state, times, case.drive, integrator=SemiImplicitEuler(4))
        axes[0].plot(times, traj.outputs.tendon_force[:, 0], label=f"mskdiff {formulation}")
        axes[1].plot(times, traj.outputs.fiber_length[:, 0] * 100)
    axes[0].set_ylabel("tendon force [N]")
    axes[1].set_ylabel("fiber length [cm]")
    axes[1].set_xlabel("time [s]")
    axes[0].legend()
    fig.suptitle(f"{case.name}: semi-implicit Euler, {dt * 1e3:.0f} ms x 4 sub-steps")
    Path(out).mkdir(parents=True, exist_ok=True)
    path = Path(out) / f"compare_{case.name}.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")
    return path


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("case", nargs="?", default="dgf_soleus_r_isometric_step")
    parser.add_argument("--out", default="mskdiff_out")
    jax.config.update("jax_enable_x64", True)  # float64 (tests run it under enable_x64)
    args = parser.parse_args()
    main(args.case, args.out)
