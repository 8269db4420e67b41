"""Conformal inference (jaxpanel.inference._conformal)."""

from __future__ import annotations

import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel

# ------------------------------------------------------------------ conformal


def conformal_p_reference(y, Yco, theta, t0, sample=None):
    """CWZ with a DID model and moving-block permutations, in plain NumPy."""
    T = len(y)
    sample = np.arange(T) if sample is None else np.asarray(sample)
    post = sample >= t0
    y_adj = y[sample] - theta * post
    gap = y_adj - Yco[:, sample].mean(axis=0)
    u = gap - gap.mean()

    def stat(v):
        return np.abs(v[post]).sum() / np.sqrt(post.sum())

    s0 = stat(u)
    n = len(sample)
    return np.mean([stat(np.roll(u, -j)) >= s0 - 1e-12 * s0 for j in range(n)])


def test_conformal_did_matches_reference(rng):
    n, t, t0 = 15, 24, 20
    Y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1))
    d = np.zeros((n, t))
    d[0, t0:] = 1
    Y[0, t0:] += 2.0
    est = jaxpanel.did(Panel.from_arrays(Y, d)).variance(
        "conformal", grid_points=41, return_draws=True
    )
    info = est.inference.info
    assert est.se is None and est.inference.reference == "conformal"
    for k in (0, 10, 20, 33):
        theta = info["grid"][k]
        np.testing.assert_allclose(
            info["p_values"][k],
            conformal_p_reference(Y[0], Y[1:], theta, t0),
            atol=1e-12,
        )
    np.testing.assert_allclose(
        est.p_value, conformal_p_reference(Y[0], Y[1:], 0.0, t0), atol=1e-12
    )

    def check_set(intervals, p_of):
        """The reported set is the reference's accepted set, up to the resolution."""
        lo = min(iv[0] for iv in intervals)
        hi = max(iv[1] for iv in intervals)
        assert np.isfinite(lo) and np.isfinite(hi)
        tol = 2e-3 * (hi - lo)
        for x in np.linspace(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo), 301):
            inside = any(a + tol < x < b - tol for a, b in intervals)
            outside = all(x < a - tol or x > b + tol for a, b in intervals)
            if inside or outside:
                assert (p_of(x) > 0.05) == inside, (x, intervals)
        for a, b in intervals:  # boundaries are accepted points
            assert p_of(a) > 0.05 and p_of(b) > 0.05

    check_set(est.inference.ci_set, lambda x: conformal_p_reference(Y[0], Y[1:], x, t0))
    sample = list(range(t0)) + [t0]
    check_set(
        info["per_period_sets"][t0],
        lambda x: conformal_p_reference(Y[0], Y[1:], x, t0, sample=sample),
    )


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_conformal_reports_a_union_and_unbounded_sets(prop99_panel):
    """Finding 1 of issue 12: sets are unions, unbounded where nothing is rejected."""
    est = jaxpanel.sc(prop99_panel).variance("conformal", progress=False)
    res = est.inference
    assert len(res.ci_set) == 2 and est.ci is None and est.se is None
    (a, b), (c, e) = res.ci_set
    assert a < b < c < e and b < -16.5 < c  # the gap around -16.6 is not accepted
    assert " U " in est.summary() and "SE           -" in est.summary()
    # 15 x 12 with 8 pre-periods: 12 block permutations cannot reject at 5 %
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(15, 12))
    W = np.zeros((15, 12))
    W[0, 8:] = 1
    with pytest.warns(jaxpanel.inference.InferenceWarning, match="12 permutations"):
        small = jaxpanel.did(Panel.from_arrays(Y, W)).variance(
            "conformal", progress=False, grid_points=31
        )
    assert small.ci == (-np.inf, np.inf) and small.se is None


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_conformal_detects_a_large_effect_and_runs_iid(rng):
    n, t, t0 = 20, 30, 24
    Y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1))
    d = np.zeros((n, t))
    d[:2, t0:] = 1
    Y[:2, t0:] += 8.0
    panel = Panel.from_arrays(Y, d)
    for method in ("sc", "sdid"):
        est = getattr(jaxpanel, method)(panel).variance("conformal", grid_points=15)
        assert est.p_value <= 1 / t + 1e-12  # the observed ordering is the most extreme
        assert est.ci[0] > 0
        assert all(lo > 0 for lo, hi in est.inference.info["per_period_ci"].values())
    iid = jaxpanel.did(panel).variance(
        "conformal", scheme="iid", reps=99, seed=1, grid_points=21
    )
    assert 0 < iid.p_value <= 0.05 and iid.inference.info["n_permutations"] == 100
    with pytest.raises(ValueError, match="scheme='x' is not supported"):
        jaxpanel.did(panel).variance("conformal", scheme="x")
