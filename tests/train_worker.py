"""Runs a short PPO training on `Reach` for `test_rl_train.py`'s device tests, in its own process.

    python train_worker.py devices N OUT.npz          # N emulated CPU devices: all N, and 1
    python train_worker.py process ID COUNT PORT OUT.npz   # one process of a multi-process run

Writes the final policy's leaves (and, for `devices`, those of the one-device run) to OUT.npz.
"""

import os
import sys

MODE = sys.argv[1]
if MODE == "devices":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={sys.argv[2]}")

import jax  # noqa: E402

if MODE == "process":  # before anything creates an array (importing mskdiff does)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{sys.argv[4]}",
                               num_processes=int(sys.argv[3]), process_id=int(sys.argv[2]))

import equinox as eqx  # noqa: E402
import numpy as np  # noqa: E402

from mskdiff.rl.reach import Reach  # noqa: E402
from mskdiff.rl.train import PPO, train  # noqa: E402

ALGORITHM = PPO(num_envs=8, unroll_length=8, num_minibatches=2, hidden=(16, 16))


def policy_leaves(devices=None) -> list[np.ndarray]:
    result = train(Reach(), ALGORITHM, steps=3 * ALGORITHM.steps_per_update, num_eval_envs=0,
                   devices=devices, progress=False)
    return [np.asarray(x.addressable_data(0))
            for x in jax.tree.leaves(eqx.filter(result.policy, eqx.is_array))]


if MODE == "devices":
    assert len(jax.devices()) == int(sys.argv[2]), jax.devices()
    np.savez(sys.argv[3], *policy_leaves(), *policy_leaves(jax.devices()[:1]))
else:
    count = int(sys.argv[3])
    assert jax.process_count() == count and len(jax.devices()) == count
    np.savez(sys.argv[5], *policy_leaves())
