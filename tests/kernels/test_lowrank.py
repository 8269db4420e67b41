"""kernels.lowrank: FISTA nuclear-norm fit against a NumPy proximal-gradient reference."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpanel.kernels import CONVERGED, MAX_STEPS, NONFINITE, lowrank, twfe

from ..reference_lowrank import kkt_residual, lowrank_fit, lowrank_regression_fit

RTOL = 1e-6  # float64 against the reference (both solved far below this)
TIGHT = 1e-11  # kernel tolerance used against the reference


def low_rank_problem(rng, n, t, p_zero=0.2, zero_row=False):
    y = (
        rng.normal(size=(n, t)) * 2
        + rng.normal(size=(n, 2)) @ rng.normal(size=(2, t)) * 4
        + rng.normal(size=(n, 1)) * 10
        + np.linspace(0, 5, t)
    )
    w = rng.exponential(size=(n, t)) * (rng.random((n, t)) > p_zero)
    if zero_row:
        w[2] = 0.0
    y[w == 0] = np.nan  # ignored cells may hold anything
    return y, w


def close(actual, desired, tol):
    desired = np.asarray(desired)
    np.testing.assert_allclose(
        np.asarray(actual), desired, rtol=0, atol=tol * np.abs(desired).max()
    )


def identified(res):
    return (
        np.asarray(res.unit_identified)[:, None]
        & np.asarray(res.time_identified)[None, :]
    )


@pytest.mark.parametrize("n,t,zero_row", [(10, 8, False), (8, 10, True)])
@pytest.mark.parametrize("lam", [1.0, 8.0, 40.0])
def test_matches_reference(rng, n, t, zero_row, lam):
    y, w = low_rank_problem(rng, n, t, zero_row=zero_row)
    res = lowrank.solve_jit(jnp.asarray(y), jnp.asarray(w), jnp.asarray(lam), tol=TIGHT)
    assert int(res.status) == CONVERGED
    y0 = np.nan_to_num(y)
    fe, L = lowrank_fit(y0, w, lam)
    assert kkt_residual(y0, w, lam, fe, L) < 1e-7  # the reference is optimal
    fitted = np.asarray(res.fitted)
    ok = identified(res)
    scale = np.abs(fe + L)[ok].max()
    close(fitted[ok], (fe + L)[ok], RTOL)
    # ...and so is the kernel's own solution, judged by the same certificate.
    fe_k = np.asarray(res.fitted - res.L)
    assert kkt_residual(y0, w, lam, fe_k, np.asarray(res.L)) < 1e-7
    assert int(res.rank) == np.linalg.matrix_rank(L, tol=1e-6 * scale)


def test_lambda_inf_is_the_twfe_fit_exactly(rng):
    y, w = low_rank_problem(rng, 10, 8)
    Y, Wt = jnp.asarray(y), jnp.asarray(w)
    ref = twfe.solve(Y, Wt)
    for lam in (np.inf, jnp.asarray(np.inf)):  # static shortcut and traced lane
        res = lowrank.solve(Y, Wt, lam, L0=jnp.ones_like(Y))
        assert np.all(np.asarray(res.L) == 0.0) and int(res.rank) == 0
        close(res.fitted, ref.fitted, 1e-12)
        assert int(res.status) == CONVERGED
        assert int(res.steps) == 0  # a closed form: no proximal step, traced or not
    # Lanes with an infinite penalty take no step beside lanes that iterate.
    lams = jnp.asarray([np.inf, 5.0, np.inf])
    out = jax.jit(jax.vmap(lambda lam: lowrank.solve(Y, Wt, lam)))(lams)
    assert np.asarray(out.steps).tolist()[::2] == [0, 0] and int(out.steps[1]) > 1
    close(out.fitted[0], ref.fitted, 1e-12)
    assert np.all(np.asarray(out.L[2]) == 0.0)
    # -inf is not a penalty: a traced lane fails rather than taking the inf shortcut
    bad = jax.jit(lambda lam: lowrank.solve(Y, Wt, lam))(jnp.asarray(-np.inf))
    assert int(bad.status) == NONFINITE


def test_lambda_zero_interpolates_with_the_twfe_imputation(rng):
    y, w = low_rank_problem(rng, 10, 8)
    Y, Wt = jnp.asarray(y), jnp.asarray(w)
    fe = np.asarray(twfe.solve(Y, Wt).fitted)
    on = w > 0
    for lam in (0.0, jnp.asarray(0.0)):
        res = lowrank.solve(Y, Wt, lam, L0=jnp.ones_like(Y))
        L = np.asarray(res.L)
        np.testing.assert_allclose(L[on], (y - fe)[on], rtol=1e-10)
        assert np.all(L[~on] == 0.0)
        fitted = np.asarray(res.fitted)
        np.testing.assert_allclose(fitted[on], y[on], rtol=1e-10)
        np.testing.assert_allclose(fitted[~on], fe[~on], rtol=1e-10)


def test_smallest_penalty_with_no_low_rank_term(rng):
    """L = 0 exactly from lambda_max = 2 sigma_max(w * (Y - F)) on, where F is the
    weighted two-way fit (the subgradient condition at L = 0)."""
    y, w = low_rank_problem(rng, 10, 8)
    fe = np.asarray(twfe.solve(jnp.asarray(y), jnp.asarray(w)).fitted)
    lam_max = 2 * np.linalg.norm(np.where(w > 0, w * (y - fe), 0.0), 2)
    above = lowrank.solve_jit(jnp.asarray(y), jnp.asarray(w), lam_max * 1.0001)
    below = lowrank.solve_jit(jnp.asarray(y), jnp.asarray(w), lam_max * 0.99)
    assert int(above.rank) == 0 and int(above.steps) == 1
    assert int(below.rank) >= 1


def test_loop_vmap_jit_agree_over_weights_masks_and_penalties(rng):
    y, w = low_rank_problem(rng, 10, 8, p_zero=0.0)
    ws = np.stack([w * (rng.random(w.shape) > 0.25) for _ in range(6)])
    lams = np.array([np.inf, 0.0, 2.0, 10.0, 30.0, 2.0])
    Y, Ws, L = jnp.asarray(np.nan_to_num(y)), jnp.asarray(ws), jnp.asarray(lams)
    batched = jax.jit(jax.vmap(lambda w_, lam: lowrank.solve(Y, w_, lam, tol=TIGHT)))
    out = batched(Ws, L)
    for k in range(6):
        one = lowrank.solve_jit(Y, Ws[k], L[k], tol=TIGHT)
        ok = identified(one)
        close(np.asarray(out.fitted[k])[ok], np.asarray(one.fitted)[ok], 1e-11)
        assert int(out.steps[k]) == int(one.steps)
    # Each lane stops at its own step count (finished lanes are frozen, not re-run).
    assert len(set(np.asarray(out.steps).tolist())) > 2


def test_warm_started_path_equals_cold_fits(rng):
    y, w = low_rank_problem(rng, 10, 8)
    Y, Wt = jnp.asarray(y), jnp.asarray(w)
    lams = jnp.asarray([np.inf, 40.0, 12.0, 4.0, 1.0, 0.0])
    path = jax.jit(lambda: lowrank.solve_path(Y, Wt, lams, tol=TIGHT))()
    for k in range(len(lams)):
        cold = lowrank.solve_jit(Y, Wt, lams[k], tol=TIGHT)
        ok = identified(cold)
        close(np.asarray(path.fitted[k])[ok], np.asarray(cold.fitted)[ok], 1e-7)
    assert int(path.steps[1:-1].sum()) < sum(
        int(lowrank.solve_jit(Y, Wt, lams[k], tol=TIGHT).steps) for k in (1, 2, 3, 4)
    )


def test_iteration_cap_is_reported(rng):
    y, w = low_rank_problem(rng, 10, 8)
    res = lowrank.solve_jit(jnp.asarray(y), jnp.asarray(w), 1.0, max_steps=3)
    assert int(res.status) == MAX_STEPS and int(res.steps) == 3


def test_no_retrace_across_weights_and_penalties(rng):
    y, w = low_rank_problem(rng, 10, 8)
    fn = jax.jit(chex.assert_max_traces(lowrank.solve, n=1))
    for k in range(4):
        wk = w * (rng.random(w.shape) > 0.2)
        fn(jnp.asarray(np.nan_to_num(y)), jnp.asarray(wk), jnp.asarray(1.0 + k))


def test_svt_is_the_nuclear_norm_prox(rng):
    x = rng.normal(size=(7, 5))
    out, s = lowrank.svt(jnp.asarray(x), 0.8)
    u, sv, vt = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(np.asarray(s), np.maximum(sv - 0.8, 0), atol=1e-12)
    np.testing.assert_allclose(
        np.asarray(out), (u * np.maximum(sv - 0.8, 0)) @ vt, atol=1e-12
    )
    zero, _ = lowrank.svt(jnp.asarray(x), jnp.inf)
    assert np.all(np.asarray(zero) == 0.0)


@pytest.mark.parametrize("lam", [math.inf, 2.0, 20.0])
def test_regressors_profiled_out_match_dense_least_squares(rng, lam):
    # X: a treatment block (the TROP authors' shared effect) and a continuous covariate;
    # weights on every cell, treated ones included
    n, t = 9, 8
    y, w = low_rank_problem(rng, n, t, p_zero=0.0)
    block = np.zeros((n, t))
    block[-3:, -3:] = 1.0
    X = np.stack([block, rng.normal(size=(n, t))])
    y = y + 1.5 * block + 0.7 * X[1]
    res = lowrank.solve(
        jnp.asarray(y), jnp.asarray(w), lam, X=jnp.asarray(X), tol=TIGHT
    )
    assert int(res.status) == CONVERGED
    fitted, b, L = lowrank_regression_fit(y, w, lam, X)
    np.testing.assert_allclose(np.asarray(res.coef), b, rtol=1e-6, atol=1e-8)
    close(np.asarray(res.fitted), fitted + L, RTOL)
    if not math.isinf(lam):  # the kernel's solution is optimal by the certificate
        y0 = y - np.einsum("k,knt->nt", np.asarray(res.coef), X)
        fe_k = np.asarray(res.fitted - res.L) - (y - y0)
        assert kkt_residual(y0, w, lam, fe_k, np.asarray(res.L)) < 1e-6


def test_collinear_regressors_are_reported_not_silent(rng):
    y, w = low_rank_problem(rng, 6, 5, p_zero=0.0)
    unit = np.repeat(rng.normal(size=(6, 1)), 5, axis=1)  # in the unit effects' span
    res = lowrank.solve(jnp.asarray(y), jnp.asarray(w), 5.0, X=jnp.asarray(unit[None]))
    assert int(res.status) != CONVERGED
