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
    np.testing.assert_allclose(est.se, np.sqrt(sigma2 * np.sum(c**2)), rtol=1e-10)


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_regression_sdid_is_linear(estimates, multi):
    est = estimates[("prop99_multi", "sdid")].variance("regression")
    c = regression.coefficients(est)
    np.testing.assert_allclose(np.sum(c * multi.Y), est.att, rtol=1e-9)
    assert est.se > 0 and est.inference.info["dof"] == 1209 - 60 - (39 + 31 - 1)
