"""TROP unit and time weights (Athey, Imbens, Qu and Viviano 2025, Eq. 3).

Paper version (Eq. 3), for a target cell (i, t)::

    theta_s = exp(-lambda_time |t - s|)
    omega_j = exp(-lambda_unit dist_{-t}(j, i)),
    dist_{-t}(j, i) = sqrt( sum_{u != t} c_iu c_ju (Y_iu - Y_ju)^2 / sum_{u != t} c_iu c_ju )

with ``c = (1 - W) * mask`` (untreated and observed); ``dist(i, i) = 0``. A unit sharing no
such period with unit i has an infinite distance: weight 0 when ``lambda_unit > 0`` and 1
when ``lambda_unit = 0`` (``exp(-0 * dist) = 1`` for every unit, as the paper's uniform
case). Weights are not normalised.

Global variant (the authors' ``trop`` package): one set of weights,
``exp(-lambda_unit d_j) exp(-lambda_time d_s)`` with ``d_j`` the RMS gap between unit j and
the average treated trajectory over the pre-periods and ``d_s = |s - (T - T_post / 2)|``
(0-based periods: the package's centre, half a period after the middle of the treated
block).

Decaying weights span many orders of magnitude (``exp(-3 * 30) = 1e-39``); the two-way
solve in ``kernels.twfe`` is scaled so that such weights keep their exact effect.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _decay(dist: jax.Array, lam: jax.Array) -> jax.Array:
    """``exp(-lam * dist)`` with ``0 * inf = 0`` (weight 1) and ``exp(-lam * inf) = 0``."""
    finite = jnp.isfinite(dist)
    w = jnp.exp(-lam * jnp.where(finite, dist, 0.0))
    return jnp.where(finite, w, jnp.where(lam > 0, 0.0, 1.0))


def cell_unit_distance(
    Y: jax.Array, c: jax.Array, i: jax.Array, t: jax.Array
) -> jax.Array:
    """(N,) ``dist_{-t}(j, i)`` for every unit j (Eq. 3); ``c`` = untreated observed cells.

    Parameters
    ----------
    Y : (N, T) outcomes (any finite value where ``c == 0``).
    c : (N, T) 0/1 untreated-and-observed indicator.
    i, t : int scalars (traced), the target cell.
    """
    T = Y.shape[1]
    both = jnp.where((jnp.arange(T) != t)[None, :], c * c[i][None, :], 0.0)
    gap = jnp.where(both > 0, Y - Y[i][None, :], 0.0)
    count = both.sum(axis=1)
    dist = jnp.sqrt((gap**2).sum(axis=1) / jnp.maximum(count, 1))
    dist = jnp.where(count > 0, dist, jnp.inf)
    return dist.at[i].set(0.0)


def cell_weights(
    Y: jax.Array,
    c: jax.Array,
    i: jax.Array,
    t: jax.Array,
    lambda_unit: jax.Array,
    lambda_time: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """``(omega (N,), theta (T,))`` for target cell (i, t), paper Eq. 3."""
    T = Y.shape[1]
    dist_t = jnp.abs(jnp.arange(T, dtype=Y.dtype) - jnp.asarray(t, Y.dtype))
    theta = jnp.exp(-lambda_time * dist_t)
    omega = _decay(cell_unit_distance(Y, c, i, t), lambda_unit)
    return omega, theta


def global_distances(
    Y: jax.Array, W: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(d_unit (N,), d_time (T,))`` of the global variant (block designs).

    The treated units are those ever treated; the pre-periods those before the first
    treated period; ``T_post = T - first treated period``. With missing cells, the average
    treated trajectory uses the treated units observed in each pre-period and ``d_j``
    averages over the pre-periods where unit j is observed (the package needs a balanced
    panel; on one it is the same).
    """
    T = Y.shape[1]
    treated_rows = (W * mask).max(axis=1) > 0
    first = jnp.argmax((W * mask).max(axis=0) > 0)
    pre = jnp.arange(T) < first
    on = jnp.where(treated_rows[:, None], mask, 0.0)
    n_tr = on.sum(axis=0)
    avg = jnp.where(on > 0, Y, 0.0).sum(axis=0) / jnp.maximum(n_tr, 1)
    use = jnp.where((pre & (n_tr > 0))[None, :], mask, 0.0)
    gap = jnp.where(use > 0, Y - avg[None, :], 0.0)
    count = use.sum(axis=1)
    d_unit = jnp.where(
        count > 0, jnp.sqrt((gap**2).sum(axis=1) / jnp.maximum(count, 1)), jnp.inf
    )
    # The package's centre T - T_post / 2 (treated block to the end); a block that ends
    # before T (a time placebo window, later periods masked out) is centred the same way.
    end = T - jnp.argmax(((W * mask).max(axis=0) > 0)[::-1])
    end, first = end.astype(Y.dtype), first.astype(Y.dtype)
    centre = end - (end - first) / 2.0
    d_time = jnp.abs(jnp.arange(T, dtype=Y.dtype) - centre)
    return d_unit, d_time


def global_weights(
    d_unit: jax.Array,
    d_time: jax.Array,
    lambda_unit: jax.Array,
    lambda_time: jax.Array,
    squared: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """``(omega, theta)`` of the global variant.

    ``squared=False``: the package's scale, the weight ``exp(-lambda_unit d_j -
    lambda_time d_s)`` multiplies the squared residual. ``squared=True``: the authors'
    simulation notebooks, where ``exp(-lambda_unit d_j - lambda_time d_s)`` multiplies the
    residual inside the square, i.e. the weight is its square (their lambdas are half of
    the package's for the same fit).
    """
    k = 2.0 if squared else 1.0
    return _decay(d_unit, k * lambda_unit), _decay(d_time, k * lambda_time)
