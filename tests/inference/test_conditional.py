"""Conditional variance (jaxpanel.inference._conditional)."""

from __future__ import annotations

import numpy as np

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference import _conditional as cond

from ..reference import did_att


def small_block_panel(rng, n=12, t=9, n_tr=2, t_post=3):
    y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1)) * 3
    d = np.zeros((n, t))
    d[:n_tr, t - t_post :] = 1
    return y, d


def test_single_cell_errors_are_explicit_did_refits(rng):
    y, d = small_block_panel(rng)
    est = jaxpanel.did(Panel.from_arrays(y, d))
    E = cond.single_cell_errors(est, progress=False)
    n, t = y.shape
    for j, s in [(5, 0), (7, 8), (0, 2), (1, 5)]:
        if (
            j < 2
        ):  # a treated unit's pre-period cell: other treated units and post dropped
            keep_rows = [j] + list(range(2, n))
            keep_cols = list(range(6))
        else:  # a control's cell: the treated units dropped
            keep_rows, keep_cols = list(range(2, n)), list(range(t))
        yy = y[np.ix_(keep_rows, keep_cols)]
        dd = np.zeros_like(yy)
        dd[keep_rows.index(j), keep_cols.index(s)] = 1
        np.testing.assert_allclose(
            E[j, s], did_att(yy, dd, np.ones_like(yy)), rtol=1e-9
        )
    assert np.isnan(E[0, 6]) and np.isfinite(E).sum() == (n - 2) * t + 2 * 6


def test_variance_model_recovers_unit_and_time_factors():
    rng = np.random.default_rng(7)
    a = np.exp(rng.normal(size=300))
    b = np.exp(rng.normal(size=200))
    b /= b.mean()
    E2 = a[:, None] * b[None, :] * rng.chisquare(1, size=(300, 200))
    E2[rng.random(E2.shape) < 0.1] = np.nan
    ah, bh = cond.variance_model(E2)
    # chi-square(1) noise: per-factor relative error ~ sqrt(2 / cells) ~ 10% (rows), 8% (cols)
    assert np.median(np.abs(ah / a - 1)) < 0.1 and np.median(np.abs(bh / b - 1)) < 0.1


def test_one_treated_cell_uses_the_cell_variances(rng):
    y, d = small_block_panel(rng, n_tr=1, t_post=1)
    est = jaxpanel.did(Panel.from_arrays(y, d)).variance("conditional", progress=False)
    info = est.inference.info
    E = cond.single_cell_errors(est, progress=False)
    a, b = cond.variance_model(E**2)
    assert info["design_effect"] == 1.0 and info["n_placebo"] == 0
    np.testing.assert_allclose(est.se, np.sqrt(a[0] * b[-1]), rtol=1e-12)
    np.testing.assert_allclose(
        info["se_unit"], np.sqrt(np.nanmean(E[1:, -1] ** 2)), rtol=1e-12
    )
    np.testing.assert_allclose(
        info["se_time"], np.sqrt(np.nanmean(E[0] ** 2)), rtol=1e-12
    )


def test_block_unit_conditional_is_the_unit_placebo(rng):
    y, d = small_block_panel(rng)
    est = jaxpanel.did(Panel.from_arrays(y, d))
    c = est.variance("conditional", reps=40, seed=3, progress=False).inference.info
    p = est.variance("placebo", reps=40, seed=3, progress=False)
    np.testing.assert_allclose(c["se_unit"], p.se, rtol=1e-12)
