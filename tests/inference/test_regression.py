"""Regression-based variance (jaxpanel.inference._regression)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.estimators import did
from jaxpanel.inference import _regression as regression

from ..reference import did_att


def test_regression_variance_did(rng):
    n, t = 9, 7
    y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1))
    d = np.zeros((n, t))
    d[:2, 5:] = 1
    panel = Panel.from_arrays(y, d)
    est = jaxpanel.did(panel).variance("regression")
    c = regression.coefficients(est)
    # Linear: att = sum c Y, and c equals finite differences of the reference estimator.
    np.testing.assert_allclose(np.sum(c * y), est.att, rtol=1e-10)
    base = did_att(y, d, np.ones_like(d))
    for i, s in [(0, 6), (3, 2), (8, 5)]:
        bumped = y.copy()
        bumped[i, s] += 1.0
        np.testing.assert_allclose(
            c[i, s], did_att(bumped, d, np.ones_like(d)) - base, atol=1e-10
        )
    # sigma^2 from the two-way residuals on untreated cells, dof = cells - (N + T - 1).
    control = d == 0
    resid = (y - np.asarray(did.fit(jnp.asarray(y), jnp.asarray(d)).y0))[control]
    sigma2 = resid @ resid / (control.sum() - (n + t - 1))
    se_iid = est.inference.info["se_iid"]
    np.testing.assert_allclose(se_iid, np.sqrt(sigma2 * np.sum(c**2)), rtol=1e-10)
    # default (errors='serial'): Sigma = sum_j e_j e_j' / (N_co - 1) over the controls
    E = (y - np.asarray(did.fit(jnp.asarray(y), jnp.asarray(d)).y0))[2:]
    sigma = E.T @ E / (n - 2 - 1)
    want = np.sqrt(sum(c[j] @ sigma @ c[j] for j in range(n)))
    np.testing.assert_allclose(est.se, want, rtol=1e-10)


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_regression_sdid_is_linear(estimates, multi):
    with pytest.warns(
        jaxpanel.inference.InferenceWarning, match="regression with sdid"
    ):
        est = estimates[("prop99_multi", "sdid")].variance("regression")
    c = regression.coefficients(est)
    np.testing.assert_allclose(np.sum(c * multi.Y), est.att, rtol=1e-9)
    assert est.se > 0 and est.inference.info["dof"] == 1209 - 60 - (39 + 31 - 1)


def test_regression_variance_allows_serial_correlation(rng):
    """Finding 4 of issue 12: with AR(1) errors the iid formula rejected far too often.

    DID with 10 treated units x 5 post-periods and rho = 0.8: the SE with the estimated
    T x T covariance matches the true ``sum_j c_j' Sigma c_j`` within 10 %; the iid
    formula is less than two thirds of it (the cause of its 43-47 % size at 5 % in the
    CPS design).
    """
    n, t, n_tr, t_post, rho = 400, 12, 10, 5, 0.8
    lags = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    sigma = rho**lags / (1 - rho**2)
    eps = rng.multivariate_normal(np.zeros(t), sigma, size=n)
    Y = eps + rng.normal(size=(n, 1)) + rng.normal(size=(1, t))
    W = np.zeros((n, t))
    W[:n_tr, -t_post:] = 1
    est = jaxpanel.did(Panel.from_arrays(Y, W))
    c = regression.coefficients(est)
    true_se = np.sqrt(np.einsum("js,st,jt->", c, sigma, c))
    res = est.variance("regression").inference
    assert res.info["errors"] == "serial"
    assert abs(res.se / true_se - 1) < 0.1
    assert res.info["se_iid"] < 0.67 * true_se
    iid = est.variance("regression", errors="iid").inference
    assert iid.se == res.info["se_iid"]
