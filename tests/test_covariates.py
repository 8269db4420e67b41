"""Time-varying covariates: panels, the SC family's two forms, DID's two-way fit.

References: R synthdid's ``sc.weight.fw.covariates`` written out in NumPy
(tests/reference_synth.py) for 'optimized'; an explicit dummy-variable regression for
'projected' and DID; Stata ``sdid``'s published ATT on the quota panel with lngdp.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel

from .conftest import shared_path
from .reference_synth import synthdid as reference_block
from .reference_synth import synthdid_covariates


def covariate_panel(rng, N0=12, N1=3, T0=10, T1=4, K=2, effect=1.0):
    N, T = N0 + N1, T0 + T1
    f = np.cumsum(rng.normal(size=(T, 2)), axis=0)
    Y = rng.normal(size=(N, 2)) @ f.T + rng.normal(size=(N, 1))
    X = rng.normal(size=(K, N, T)) + np.linspace(0, 1, T)[None, None, :]
    beta = np.array([2.0, -1.0])[:K]
    W = np.zeros((N, T))
    W[N0:, T0:] = 1.0
    Y = Y + np.tensordot(beta, X, 1) + 0.2 * rng.normal(size=(N, T)) + effect * W
    return Y, W, X


def panel_of(Y, W, X):
    return Panel.from_arrays(
        Y,
        W.astype(bool),
        units=[f"u{i}" for i in range(len(Y))],
        X=X,
        covariate_names=[f"x{k}" for k in range(len(X))],
    )


def zscore(X):
    m = X.mean(axis=(1, 2), keepdims=True)
    s = X.reshape(len(X), -1).std(axis=1, ddof=1)[:, None, None]
    return (X - m) / s, s[:, 0, 0]


@pytest.mark.parametrize("method", ["sdid", "sc", "difp"])
def test_optimized_matches_r_algorithm(rng, method):
    Y, W, X = covariate_panel(rng)
    est = getattr(jaxpanel, method)(panel_of(Y, W, X))
    Xs, sd = zscore(X)
    ref, beta, steps = synthdid_covariates(Y, Xs, 12, 10, method)
    assert abs(est.att - ref) < 1e-8
    np.testing.assert_allclose(est.info["beta"], beta / sd, rtol=1e-7)
    assert est.info["covariate_steps"] == steps


def explicit_projection(Y, W, X):
    """OLS of Y on X and unit and period dummies over the untreated cells."""
    N, T = Y.shape
    ii, tt = np.nonzero(W == 0)
    D = np.column_stack(
        [X[:, ii, tt].T, np.eye(N)[ii], np.eye(T)[tt][:, 1:]]
    )  # unit dummies span the intercept
    coef, *_ = np.linalg.lstsq(D, Y[ii, tt], rcond=None)
    return coef[: len(X)]


@pytest.mark.parametrize("method", ["sdid", "sc", "difp"])
def test_projected_is_the_estimator_on_the_residualised_outcome(rng, method):
    Y, W, X = covariate_panel(rng)
    est = getattr(jaxpanel, method)(panel_of(Y, W, X), covariates="projected")
    beta = explicit_projection(Y, W, X)
    np.testing.assert_allclose(est.info["beta"], beta, rtol=1e-8)
    ref, _, _ = reference_block(Y - np.tensordot(beta, X, 1), 12, 10, method)
    assert abs(est.att - ref) < 1e-8


def test_did_with_covariates_is_the_imputation_regression(rng):
    Y, W, X = covariate_panel(rng)
    est = jaxpanel.did(panel_of(Y, W, X))
    beta = explicit_projection(Y, W, X)
    np.testing.assert_allclose(est.info["beta"], beta, rtol=1e-8)
    # imputation: the untreated two-way fit with covariates, predicted on treated cells
    N, T = Y.shape
    ii, tt = np.nonzero(W == 0)
    D = np.column_stack([np.eye(N)[ii], np.eye(T)[tt][:, 1:]])
    fe, *_ = np.linalg.lstsq(D, (Y - np.tensordot(beta, X, 1))[ii, tt], rcond=None)
    y0 = fe[:N][:, None] + np.concatenate([[0.0], fe[N:]])[None, :]
    y0 = y0 + np.tensordot(beta, X, 1)
    assert abs(est.att - (Y - y0)[W > 0].mean()) < 1e-9
    assert abs(jaxpanel.did(panel_of(Y, W, X), covariates=False).att - est.att) > 1e-3


@pytest.mark.parametrize("method", ["sdid", "did"])
@pytest.mark.parametrize("form", ["optimized", "projected"])
def test_covariate_units_do_not_matter(rng, method, form):
    Y, W, X = covariate_panel(rng)
    kw = {} if method == "did" else {"covariates": form}
    a = getattr(jaxpanel, method)(panel_of(Y, W, X), **kw)
    X2 = X * np.array([1e3, -0.01])[:, None, None] + 7.0
    b = getattr(jaxpanel, method)(panel_of(Y, W, X2), **kw)
    assert abs(a.att - b.att) < 1e-9 * max(1.0, abs(a.att))
    np.testing.assert_allclose(
        np.ravel(b.info["beta"]),
        np.ravel(a.info["beta"]) / np.array([1e3, -0.01]),
        rtol=1e-7,
    )


def test_quota_with_lngdp_matches_stata():
    df = pd.read_csv(shared_path("data", "quota.csv"))
    with pytest.raises(ValueError, match="covariate in column 'lngdp'.*'Cuba'"):
        Panel.from_long(df, "country", "year", "womparl", "quota", covariates="lngdp")
    df = df[df.lngdp.notna()]
    p = Panel.from_long(df, "country", "year", "womparl", "quota", covariates="lngdp")
    est = jaxpanel.sdid(p)
    # Stata sdid, covariates(lngdp) (optimized): ATT 8.051 (Clarke et al. 2023)
    assert abs(est.att - 8.051) < 5e-4
    assert np.asarray(est.info["beta"]).shape == (7, 1)  # one coefficient per cohort
    assert abs(jaxpanel.sdid(p, covariates=None).att - 8.0624395) < 1e-6


@pytest.mark.slow
def test_confounder_is_removed():
    """A covariate that jumps by 300 with treatment (coefficient 0.01) biases SDID by 3.

    Y = a_i + b_i f_t + 0.01 X + 1.0 W + noise, X = 100 z + 300 W; 10 panels of 23 x 14.
    """
    rng = np.random.default_rng(1)
    N0, N1, T0, T1 = 20, 3, 10, 4
    N, T = N0 + N1, T0 + T1
    W = np.zeros((N, T))
    W[N0:, T0:] = 1.0
    biased, optimized, projected = [], [], []
    for _ in range(10):
        X = (100.0 * rng.normal(size=(N, T)) + 300.0 * W)[None]
        f = np.cumsum(rng.normal(size=(T, 1)), axis=0)
        Y = (
            rng.normal(size=(N, 1))
            + 0.5 * rng.normal(size=(N, 1)) @ f.T
            + 0.3 * rng.normal(size=(N, T))
            + 0.01 * X[0]
            + W
        )
        p = panel_of(Y, W, X)
        biased.append(jaxpanel.sdid(p, covariates=None).att)
        optimized.append(jaxpanel.sdid(p).att)
        projected.append(jaxpanel.sdid(p, covariates="projected").att)
    for draws in (optimized, projected):
        m, se = np.mean(draws), np.std(draws, ddof=1) / np.sqrt(len(draws))
        assert abs(m - 1.0) < 3 * se
    assert np.mean(biased) > 3.0


def test_replicates_refit_the_coefficients(rng):
    Y, W, X = covariate_panel(rng)
    est = jaxpanel.sdid(panel_of(Y, W, X), covariates="projected")
    res = est.variance("jackknife", return_draws=True)
    # leaving unit 0 out: the projection and the estimator refitted without it
    keep = np.arange(1, len(Y))
    beta = explicit_projection(Y[keep], W[keep], X[:, keep])
    Yadj = Y - np.tensordot(beta, X, 1)
    omega = est.unit_weights.to_numpy()[1:]
    omega = omega / omega.sum()
    lam = est.time_weights.to_numpy()
    d = Yadj[12:].mean(axis=0) - omega @ Yadj[1:12]
    assert abs(res.inference.draws[0] - (d[10:].mean() - lam @ d[:10])) < 1e-9
    with pytest.raises(ValueError, match="regression-based variance needs"):
        est.variance("regression")


def test_bad_covariates():
    df = pd.DataFrame(
        {"u": [1, 1, 2, 2], "t": [1, 2, 1, 2], "y": [1.0, 2, 3, 4], "d": [0, 1, 0, 0]}
    )
    with pytest.raises(ValueError, match="missing columns.*covariates\\[0\\]='x'"):
        Panel.from_long(df, "u", "t", "y", "d", covariates=["x"])
    df["x"] = ["a", "1", "2", "3"]
    with pytest.raises(ValueError, match="outcome column 'x' is not numeric"):
        Panel.from_long(df, "u", "t", "y", "d", covariates=["x"])
    with pytest.raises(ValueError, match="repeated covariates"):
        Panel.from_long(df, "u", "t", "y", "d", covariates=["x", "x"])
    with pytest.raises(ValueError, match="also the unit, time, outcome or treatment"):
        Panel.from_long(df, "u", "t", "y", "d", covariates=["y"])
    df["x"] = [1.0, 2.0, 3.0, 4.0]
    p = Panel.from_long(df, "u", "t", "y", "d", covariates="x")
    assert p.covariate_names == ("x",) and p.to_long()["x"].tolist() == [1, 2, 3, 4]
    assert p.select(units=[1]).X.shape == (1, 1, 2)
    with pytest.raises(ValueError, match="X has shape"):
        Panel.from_arrays(np.zeros((2, 2)), np.eye(2), X=np.zeros((1, 3, 2)))


@pytest.mark.parametrize("lambda_nn", [np.inf, 3.0])
def test_trop_with_covariates_matches_reference_cells(rng, lambda_nn):
    """The paper's Eq. 14: each cell's weighted fit with unpenalised coefficients."""
    from .reference_lowrank import lowrank_regression_fit, trop_cell_weights

    Y, W, X = covariate_panel(rng, N0=6, N1=2, T0=6, T1=2)
    est = jaxpanel.trop(
        panel_of(Y, W, X), lambda_unit=0.4, lambda_time=0.3, lambda_nn=lambda_nn
    )
    mask = np.ones_like(Y)
    taus = []
    for i, t in zip(*np.nonzero(W)):
        w = trop_cell_weights(Y, W, mask, i, t, 0.4, 0.3)
        fitted, _, L = lowrank_regression_fit(Y, w, lambda_nn, X)
        taus.append(Y[i, t] - fitted[i, t] - L[i, t])
    assert abs(est.att - np.mean(taus)) < 1e-6
    without = jaxpanel.trop(
        panel_of(Y, W, X),
        lambda_unit=0.4,
        lambda_time=0.3,
        lambda_nn=lambda_nn,
        covariates=False,
    )
    assert abs(without.att - est.att) > 1e-3
    with pytest.raises(ValueError, match="trop\\(variant='global'\\) does not take"):
        jaxpanel.trop(panel_of(Y, W, X), variant="global", lambda_unit=0.1,
                      lambda_time=0.1, lambda_nn=np.inf)  # fmt: skip


def test_covariates_absorbed_by_the_fixed_effects_are_refused(rng):
    Y, W, X = covariate_panel(rng)
    N, T = Y.shape
    unit_level = np.repeat(rng.normal(size=(N, 1)), T, axis=1)
    period_level = np.repeat(rng.normal(size=(1, T)), N, axis=0)
    for bad in (
        unit_level,
        period_level,
        unit_level + period_level,
        np.full((N, T), 3.0),
    ):
        p = panel_of(Y, W, np.stack([X[0], bad]))
        for fit in (
            lambda p: jaxpanel.did(p),
            lambda p: jaxpanel.sdid(p, covariates="projected"),
            lambda p: jaxpanel.sdid(p),
            lambda p: jaxpanel.trop(
                p, lambda_unit=0.1, lambda_time=0.1, lambda_nn=np.inf
            ),
        ):
            with pytest.raises(
                ValueError, match=r"covariates \['x1'\] do not vary once"
            ):
                fit(p)
    # one covariate a combination of another and a unit effect
    p = panel_of(Y, W, np.stack([X[0], 2 * X[0] + unit_level]))
    with pytest.raises(ValueError, match=r"\['x0', 'x1'\] are collinear"):
        jaxpanel.did(p)
    assert np.isfinite(jaxpanel.did(p, covariates=False).att)


@pytest.mark.parametrize("form", ["optimized", "projected"])
def test_array_level_takes_covariates(rng, form):
    from jaxpanel.estimators import sdid

    Y, W, X = covariate_panel(rng)
    est = jaxpanel.sdid(panel_of(Y, W, X), covariates=form)
    f = sdid.fit(Y, W, X=X, covariates=form)
    assert abs(float(f.att) - est.att) < 1e-12
    np.testing.assert_allclose(np.asarray(f.info["beta"]), est.info["beta"], rtol=1e-12)


@pytest.mark.slow
def test_mc_with_covariates_matches_reference(rng):
    """MC (exact solver) with unpenalised coefficients, the penalty on L only."""
    from .reference_lowrank import lowrank_regression_fit

    Y, W, X = covariate_panel(rng, N0=8, N1=2, T0=7, T1=3)
    p = panel_of(Y, W, X)
    lam = 0.05  # MCPanel's scale: lambda_nn = lam * number of control cells
    est = jaxpanel.mc(p, lam=lam, solver="exact")
    w = (W == 0).astype(float)
    fitted, beta, L = lowrank_regression_fit(Y, w, lam * w.sum(), X)
    assert abs(est.att - (Y - fitted - L)[W > 0].mean()) < 1e-6
    np.testing.assert_allclose(est.info["beta"], beta, rtol=1e-5)
    with pytest.raises(ValueError, match="mc with covariates needs solver='exact'"):
        jaxpanel.mc(p)
    assert np.isfinite(jaxpanel.mc(p, covariates=False).att)
    # cross-validated: the chosen penalty's fit is the fixed-penalty fit at it
    cv = jaxpanel.mc(p, solver="exact", cv_seed=0, num_lambda=5)
    again = jaxpanel.mc(p, lam=cv.info["lambda"], solver="exact")
    assert abs(cv.att - again.att) < 1e-8
