"""Write simulation results as the files OpenSim's tools read and write.

Pure functions of numpy arrays and names; each writes one `write_table` file (version 1
Storage layout):

* `write_coordinates`: a coordinates `.mot`, rotations in degrees and `inDegrees=yes`, as
  OpenSim's inverse kinematics writes it (for the GUI, `AnalyzeTool`, inverse dynamics).
* `write_muscle_states`: a states `.sto` with OpenSim's state paths,
  `/forceset/<muscle>/activation` and, for muscles with a compliant tendon,
  `/forceset/<muscle>/fiber_length` (Millard, Thelen) or
  `/forceset/<muscle>/normalized_tendon_force` (De Groote-Fregly 2016).
* `write_controls`: a controls `.sto`, one column `/forceset/<muscle>` of excitations.
* `write_ground_reactions`: a ground reaction `.mot` in the column layout of OpenSim's
  external loads (`grf_walk.mot`): per side `ground_force_<side>_vx vy vz` [N],
  `ground_force_<side>_px py pz` [m] (centre of pressure) and `ground_torque_<side>_x y z` [N m].
"""

import os
from collections.abc import Sequence

import numpy as np

from .._checks import check_shape
from .motion import write_table


def write_coordinates(path: str | os.PathLike, time, coordinates: Sequence[str], values, *,
                      rotational: Sequence[bool], precision: int | None = None) -> None:
    """Write coordinate values as a `.mot` with rotations in degrees (`inDegrees=yes`).

    Args:
        path: the `.mot` file.
        time: `(n_steps,)` [s].
        coordinates: OpenSim coordinate names (`hip_flexion_r`, `pelvis_tx`).
        values: `(n_steps, n_coordinates)` [rad] for rotations, [m] for translations.
        rotational: `(n_coordinates,)`, True where the coordinate is a rotation (converted to
            degrees).
        precision: significant digits; None writes numbers that read back exactly.
    """
    values = np.asarray(values, dtype=float)
    rotational = np.asarray(rotational, dtype=bool)
    check_shape("rotational", rotational, (len(coordinates),))
    check_shape("values", values, (len(np.atleast_1d(time)), len(coordinates)))
    degrees = np.where(rotational, np.rad2deg(values), values)
    write_table(path, time, coordinates, degrees, in_degrees=True, precision=precision)


def write_muscle_states(path: str | os.PathLike, time, muscles: Sequence[str], activation, *,
                        fiber_length=None, normalized_tendon_force=None,
                        tendon_compliant: Sequence[bool] | None = None,
                        precision: int | None = None) -> None:
    """Write muscle states as a `.sto` with OpenSim's state paths, muscle by muscle.

    Args:
        path: the `.sto` file.
        time: `(n_steps,)` [s].
        muscles: the muscles' names in the model's ForceSet.
        activation: `(n_steps, n_muscles)`.
        fiber_length: `(n_steps, n_muscles)` [m], the state of Millard and Thelen muscles.
        normalized_tendon_force: `(n_steps, n_muscles)`, the state of De Groote-Fregly muscles.
        tendon_compliant: `(n_muscles,)`, False for muscles with a rigid tendon, which have no
            fibre state in OpenSim (their fibre columns are left out); default: all compliant.
        precision: significant digits; None writes numbers that read back exactly.
    """
    n_steps, n_muscles = len(np.atleast_1d(time)), len(muscles)
    compliant = np.ones(n_muscles, bool) if tendon_compliant is None else np.asarray(tendon_compliant)
    check_shape("tendon_compliant", compliant, (n_muscles,))
    given = {"activation": activation, "fiber_length": fiber_length,
             "normalized_tendon_force": normalized_tendon_force}
    states = {state: np.asarray(values, dtype=float) for state, values in given.items()
              if values is not None}
    for state, values in states.items():
        check_shape(state, values, (n_steps, n_muscles))
    labels, columns = [], []
    for k, muscle in enumerate(muscles):
        for state, values in states.items():
            if state == "activation" or compliant[k]:
                labels.append(f"/forceset/{muscle}/{state}")
                columns.append(values[:, k])
    write_table(path, time, labels, np.column_stack(columns), precision=precision)


def write_controls(path: str | os.PathLike, time, muscles: Sequence[str], excitation, *,
                   precision: int | None = None) -> None:
    """Write muscle excitations as a controls `.sto`, one column `/forceset/<muscle>` each.

    Args:
        path: the `.sto` file.
        time: `(n_steps,)` [s].
        muscles: the muscles' names in the model's ForceSet.
        excitation: `(n_steps, n_muscles)`.
        precision: significant digits; None writes numbers that read back exactly.
    """
    write_table(path, time, [f"/forceset/{m}" for m in muscles], excitation, precision=precision)


def write_ground_reactions(path: str | os.PathLike, time, force, point, torque, *,
                           sides: Sequence[str] = ("r", "l"), precision: int | None = None) -> None:
    """Write ground reactions as a `.mot` in OpenSim's external-loads column layout.

    Args:
        path: the `.mot` file.
        time: `(n_steps,)` [s].
        force: `(n_steps, n_sides, 3)` ground reaction force [N], in ground.
        point: `(n_steps, n_sides, 3)` its point of application (centre of pressure) [m], in
            ground.
        torque: `(n_steps, n_sides, 3)` free torque [N m], in ground.
        sides: the side suffixes, in column order (`grf_walk.mot`: r, then l).
        precision: significant digits; None writes numbers that read back exactly.
    """
    n_steps = len(np.atleast_1d(time))
    parts = {"force": force, "point": point, "torque": torque}
    for name, values in parts.items():
        check_shape(name, np.asarray(values), (n_steps, len(sides), 3))
    labels = [label for side in sides for label in (
        *(f"ground_force_{side}_v{axis}" for axis in "xyz"),
        *(f"ground_force_{side}_p{axis}" for axis in "xyz"),
        *(f"ground_torque_{side}_{axis}" for axis in "xyz"))]
    values = np.concatenate([np.asarray(v, dtype=float) for v in parts.values()], axis=2)
    write_table(path, time, labels, values.reshape(n_steps, -1), precision=precision)
