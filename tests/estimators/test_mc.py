"""MC: R MCPanel's numbers on Prop 99, the exact solver against the NumPy reference,
batching, invariances and bad input."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel.estimators import mc
from jaxpanel.kernels import CONVERGED

from ..conftest import shared_path
from ..reference_lowrank import kkt_residual, lowrank_fit

EXACT = mc.MCOptions(solver="exact", tol=1e-11)


def r_matrices(r_reference, key):
    """Y and W laid out exactly as R's panel.matrices (MCPanel's fold draws index this)."""
    data = r_reference[key]["data"]
    if key == "prop99":
        df = pd.read_csv(shared_path("data", "california_prop99.csv"), sep=";")
    else:
        df = pd.read_csv(shared_path("references", "prop99_multi.csv"))
    rows, cols = data["row_order"], [int(c) for c in data["col_order"]]
    Y = df.pivot(index="State", columns="Year", values="PacksPerCapita")
    W = df.pivot(index="State", columns="Year", values="treated")
    return Y.loc[rows, cols].to_numpy(), W.loc[rows, cols].to_numpy(float)


def test_fold_draws_are_mcpanels(r_reference):
    draws = r_reference["meta"]["mcpanel_cv_fold_draws"]
    expected = np.array([[int(c) for c in s] for s in draws], float).reshape(5, 39, 31)
    np.testing.assert_array_equal(mc.fold_draws(39, 31, 5, 0.8), expected)


@pytest.mark.parametrize("key", ["prop99", "prop99_multi"])
@pytest.mark.parametrize("num_lambda", [100, 20])
def test_mcpanel_solver_reproduces_r(r_reference, key, num_lambda):
    ref = r_reference[key]["mc"]
    details = ref[f"details_num_lam_L_{num_lambda}"]
    suffix = "" if num_lambda == 100 else "_num_lam_L_20"
    Y, W = r_matrices(r_reference, key)
    folds = mc.fold_draws(*Y.shape)
    options = mc.MCOptions(solver="mcpanel", num_lambda=num_lambda)
    # (mask passed as an array, as the user level does: one compilation for both tests)
    mask = jnp.ones(Y.shape)
    out, res = mc.fit_cv(
        jnp.asarray(Y), jnp.asarray(W), mask, jnp.asarray(folds), options
    )
    # Same path, same CV curve, same choice, same fit: up to rounding (1e-9 relative).
    np.testing.assert_allclose(res.lambdas, details["lambda_grid"], rtol=1e-12)
    np.testing.assert_allclose(res.cv_rmse, details["avg_cv_rmse"], rtol=1e-9)
    assert int(res.best_index) + 1 == ref[f"best_lambda_index_1based{suffix}"]
    np.testing.assert_allclose(
        float(res.best_lambda), ref[f"best_lambda{suffix}"], rtol=1e-12
    )
    assert int(out.status) == CONVERGED
    np.testing.assert_allclose(float(out.att), ref[f"att{suffix}"], rtol=1e-9)
    np.testing.assert_allclose(
        out.alpha, list(details["u_unit_fe"].values()), rtol=1e-9
    )
    np.testing.assert_allclose(out.beta, list(details["v_time_fe"].values()), atol=1e-8)
    assert int(out.rank) == ref[f"rank_L{suffix}"]


def test_user_level_reproduces_r_in_panel_order(prop99_panel, r_reference):
    """Panel rows are alphabetical (California 4th); the default folds follow synthdid's
    layout (controls first), so the R number comes out unchanged."""
    est = jaxpanel.mc(prop99_panel)
    assert est.method == "mc" and est.status == "converged"
    np.testing.assert_allclose(est.att, r_reference["prop99"]["mc"]["att"], rtol=1e-9)
    assert round(est.att, 5) == -19.99641
    assert est.info["best_index"] == 47 and est.info["folds"] == "mcpanel"
    np.testing.assert_allclose(
        est.info["lambda"], r_reference["prop99"]["mc"]["best_lambda"], rtol=1e-12
    )
    n_control_cells = 38 * 31 + 19  # every control cell and California before 1989
    assert est.info["lambda_nn"] == pytest.approx(est.info["lambda"] * n_control_cells)
    assert est.recipe.options["lam"] is None  # re-running re-tunes


@pytest.mark.slow
def test_exact_solver_picks_mcpanels_penalty_with_a_converged_fit(r_reference):
    """The converged solver's CV picks the same path point as MCPanel on Prop 99 (20
    penalties); its ATT differs because MCPanel's fits stop early."""
    Y, W = r_matrices(r_reference, "prop99")
    options = mc.MCOptions(solver="exact", num_lambda=20)
    folds = jnp.asarray(mc.fold_draws(*Y.shape))
    out, res = mc.fit_cv(jnp.asarray(Y), jnp.asarray(W), None, folds, options)
    ref = r_reference["prop99"]["mc"]
    assert int(res.best_index) + 1 == ref["best_lambda_index_1based_num_lam_L_20"]
    assert int(out.status) == CONVERGED
    att = float(out.att)
    assert abs(att - ref["att_num_lam_L_20"]) > 0.1  # MCPanel's early stop matters
    # ... and is the optimum of the MC objective at that penalty:
    lam = float(res.best_lambda)
    control = 1 - W
    fe = np.asarray(out.y0 - out.L)
    assert kkt_residual(Y, control, lam * control.sum(), fe, np.asarray(out.L)) < 1e-5


def small_panel(rng, n=10, t=8):
    y = (
        rng.normal(size=(n, t))
        + rng.normal(size=(n, 2)) @ rng.normal(size=(2, t)) * 2
        + rng.normal(size=(n, 1)) * 5
    )
    d = np.zeros((n, t))
    for i, start in enumerate([5, 6, 4]):  # staggered adoption
        d[i, start:] = 1
    mask = (rng.random((n, t)) > 0.1).astype(float)
    mask[:, 0] = 1
    return y, d, mask


def test_exact_fit_matches_reference(rng):
    y, d, mask = small_panel(rng)
    lam = 0.05
    out = mc.fit(jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask), lam, EXACT)
    control = (1 - d) * mask
    fe, L = lowrank_fit(np.where(mask > 0, y, 0.0), control, lam * control.sum())
    treated = (d * mask) > 0
    tau = (y - fe - L)[treated]
    np.testing.assert_allclose(np.asarray(out.tau)[treated], tau, atol=1e-6)
    np.testing.assert_allclose(float(out.att), tau.mean(), atol=1e-6)


def test_exact_cv_batch_equals_warm_path(rng):
    y, d, mask = small_panel(rng)
    folds = jnp.asarray(mc.fold_draws(*y.shape, 3, 0.7))
    args = (jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask), folds)
    base = mc.MCOptions(solver="exact", num_lambda=6, tol=1e-11)
    warm = mc.cv(*args, base)
    batch = mc.cv(*args, mc.MCOptions(**{**base.__dict__, "cv_path": "batch"}))
    np.testing.assert_allclose(batch.cv_rmse, warm.cv_rmse, rtol=1e-7)
    assert int(batch.best_index) == int(warm.best_index)


def test_loop_vmap_jit_agree_and_no_retrace(rng):
    y, _, mask = small_panel(rng)
    ds = []
    for k in range(4):
        d = np.zeros_like(y)
        d[k : k + 2, 4 + k % 3 :] = 1
        ds.append(d)
    Y, M, D = jnp.asarray(y), jnp.asarray(mask), jnp.asarray(np.stack(ds))
    one = jax.jit(
        chex.assert_max_traces(
            lambda d: mc.fit.__wrapped__(Y, d, M, 0.05, EXACT).att, 1
        )
    )
    looped = np.array([float(one(D[k])) for k in range(4)])  # 4 masks, one trace
    batched = jax.jit(jax.vmap(lambda d: mc.fit(Y, d, M, 0.05, EXACT).att))(D)
    np.testing.assert_allclose(np.asarray(batched), looped, atol=1e-8)


def test_invariances(rng):
    y, d, mask = small_panel(rng)
    args = (jnp.asarray(d), jnp.asarray(mask))
    base = float(mc.fit(jnp.asarray(y), *args, 0.05, EXACT).att)
    shifted = (
        y + rng.normal(size=(y.shape[0], 1)) * 7 + rng.normal(size=(1, y.shape[1]))
    )
    np.testing.assert_allclose(
        float(mc.fit(jnp.asarray(shifted), *args, 0.05, EXACT).att), base, atol=1e-6
    )
    # Scaling Y by c scales the effect by c when the penalty scales by c too.
    np.testing.assert_allclose(
        float(mc.fit(jnp.asarray(3.0 * y), *args, 0.15, EXACT).att),
        3.0 * base,
        atol=3e-6,
    )
    perm = rng.permutation(y.shape[0])
    permuted = mc.fit(
        jnp.asarray(y[perm]), jnp.asarray(d[perm]), jnp.asarray(mask[perm]), 0.05, EXACT
    )
    np.testing.assert_allclose(float(permuted.att), base, atol=1e-6)


def test_infinite_penalty_is_did(rng):
    y, d, mask = small_panel(rng)
    args = (jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask))
    out = mc.fit(*args, np.inf, EXACT)
    did = jaxpanel.estimators.did.fit(*args)
    np.testing.assert_allclose(float(out.att), float(did.att), rtol=1e-12)
    assert int(out.rank) == 0
    # MCPanel's iteration too (its objective was inf * 0 = NaN at lam = inf)
    default = mc.fit(*args, np.inf)
    assert jaxpanel.kernels.status_name(int(default.status)) == "converged"
    np.testing.assert_allclose(float(default.att), float(did.att), rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"solver": "cvx"}, "solver must be one of 'mcpanel', 'exact'"),
        ({"num_lambda": 2}, "num_lambda must be at least 3"),
        ({"lam": -1.0}, "lam must be a non-negative number"),
        ({"num_folds": 1}, "num_folds must be at least 2"),
        ({"cv_ratio": 1.0}, "cv_ratio must be in (0, 1)"),
    ],
)
def test_bad_input_raises(prop99_panel, kwargs, message):
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        jaxpanel.mc(prop99_panel, **kwargs)


def test_not_a_panel_raises():
    with pytest.raises(TypeError, match="expected a jaxpanel.Panel"):
        jaxpanel.mc(np.zeros((3, 3)))


def test_seeded_folds(prop99_panel):
    est = jaxpanel.mc(prop99_panel, cv_seed=3)
    assert est.info["folds"] == "seed=3" and est.status == "converged"
    assert est.att == jaxpanel.mc(prop99_panel, cv_seed=3).att
    assert abs(est.att - jaxpanel.mc(prop99_panel).att) > 1e-6  # other folds


@pytest.mark.parametrize("method", ["mc", "trop", "did"])
def test_seed_without_variance_is_refused_before_fitting(prop99_panel, method):
    # seed draws variance replicates only; the CV draws take cv_seed (issue 10)
    with pytest.raises(ValueError, match="cv_seed"):
        getattr(jaxpanel, method)(prop99_panel, seed=3)
