"""Conditional variance: the treated units' own noise level, a unit x period noise model.

After Almeida, Olaizola, Lestant, Imbens and Athey (2025), arXiv 2510.11841 (only its
abstract could be read: unit placebo, time placebo and regression-based variances target
different conditional variances, and a variance that models heteroskedasticity along units
and periods keeps its size with more power), and the TROP paper (Athey, Imbens, Qu and
Viviano 2025, Sec. 5.3: with spread-out weights the estimator's error is driven by the
treated cells' own shocks). The construction is ours:

Model. Units are independent; unit j's errors over the T periods have covariance
``a_j S``: a unit noise level ``a_j`` (its own, not the controls' average) times one
T x T matrix ``S`` that carries the periods' noise levels and the serial correlation.
The unit placebo instead assumes the treated units are as noisy as the controls; the
time placebo that the errors are stationary over time; the regression-based variance
(``errors='serial'``) that every unit has the controls' covariance.

Estimation, from the residuals ``r`` of the two-way model fitted to the untreated
observed cells (``jaxpanel.inference._regression``):

1. ``S = sum_k r_k r_k' / (n - 1)`` over the n never-treated units observed in every
   period (one degree of freedom per period effect): the covariance of a unit at the
   controls' mean level (unbiased under the model; a level estimated from each row's
   own residuals would bias its shape toward sphericity);
2. ``a_j = sum_{s in O_j} r_js^2 / tr(P_j S P_j)`` over unit j's untreated observed
   cells ``O_j`` (a treated unit: its pre-periods), ``P_j`` centring over ``O_j`` (the
   residuals are centred within each unit by its fixed effect, so the expected sum of
   squares of a unit with ``a = 1`` is that trace).

Variance. For estimators linear in Y given their weights (DID, SC, DIFP, SDID; ``att =
sum_j c_j' Y_j``) ``V = sum_j a_j c_j' S c_j`` exactly. MC and TROP are not linear in Y:
their variance is simulated, ``reps`` refits (penalties fixed) on ``Y + e_b`` with rows
of ``e_b`` drawn from ``N(0, a_j S)``, ``V = (1/B) sum (tau_b - mean)^2``.

Assumptions: units independent; within a unit the covariance is its level times the
common ``S`` (heteroskedastic along units and periods, serially correlated, but the
correlation pattern shared); the treated units' noise level is the same before and after
treatment (it is estimated from their pre-periods). Conditional on the treated units'
levels, the variance does not borrow the controls' level, so a treated unit quieter than
the controls gets a smaller SE (more power than the unit placebo) and a noisier one a
larger SE (where the unit placebo over-rejects).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import batch
from ._regression import _residuals, coefficients
from ._requirements import require
from ._result import VarianceResult, result
from .resampling import _run


def noise_model(panel):
    """Unit noise levels ``a`` (N,) and the period covariance ``S`` (T, T).

    The module docstring gives the model and its estimation; ``a`` is NaN for a unit
    with fewer than two untreated observed cells, and None is returned for ``S`` when
    the never-treated units' residuals are zero (to rounding): the model is degenerate.

    Parameters
    ----------
    panel : a Panel.

    Returns
    -------
    (a, S), ``a`` relative to the never-treated units' mean level (their mean is 1 up
    to sampling error).
    """
    R, untreated = _residuals(panel)
    full = ~panel.ever_treated & untreated.all(axis=1)
    E = R[full]
    S = E.T @ E / max(E.shape[0] - 1, 1)
    Y = np.asarray(panel.Y)[panel.mask]
    floor = 100 * np.finfo(np.asarray(panel.arrays()[0]).dtype).eps
    if np.sqrt(np.mean(E**2)) <= floor * max(np.max(np.abs(Y)), 1e-300):
        return np.full(panel.N, np.nan), None
    a = np.full(panel.N, np.nan)
    for j in range(panel.N):
        obs = untreated[j]
        m = int(obs.sum())
        if m < 2:
            continue
        Soo = S[np.ix_(obs, obs)]
        expected = np.trace(Soo) - Soo.sum() / m
        a[j] = (R[j, obs] ** 2).sum() / expected if expected > 0 else np.nan
    return a, S


@functools.cache
def _noise_lane(refit):
    def lane(shared, key):
        data = shared["data"]
        Y = data["Y"]
        z = jax.random.normal(key, Y.shape, Y.dtype)
        e = (z @ shared["root"].T) * shared["sd"][:, None]
        noisy = dict(data, Y=Y + e * data["mask"])
        return refit(noisy, data["W"], jnp.ones(Y.shape[0], Y.dtype), data["mask"])

    return lane


def _simulated(est, a, S, reps, seed, chunk, progress):
    """Draws of the estimate refitted on ``Y + e``, rows of e from ``N(0, a_j S)``."""
    rep = est.replicator
    dtype = rep.data["Y"].dtype
    vals, vecs = np.linalg.eigh(S)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # root @ root.T = S
    shared = {
        "data": rep.data,
        "root": jnp.asarray(root, dtype),
        "sd": jnp.asarray(np.sqrt(np.nan_to_num(a, nan=0.0)), dtype),
    }
    keys = batch.replicate_keys(seed, 0, reps)
    lane = _noise_lane(rep.refit)
    return np.asarray(
        _run(est, lane, shared, (keys,), chunk, progress, "conditional"), float
    )


def conditional(
    est,
    reps=200,
    seed=0,
    level=0.95,
    chunk=None,
    progress=None,
    return_draws=False,
    simulate=None,
) -> VarianceResult:
    """Conditional variance given the treated units' own noise level.

    Units are independent with error covariance ``a_j S`` (a unit noise level times a
    period covariance with serial correlation), estimated from the two-way residuals of
    the untreated cells, the treated units' levels from their own pre-periods. For
    estimators linear in Y given their weights ``V = sum_j a_j c_j' S c_j`` (exact); for
    MC and TROP, ``reps`` refits on ``Y + e`` with ``e`` drawn from the model. The
    construction, its assumptions and its sources are in the module docstring.

    Parameters
    ----------
    est : an Estimate.
    reps, seed : draws of the simulated variance (MC, TROP; or ``simulate=True``).
    level : confidence level of ``ci`` (default 0.95).
    chunk, progress : batching (``jaxpanel.batch``) and progress bar.
    return_draws : keep the simulated draws.
    simulate : simulate the variance even for a linear estimator (a check of the
        simulation against the exact formula); None: only where not linear.

    Returns
    -------
    VarianceResult with ``se``, a normal ``ci`` and ``p_value``; ``info``:
    ``unit_level`` (N,) the ``a_j``, ``treated_level`` (the treated units' mean),
    ``se_homoskedastic`` (every ``a_j = 1``: the controls' level), ``period_cov`` ``S``,
    ``simulated`` (bool).

    Raises
    ------
    ValueError
        The method does not apply (fewer than 2 never-treated units observed in every
        period, or a treated unit with fewer than 2 untreated cells; the message names
        the methods that do), or the noise model is degenerate (every residual zero).

    References
    ----------
    After Almeida, Olaizola, Lestant, Imbens and Athey (2025), arXiv 2510.11841; Athey,
    Imbens, Qu and Viviano (2025), Sec. 5.3. The model is ours (module docstring).
    """
    require("conditional", est)
    panel = est.panel
    a, S = noise_model(panel)
    tr = panel.ever_treated
    if S is None or not np.all(np.isfinite(a[tr])):
        raise ValueError(
            "conditional variance: the noise model is degenerate (the two-way "
            "residuals of the untreated cells are all zero, or a treated unit's are). "
            "Fix: use another method that applies (jaxpanel.inference.methods_for(est))"
        )
    linear = est.replicator.linear is not None
    simulated = (not linear) if simulate is None else bool(simulate)
    info = {
        "unit_level": a,
        "treated_level": float(np.mean(a[tr])),
        "period_cov": S,
        "simulated": simulated,
    }
    draws = None
    if linear:
        c = coefficients(est)
        used = np.any(c != 0, axis=1)
        quad = np.einsum("js,st,jt->j", c, S, c)
        info["se_homoskedastic"] = float(np.sqrt(max(quad.sum(), 0.0)))
        if np.any(used & ~np.isfinite(a)):
            bad = [panel.units[j] for j in np.flatnonzero(used & ~np.isfinite(a))]
            raise ValueError(
                f"conditional variance: units {bad[:5]} carry weight but have fewer "
                "than 2 untreated cells to measure their noise level. Fix: "
                "method='placebo' or 'regression'"
            )
        se = float(np.sqrt(max(np.nansum(np.where(used, a, 0.0) * quad), 0.0)))
    if simulated:
        draws = _simulated(est, a, S, reps, seed, chunk, progress)
        ok = np.isfinite(draws)
        if ok.sum() < 2:
            raise ValueError(
                f"conditional variance: only {int(ok.sum())} of {reps} simulated refits "
                "succeeded. Fix: use another method that applies "
                "(jaxpanel.inference.methods_for(est))"
            )
        d = draws[ok]
        se = float(np.sqrt(np.mean((d - d.mean()) ** 2)))
        n_valid, n_requested = int(ok.sum()), int(reps)
        info.setdefault("se_homoskedastic", None)  # not linear: not computed
    else:
        n_valid = n_requested = panel.N
    return result(
        "conditional",
        est.att,
        se,
        level,
        n_valid=n_valid,
        n_requested=n_requested,
        draws=draws if return_draws else None,
        info=info,
    )
