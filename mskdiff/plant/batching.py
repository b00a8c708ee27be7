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

import equinox as eqx
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


def vmap_envs(fn: Callable, nv: int, *, group_size: int | None = None, in_axes=0) -> Callable:
    """`fn` mapped over the leading (env) axis of its arguments and of every output.

    Args:
        fn: a function of unbatched pytrees.
        nv: degrees of freedom of the model (sets the safe CPU group size).
        group_size: envs per `vmap` group; default `env_group_size(nv, n_envs)`.
        in_axes: as `jax.vmap`'s, with axes 0 or `None` only: one for all arguments, or a
            tuple with one per argument, each 0, `None` or a tree like the argument with a
            0 or `None` per leaf.
    """

    def batched(*args):
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        spec = tuple(_is_mapped(ax) for ax in axes)
        mapped, unmapped = eqx.partition(args, spec)
        if not jax.tree.leaves(mapped):
            raise ValueError("vmap_envs needs at least one argument with an env axis (in_axes 0)")
        run = lambda m: fn(*eqx.combine(m, unmapped))
        n_envs = jax.tree.leaves(mapped)[0].shape[0]
        size = group_size or env_group_size(nv, n_envs)
        if size >= n_envs:
            return jax.vmap(run)(mapped)
        return _map_in_groups(jax.vmap(run), (mapped,), n_envs, size)

    return batched


def _is_mapped(axes):
    """`vmap` axes (0, `None` or a tree of them) as a partition filter: True where mapped."""
    def mapped(axis):
        if axis not in (0, None):
            raise ValueError(f"vmap_envs maps the leading axis only: in_axes must be 0 or None, "
                             f"got {axis!r}")
        return axis == 0

    if axes is None or isinstance(axes, int):
        return mapped(axes)
    return jax.tree.map(mapped, axes, is_leaf=lambda a: a is None)


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
