"""DID / TWFE in imputation form (uniform unit and time weights).

Fit ``Y_js = mu + alpha_j + beta_s`` by least squares on the untreated observed cells,
impute Y(0) on treated cells and average ``Y - Y(0)-hat`` over them (Borusyak, Jaravel and
Spiess 2024). In a block design this is the classical difference in differences (R
synthdid's ``did_estimate``); with staggered adoption it is the imputation estimator, free
of the negative-weight problem of the dummy regression. Treatment may switch off.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import lowrank

from .._make import make_estimate, with_variance
from ..fit import Fit, Replicator
from ..panel import Panel
from ..requirements import ESTIMATORS, require
from ..results import Estimate
from ._core import (
    att_or_nan,
    check_covariates,
    default_mask,
    finish,
    impute,
    outputs,
    require_panel,
    standardise,
)


@jax.jit
def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
    X: jax.Array | None = None,
) -> Fit:
    """DID at the array level: pure, jitted, vmappable over any argument.

    Parameters
    ----------
    Y : (N, T) outcomes (any finite value on unobserved cells).
    W : (N, T) 0/1 treatment (block, staggered or on/off).
    mask : (N, T) 0/1 observed cells; default all observed.
    freq : (N,) unit frequencies (bootstrap counts; 0 leaves a unit out): a unit drawn k
        times weighs k in the fit and in the ATT, exactly as k copies of it would.
    X : (K, N, T) time-varying covariates, or None: then the two-way fit on the
        untreated cells is ``mu + alpha_i + beta_t + X_it'b`` (the imputation
        estimator with covariates; standardised over the observed cells first, so the
        estimate does not depend on their units). ``info['beta']`` has ``b`` in the
        covariates' units.

    Returns
    -------
    Fit with uniform ``unit_weights`` (= ``freq``) and ``time_weights``.

    References
    ----------
    Borusyak, Jaravel and Spiess (2024), imputation estimator; R synthdid's
    ``did_estimate`` in block designs.
    """
    Y = jnp.asarray(Y)
    mask = default_mask(Y, mask)
    f = jnp.ones(Y.shape[0], Y.dtype) if freq is None else jnp.asarray(freq, Y.dtype)
    ones_t = jnp.ones(Y.shape[1], Y.dtype)
    if X is not None:  # over every observed cell: the same for every replicate
        Xs, _mean, sd = standardise(jnp.asarray(X, Y.dtype), mask)
    mask = jnp.where((f > 0)[:, None], mask, 0.0)
    if X is None:
        return impute(Y, W, mask, f, ones_t, att_unit_weights=f)
    W = jnp.asarray(W, Y.dtype)
    w = f[:, None] * (1 - W) * mask
    res = lowrank.solve(jnp.where(mask > 0, Y, 0.0), w, math.inf, X=Xs)
    return finish(
        Y, W, mask, res, f, ones_t, att_unit_weights=f, info={"beta": res.coef / sd}
    )


@jax.jit
def att(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
) -> jax.Array:
    """DID estimate of the ATT (a scalar), NaN where the fit failed.

    Parameters
    ----------
    Y, W, mask, freq : as :func:`fit`.

    Returns
    -------
    () ``fit(Y, W, mask, freq).att``; NaN where its status is non-finite or
    unidentified (:func:`fit` has the status).
    """
    return att_or_nan(fit(Y, W, mask, freq))


# ---------------------------------------------------------------- replicates
def _refit(data, W, freq, mask):
    f = fit(data["Y"], W, mask, freq, data.get("X"))
    return outputs(f, data["Y"], W, mask, freq)


def _fixed(data, freq):
    return _refit(data, data["W"], freq, data["mask"])


def _linear(data, Y):
    return fit(Y, data["W"], data["mask"]).att


def _residuals(data, Yco, y, rows):
    """Conformal residuals.

    The treated series' gap to the controls' mean, centred over the sample periods (the
    two-way model fitted on them).
    """
    gap = y - Yco.mean(axis=0)
    return gap - (rows * gap).sum() / rows.sum()


def replicator(
    Y: jax.Array, W: jax.Array, mask: jax.Array, X: jax.Array | None = None
) -> Replicator:
    """DID's refits for variance methods (every weight is uniform: nothing is held).

    Parameters
    ----------
    Y, W, mask : (N, T) the estimate's arrays.

    Returns
    -------
    Replicator with ``refit``, ``fixed``, ``linear`` and ``residuals``.
    """
    data = {"Y": Y, "W": W, "mask": mask}
    if X is not None:  # the coefficients refitted in every replicate
        data["X"] = X
        return Replicator(data, _refit, _refit, _fixed)
    return Replicator(data, _refit, _refit, _fixed, _linear, _residuals)


def estimate(
    panel: Panel,
    covariates: bool = True,
    variance: str | None = None,
    reps: int | None = None,
    seed: int | jax.Array | None = None,
) -> Estimate:
    """DID on a :class:`jaxpanel.Panel` (block, staggered or on/off treatment).

    Parameters
    ----------
    panel : the data.
    covariates : use the panel's covariates (``Panel.X``) in the two-way fit, if it has
        any (default); False ignores them.
    variance : also run a variance method (:func:`jaxpanel.inference.variance`), e.g.
        'placebo', with ``reps`` replicates drawn from ``seed`` (default 0).

    Returns
    -------
    Estimate with the ATT, the per-period trajectory and the recipe.

    Raises
    ------
    ValueError
        A treated cell's Y(0) is not identified by the untreated cells (the message
        names the units or periods, a fix and the estimators that apply).

    References
    ----------
    Borusyak, Jaravel and Spiess (2024); R synthdid's ``did_estimate``.
    """
    require_panel(panel)
    require(panel, "did", ESTIMATORS["did"])
    if covariates is not True and covariates is not False:
        raise ValueError(f"covariates must be True or False, got {covariates!r}")
    Y, W, mask = panel.arrays()
    X = panel.covariate_arrays(Y.dtype) if covariates else None
    if X is not None:
        check_covariates(panel, "did")
    out = fit(Y, W, mask, None, X)
    est = make_estimate(
        panel,
        "did",
        out,
        entry=estimate,
        options={"covariates": covariates},
        replicator=replicator(Y, W, mask, X),
        requirements=ESTIMATORS["did"],
        info={k: np.asarray(v).tolist() for k, v in out.info.items()},
    )
    return with_variance(est, variance, reps, seed)


__all__ = [
    "att",
    "estimate",
    "fit",
    "replicator",
]
