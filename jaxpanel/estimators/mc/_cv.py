"""MC's penalty by K-fold cross-validation (R MCPanel's ``mcnnm_cv``)."""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import NONFINITE, lowrank, mcpanel, twfe

from ... import batch
from ...fit import Fit
from ...panel import Panel
from .._core import finish
from ._fit import (
    DEFAULT,
    MCOptions,
    _control,
    _lane_fit_exact,
    covariates_for,
    fit,
    ones,
    walk,
)


class MCCV(NamedTuple):
    """Cross-validation of the penalty.

    Attributes
    ----------
    lambdas : (K,) the penalty path (MCPanel's scale), decreasing, ending at 0.
    cv_rmse : (K,) root of the fold-averaged validation MSE (inf where a fold failed).
    best_index : () int32, first minimiser of ``cv_rmse``.
    best_lambda : () the chosen penalty.
    steps : (F, K) solver iterations per fold and penalty.
    status : (F, K) solver status per fold and penalty.
    """

    lambdas: jax.Array
    cv_rmse: jax.Array
    best_index: jax.Array
    best_lambda: jax.Array
    steps: jax.Array
    status: jax.Array


def fold_draws(n: int, t: int, num_folds: int = 5, cv_ratio: float = 0.8) -> np.ndarray:
    """MCPanel's CV draws: (num_folds, n, t) 0/1, 1 = training cell.

    libstdc++'s ``std::default_random_engine`` (``minstd_rand0``: ``x <- 16807 x mod
    (2^31 - 1)``, seed 1) feeds ``std::bernoulli_distribution(cv_ratio)``, which draws
    ``generate_canonical<double, 53>`` from two engine outputs ``(g1 + g2 R) / R^2``,
    ``R = 2^31 - 2``, ``g = x - 1``; the draw is 1 when that is below ``cv_ratio``. Filled
    fold by fold, then row by row, then column by column, as MCPanel's ``create_folds``.

    Parameters
    ----------
    n, t : the panel's shape. num_folds, cv_ratio : MCPanel's defaults 5 and 0.8.

    Returns
    -------
    (num_folds, n, t) float array of 0/1.

    References
    ----------
    R MCPanel's ``create_folds`` (src/mcnnm_R.cpp).
    """
    m, a = 2147483647, 16807
    r = float(m - 1)
    x = 1
    out = np.empty(num_folds * n * t)
    for k in range(out.size):
        x = (a * x) % m
        g1 = x - 1
        x = (a * x) % m
        g2 = x - 1
        u = (float(g1) + float(g2) * r) / (r * r)
        out[k] = 1.0 if min(u, np.nextafter(1.0, 0.0)) < cv_ratio else 0.0
    return out.reshape(num_folds, n, t)


def panel_fold_draws(
    panel: Panel, num_folds: int = 5, cv_ratio: float = 0.8
) -> np.ndarray:
    """:func:`fold_draws` for ``panel``, returned in panel order.

    Drawn over R synthdid's row layout: never-treated units first, then treated units,
    each in panel order.

    Parameters
    ----------
    panel : a Panel. num_folds, cv_ratio : as :func:`fold_draws`.

    Returns
    -------
    (num_folds, N, T) 0/1 draws in panel order.
    """
    order = np.concatenate(
        [np.flatnonzero(~panel.ever_treated), np.flatnonzero(panel.ever_treated)]
    )
    draws = fold_draws(panel.N, panel.T, num_folds, cv_ratio)
    out = np.empty_like(draws)
    out[:, order, :] = draws
    return out


def _cv_mse(Y, valid, fitted):
    n = valid.sum()
    err = jnp.where(valid > 0, Y - fitted, 0.0)
    return (err**2).sum() / n


def _cv_exact(Y, y, control, folds, options: MCOptions, X=None):
    train = control[None] * folds  # (F, N, T)
    valid = control[None] * (1 - folds)

    def top(tr):
        fe = twfe.solve(y, tr) if X is None else lowrank.solve(y, tr, math.inf, X=X)
        resid = jnp.where(tr > 0, y - fe.fitted, 0.0)
        return 2.0 * jnp.linalg.svd(resid, compute_uv=False)[0] / tr.sum()

    lambdas = mcpanel.path_grid(jax.vmap(top)(train).max(), options.num_lambda).astype(
        Y.dtype
    )
    if options.cv_path == "warm":

        def one(tr, va):
            path = lowrank.solve_path(
                y,
                tr,
                lambdas * tr.sum(),
                tol=options.tol,
                max_steps=options.max_steps,
                X=X,
            )
            mse = jax.vmap(lambda f: _cv_mse(Y, va, f))(path.fitted)
            return mse, path.steps, path.status

        return (lambdas, *jax.vmap(one)(train, valid))

    n_folds, k = folds.shape[0], lambdas.shape[0]
    fold_idx = jnp.repeat(jnp.arange(n_folds), k)
    lam_idx = jnp.tile(jnp.arange(k), n_folds)

    def lane(ix):
        f, j = ix
        res = _lane_fit_exact(y, train[f], lambdas[j], options, X)
        return _cv_mse(Y, valid[f], res.fitted), res.steps, res.status

    per_lane = batch.lane_bytes(Y.shape[0], Y.shape[1], Y.dtype.itemsize)
    chunk = batch.lanes_per_chunk(n_folds * k, per_lane, options.memory_bytes)
    mse, steps, status = batch.lane_map(lane, (fold_idx, lam_idx), chunk)
    shape = (n_folds, k)
    return lambdas, mse.reshape(shape), steps.reshape(shape), status.reshape(shape)


def _cv_mcpanel(Y, y, control, folds, options: MCOptions):
    train = control[None] * folds
    valid = control[None] * (1 - folds)
    # MCPanel's create_folds fixes these two settings for the folds' starting values.
    eff = jax.vmap(lambda tr: mcpanel.effects(y * tr, tr, 1000, 1e-5))(train)
    tops = jax.vmap(lambda tr, fe: mcpanel.lambda_max(y * tr, tr, fe))(train, eff)
    lambdas = mcpanel.path_grid(tops.max(), options.num_lambda)

    def one(tr, va, fe):
        path = walk(y * tr, tr, lambdas, fe, None, options)
        mse = jax.vmap(lambda f: _cv_mse(Y, va, f))(path.fitted)
        return mse, path.steps, path.status

    mse, steps, status = jax.vmap(one)(train, valid, eff)
    return lambdas, mse, steps, status


@partial(jax.jit, static_argnames=("options",))
def cv(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None,
    folds: jax.Array,
    options: MCOptions = DEFAULT,
    X: jax.Array | None = None,
) -> MCCV:
    """K-fold cross-validation of the penalty (MCPanel's ``mcnnm_cv``).

    Parameters
    ----------
    Y, W, mask : (N, T).
    folds : (F, N, T) 0/1 draws; fold ``f`` trains on ``control * folds[f]`` and validates
        on ``control * (1 - folds[f])`` (see :func:`fold_draws`).
    options : MCOptions (solver, path length, tolerances).
    X : (K, N, T) covariates in every fit (``solver="exact"`` only), or None.

    Returns
    -------
    MCCV: the path, the CV curve, the chosen index and penalty, iterations and statuses.

    References
    ----------
    Athey et al. (2021), Sec. 4.2; R MCPanel's ``mcnnm_cv``.
    """
    Xs, _sd = covariates_for(Y, mask, X, options)
    Y, W, mask, y, control = _control(Y, W, mask)
    folds = jnp.asarray(folds, Y.dtype)
    if options.solver == "exact":
        lambdas, mse, steps, status = _cv_exact(Y, y, control, folds, options, Xs)
    else:
        lambdas, mse, steps, status = _cv_mcpanel(Y, y, control, folds, options)
    ok = jnp.isfinite(mse) & (status != NONFINITE)
    mse = jnp.where(ok, mse, jnp.inf)
    rmse = jnp.sqrt(mse.mean(axis=0))
    best = jnp.argmin(rmse).astype(jnp.int32)
    return MCCV(lambdas, rmse, best, lambdas[best], steps, status)


@partial(jax.jit, static_argnames=("options",))
def fit_cv(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None,
    folds: jax.Array,
    options: MCOptions = DEFAULT,
    X: jax.Array | None = None,
) -> tuple[Fit, MCCV]:
    """Cross-validate the penalty (:func:`cv`), then fit MC on all control cells with it.

    With ``solver="mcpanel"`` the final fit walks the same path on the full data down to the
    chosen penalty, warm-starting as MCPanel does; with ``"exact"`` it is one converged fit.

    Parameters
    ----------
    Y, W, mask, folds, options, X : as :func:`cv`.

    Returns
    -------
    ``(Fit, MCCV)``.

    References
    ----------
    R MCPanel's ``mcnnm_cv`` then ``mcnnm_fit`` at the chosen penalty.
    """
    covariates_for(Y, mask, X, options)  # refuses covariates without solver="exact"
    Y, W, mask, y, control = _control(Y, W, mask)
    res_cv = cv(Y, W, mask, folds, options, X)
    if options.solver == "exact":
        out = fit(Y, W, mask, res_cv.best_lambda, options, X)
        return out, res_cv
    eff = mcpanel.effects(y, control, options.max_iter, options.rel_tol)
    active = jnp.arange(res_cv.lambdas.shape[0], dtype=jnp.int32) <= res_cv.best_index
    path = walk(y, control, res_cv.lambdas, eff, active, options)
    last = jax.tree_util.tree_map(lambda x: x[res_cv.best_index], path)
    return finish(Y, W, mask, last, *ones(Y)), res_cv
