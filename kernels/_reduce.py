"""Reductions that XLA's CPU backend runs slowly inside hot loops.

XLA CPU lowers a reduction along an array's minor axis to a scalar loop (1-2 ns per
element for ``min``, 4-5 ns for ``argmin``'s variadic reduce), while element-wise ops on
whole arrays are vectorised (~0.15 ns per element). Halving the array, ``minimum(first
half, second half)``, log2(n) times, does the same reduction with element-wise ops only.
Measured inside a Frank-Wolfe-like loop on this project's 2-core CPU, 20 lanes x 1,000
variables: ``jnp.argmin`` 4.5 us per lane-step, :func:`first_argmin` 0.8 us.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _halving_min(x: jax.Array) -> jax.Array:
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        y = jnp.minimum(x[:half], x[half : 2 * half])
        if x.shape[0] % 2:
            y = y.at[0].min(x[-1])
        x = y
    return x[0]


def first_argmin(x: jax.Array) -> jax.Array:
    """Index of the first minimum of a 1-D array (``jnp.argmin``'s and R ``which.min``'s).

    Two halving reductions: the minimum, then the smallest index holding it. Vmappable.

    Parameters
    ----------
    x : (n,) values, n >= 1.

    Returns
    -------
    () int32 index. Where ``x`` holds a NaN the result is an index in range (which one is
    unspecified: callers see the NaN through their own values).
    """
    n = x.shape[0]
    m = _halving_min(x)
    idx = jnp.where(x == m, jnp.arange(n, dtype=jnp.int32), n)
    return jnp.minimum(_halving_min(idx), n - 1)


__all__ = ["first_argmin"]
