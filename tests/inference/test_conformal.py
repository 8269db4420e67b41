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
    n, t, t0 = 15, 14, 10
    Y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1))
    d = np.zeros((n, t))
    d[0, t0:] = 1
    Y[0, t0:] += 2.0
    est = jaxpanel.did(Panel.from_arrays(Y, d)).variance(
        "conformal", grid_points=41, return_draws=True
    )
    info = est.inference.info
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
    lo, hi = est.ci
    accepted = info["grid"][info["p_values"] > 0.05]
    assert lo == accepted.min() and hi == accepted.max()
    # per-period set for the first post-period: sample = pre-periods + that period
    g = np.linspace(-5, 5, 11)
    p_ref = [
        conformal_p_reference(Y[0], Y[1:], th, t0, sample=list(range(t0)) + [t0])
        for th in g
    ]
    lo_t, hi_t = info["per_period_ci"][t0]
    inside = [th for th, pv in zip(g, p_ref) if pv > 0.05]
    assert lo_t <= min(inside) + 0.6 and hi_t >= max(inside) - 0.6


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
