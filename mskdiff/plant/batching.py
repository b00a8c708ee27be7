"""Batching over envs: `vmap`, in groups on the CPU backend to avoid a jaxlib deadlock.

jaxlib 0.10's CPU Cholesky kernel (LAPACK `potrf`, used by MJX for the mass matrix and the
Newton solver's Hessian) hands a batch to XLA's intra-op thread pool once
`batch * n**3 / 3 >= 2e5` and waits there; two such factorisations running at once on a
small pool deadlock (0 % CPU, no progress). For myoLeg (`nv = 34`) that is any batch of 17
envs or more. The same stall is diagnosed in PyAutoLabs/PyAutoFit#1528; jax-ml/jax#39383
discusses this kernel's batch parallelism. See `benchmarks/README.md` for the evidence.

On CPU, `vmap_envs` therefore vectorises at most `cpu_env_group_size(nv)` envs at a time and
loops over the groups (`jax.lax.map`); CPU throughput is flat in the batch
size beyond a few envs, so this costs nothing measurable. Other backends get one `vmap`.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

#: jaxlib's CPU Cholesky splits a batch into chunks of at least this many flops / (n**3 // 3).
CPU_CHOLESKY_CHUNK_FLOPS = 200_000


def cpu_env_group_size(nv: int) -> int:
    """Largest env batch whose `(nv, nv)` Cholesky factorisations run as one inline chunk.

    jaxlib's chunks hold at least `ceil(CPU_CHOLESKY_CHUNK_FLOPS / (nv**3 // 3))` matrices,
    so a batch of that size is never split (16 for myoLeg's `nv = 34`).
    """
    return max(1, -(-CPU_CHOLESKY_CHUNK_FLOPS // max(1, nv**3 // 3)))


def env_group_size(nv: int, n_envs: int) -> int:
    """Envs vectorised together: all of them, except on CPU above `cpu_env_group_size(nv)`."""
    if jax.default_backend() != "cpu":
        return n_envs
    return min(n_envs, cpu_env_group_size(nv))


def vmap_envs(fn: Callable, nv: int, *, group_size: int | None = None) -> Callable:
    """`fn` mapped over the leading (env) axis of every argument and output.

    Args:
        fn: a function of unbatched pytrees.
        nv: degrees of freedom of the model (sets the safe CPU group size).
        group_size: envs per `vmap` group; default `env_group_size(nv, n_envs)`.
    """

    def batched(*args):
        n_envs = jax.tree.leaves(args)[0].shape[0]
        size = group_size or env_group_size(nv, n_envs)
        if size >= n_envs:
            return jax.vmap(fn)(*args)
        return _map_in_groups(jax.vmap(fn), args, n_envs, size)

    return batched


def _map_in_groups(batched_fn: Callable, args: tuple, n_envs: int, size: int):
    """`batched_fn(*args)` computed `size` envs at a time (a `lax.map` over groups, then the rest).

    Reshapes with explicit sizes (not `lax.map(batch_size=...)`, whose `-1` reshape fails on
    MJX's zero-size arrays).
    """
    n_groups = n_envs // size
    split = lambda x: x[:n_groups * size].reshape(n_groups, size, *x.shape[1:])
    out = jax.lax.map(lambda a: batched_fn(*a), jax.tree.map(split, args))
    out = jax.tree.map(lambda x: x.reshape(n_groups * size, *x.shape[2:]), out)
    if n_groups * size == n_envs:
        return out
    rest = batched_fn(*jax.tree.map(lambda x: x[n_groups * size:], args))
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, rest)
