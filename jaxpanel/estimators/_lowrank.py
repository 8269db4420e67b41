"""The shared fit with a low-rank term: weighted TWFE + nuclear norm, then imputation.

MC and the global TROP variant are this function with a choice of weights and penalty
(METHODS.md section 1)::

    min  sum_js omega_j theta_s (1 - W_js) O_js (Y_js - mu - alpha_j - beta_s - L_js)^2
         + lambda_nn ||L||_*
    tau_it = Y_it - (mu + alpha_i + beta_t + L_it)   on treated observed cells.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpanel.kernels import lowrank, twfe

from ._core import finish


class LowRankFit(NamedTuple):
    """Array-level result of a fit with a low-rank term (``Fit`` plus three fields).

    Attributes
    ----------
    att, tau, y0, mu, alpha, beta, unit_weights, time_weights, status, info : as in
        ``Fit``; ``y0 = mu + alpha_j + beta_s + L_js``.
    L : (N, T) the low-rank term.
    rank : () int32, its rank.
    steps : () int32, solver iterations.
    """

    att: jax.Array
    tau: jax.Array
    y0: jax.Array
    mu: jax.Array
    alpha: jax.Array
    beta: jax.Array
    unit_weights: jax.Array
    time_weights: jax.Array
    status: jax.Array
    info: Any
    L: jax.Array
    rank: jax.Array
    steps: jax.Array


def from_result(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    res: lowrank.LowRankResult,
    unit_weights: jax.Array,
    time_weights: jax.Array,
) -> LowRankFit:
    """Cell effects and ATT from a kernel result (identification as in ``impute``)."""
    cell_ok = res.unit_identified[:, None] & res.time_identified[None, :]
    base = finish(
        Y,
        W,
        mask,
        res.fitted,
        res.mu,
        res.alpha,
        res.beta,
        unit_weights,
        time_weights,
        res.status,
        cell_ok & (res.n_components == 1),
    )
    return LowRankFit(*base, res.L, res.rank, res.steps)


def impute_lowrank(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    unit_weights: jax.Array,
    time_weights: jax.Array,
    lambda_nn: jax.Array | float,
    L0: jax.Array | None = None,
    tol: float | None = None,
    max_steps: int = 10_000,
) -> LowRankFit:
    """Fit the weighted two-way model with a low-rank term on control cells and impute.

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment, 0/1 observed mask.
    unit_weights : (N,) omega >= 0; time_weights : (T,) theta >= 0.
    lambda_nn : penalty on the unnormalised weighted loss (``kernels.lowrank.solve``).
    L0, tol, max_steps : passed to the kernel.
    """
    Y = jnp.asarray(Y)
    W = jnp.asarray(W, Y.dtype)
    mask = jnp.asarray(mask, Y.dtype)
    w = unit_weights[:, None] * time_weights[None, :] * (1 - W) * mask
    y = jnp.where(mask > 0, Y, 0.0)
    res = lowrank.solve(y, w, lambda_nn, L0, tol=tol, max_steps=max_steps)
    return from_result(Y, W, mask, res, unit_weights, time_weights)


def connected(w: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(unit_identified, time_identified, n_components)`` of the cells with ``w > 0``."""
    fac = twfe.factor(w)
    return w.sum(axis=1) > 0, w.sum(axis=0) > 0, fac.n_components
