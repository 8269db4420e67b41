"""Conditional variance (jaxpanel.inference._conditional): a unit x period noise model."""

from __future__ import annotations

import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference import _conditional as cond
from jaxpanel.inference import resampling

from ..reference import twfe_fit


def ar1_panel(rng, n, t, levels, rho=0.6, n_tr=2, t_post=3):
    """Rows with covariance ``levels_j * rho^|s - t|``, fixed effects, a block of treated."""
    lags = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :])
    chol = np.linalg.cholesky(rho**lags)
    e = rng.normal(size=(n, t)) @ chol.T * np.sqrt(levels)[:, None]
    y = e + rng.normal(size=(n, 1)) * 3 + np.linspace(0, 2, t)
    d = np.zeros((n, t))
    d[:n_tr, t - t_post :] = 1
    return y, d, rho**lags


def reference_model(y, d):
    """NumPy: two-way residuals, then the module docstring's step 2."""
    control = d == 0
    r = np.where(control, y - twfe_fit(np.where(control, y, 0.0), control * 1.0), 0)
    full = ~(d > 0).any(axis=1)
    E = r[full]
    S = E.T @ E / (len(E) - 1)
    a = np.empty(len(y))
    for j in range(len(y)):
        o = control[j]
        P = np.eye(o.sum()) - 1.0 / o.sum()
        a[j] = (r[j, o] ** 2).sum() / np.trace(P @ S[np.ix_(o, o)] @ P)
    return a, S


def test_noise_model_matches_a_numpy_reference(rng):
    levels = np.exp(rng.normal(size=15))
    y, d, _ = ar1_panel(rng, 15, 8, levels)
    a, S = cond.noise_model(Panel.from_arrays(y, d))
    a_ref, S_ref = reference_model(y, d)
    np.testing.assert_allclose(a, a_ref, rtol=1e-8)
    np.testing.assert_allclose(S, S_ref, rtol=1e-8, atol=1e-12)


def test_noise_model_recovers_levels_and_serial_covariance(rng):
    n, t = 400, 12
    levels = np.exp(0.5 * rng.normal(size=n))
    y, d, C = ar1_panel(rng, n, t, levels, n_tr=20, t_post=4)
    a, S = cond.noise_model(Panel.from_arrays(y, d))
    scale = levels[20:].mean()  # a is relative to the controls' mean level
    # each level from 12 (controls) or 8 (treated) correlated cells: unbiased, ~50 %
    # error; their mean over 400 units within 0.1, over the 20 treated within 0.35
    ratio = a / (levels / scale)
    assert abs(ratio.mean() - 1) < 0.1 and abs(ratio[:20].mean() - 1) < 0.35
    # S is the centred covariance of a level-1 row (the unit effect absorbs the mean)
    P = np.eye(t) - 1.0 / t
    # entries from 380 rows with lognormal levels: sampling sd ~0.07 each
    err = S - scale * P @ C @ P
    assert np.abs(err).max() < 0.3 and np.abs(err).mean() < 0.06


def test_variance_is_the_placebo_rescaled_to_the_treated_units_level(rng):
    from scipy import stats

    levels = np.exp(rng.normal(size=15))
    y, d, _ = ar1_panel(rng, 15, 8, levels)
    est = jaxpanel.did(Panel.from_arrays(y, d))
    got = est.variance("conditional", reps=40, seed=3, progress=False)
    pl = est.variance("placebo", reps=40, seed=3, return_draws=True, progress=False)
    idx, _ = resampling.placebo_draws(3, np.arange(2, 15), 2, 40)
    a, _ = reference_model(y, d)
    draws = pl.inference.draws
    v = np.mean((draws - draws.mean()) ** 2) * a[:2].mean() / a[idx].mean()
    np.testing.assert_allclose(got.se, np.sqrt(v), rtol=1e-8)
    info = got.inference.info
    assert info["df_treated"] == 2 * (5 - 1) and info["n_assignments"] == len(idx)
    df = 1 / (1 / 8 + 1 / (len(idx) - 1))
    np.testing.assert_allclose(info["df"], df, rtol=1e-12)
    assert got.inference.reference == "t"
    q = stats.t.ppf(0.975, df)
    np.testing.assert_allclose(got.ci, (got.att - q * got.se, got.att + q * got.se))
    np.testing.assert_allclose(
        got.p_value, 2 * stats.t.sf(abs(got.att) / got.se, df), rtol=1e-10
    )
    normal = est.variance("conditional", reps=40, seed=3, reference="normal")
    assert normal.se == got.se and normal.inference.reference == "normal"


def test_quiet_treated_unit_gets_a_smaller_se_than_the_placebo(rng):
    # controls' noise level 1, the treated unit's 1/16: the placebo borrows the controls'
    levels = np.r_[1 / 16, np.ones(29)]
    ses = []
    for _ in range(20):
        y, d, _ = ar1_panel(rng, 30, 12, levels, n_tr=1, t_post=1)
        est = jaxpanel.did(Panel.from_arrays(y, d))
        ses.append(
            (
                est.variance("conditional").se,
                est.variance("placebo", reps=29, progress=False, reference="normal").se,
            )
        )
    cond_se, placebo_se = np.mean(ses, axis=0)
    # own noise sd 1/4 against 1 (the controls' part adds ~1/29 of a variance unit)
    assert cond_se < 0.5 * placebo_se


def test_mc_and_trop_rescale_their_own_placebo(rng):
    y, d, _ = ar1_panel(rng, 12, 8, np.exp(rng.normal(size=12)))
    panel = Panel.from_arrays(y, d)
    a, _ = cond.noise_model(panel)
    for est in (jaxpanel.mc(panel, lam=0.05), jaxpanel.trop(panel, 0.3, 0.5, 4.0)):
        got = est.variance("conditional", reps=20, seed=1, progress=False)
        pl = est.variance("placebo", reps=20, seed=1, progress=False)
        ratio = (
            got.inference.info["treated_level"] / got.inference.info["placebo_level"]
        )
        np.testing.assert_allclose(got.se, pl.se * np.sqrt(ratio), rtol=1e-10)
        np.testing.assert_allclose(got.inference.info["treated_level"], a[:2].mean())


@pytest.mark.slow
def test_size_holds_given_the_treated_units_noise_level():
    # One treated unit, one post-period, AR(1) errors; the treated unit 4x quieter or 4x
    # noisier (sd) than the 29 controls. The unit placebo borrows the controls' noise:
    # it never rejects for the quiet unit and over-rejects for the noisy one; the
    # conditional variance holds 5 % in both (300 replications each: MC SE 1.3 %).
    rng = np.random.default_rng(11)
    for sd, placebo_ok in ((0.25, lambda r: r < 0.01), (4.0, lambda r: r > 0.3)):
        levels = np.r_[sd**2, np.ones(29)]
        rej = []
        for _ in range(300):
            y, d, _ = ar1_panel(rng, 30, 20, levels, rho=0.5, n_tr=1, t_post=1)
            est = jaxpanel.did(Panel.from_arrays(y, d))
            c = est.variance("conditional")
            p = est.variance("placebo", reps=29, progress=False, reference="normal")
            rej.append((c.p_value < 0.05, p.p_value < 0.05))
        cond_rate, placebo_rate = np.mean(rej, axis=0)
        assert 0.015 <= cond_rate <= 0.095, (sd, cond_rate)
        assert placebo_ok(placebo_rate), (sd, placebo_rate)


@pytest.mark.slow
def test_sdid_and_sc_hold_their_size_with_iid_noise():
    # found by a reviewer: a plug-in form (residual covariance x fixed-weight
    # coefficients) rejected 16 % (SDID) and 17 % (SC) here, because the weights are
    # fitted on the controls whose residuals estimated the covariance; 150 replications
    rng = np.random.default_rng(5)
    for fit in (jaxpanel.sdid, jaxpanel.sc):
        rej = []
        for _ in range(150):
            y = rng.normal(size=(39, 31)) + rng.normal(size=(39, 1))
            d = np.zeros((39, 31))
            d[0, 19:] = 1
            est = fit(Panel.from_arrays(y, d))
            rej.append(est.variance("conditional", progress=False).p_value < 0.05)
        assert np.mean(rej) <= 0.10, (fit.__name__, np.mean(rej))
