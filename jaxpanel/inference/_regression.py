"""Regression-based variance for estimators linear in Y given their weights.

With the weights held fixed, DID, SC, DIFP and SDID are linear in the outcomes:
``tau = sum_js c_js Y_js`` (the imputation of section 1 is a linear least-squares fit). The
coefficients are the gradient of the fixed-weight estimate with respect to Y, computed by
``jax.grad``. Under homoskedastic, independent errors ``V = sigma^2 sum_js c_js^2``, with
``sigma^2`` the residual variance of the two-way model on the untreated observed cells
(degrees of freedom: cells - (N + T - 1)).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import twfe

from .._options import check_choice
from ._requirements import require
from ._result import InferenceWarning, VarianceResult, result


def coefficients(est) -> np.ndarray:
    """The (N, T) coefficients c with ``att = sum c * Y`` at fixed weights.

    The gradient of the estimator's fixed-weight refit (``replicator.linear``) with
    respect to the outcomes, by ``jax.grad``.
    """
    rep = est.replicator
    return np.asarray(jax.grad(rep.linear, argnums=1)(rep.data, rep.data["Y"]))


def residual_variance(panel) -> tuple[float, int]:
    """Residual variance of the two-way model on the untreated observed cells.

    Returns it with its degrees of freedom, cells - (N + T - 1).
    """
    resid, control = _residuals(panel)
    dof = int(control.sum()) - (panel.N + panel.T - 1)
    r = resid[control]
    return float(r @ r / dof), dof


def _residuals(panel) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) residuals of the two-way model fitted to the untreated observed cells."""
    Y, W, mask = panel.arrays()
    untreated = (1 - W) * mask
    fitted = twfe.solve(jnp.where(mask > 0, Y, 0.0), untreated).fitted
    control = np.asarray(untreated) > 0
    return np.where(control, np.asarray(Y - fitted), 0.0), control


def serial_covariance(panel) -> np.ndarray:
    """(T, T) covariance of a unit's errors over time, from the never-treated units.

    ``Sigma = sum_j e_j e_j' / (N_co - 1)`` over the never-treated units' two-way
    residual rows (every period observed), the degrees of freedom of the period effects
    (one per period) taken from the units.
    """
    resid, control = _residuals(panel)
    rows = ~panel.ever_treated & control.all(axis=1)
    E = resid[rows]
    return E.T @ E / max(int(rows.sum()) - 1, 1)


def regression(est, level=0.95, errors=None, **_) -> VarianceResult:
    """Regression-based variance ``V = sum_j c_j' Sigma c_j``.

    For estimators linear in Y given their weights (DID and the SC family): ``c_j`` is
    unit j's row of coefficients (``att = sum_js c_js Y_js``). With ``errors='serial'``
    (default) units are independent and share one T x T error covariance ``Sigma``,
    estimated from the never-treated units' two-way residuals (serial correlation
    allowed; c_j' Sigma c_j needs no inverse, so N_co < T is fine). With ``errors='iid'``, ``Sigma =
    sigma^2 I`` (homoskedastic, serially independent errors; the residual variance of the
    two-way model on the untreated cells): on the CPS log_wage design (AR(2) errors) that
    form rejected 47 % at 5 % (``bench/results/variance_study_before.md``), because the ATT
    averages 10 post-periods whose errors are positively correlated.

    Parameters
    ----------
    est : an Estimate with a linear refit (``replicator.linear``).
    level : confidence level of ``ci``.
    errors : 'serial' (a T x T covariance across periods) or 'iid'; None (default):
        'serial' where 2 or more never-treated units are observed in every period,
        else 'iid' with an ``InferenceWarning``.

    Returns
    -------
    VarianceResult with ``se``, a normal ``ci`` and ``p_value``; ``info``: ``sigma2``,
    ``dof``, ``sum_c2``, ``se_iid`` and ``errors``.

    Raises
    ------
    ValueError
        The estimator is not linear in Y, or too few untreated cells to estimate the
        residual variance.

    References
    ----------
    Almeida, Olaizola, Lestant, Imbens and Athey (2025), the regression-based variance.
    """
    require("regression", est)
    if errors is not None:
        check_choice("errors", errors, ("serial", "iid"))
    c = coefficients(est)
    sigma2, dof = residual_variance(est.panel)
    info = {"sigma2": sigma2, "dof": dof, "sum_c2": float(np.sum(c**2))}
    info["se_iid"] = float(np.sqrt(sigma2 * np.sum(c**2)))
    se = info["se_iid"]
    panel = est.panel
    n_full = int((~panel.ever_treated & panel.mask.all(axis=1)).sum())
    if errors is None:
        errors = "serial" if n_full >= 2 else "iid"
        if n_full < 2:
            warnings.warn(
                "regression: fewer than 2 never-treated units are observed in every "
                "period, so the error covariance over time cannot be estimated; the SE "
                "assumes serially independent errors (errors='iid') and is too small "
                "under serial correlation. Fix: method='placebo' where it applies",
                InferenceWarning,
                stacklevel=3,
            )
    if errors == "serial":
        if n_full < 2:
            raise ValueError(
                f"regression (errors='serial'): the error covariance over time needs at "
                f"least 2 never-treated units observed in every period ({n_full}). Fix: "
                "errors='iid' (assumes no serial correlation), or method='placebo'"
            )
        sigma = serial_covariance(panel)
        se = float(np.sqrt(max(np.einsum("js,st,jt->", c, sigma, c), 0.0)))
    info["errors"] = errors
    return result("regression", est.att, se, level, info=info)


__all__ = ["coefficients", "regression", "residual_variance", "serial_covariance"]
