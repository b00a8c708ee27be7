"""`jax.device_put_replicated` for Brax 0.14.2 on JAX 0.10 (google/brax#671).

JAX deprecated `jax.device_put_replicated` in 0.8.1 and JAX 0.10 raises `AttributeError` for it,
but Brax 0.14.2's PPO, APG and SAC trainers still call it to put their training state on the
local devices. `restore_device_put_replicated` defines it again from public APIs (as chex and
flax did when they in-lined it): the tree stacked along a new leading axis, one slice per
device, sharded over a one-axis mesh of those devices. It touches JAX only where the function
is missing, and `mskdiff.rl` calls it on import.
"""

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def device_put_replicated(tree, devices):
    """`tree` replicated along a new leading axis, slice `i` on `devices[i]`."""
    devices = list(devices)
    if not devices:
        raise ValueError("device_put_replicated needs at least one device")
    sharding = NamedSharding(Mesh(devices, ("devices",)), PartitionSpec("devices"))
    stack = lambda x: jnp.stack([jnp.asarray(x)] * len(devices))
    return jax.device_put(jax.tree.map(stack, tree), sharding)


def restore_device_put_replicated() -> bool:
    """Define `jax.device_put_replicated` if this JAX lacks it; True when it did."""
    try:
        jax.device_put_replicated  # noqa: B018
        return False
    except AttributeError:
        jax.device_put_replicated = device_put_replicated
        return True
