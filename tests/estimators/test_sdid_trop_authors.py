"""The TROP authors' SDID (sdid.fit_trop_authors) against a SciPy reference of their
``SDID_weights`` / ``SDID_TWFE`` (xyang23/TROP-Estimator, methods.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from jaxpanel.estimators import batched, sdid


def simplex_ls(X, y, reg):
    """argmin over the simplex (and a free intercept) of ||y - X w - mu||^2 + reg ||w||^2."""
    k = X.shape[1]

    def f(z):
        r = y - X @ z[:k] - z[k]
        return r @ r + reg * (z[:k] @ z[:k])

    out = minimize(
        f,
        np.r_[np.ones(k) / k, 0.0],
        method="SLSQP",
        bounds=[(0, None)] * k + [(None, None)],
        constraints=[{"type": "eq", "fun": lambda z: z[:k].sum() - 1}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return out.x[:k]


def reference(Y, n_tr, t_post):
    N, T = Y.shape
    co, pre = np.arange(N) < N - n_tr, np.arange(T) < T - t_post
    reg = np.sqrt(n_tr * t_post) * np.var(np.diff(Y[co][:, pre], axis=1))
    om = simplex_ls(Y[co][:, pre].T, Y[~co][:, pre].mean(0), reg * pre.sum())
    la = simplex_ls(Y[co][:, pre], Y[co][:, ~pre].mean(1), 0.0)
    sw = np.outer(np.r_[om, np.ones(n_tr) / n_tr], np.r_[la, np.ones(t_post) / t_post])
    W = np.outer(~co, ~pre).astype(float)
    X = np.column_stack(
        [np.ones(N * T)]
        + [np.repeat(np.arange(N) == j, T) for j in range(1, N)]
        + [np.tile(np.arange(T) == s, N) for s in range(1, T)]
        + [W.ravel()]
    ).astype(float)
    sw = sw.ravel()  # delta inside the square: rows scaled by delta
    return np.linalg.lstsq(X * sw[:, None], Y.ravel() * sw, rcond=None)[0][-1], W


@pytest.mark.parametrize("seed", [1, 2])
def test_equals_the_authors_form_by_reference(seed):
    rng = np.random.default_rng(seed)
    N, T = 10, 8
    Y = (
        rng.normal(size=(N, T))
        + rng.normal(size=(N, 1)) * 2
        + rng.normal(size=(N, 2)) @ rng.normal(size=(2, T))
    )
    ref, W = reference(Y, 3, 3)
    f = sdid.fit_trop_authors(Y, W)
    # SLSQP solves the weights to about 1e-8
    np.testing.assert_allclose(float(f.att), ref, atol=1e-6)
    assert int(f.status) == 0
    assert abs(float(sdid.fit(Y, W).att) - ref) > 1e-3  # not R synthdid's SDID


def test_in_a_study_point_estimates_only():
    b = batched.batched("sdid", {"form": "trop_authors"})
    assert b.static == ("sdid", "trop_authors")
    with pytest.raises(ValueError, match="form must be 'synthdid' or 'trop_authors'"):
        batched.batched("sdid", {"form": "r"})
