"""Helpers shared by the tests: directional finite-difference gradient checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr


def tree_random_like(key, tree, scale):
    """Random normal directions shaped like `tree`, scaled elementwise by |scale|."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jr.split(key, len(leaves))
    scales = jax.tree.leaves(scale)
    return jax.tree.unflatten(treedef, [jr.normal(k, x.shape, x.dtype) * jnp.abs(s)
                                        for k, x, s in zip(keys, leaves, scales, strict=True)])


def directional_derivatives(f, tree, *, key, eps=1e-6, grad=None):
    """(autodiff, central finite difference) of scalar `f` along a random relative direction.

    `grad`, if given, is the gradient of `f` at `tree` already computed (e.g. jitted).
    """
    diff, static = eqx.partition(tree, eqx.is_inexact_array)
    if grad is None:
        grad = eqx.filter_grad(lambda d: f(eqx.combine(d, static)))(diff)
    grad = eqx.filter(grad, eqx.is_inexact_array)
    direction = tree_random_like(key, diff, diff)
    ad = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(grad), jax.tree.leaves(direction),
                                            strict=True))
    shift = lambda s: eqx.combine(jax.tree.map(lambda d, w: d + s * w, diff, direction), static)
    fd = (f(shift(eps)) - f(shift(-eps))) / (2 * eps)
    return float(ad), float(fd)


def assert_parts_match_finite_differences(f, inputs: tuple, grad: tuple, *, key, rtol: float,
                                          directions: int = 3, eps: float = 1e-6) -> None:
    """For each part of the tuple `inputs`, `directions` random directional derivatives of scalar
    `f(inputs)` agree with central differences to relative error `rtol`."""
    for part, keys in enumerate(jr.split(key, (len(inputs), directions))):
        only = lambda x: eqx.tree_at(lambda t: t[part], inputs, x)  # noqa: B023
        for k in keys:
            ad, fd = directional_derivatives(lambda x: f(only(x)), inputs[part],  # noqa: B023
                                             key=k, eps=eps, grad=grad[part])
            assert abs(ad - fd) <= rtol * abs(fd), (part, ad, fd)
