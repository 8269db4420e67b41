"""Effects by event time with SEs from the variance replicates, for every estimator.

References: Stata ``sdid_event``'s definition written out from the fitted weights (its
``ATT_compute`` / ``ATT_compute_pl``: ``d_t - lambda'd_pre`` with ``d`` the treated mean
minus the omega-weighted controls); user-level leave-one-out refits for the jackknife's
event-time covariance; the block identity (the post-period effects average to the ATT).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel

from .conftest import shared_path
from .estimators.test_staggered import staggered_panel, to_panel


def sdid_event_effects(Y, treated, controls, omega, lam, a):
    """sdid_event's effects for one cohort adopting at column ``a`` (leads and lags)."""
    d = Y[treated].mean(axis=0) - omega @ Y[controls]
    return d - lam @ d[:a]  # entry t: event time t - a


def test_block_sdid_matches_sdid_event_definition(prop99_panel):
    est = jaxpanel.sdid(prop99_panel)
    p = prop99_panel
    a = p.n_pre
    ref = sdid_event_effects(
        p.Y,
        p.ever_treated,
        ~p.ever_treated,
        est.unit_weights.to_numpy(),
        est.time_weights.to_numpy(),
        a,
    )
    table = est.event_study()
    assert list(table.index) == list(range(-a, p.T - a))
    np.testing.assert_allclose(table["effect"], ref, atol=1e-9)
    # the post-period effects average to the ATT in a block design
    assert abs(est.event_average(0, p.T - a - 1)["effect"] - est.att) < 1e-9
    assert table["se"].isna().all()  # no variance method has run


def test_staggered_sdid_aggregates_cohorts_by_size():
    df = pd.read_csv(shared_path("data", "quota.csv"))
    p = Panel.from_long(df, "country", "year", "womparl", "quota")
    est = jaxpanel.sdid(p)
    adopt = p.adoption_index
    never = ~p.ever_treated
    num = np.zeros(2 * p.T - 1)
    den = np.zeros(2 * p.T - 1)
    for year, row in est.cohorts.iterrows():
        a = int(np.flatnonzero(p.times == year)[0])
        lam = np.zeros(a) if row["lambda"] is None else row["lambda"].to_numpy()
        eff = sdid_event_effects(
            p.Y, adopt == a, never, row["omega"].to_numpy(), lam, a
        )
        k = np.arange(p.T) - a + p.T - 1
        num[k] += row["n_treated"] * eff
        den[k] += row["n_treated"]
    ref = pd.Series(num[den > 0] / den[den > 0], index=np.flatnonzero(den > 0) - 25)
    table = est.event_study()
    np.testing.assert_allclose(table["effect"], ref.loc[table.index], atol=1e-9)
    np.testing.assert_array_equal(table["n_units"], den[den > 0])


@pytest.mark.parametrize("method", ["did", "sc", "difp", "sdid", "mc"])
def test_replicate_effects_equal_the_user_level_table(rng, method):
    Y, W = staggered_panel(rng, n_co=10, adopt=(5, 5, 7, 7), T=10)
    p = to_panel(Y, W)
    kwargs = {"lam": 0.5} if method == "mc" else {}
    est = getattr(jaxpanel, method)(p, **kwargs)
    # the replicate path: the estimator's fixed-weight refit on the full sample
    rep = est.replicator
    out = np.asarray(rep.fixed(rep.data, np.ones(p.N))["event"], dtype=float)
    table = est.event_study()
    np.testing.assert_allclose(out[table.index + p.T - 1], table["effect"], atol=1e-10)
    assert np.isnan(np.delete(out, table.index + p.T - 1)).all()


@pytest.mark.slow
def test_per_cell_trop_reports_lags_only(rng):
    Y, W = staggered_panel(rng, n_co=8, adopt=(6, 6, 7), T=9)
    est = jaxpanel.trop(
        to_panel(Y, W), lambda_unit=0.5, lambda_time=0.5, lambda_nn=None
    )
    table = est.event_study()
    assert table.index.min() == 0 and table.index.max() == 2
    tau = np.asarray(est.fit.tau)
    np.testing.assert_allclose(
        table.loc[0, "effect"], np.mean([tau[8, 6], tau[9, 6], tau[10, 7]]), atol=1e-12
    )


def test_jackknife_event_covariance_equals_leave_one_out_refits(rng):
    Y, W = staggered_panel(rng, n_co=9, adopt=(5, 5, 7, 7), T=9)
    p = to_panel(Y, W)
    with pytest.warns(jaxpanel.inference.InferenceWarning, match="jackknife with DID"):
        est = jaxpanel.did(p).variance("jackknife")
    loo = []
    for unit in p.units:
        q = p.select(units=[u for u in p.units if u != unit])
        loo.append(jaxpanel.did(q).event_study()["effect"])
    loo = pd.concat(loo, axis=1).T  # (N, event times)
    n = len(loo)
    dev = loo - loo.mean()
    cov = (n - 1) / n * dev.T @ dev
    table = est.event_study()
    np.testing.assert_allclose(table["se"], np.sqrt(np.diag(cov)), rtol=1e-9)
    np.testing.assert_allclose(est.event_covariance(), cov, rtol=1e-9, atol=1e-12)
    avg = est.event_average(0, 3)
    window = loo[[0, 1, 2, 3]].mean(axis=1)
    ref_se = np.sqrt((n - 1) / n * ((window - window.mean()) ** 2).sum())
    assert abs(avg["se"] - ref_se) < 1e-9
    z = 1.959963984540054
    assert abs(avg["ci_high"] - avg["effect"] - z * ref_se) < 1e-9
    with pytest.raises(
        ValueError, match=r"event times \[-9, -8\] have no effect .*: -7..3\)"
    ):
        est.event_average(-9, 0)


def test_block_placebo_window_average_se_equals_att_se(prop99_panel):
    est = jaxpanel.sc(prop99_panel).variance("placebo", reps=30, seed=2)
    avg = est.event_average(0, prop99_panel.n_post - 1)
    # the ATT is the post-period effects' mean in every replicate: same draws, same SE
    assert abs(avg["effect"] - est.att) < 1e-9
    assert abs(avg["se"] - est.se) < 1e-9


def test_event_study_refuses_nonabsorbing(rng):
    Y, W = staggered_panel(rng, n_co=8, adopt=(4, 6), T=8)
    W[-1, -1] = 0.0
    est = jaxpanel.did(to_panel(Y, W))
    with pytest.raises(ValueError, match="event study needs an absorbing treatment"):
        est.event_study()
