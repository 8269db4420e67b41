"""Variance methods for MC and TROP: each replicate is the estimator re-fitted, with the
chosen penalties held fixed, on the resampled / placebo panel, checked against explicit
fits on explicitly built panels (and the NumPy reference solver)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.estimators import mc, trop
from jaxpanel.inference import resampling
from jaxpanel.inference._result import from_draws

from ..reference_lowrank import lowrank_fit, trop_cell_weights, trop_cells

# Small panels: too few placebos for a bounded permutation interval is expected here
# (InferenceWarning); these tests check the SEs and draws.
pytestmark = pytest.mark.filterwarnings("ignore::jaxpanel.inference.InferenceWarning")

TOL = 1e-11  # solver tolerance of the fits compared below
RTOL = 1e-7


def block(rng, n=10, t=7, n_tr=3, t_post=2):
    y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1)) * 2 + np.linspace(0, 1, t)
    d = np.zeros((n, t))
    d[:n_tr, t - t_post :] = 1
    return y, d


def draws(est, method, **kw):
    return est.variance(method, progress=False, return_draws=True, **kw).inference


# ------------------------------------------------------------------------------ MC
def test_mc_bootstrap_draws_are_fits_on_duplicated_rows(rng):
    y, d = block(rng)
    est = jaxpanel.mc(Panel.from_arrays(y, d), lam=0.05, solver="exact", tol=TOL)
    res = draws(est, "bootstrap", reps=3, seed=2)
    counts, _ = resampling.bootstrap_draws(2, 10, np.arange(3), 3)
    for b in range(3):
        rows = np.repeat(np.arange(10), counts[b])
        yb, db = y[rows], d[rows]
        w = 1.0 - db
        # MC's scale: lam |O| on the unnormalised loss (reference solver, NumPy)
        fe, L = lowrank_fit(yb, w, 0.05 * w.sum())
        ref = (yb - fe - L)[db > 0].mean()
        np.testing.assert_allclose(res.draws[b], ref, rtol=RTOL)
    assert res.n_valid == 3


def test_mc_placebo_draws_are_explicit_refits(rng):
    y, d = block(rng, n_tr=1)
    est = jaxpanel.mc(Panel.from_arrays(y, d), lam=0.05)  # MCPanel's iteration
    res = draws(est, "placebo", reps=3, seed=4)
    idx, _ = resampling.placebo_draws(4, np.arange(1, 10), 1, 3)
    for b in range(3):
        yb = y[1:]
        db = np.zeros_like(yb)
        db[idx[b, 0] - 1, -2:] = 1
        ref = mc.fit(yb, db, None, 0.05)
        np.testing.assert_allclose(res.draws[b], float(ref.att), rtol=1e-9)


# ------------------------------------------------------------------------------ TROP
def test_trop_bootstrap_weights_units_by_their_counts(rng):
    """Per-cell TROP's bootstrap multiplies unit weights by the counts: with lambda_nn =
    inf that is the fit on the duplicated rows exactly; with a finite penalty it is the
    count-weighted reference fit."""
    y, d = block(rng)
    counts, _ = resampling.bootstrap_draws(1, 10, np.arange(3), 2, stratified=True)
    for lams in [(0.3, 0.5, math.inf), (0.3, 0.5, 4.0)]:
        est = jaxpanel.trop(Panel.from_arrays(y, d), *lams, tol=TOL)
        res = draws(est, "bootstrap", reps=2, seed=1)
        for b in range(2):
            c = counts[b]
            if math.isinf(lams[2]):
                rows = np.repeat(np.arange(10), c)
                ref = trop_cells(y[rows], d[rows], np.ones_like(d[rows]), *lams).mean()
            else:
                taus, weights = [], []
                for i, t in zip(*np.nonzero(d * (c > 0)[:, None])):
                    w = trop_cell_weights(y, d, np.ones_like(d), i, t, *lams[:2])
                    fe, L = lowrank_fit(y, w * c[:, None], lams[2])
                    taus.append(y[i, t] - fe[i, t] - L[i, t])
                    weights.append(c[i])
                ref = np.average(taus, weights=weights)
            np.testing.assert_allclose(res.draws[b], ref, rtol=RTOL)


def test_trop_bootstrap_is_algorithm_3_by_default(rng):
    """TROP paper, Algorithm 3: N_co controls and N_tr treated units drawn with
    replacement, each stratum on its own; the SC family keeps SDID's Algorithm 2."""
    counts, n = resampling.bootstrap_draws(5, 10, np.arange(3), 400, stratified=True)
    assert n == 400 and (counts[:, :3].sum(axis=1) == 3).all()
    assert (counts[:, 3:].sum(axis=1) == 7).all()
    # each unit drawn 1 time on average within its stratum
    np.testing.assert_allclose(counts.mean(axis=0), 1.0, atol=0.15)
    y, d = block(rng)
    est = jaxpanel.trop(Panel.from_arrays(y, d), 0.3, 0.5, math.inf, tol=TOL)
    res = draws(est, "bootstrap", reps=40, seed=6)
    strat = draws(est, "bootstrap", reps=40, seed=6, scheme="stratified")
    units = draws(est, "bootstrap", reps=40, seed=6, scheme="units")
    np.testing.assert_array_equal(res.draws, strat.draws)
    assert not np.array_equal(res.draws, units.draws)
    d_ = res.draws
    np.testing.assert_allclose(res.se, np.sqrt(((d_ - d_.mean()) ** 2).mean()))


def test_trop_jackknife_leaves_each_unit_out(rng):
    y, d = block(rng)
    lams = (0.3, 0.5, 4.0)
    est = jaxpanel.trop(Panel.from_arrays(y, d), *lams, tol=TOL)
    res = draws(est, "jackknife")
    for i in (0, 5):
        keep = np.arange(10) != i
        ref = trop_cells(y[keep], d[keep], np.ones_like(d[keep]), *lams).mean()
        np.testing.assert_allclose(res.draws[i], ref, rtol=RTOL)
    n = 10
    u = res.draws
    np.testing.assert_allclose(
        res.se, np.sqrt((n - 1) / n * ((u - u.mean()) ** 2).sum()), rtol=1e-12
    )


def test_trop_global_bootstrap_and_time_placebo_are_explicit_fits(rng):
    y, d = block(rng, t=10)
    lams = (0.4, 0.3, 3.0)
    opts = trop.TROPOptions(TOL)
    est = jaxpanel.trop(Panel.from_arrays(y, d), *lams, variant="global", tol=TOL)
    res = draws(est, "bootstrap", reps=2, seed=3)
    counts, _ = resampling.bootstrap_draws(3, 10, np.arange(3), 2, stratified=True)
    for b in range(2):
        rows = np.repeat(np.arange(10), counts[b])
        ref = trop.fit_global(y[rows], d[rows], None, *lams, opts)
        np.testing.assert_allclose(res.draws[b], float(ref.att), rtol=RTOL)
    # Time placebo: a window inside the pre-period, later periods masked out, is the fit on
    # the panel cut at the window's end (the global weights centre on the window).
    tp = draws(est, "time_placebo")
    starts = np.arange(2, 8 - 2 + 1)
    assert tp.n_valid == len(starts)
    for k, s in [(0, starts[0]), (len(starts) - 1, starts[-1])]:
        cut = y[:, : s + 2]
        dd = np.zeros_like(cut)
        dd[:3, s:] = 1
        ref = trop.fit_global(cut, dd, None, *lams, opts)
        np.testing.assert_allclose(tp.draws[k], float(ref.att), rtol=RTOL)


def test_one_call_and_refusals(rng):
    y, d = block(rng, n_tr=1)
    panel = Panel.from_arrays(y, d)
    lams = {"lambda_unit": 0.3, "lambda_time": 0.5, "lambda_nn": 4.0}
    one = jaxpanel.trop(panel, **lams, variance="placebo", reps=8, seed=3)
    two = jaxpanel.trop(panel, **lams).variance("placebo", reps=8, seed=3)
    assert one.se == two.se and one.ci == two.ci and one.se > 0
    one = jaxpanel.mc(panel, lam=0.05, variance="placebo", reps=8, seed=3)
    assert one.se == jaxpanel.mc(panel, lam=0.05).variance("placebo", reps=8, seed=3).se
    for method in ("regression", "conformal"):
        with pytest.raises(ValueError, match="placebo"):
            jaxpanel.mc(panel, lam=0.05).variance(method)
    with pytest.raises(ValueError, match="one treated unit"):
        jaxpanel.trop(panel, **lams).variance("bootstrap")


def test_failed_replicates_are_not_counted():
    out = from_draws("placebo", 1.0, np.array([0.5, np.nan, -0.5, 1.5]), 4, 0.95, True)
    assert out.n_valid == 3 and out.n_requested == 4
    np.testing.assert_allclose(out.se, np.std([0.5, -0.5, 1.5]))
    with pytest.raises(ValueError, match="only 1 of 3"):
        from_draws("placebo", 1.0, np.array([np.nan, 1.0, np.nan]), 3, 0.95, False)
