"""Conditional variance: the unit placebo rescaled to the treated units' own noise level.

After Almeida, Olaizola, Lestant, Imbens and Athey (2025), arXiv 2510.11841 (only its
abstract could be read: unit placebo, time placebo and regression-based variances target
different conditional variances, and a variance that models heteroskedasticity along units
and periods keeps its size with more power), and the TROP paper (Athey, Imbens, Qu and
Viviano 2025, Sec. 5.3: with spread-out weights the estimator's error is driven by the
treated cells' own shocks). The construction is ours.

Model. Units are independent; unit j's errors over the periods have covariance ``a_j S``:
a unit noise level ``a_j`` times one T x T matrix ``S`` that carries the periods' noise
levels and the serial correlation. With spread-out weights the estimation error of an
assignment is (mostly) its treated units' own noise, so its variance scales with their
mean level.

Estimate.

1. The unit placebo (``placebo``): B assignments of controls to the treated units'
   treatment rows, each refitted, giving estimation errors ``tau_b`` of units whose noise
   is the placebo units'. Refitting matters: weights fitted on the same controls whose
   residuals would otherwise estimate ``S`` understate the variance in the very
   direction the weights were fitted (an earlier, plug-in form of this method
   under-covered SDID and SC for that reason).
2. Noise levels ``a_j = sum_{s in O_j} r_js^2 / tr(P_j S P_j)`` from the residuals ``r`` of
   the two-way model fitted to the untreated observed cells, over unit j's untreated
   observed cells ``O_j`` (a treated unit: its pre-periods), with ``S = sum_k r_k r_k' /
   (n - 1)`` over the n never-treated units observed in every period and ``P_j`` centring
   over ``O_j`` (so the expected sum of squares of a unit of level 1 is that trace,
   whatever the serial correlation).
3. ``V = V_placebo * a_treated / mean_b a_b``: the placebo variance ``(1/B) sum (tau_b -
   mean)^2`` times the treated units' mean level over the placebo units' mean level
   (``a_b``: the mean level of assignment b's units). Placebo estimates use the treated
   units' own periods, so ``V`` is conditional on the treated periods' noise as well.

Reference: Student's t. ``a_treated`` rests on ``d_tr = sum_i (|O_i| - 1)`` degrees of
freedom (a treated unit with few pre-periods makes it noisy), the placebo variance on
about ``B - 1``; the interval and p-value use t on ``1 / (1 / d_tr + 1 / (B - 1))``.

Assumptions: units independent; each unit's error covariance is its level times a common
``S``; the placebo units' estimation errors scale with their noise level as the treated
units' would (the estimator's own variance, not a bias, dominates); the treated units'
noise level is the same before and after treatment.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._regression import _residuals
from ._requirements import require
from ._result import VarianceResult, result
from .resampling import placebo_run


def noise_model(panel):
    """Unit noise levels ``a`` (N,) and the period covariance ``S`` (T, T).

    Step 2 of the module docstring. ``a`` is NaN for a unit with fewer than two
    untreated observed cells; ``S`` is None when the never-treated units' residuals are
    zero to rounding (the model is degenerate).

    Parameters
    ----------
    panel : a Panel.

    Returns
    -------
    (a, S), ``a`` relative to the never-treated units' level (their mean is
    ``(n - 1) / n``: ``S`` divides by ``n - 1`` for the period effects).
    """
    R, untreated = _residuals(panel)
    full = ~panel.ever_treated & untreated.all(axis=1)
    E = R[full]
    S = E.T @ E / max(E.shape[0] - 1, 1)
    Y = np.asarray(panel.Y)[panel.mask & ~panel.W]
    eps = np.finfo(np.dtype(jnp.zeros(()).dtype)).eps  # the arrays' working precision
    if np.sqrt(np.mean(E**2)) <= np.sqrt(eps) * max(float(np.std(Y)), 1e-300):
        return np.full(panel.N, np.nan), None
    # E[sum_{s in O_j} r_js^2] for a unit of level 1: tr(P_j S P_j), all units at once
    O = untreated.astype(float)
    m = O.sum(axis=1)
    quad = np.einsum("js,st,jt->j", O, S, O)
    expected = O @ np.diag(S) - quad / np.maximum(m, 1)
    ss = (np.where(untreated, R, 0.0) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where((m >= 2) & (expected > 0), ss / expected, np.nan)
    return a, S


def conditional(
    est,
    reps=200,
    seed=0,
    level=0.95,
    chunk=None,
    progress=None,
    return_draws=False,
    reference=None,
) -> VarianceResult:
    """Conditional variance given the treated units' own noise level.

    The unit placebo's variance rescaled by the treated units' noise level over the
    placebo units': ``V = V_placebo * a_treated / mean_b a_b``, the levels measured on
    each unit's untreated two-way residuals (a treated unit's pre-periods). A treated
    unit quieter than the controls gets a smaller SE than the unit placebo's (more
    power), a noisier one a larger SE (where the unit placebo over-rejects). Model,
    estimation and assumptions in the module docstring.

    Parameters
    ----------
    est : an Estimate.
    reps, seed : placebo assignments and their seed (as ``placebo``).
    level : confidence level of ``ci`` (default 0.95).
    chunk, progress : batching (``jaxpanel.batch``) and progress bar.
    return_draws : keep the placebo estimates.
    reference : 't' (default; degrees of freedom in ``info['df']``) or 'normal'.

    Returns
    -------
    VarianceResult with ``se``, ``ci`` and ``p_value``; ``info``: ``placebo_se``,
    ``treated_level`` and ``placebo_level`` (mean noise levels), ``unit_level`` (N,),
    ``df``, ``df_treated``, ``n_assignments``, ``exact``.

    Raises
    ------
    ValueError
        The method does not apply (the unit placebo does not, fewer than 2 never-treated
        units observed in every period, or a treated unit with fewer than 2 untreated
        cells; the message names the methods that do), or the noise model is degenerate
        (the controls' two-way residuals are zero).

    References
    ----------
    After Almeida, Olaizola, Lestant, Imbens and Athey (2025), arXiv 2510.11841; Athey,
    Imbens, Qu and Viviano (2025), Sec. 5.3; Arkhangelsky et al. (2021), Algorithm 4
    (the placebo). The construction is ours (module docstring).
    """
    require("conditional", est)
    panel = est.panel
    a, S = noise_model(panel)
    tr = panel.ever_treated
    if S is None or not np.all(np.isfinite(a[tr])):
        raise ValueError(
            "conditional variance: the noise model is degenerate (the never-treated "
            "units' two-way residuals are zero to rounding, or a treated unit's are "
            "undefined). Fix: use another method that applies "
            "(jaxpanel.inference.methods_for(est))"
        )
    idx, draws, exact, _event, _cohort = placebo_run(est, reps, seed, chunk, progress)
    a_b = np.nanmean(np.where(np.isfinite(a), a, np.nan)[idx], axis=1)
    ok = np.isfinite(draws) & np.isfinite(a_b)
    if ok.sum() < 2:
        raise ValueError(
            f"conditional variance: only {int(ok.sum())} of {len(draws)} placebo fits "
            "succeeded. Fix: use another method that applies "
            "(jaxpanel.inference.methods_for(est))"
        )
    d = draws[ok]
    v_placebo = float(np.mean((d - d.mean()) ** 2))
    a_tr, a_pl = float(np.mean(a[tr])), float(np.mean(a_b[ok]))
    se = float(np.sqrt(v_placebo * a_tr / a_pl))
    untreated = panel.mask & ~panel.W
    df_tr = float(np.sum(untreated[tr].sum(axis=1) - 1))
    df = 1.0 / (1.0 / df_tr + 1.0 / max(int(ok.sum()) - 1, 1))
    info = {
        "placebo_se": float(np.sqrt(v_placebo)),
        "treated_level": a_tr,
        "placebo_level": a_pl,
        "unit_level": a,
        "df": df,
        "df_treated": df_tr,
        "n_assignments": len(idx),
        "exact": exact,
    }
    return result(
        "conditional",
        est.att,
        se,
        level,
        "t" if reference is None else reference,
        n_valid=int(ok.sum()),
        n_requested=len(idx),
        draws=d if return_draws else None,
        info=info,
    )
