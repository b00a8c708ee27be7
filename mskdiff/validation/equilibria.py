"""Static muscle equilibria (`<prefix>_equilibrium.csv`) recomputed against OpenSim's."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..io.reference import EquilibriumTable, millard_curves_from_table, parameters_from_table
from ..muscle.millard_equilibrium import MillardEquilibriumMTU
from ..muscle.tendon_force import TendonForceMTU
from .report import CROSS_MODEL, TOLERANCES, Check, compare


def check_equilibrium_table(path: Path) -> list[Check]:
    """Static equilibria of every muscle (OpenSim's `equilibrateMuscles`, speeds 0).

    With Millard curves in the parameter table (per muscle or shared), the Millard
    equilibrium muscle is checked at 1e-6 relative; otherwise De Groote's, cross-model.
    """
    table = EquilibriumTable(path)
    params = parameters_from_table(table.parameter_table()).select(table.muscles)
    curves = millard_curves_from_table(table.parameter_table(), table.muscles)
    length = jnp.asarray(table.column("mtu_length"))
    activation = jnp.asarray(table.column("activation"))

    def one_sample(length, activation):
        if curves is None:
            mtu = TendonForceMTU(params)
        else:
            mtu = MillardEquilibriumMTU(params, curves)
        state = mtu.init_state(length, jnp.zeros_like(length), activation)
        return mtu.outputs(state, length, jnp.zeros_like(length))

    out = jax.jit(jax.vmap(one_sample))(length, activation)
    data = {k: table.column(k) for k in ("fiber_length", "pennation_angle", "tendon_force")}
    computed = {k: np.asarray(getattr(out, k)) for k in ("fiber_length", "tendon_force",
                                                         "pennation_angle")}
    fmax = np.broadcast_to(np.asarray(params.max_isometric_force), data["tendon_force"].shape)
    rigid = np.broadcast_to(np.asarray(params.ignore_tendon_compliance, dtype=bool), fmax.shape)
    checks = [
        compare(path.name, "rigid-tendon muscles", "fiber_length (geometry only)",
                computed["fiber_length"][rigid], data["fiber_length"][rigid],
                tolerance=TOLERANCES["rigid_fiber_length"], unit="m"),
        compare(path.name, "rigid-tendon muscles", "pennation_angle (geometry only)",
                computed["pennation_angle"][rigid], data["pennation_angle"][rigid],
                tolerance=TOLERANCES["rigid_fiber_length"], unit="rad"),
    ]
    if curves is None:
        note = "Millard 2012 curves in OpenSim, De Groote in mskdiff"
        for label, mask in (("elastic-tendon muscles", ~rigid), ("rigid-tendon muscles", rigid)):
            checks.append(compare(path.name, label, "tendon_force",
                                  computed["tendon_force"][mask] / fmax[mask],
                                  data["tendon_force"][mask] / fmax[mask], unit="Fmax",
                                  status=CROSS_MODEL, note=note))
        checks.append(compare(path.name, "elastic-tendon muscles", "fiber_length",
                              computed["fiber_length"][~rigid], data["fiber_length"][~rigid],
                              unit="m", status=CROSS_MODEL, note=note))
        return checks
    tolerance = TOLERANCES["walk_equilibrium_relative"]
    for label, mask in (("elastic-tendon muscles", ~rigid), ("rigid-tendon muscles", rigid)):
        for quantity in ("fiber_length", "pennation_angle", "tendon_force"):
            reference = data[quantity][mask]
            scale = np.maximum(np.abs(reference), 1e-3 * fmax[mask] if quantity == "tendon_force"
                               else 1e-3)
            checks.append(compare(path.name, f"{label} (Millard equilibrium)", quantity,
                                  computed[quantity][mask] / scale, reference / scale,
                                  tolerance=tolerance, unit="relative"))
    return checks
