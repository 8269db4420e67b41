"""Staggered adoption for SC, DIFP and SDID: one block fit per adoption cohort.

References: a loop of block fits by the slow NumPy reference of R synthdid
(tests/reference_synth.py), aggregated by treated cells as Stata ``sdid`` does; Stata's
published ATT on the quota panel; the jackknife from its formula (Stata's fixed weights).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.estimators import sdid
from jaxpanel.estimators._staggered import adoption_periods

from ..conftest import shared_path
from ..reference_synth import synthdid as reference_block


def staggered_panel(rng, n_co=14, adopt=(6, 6, 8, 8, 8, 11), T=14):
    """Factor-model panel: controls first, then treated units adopting at ``adopt``."""
    N = n_co + len(adopt)
    a = rng.normal(size=(N, 2))
    f = np.cumsum(rng.normal(size=(T, 2)), axis=0)
    Y = a @ f.T + rng.normal(size=(N, 1)) + 0.3 * rng.normal(size=(N, T))
    W = np.zeros((N, T))
    for k, s in enumerate(adopt):
        W[n_co + k, s:] = 1.0
    Y = Y + 2.0 * W
    return Y, W


def reference_staggered(Y, W, kind):
    """Loop of block fits (NumPy reference), aggregated by treated cells."""
    T = W.shape[1]
    adopt = np.where(W.any(axis=1), W.argmax(axis=1), T)
    never = adopt == T
    atts, cells = [], []
    for a in np.unique(adopt[~never]):
        rows = np.concatenate([np.flatnonzero(never), np.flatnonzero(adopt == a)])
        att, _, _ = reference_block(Y[rows], int(never.sum()), int(a), kind)
        atts.append(att)
        cells.append((adopt == a).sum() * (T - a))
    return float(np.dot(atts, cells) / np.sum(cells)), np.asarray(atts)


def loop_of_exact_block_fits(Y, W, freq):
    """jaxpanel's block SDID (exact weights) per cohort with unit frequencies ``freq``."""
    T = W.shape[1]
    adopt = np.where(W.any(axis=1), W.argmax(axis=1), T)
    atts, cells = [], []
    for a in np.unique(adopt[(adopt < T) & (freq > 0)]):
        keep = ((adopt == a) | (adopt == T)).astype(float)
        Wa = np.where((adopt == a)[:, None], W, 0.0)
        f = sdid.fit(Y, Wa, keep[:, None] * np.ones_like(Y), freq, solver="exact")
        atts.append(float(f.att))
        cells.append(freq[adopt == a].sum() * (T - a))
    return np.dot(atts, cells) / np.sum(cells)


def to_panel(Y, W):
    N = Y.shape[0]
    return Panel.from_arrays(Y, W.astype(bool), units=[f"u{i}" for i in range(N)])


@pytest.mark.parametrize("method", ["sdid", "sc", "difp"])
def test_staggered_equals_loop_of_block_fits(rng, method):
    Y, W = staggered_panel(rng)
    est = getattr(jaxpanel, method)(to_panel(Y, W))
    ref, ref_cohorts = reference_staggered(Y, W, method)
    # R's Frank-Wolfe in both: the stopping rule is reproduced, not just the optimum
    assert abs(est.att - ref) < 1e-8
    np.testing.assert_allclose(est.cohorts["att"], ref_cohorts, atol=1e-8)
    assert list(est.cohorts.index) == [6, 8, 11]
    assert list(est.cohorts["n_treated"]) == [2, 3, 1]
    cells = np.array([2 * 8, 3 * 6, 1 * 3])
    np.testing.assert_allclose(est.cohorts["weight"], cells / cells.sum(), rtol=1e-12)
    # the aggregate is the mean of the cell effects over all treated cells
    tau = np.asarray(est.fit.tau)[W > 0]
    assert abs(tau.mean() - est.att) < 1e-10
    # each cohort's weights live on the never-treated units only
    assert all(len(w) == 14 for w in est.cohorts["omega"])


def test_quota_matches_stata():
    df = pd.read_csv(shared_path("data", "quota.csv"))
    p = Panel.from_long(df, "country", "year", "womparl", "quota")
    est = jaxpanel.sdid(p)
    # Stata sdid (Clarke, Pailanir, Athey and Imbens 2023): ATT 8.03410
    assert abs(est.att - 8.03410) < 5e-6
    assert len(est.cohorts) == 7 and est.cohorts["n_treated"].sum() == 9
    with pytest.raises(ValueError, match="two treated units in every adoption cohort"):
        est.variance("jackknife")


def test_array_level_vmaps_over_panels(rng):
    from jaxpanel.estimators import staggered

    Y, W = staggered_panel(rng)
    adoptions = adoption_periods(W)
    Y2 = Y + rng.normal(size=Y.shape)
    Ys = jnp.stack([jnp.asarray(Y), jnp.asarray(Y2)])
    out = jax.jit(jax.vmap(lambda y: staggered.fit(y, W, adoptions).att))(Ys)
    each = [float(staggered.fit(jnp.asarray(y), W, adoptions).att) for y in (Y, Y2)]
    np.testing.assert_allclose(np.asarray(out), each, rtol=1e-12)
    assert abs(each[0] - jaxpanel.sdid(to_panel(Y, W)).att) < 1e-12
    # a cohort lane with no unit contributes nothing
    extra = np.concatenate([adoptions, [3]]).astype(np.int32)
    empty_lane = staggered.fit(jnp.asarray(Y), W, extra)
    np.testing.assert_allclose(float(empty_lane.att), each[0], rtol=1e-12)


def test_bootstrap_draws_are_loops_of_block_fits(rng):
    Y, W = staggered_panel(rng)
    est = jaxpanel.sdid(to_panel(Y, W), solver="exact")
    res = est.variance("bootstrap", reps=4, seed=3, return_draws=True)
    from jaxpanel.inference.resampling import bootstrap_draws

    treated = np.flatnonzero(W.any(axis=1))
    counts, _ = bootstrap_draws(3, Y.shape[0], treated, 4)
    for b in range(4):
        ref = loop_of_exact_block_fits(Y, W, counts[b].astype(float))
        assert abs(res.inference.draws[b] - ref) < 1e-7


def test_placebo_assigns_the_cohorts_to_controls(rng):
    Y, W = staggered_panel(rng)
    est = jaxpanel.sdid(to_panel(Y, W), solver="exact")
    res = est.variance("placebo", reps=3, seed=1, return_draws=True, reference="normal")
    from jaxpanel.inference.resampling import placebo_draws

    treated = np.flatnonzero(W.any(axis=1))
    controls = np.flatnonzero(~W.any(axis=1))
    idx, _ = placebo_draws(1, controls, len(treated), 3, ordered=True)
    for b in range(3):
        Wp = np.zeros_like(W)
        Wp[idx[b]] = W[treated]  # control idx[b][k] takes treated unit k's adoption
        freq = np.ones(len(Y))
        freq[treated] = 0.0  # the real treated units are left out
        ref = loop_of_exact_block_fits(Y, Wp, freq)
        assert abs(res.inference.draws[b] - ref) < 1e-7


def test_jackknife_holds_each_cohorts_weights(rng):
    Y, W = staggered_panel(rng, adopt=(6, 6, 9, 9, 9))
    est = jaxpanel.sdid(to_panel(Y, W))
    res = est.variance("jackknife", return_draws=True)
    N, T = Y.shape
    adopt = np.where(W.any(axis=1), W.argmax(axis=1), T)
    never = adopt == T
    draws, per_cohort = [], []
    for i in range(N):
        atts, cells = [], []
        for a, row in est.cohorts.iterrows():
            units = np.flatnonzero((adopt == a) & (np.arange(N) != i))
            co = np.flatnonzero(never & (np.arange(N) != i))
            omega = row["omega"].to_numpy()[np.isin(np.flatnonzero(never), co)]
            omega = omega / omega.sum()
            lam = row["lambda"].to_numpy()
            d = Y[units].mean(axis=0) - omega @ Y[co]
            atts.append(d[a:].mean() - lam @ d[:a])
            cells.append(len(units) * (T - a))
        draws.append(np.dot(atts, cells) / np.sum(cells))
        per_cohort.append(atts)
    draws = np.asarray(draws)
    np.testing.assert_allclose(res.inference.draws, draws, atol=1e-9)
    se = np.sqrt((N - 1) / N * ((draws - draws.mean()) ** 2).sum())
    assert abs(res.se - se) < 1e-9
    # per-cohort SEs from the same leave-one-out fits (Stata sdid's se for each adoption)
    pc = np.asarray(per_cohort)
    se_c = np.sqrt((N - 1) / N * ((pc - pc.mean(axis=0)) ** 2).sum(axis=0))
    np.testing.assert_allclose(res.cohorts["se"], se_c, rtol=1e-9)
    assert f"(SE {se_c[0]:.4f})" in res.summary()
    assert [c["se"] for c in res.to_dict()["cohorts"]] == pytest.approx(se_c)


def test_staggered_requirements(rng):
    Y, W = staggered_panel(rng, adopt=(1, 6, 6))
    with pytest.raises(ValueError, match="sdid needs at least 2 pre-treatment periods"):
        jaxpanel.sdid(to_panel(Y, W))
    Y, W = staggered_panel(rng)
    W[-1, -1] = 0.0  # treatment switches off
    with pytest.raises(ValueError, match="sdid needs an absorbing treatment"):
        jaxpanel.sdid(to_panel(Y, W))
    est = jaxpanel.sdid(to_panel(*staggered_panel(rng)))
    for method in ("regression", "conformal", "time_placebo"):
        with pytest.raises(ValueError, match="block design"):
            est.variance(method)


@pytest.mark.slow
def test_bootstrap_se_agrees_with_duplicated_rows_bootstrap():
    """The frequency-weighted bootstrap against an explicit one: each draw a new panel.

    Stata sdid's bootstrap resamples units into a panel with duplicated rows; here each
    draw's panel is built and fitted at the user level (cold starts, its own tuning
    constants). Different draws, so the SEs agree within Monte Carlo error only
    (4 combined SEs of an SE over 200 draws, ``se / sqrt(2 B)`` each).
    """
    df = pd.read_csv(shared_path("data", "quota.csv"))
    p = Panel.from_long(df, "country", "year", "womparl", "quota")
    rng = np.random.default_rng(7)
    draws = []
    while len(draws) < 200:
        idx = rng.integers(0, p.N, p.N)
        W = p.W[idx]
        if W.any(axis=1).all() or not W.any():
            continue  # no control or no treated unit: redrawn, as Stata and R
        q = Panel.from_arrays(p.Y[idx], W, units=[f"d{k}" for k in range(p.N)])
        draws.append(jaxpanel.sdid(q).att)
    explicit = float(np.std(draws))
    library = jaxpanel.sdid(p).variance("bootstrap", reps=200, seed=3).se
    tol = 4 * np.sqrt((explicit**2 + library**2) / (2 * 200))
    assert abs(explicit - library) < tol
