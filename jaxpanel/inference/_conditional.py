"""Conditional variances from single-cell placebo errors.

After Almeida, Olaizola, Lestant, Imbens and Athey (2025), arXiv 2510.11841.

Their framing: unit placebo, time placebo and regression-based variances target different
conditional variances of the estimator (given the treated period, given the treated unit,
and under homoskedasticity), and a variance that models heteroskedasticity along both units
and periods keeps size with more power. Only the paper's abstract and introduction could be
read here, so the construction below is ours, built on that idea:

1. Single-cell placebo errors. Every untreated cell (j, s) is declared the only treated cell
   and the estimator is refit (real treated units are left out; for a treated unit's own
   pre-period cells the other treated units and the real post-periods are left out). As
   the true effect there is zero, the estimate ``e_js`` is an estimation error. One batch
   of up to N x T fits.
2. Variance model ``E[e_js^2] = a_j b_s``, fitted by Gaussian maximum likelihood
   (alternating ``a_j = mean_s e_js^2 / b_s``, ``b_s = mean_j e_js^2 / a_j`` over the
   cells available, normalised to mean(b) = 1).
3. Cell variances for a treated cell (i, t):
   unit-conditional ``mean_{j control} e_jt^2``; time-conditional ``mean_{s pre} e_is^2``;
   homoskedastic ``mean e^2``; two-way ``a_i b_t``.
4. The ATT averages K treated cells whose errors are correlated (they share the control fit
   and serially correlated noise). With one treated cell the cell variance is the answer.
   With K > 1, a design effect ``D = V_placebo / ((1/K^2) sum_cells var_unit(i, t))`` is
   measured with the estimator's unit placebo (which has the right correlation structure
   but assumes exchangeable units) and every variance is ``D (1/K^2) sum_cells var(i, t)``.
   The unit-conditional variance is then the unit placebo itself and the two-way variance
   rescales it by the treated units' own variance factors relative to the controls'.

The two-way variance is reported as the SE; the others are in ``info``. The simulation
study in ``bench/bench_variance_study.py`` checks size and power under unit- and
time-heteroskedastic noise.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from ._requirements import require
from ._result import VarianceResult, result
from .resampling import _run, placebo


def single_cell_cells(panel) -> np.ndarray:
    """(K, 2) unit and period indices of the cells that get a single-cell placebo fit."""
    tr = panel.ever_treated
    cells = [
        (j, s) for j in np.flatnonzero(~tr) for s in range(panel.T) if panel.mask[j, s]
    ]
    for i in np.flatnonzero(tr):
        first = int(np.argmax(panel.W[i]))
        cells += [(int(i), s) for s in range(first) if panel.mask[i, s]]
    return np.asarray(cells, dtype=np.int32)


@functools.cache
def _single_cell_lane(refit_cold):
    def lane(shared, cell):
        data = shared["data"]
        n, t = data["Y"].shape
        dtype = data["Y"].dtype
        j, s = cell[0], cell[1]
        rows, cols = jnp.arange(n, dtype=cell.dtype), jnp.arange(t, dtype=cell.dtype)
        W = ((rows == j)[:, None] & (cols == s)[None, :]).astype(dtype)
        own_treated = 1 - shared["controls"][j]
        freq = jnp.maximum(shared["controls"], (rows == j).astype(dtype))
        # a treated unit's pre-period cell: its real post-periods are not in the sample
        keep_cols = 1 - own_treated * shared["post_any"]
        return refit_cold(data, W, freq, data["mask"] * keep_cols[None, :])

    return lane


def single_cell_errors(est, chunk=None, progress=None) -> np.ndarray:
    """(N, T) single-cell placebo errors (NaN where no fit was made)."""
    panel = est.panel
    rep = est.replicator.for_cells(1)
    dtype = rep.data["Y"].dtype
    shared = {
        "data": rep.data,
        "controls": jnp.asarray(~panel.ever_treated, dtype),
        "post_any": jnp.asarray(panel.W.any(axis=0), dtype),
    }
    cells = single_cell_cells(panel)
    lane = _single_cell_lane(rep.refit_cold)
    errs = _run(est, lane, shared, (cells,), chunk, progress, "single-cell placebo")
    E = np.full((panel.N, panel.T), np.nan)
    E[cells[:, 0], cells[:, 1]] = errs
    return E


def variance_model(E2: np.ndarray, iters: int = 200, tol: float = 1e-10):
    """Gaussian MLE of ``E[e_js^2] = a_j b_s`` on the finite entries of ``E2``.

    Returns (a, b) with mean(b over columns with data) = 1; rows or columns without data
    get NaN.
    """
    ok = np.isfinite(E2)
    x = np.where(ok, E2, 0.0)
    n_row, n_col = ok.sum(axis=1), ok.sum(axis=0)
    a = np.where(n_row > 0, x.sum(axis=1) / np.maximum(n_row, 1), np.nan)
    b = np.ones(E2.shape[1])
    for _ in range(iters):
        a_safe = np.where(np.isfinite(a) & (a > 0), a, np.inf)
        b_new = np.where(
            n_col > 0, (x / a_safe[:, None]).sum(axis=0) / np.maximum(n_col, 1), np.nan
        )
        b_new = b_new / np.nanmean(b_new)
        b_safe = np.where(np.isfinite(b_new) & (b_new > 0), b_new, np.inf)
        a_new = np.where(
            n_row > 0, (x / b_safe[None, :]).sum(axis=1) / np.maximum(n_row, 1), np.nan
        )
        done = (
            np.nanmax(np.abs(a_new - a)) <= tol * np.nanmax(a)
            if np.isfinite(a).any()
            else True
        )
        a, b = a_new, b_new
        if done:
            break
    return a, b


def _degenerate(E2, a, b, cells, panel) -> str:
    """Why the two-way variance is not finite, in terms of the single-cell fits."""
    units = [panel.units[i] for i in np.unique(cells[:, 0]) if not np.isfinite(a[i])]
    if units:
        return (
            f"no single-cell placebo fit of the pre-periods of units {units[:5]} "
            "succeeded, so their variance factor is unknown"
        )
    times = [panel.times[t] for t in np.unique(cells[:, 1]) if not np.isfinite(b[t])]
    if times:
        return (
            f"no control's single-cell placebo fit in periods {times[:5]} succeeded, so "
            "their variance factor is unknown"
        )
    if np.nanmax(E2, initial=0.0) == 0:
        return "every single-cell placebo error is zero (the controls fit exactly)"
    return (
        "the unit x time variance model of the single-cell placebo errors is degenerate"
    )


def conditional(
    est, reps=200, seed=0, level=0.95, chunk=None, progress=None, return_draws=False
) -> VarianceResult:
    """Conditional variance from single-cell placebo errors and a unit x time model.

    Every untreated cell is declared the only treated cell and the estimator refitted
    (one batch); the squared errors are fitted by ``E[e_js^2] = a_j b_s`` and the
    treated cells' variance predicted from their unit's and period's factors; with
    several treated cells a design effect from the unit placebo accounts for their
    correlation (construction in the module docstring). The SE is the two-way one; the
    unit-, time-conditional and homoskedastic SEs are in ``info``.

    Parameters
    ----------
    est : an Estimate (its ``replicator`` refits the estimator).
    reps, seed : replicates and seed of the unit placebo (design effect; only with
        several treated cells).
    level : confidence level of ``ci`` (default 0.95).
    chunk, progress : batching (``jaxpanel.batch``) and progress bar.
    return_draws : keep the single-cell placebo errors in ``info``.

    Returns
    -------
    VarianceResult with ``se`` (two-way), a normal ``ci`` and ``p_value``; ``info``:
    ``se_unit``, ``se_time``, ``se_homoskedastic``, ``design_effect``, the factors.

    Raises
    ------
    ValueError
        The method does not apply (a non-absorbing treatment, fewer than 2 controls or
        too few pre-periods; the message names the methods that do), or the variance
        model is degenerate (e.g. every placebo error is zero).

    References
    ----------
    After Almeida, Olaizola, Lestant, Imbens and Athey (2025), arXiv 2510.11841; the
    single-cell placebo is ours (module docstring).
    """
    require("conditional", est)
    panel = est.panel
    E = single_cell_errors(est, chunk=chunk, progress=progress)
    E2 = E**2
    a, b = variance_model(E2)
    tr = panel.ever_treated
    cells = np.argwhere(panel.W & panel.mask)
    K = len(cells)
    var_unit_t = np.nanmean(E2[~tr], axis=0)  # by period, over controls
    var_time_i = np.array(
        [
            np.nanmean(E2[i]) if np.isfinite(E2[i]).any() else np.nan
            for i in range(panel.N)
        ]
    )
    var_hom = float(np.nanmean(E2))
    cell_unit = var_unit_t[cells[:, 1]]
    cell_time = var_time_i[cells[:, 0]]
    cell_two = a[cells[:, 0]] * b[cells[:, 1]]
    if K == 1:
        design_effect, n_placebo = 1.0, 0
    else:
        try:
            pl = placebo(est, reps=reps, seed=seed, chunk=chunk, progress=progress)
        except ValueError as exc:
            raise ValueError(
                f"conditional variance: its design effect comes from the unit placebo, "
                f"which failed: {exc}"
            ) from None
        with np.errstate(divide="ignore", invalid="ignore"):  # degenerate: below
            design_effect = pl.se**2 / (cell_unit.sum() / K**2)
        n_placebo = pl.n_valid
    scale = design_effect / K**2
    variances = {
        "unit": scale * cell_unit.sum(),
        "time": scale * cell_time.sum(),
        "homoskedastic": scale * var_hom * K,
        "two_way": scale * cell_two.sum(),
    }
    se = float(np.sqrt(variances["two_way"]))
    if not np.isfinite(se):
        raise ValueError(
            "conditional variance: " + _degenerate(E2, a, b, cells, panel) + ". Fix: "
            "use another method that applies (jaxpanel.inference.methods_for(est))"
        )
    info = {
        "se_unit": float(np.sqrt(variances["unit"])),
        "se_time": float(np.sqrt(variances["time"])),
        "se_homoskedastic": float(np.sqrt(variances["homoskedastic"])),
        "se_two_way": se,
        "design_effect": float(design_effect),
        "unit_factor": a,
        "time_factor": b,
        "n_single_cell_fits": int(np.isfinite(E).sum()),
        "n_placebo": n_placebo,
    }
    if return_draws:
        info["single_cell_errors"] = E
    return result(
        "conditional",
        est.att,
        se,
        level,
        n_valid=int(np.isfinite(E).sum()),
        n_requested=int(np.isfinite(E).sum()),
        info=info,
    )
