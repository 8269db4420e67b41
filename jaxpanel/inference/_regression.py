"""Regression-based variance for estimators linear in Y given their weights.

With the weights held fixed, DID, SC, DIFP and SDID are linear in the outcomes:
``tau = sum_js c_js Y_js`` (the imputation of section 1 is a linear least-squares fit). The
coefficients are the gradient of the fixed-weight estimate with respect to Y, computed by
``jax.grad``. Under homoskedastic, independent errors ``V = sigma^2 sum_js c_js^2``, with
``sigma^2`` the residual variance of the two-way model on the untreated observed cells
(degrees of freedom: cells - (N + T - 1)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import twfe

from ._requirements import require
from ._result import VarianceResult, result


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
    Y, W, mask = panel.arrays()
    untreated = (1 - W) * mask
    fitted = twfe.solve(jnp.where(mask > 0, Y, 0.0), untreated).fitted
    control = np.asarray(untreated) > 0
    resid = np.asarray(Y - fitted)[control]
    dof = int(control.sum()) - (panel.N + panel.T - 1)
    return float(resid @ resid / dof), dof


def regression(est, level=0.95, **_) -> VarianceResult:
    """Regression-based variance ``V = sigma^2 sum_js c_js^2``.

    For estimators linear in Y given their weights (DID and the SC family), under
    homoskedastic, independent errors; ``sigma^2`` is the residual variance of the
    two-way model on the untreated observed cells.

    Parameters
    ----------
    est : an Estimate with a linear refit (``replicator.linear``).
    level : confidence level of ``ci``.

    Returns
    -------
    VarianceResult with ``se``, a normal ``ci`` and ``p_value``; ``info``: ``sigma2``,
    ``dof``, ``sum_c2``.

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
    c = coefficients(est)
    sigma2, dof = residual_variance(est.panel)
    se = float(np.sqrt(sigma2 * np.sum(c**2)))
    return result(
        "regression",
        est.att,
        se,
        level,
        info={"sigma2": sigma2, "dof": dof, "sum_c2": float(np.sum(c**2))},
    )


__all__ = ["coefficients", "regression", "residual_variance"]
