"""TROP: per-cell fits against a slow loop with the reference solver, special cases (DID,
MC), the global variant, tuning criteria against reference loops, batching, bad input."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel, tuning
from jaxpanel.estimators import did, mc, trop
from jaxpanel.estimators.trop import _criteria as tt
from jaxpanel.estimators.trop import _weights as tw
from jaxpanel.kernels import CONVERGED

from ..reference_lowrank import (
    lowrank_fit,
    lowrank_regression_fit,
    trop_cell_weights,
    trop_cells,
    trop_global_weights,
    trop_unit_distance,
)

TIGHT = trop.TROPOptions(tol=1e-11)
ATOL = 1e-6  # float64, fits converged far below this


def panel_arrays(rng, n=10, t=8, design="block", p_missing=0.1):
    y = (
        rng.normal(size=(n, t))
        + rng.normal(size=(n, 2)) @ rng.normal(size=(2, t)) * 2
        + rng.normal(size=(n, 1)) * 3
        + np.linspace(0, 2, t)
    )
    d = np.zeros((n, t))
    if design == "block":
        d[:3, 5:] = 1
    elif design == "staggered":
        for i, start in enumerate([4, 5, 7]):
            d[i, start:] = 1
    elif design == "onoff":
        d[0, 3:5] = 1
        d[1, 5:] = 1
        d[2, 2:4] = 1
        d[2, 6:] = 1
    mask = (rng.random((n, t)) > p_missing).astype(float)
    mask[:, 0] = 1
    return y + 2.0 * d, d, mask


def jarr(*arrays):
    return tuple(jnp.asarray(a) for a in arrays)


@pytest.mark.parametrize("design", ["block", "staggered", "onoff"])
def test_per_cell_estimator_equals_a_loop_with_the_reference_solver(rng, design):
    y, d, mask = panel_arrays(rng, design=design)
    lams = (0.4, 0.3, 3.0)
    out = trop.fit(*jarr(y, d, mask), *lams, options=TIGHT)
    ref = trop_cells(np.where(mask > 0, y, 0.0), d, mask, *lams)
    assert int(out.status) == CONVERGED
    valid = np.asarray(out.cell_valid)
    np.testing.assert_allclose(np.asarray(out.cell_tau)[valid], ref, atol=ATOL)
    np.testing.assert_allclose(float(out.att), ref.mean(), atol=ATOL)
    # tau lives on treated observed cells; y0 = Y - tau there, Y elsewhere.
    treated = (d * mask) > 0
    assert np.all(np.asarray(out.tau)[~treated] == 0)
    np.testing.assert_allclose(
        np.asarray(out.y0)[treated], (y - np.asarray(out.tau))[treated], atol=1e-12
    )


def test_weights_match_the_formulas(rng):
    y, d, mask = panel_arrays(rng, design="staggered")
    mask[5, 1:] = 0  # unit 5 shares only period 0 with the others
    c = (1 - d) * mask
    for i, t in [(0, 6), (5, 0), (7, 3)]:
        dist = np.asarray(
            tw.cell_unit_distance(*jarr(np.where(mask > 0, y, 0), c), i, t)
        )
        ref = trop_unit_distance(y, d, mask, i, t)
        np.testing.assert_allclose(dist, ref, rtol=1e-12)
        for lu in (0.0, 0.7):
            omega, theta = tw.cell_weights(
                *jarr(np.where(mask > 0, y, 0), c), i, t, lu, 0.25
            )
            w = np.outer(omega, theta) * c
            w[i, t] = 0
            np.testing.assert_allclose(
                w, trop_cell_weights(y, d, mask, i, t, lu, 0.25), rtol=1e-12
            )
    # Unit 5 seen from (5, 0): no common period with anyone -> weight 0 (lambda > 0).
    assert np.isinf(trop_unit_distance(y, d, mask, 5, 0)[1])


@pytest.mark.parametrize("design", ["block", "staggered", "onoff"])
def test_no_decay_and_infinite_penalty_is_did(rng, design):
    y, d, mask = panel_arrays(rng, design=design)
    args = jarr(y, d, mask)
    out = trop.fit(*args, 0.0, 0.0, math.inf)
    np.testing.assert_allclose(float(out.att), float(did.fit(*args).att), atol=1e-10)


def test_no_decay_is_mc_at_the_same_penalty(rng):
    y, d, mask = panel_arrays(rng)
    args = jarr(y, d, mask)
    lambda_nn = 4.0
    out = trop.fit(*args, 0.0, 0.0, lambda_nn, options=TIGHT)
    n_obs = ((1 - d) * mask).sum()  # MC's penalty is lambda_nn / |O|
    ref = mc.fit(*args, lambda_nn / n_obs, mc.MCOptions(solver="exact", tol=1e-11))
    np.testing.assert_allclose(float(out.att), float(ref.att), atol=ATOL)
    treated = (d * mask) > 0
    np.testing.assert_allclose(
        np.asarray(out.tau)[treated], np.asarray(ref.tau)[treated], atol=ATOL
    )


def test_global_variant_equals_reference_fit(rng):
    y, d, _ = panel_arrays(rng, p_missing=0.0)
    treated_units = [0, 1, 2]
    for lams in [(0.5, 0.3, math.inf), (0.5, 0.3, 6.0), (0.0, 0.0, 2.0)]:
        out = trop.fit_global(*jarr(y, d), None, *lams, options=TIGHT)
        w = trop_global_weights(y, treated_units, 3, *lams[:2]) * (1 - d)
        fe, L = lowrank_fit(y, w, lams[2])
        ref = (y - fe - L)[d > 0].mean()
        np.testing.assert_allclose(float(out.att), ref, atol=ATOL)
    # The notebooks' convention: weights inside the square = package scale doubled.
    sq = trop.fit_global(
        *jarr(y, d), None, 0.5, 0.3, 6.0, trop.TROPOptions(1e-11, squared_weights=True)
    )
    pk = trop.fit_global(*jarr(y, d), None, 1.0, 0.6, 6.0, options=TIGHT)
    np.testing.assert_allclose(float(sq.att), float(pk.att), atol=ATOL)


def test_simulation_variant_equals_the_notebooks_objective_by_reference(rng):
    # The authors' notebooks (TROP_TWFE_average in methods.py): every cell in the loss,
    # delta = exp(-lu d_j - lt d_s) inside the square, one shared tau * W; reference:
    # dense least squares on [two-way dummies, W] with proximal gradient on L.
    y, d, _ = panel_arrays(rng, p_missing=0.0)
    for lams in [(0.5, 0.3, math.inf), (0.5, 0.3, 6.0), (0.0, 0.0, 2.0)]:
        out = trop.fit_simulation(*jarr(y, d), None, *lams, options=TIGHT)
        delta = trop_global_weights(y, [0, 1, 2], 3, *lams[:2])
        fitted, b, L = lowrank_regression_fit(y, delta**2, lams[2], d[None])
        np.testing.assert_allclose(float(out.att), b[0], atol=ATOL)
        np.testing.assert_allclose(np.asarray(out.y0), fitted - b[0] * d + L, atol=ATOL)
        assert int(out.status) == CONVERGED
        # not the package's form, which drops the treated cells from the loss
        pk = trop.fit_global(
            *jarr(y, d), None, *lams, trop.TROPOptions(1e-11, squared_weights=True)
        )
        assert abs(float(pk.att) - b[0]) > 1e-3


def test_simulation_variant_at_the_user_level(rng):
    y, d, _ = panel_arrays(rng, p_missing=0.0)
    panel = Panel.from_arrays(y, d)
    est = jaxpanel.trop(panel, 0.5, 0.3, 6.0, variant="simulation")
    out = trop.fit_simulation(*jarr(y, d), None, 0.5, 0.3, 6.0)
    np.testing.assert_allclose(est.att, float(out.att), rtol=1e-10)
    se = est.variance("placebo", reps=20, seed=0).se  # refits at the same lambdas
    assert np.isfinite(se) and se > 0
    with pytest.raises(ValueError, match="give lambda_unit, lambda_time and lambda_nn"):
        jaxpanel.trop(panel, 0.5, None, 6.0, variant="simulation")
    with pytest.raises(ValueError, match="always puts the weights inside the square"):
        jaxpanel.trop(panel, 0.5, 0.3, 6.0, variant="simulation", squared_weights=True)


def test_loop_vmap_jit_agree_and_no_retrace_across_masks(rng):
    y, _, mask = panel_arrays(rng)
    masks = []
    for k in range(4):
        d = np.zeros_like(y)
        d[k : k + 2, 5 + k % 2 :] = 1
        masks.append(d)
    n_cells = max(int(m.sum()) for m in masks)
    Y, M, D = jarr(y, mask, np.stack(masks))
    opts = trop.TROPOptions(tol=1e-10)

    def att(d):
        return trop._fit.__wrapped__(Y, d, M, 0.3, 0.2, 3.0, n_cells, opts).att

    one = jax.jit(chex.assert_max_traces(att, n=1))
    looped = np.array([float(one(D[k])) for k in range(4)])
    batched = jax.jit(jax.vmap(att))(D)
    np.testing.assert_allclose(np.asarray(batched), looped, atol=1e-8)
    with pytest.raises(ValueError, match="n_cells=3 is smaller than the 6"):
        trop.fit(Y, D[0], M, 0.3, 0.2, 3.0, n_cells=3)
    short = jax.jit(lambda d: trop._fit.__wrapped__(Y, d, M, 0.3, 0.2, 3.0, 3, opts))
    assert jaxpanel.kernels.status_name(int(short(D[0]).status)) == "unidentified"


def test_invariances(rng):
    y, d, mask = panel_arrays(rng, design="staggered")
    args = jarr(d, mask)
    base = float(trop.fit(jnp.asarray(y), *args, 0.4, 0.3, 3.0, options=TIGHT).att)
    time_shift = y + rng.normal(size=(1, y.shape[1])) * 5
    np.testing.assert_allclose(
        float(
            trop.fit(jnp.asarray(time_shift), *args, 0.4, 0.3, 3.0, options=TIGHT).att
        ),
        base,
        atol=ATOL,
    )
    # Y -> c Y: distances scale by c, so lambda_unit / c and lambda_nn * c.
    scaled = trop.fit(jnp.asarray(2.5 * y), *args, 0.4 / 2.5, 0.3, 7.5, options=TIGHT)
    np.testing.assert_allclose(float(scaled.att), 2.5 * base, atol=2.5 * ATOL)
    perm = rng.permutation(y.shape[0])
    permuted = trop.fit(
        *jarr(y[perm], d[perm], mask[perm]), 0.4, 0.3, 3.0, options=TIGHT
    )
    np.testing.assert_allclose(float(permuted.att), base, atol=ATOL)


def test_loocv_criterion_equals_reference_loop(rng):
    y, d, mask = panel_arrays(rng, n=7, t=6, p_missing=0.0)
    d[:] = 0
    d[:2, 4:] = 1
    cells, dropped = tt.loocv_cells(*jarr(y, d, mask))
    assert dropped == 0 and len(cells) == int(((1 - d) * mask).sum())
    points = np.array([[0.0, 0.0, math.inf], [0.5, 0.3, math.inf], [0.5, 0.3, 2.0]])
    q, diag = tt.loocv_scores(*jarr(y, d, mask), points, cells, TIGHT)
    for k, p in enumerate(points):
        taus = trop_cells(y, d, mask, *p, cells=[tuple(c) for c in cells])
        np.testing.assert_allclose(q[k], (taus**2).sum(), rtol=1e-6)
    assert diag["fits"] == len(cells) * 3


def test_placebo_sets_are_the_packages():
    sets = tt.placebo_sets(38, 5, 2, "resample", seed=0)
    rng = np.random.default_rng(0)
    expected = [rng.choice(np.arange(38), size=2, replace=False) for _ in range(5)]
    np.testing.assert_array_equal(sets, np.stack(expected))
    folds = tt.placebo_sets(10, method="kfold", K=3, seed=1)
    perm = np.random.default_rng(1).permutation(10)
    assert folds.shape == (3, 4) and folds[2, -1] == -1
    np.testing.assert_array_equal(folds[0], perm[:4])
    trop_cv = pytest.importorskip("trop.cv")
    got = trop_cv._generate_placebo_sets(
        38, "resample", n_treated_units=2, n_trials=5, random_state=0
    )
    np.testing.assert_array_equal(sets, np.stack(got))


def test_placebo_criterion_equals_reference_loop(rng):
    y, d, _ = panel_arrays(rng, n=9, t=7, p_missing=0.0)
    d[:] = 0
    d[:2, 5:] = 1
    controls = np.ones(9)
    controls[:2] = 0
    sets = tt.placebo_sets(7, 4, 1, seed=3)
    points = np.array([[0.5, 0.3, math.inf], [0.5, 0.3, 3.0]])
    r, _ = tt.placebo_scores(
        jnp.asarray(y), jnp.ones(y.shape), controls, sets, points, 2, "global", TIGHT
    )
    yc = y[2:]
    for k, (lu, lt, ln) in enumerate(points):
        atts = []
        for s in sets:
            dp = np.zeros_like(yc)
            dp[s, -2:] = 1
            w = trop_global_weights(yc, list(s), 2, lu, lt) * (1 - dp)
            fe, L = lowrank_fit(yc, w, ln)
            atts.append((yc - fe - L)[dp > 0].mean())
        np.testing.assert_allclose(r[k], np.sqrt(np.mean(np.square(atts))), rtol=1e-6)


def test_searches():
    grids = [[0.0, 1.0, 2.0], [0.0, 0.5, 1.0], [math.inf, 3.0, 1.0]]
    target = np.array([1.0, 0.5, 3.0])

    def score(points):
        p = np.where(np.isinf(points), 10.0, points)
        return ((p - target) ** 2 * [1.0, 2.0, 0.5]).sum(axis=1)

    full = tuning.grid_search(score, grids)
    assert full.best == (1.0, 0.5, 3.0) and len(full.scores) == 27
    cyc = tuning.cycle_search(score, grids, (0.0, 0.0, math.inf), (1, 0, 2))
    assert cyc.best == full.best and len(cyc.scores) < 27 and cyc.rounds >= 2


def test_user_level_tunes_and_reruns(rng):
    y, d, _ = panel_arrays(rng, n=7, t=6, p_missing=0.0)
    d[:] = 0
    d[:2, 4:] = 1
    panel = Panel.from_arrays(y, d)
    grid = {
        "lambda_unit": [0.0, 0.5],
        "lambda_time": [0.0, 0.4],
        "lambda_nn": [math.inf, 2.0],
    }
    est = jaxpanel.trop(panel, grid=grid, search="grid")
    assert est.info["tuned"] and est.info["cv"] == "loocv" and est.status == "converged"
    scores = est.info["cv_scores"]
    assert len(scores) == 8 and np.all(np.isfinite(scores))
    best = tuple(est.info["cv_points"][int(np.argmin(scores))])
    chosen = (est.info["lambda_unit"], est.info["lambda_time"], est.info["lambda_nn"])
    assert best == chosen
    fixed = jaxpanel.trop(panel, *best)
    assert not fixed.info["tuned"]
    np.testing.assert_allclose(fixed.att, est.att, atol=1e-8)
    assert est.recipe.run(panel).att == est.att  # the recipe re-tunes identically
    held = jaxpanel.Recipe("trop", est.info["fixed_options"]).run(panel)
    assert not held.info["tuned"] and held.att == pytest.approx(est.att, abs=1e-8)


@pytest.mark.slow
def test_user_level_cycle_search_scores_grid_points(rng):
    y, d, _ = panel_arrays(rng, n=7, t=6, p_missing=0.0)
    d[:] = 0
    d[:2, 4:] = 1
    panel = Panel.from_arrays(y, d)
    grid = {
        "lambda_unit": [0.0, 0.5],
        "lambda_time": [0.0, 0.4],
        "lambda_nn": [math.inf, 2.0],
    }
    full = jaxpanel.trop(panel, grid=grid, search="grid")
    cyc = jaxpanel.trop(panel, grid=grid)
    assert cyc.info["search"] == "cycle" and len(cyc.info["cv_scores"]) < 8
    q = dict(zip(map(tuple, full.info["cv_points"]), full.info["cv_scores"]))
    for point, score in zip(map(tuple, cyc.info["cv_points"]), cyc.info["cv_scores"]):
        if point in q:  # the opening stage may score off-grid points (lambda_unit = 0)
            np.testing.assert_allclose(score, q[point], rtol=1e-6)
    # A fixed coordinate is not tuned.
    part = jaxpanel.trop(panel, lambda_unit=0.5, grid=grid, search="grid")
    assert part.info["lambda_unit"] == 0.5 and len(part.info["cv_scores"]) == 4


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"variant": "local"}, "variant must be one of 'paper', 'global'"),
        ({"cv": "kfold"}, "cv must be one of 'loocv', 'placebo'"),
        ({"search": "random"}, "search must be one of 'cycle', 'grid'"),
        ({"lambda_unit": -1.0}, "lambda_unit must be a finite number >= 0"),
        ({"lambda_time": math.inf}, "lambda_time must be a finite number >= 0"),
        ({"lambda_nn": -2.0}, r"lambda_nn must be a number in \[0, inf\]"),
        ({"variant": "global", "cv": "loocv"}, "tuned by the placebo criterion"),
        ({"squared_weights": True}, "applies to variant='global' only"),
        ({"grid": {"lambda_unit": [0.0]}}, "grid must be a dict with keys"),
    ],
)
def test_bad_input_raises(prop99_panel, kwargs, message):
    with pytest.raises(ValueError, match=message):
        jaxpanel.trop(prop99_panel, **kwargs)


def test_global_variant_needs_a_block_design(rng):
    y, d, mask = panel_arrays(rng, design="staggered")
    panel = Panel.from_arrays(y, d, mask.astype(bool))
    with pytest.raises(ValueError, match="needs a block design"):
        jaxpanel.trop(panel, 0.1, 0.1, math.inf, variant="global")


def test_prop99_fixed_lambdas(prop99_panel, r_reference):
    est = jaxpanel.trop(prop99_panel, 0.0, 0.0, math.inf)
    np.testing.assert_allclose(est.att, r_reference["prop99"]["did"]["att"], rtol=1e-10)
    assert not est.info["tuned"] and est.info["cells"] == 12
    glob = jaxpanel.trop(prop99_panel, 0.0, 0.0, math.inf, variant="global")
    np.testing.assert_allclose(glob.att, est.att, rtol=1e-10)
    assert glob.unit_weights is not None and est.unit_weights is None


def test_global_prop99_with_weights_over_35_decades_equals_reference(prop99_panel):
    """The demo's triple: global weights from 1 down to 6e-35. The reference solver agrees
    (the trop package's SCS solve does not: -25.53, bench/results/trop_prop99.jsonl)."""
    Y, W, _ = (np.asarray(a) for a in prop99_panel.arrays())
    lams = (0.028952969783880806, 3.0, 2.662285931600467)
    ours = trop.fit_global(*jarr(Y, W), None, *lams, options=TIGHT)
    w = trop_global_weights(Y, [int(np.flatnonzero(W.any(1))[0])], 12, *lams[:2])
    w = w * (1 - W)
    assert w[w > 0].min() < 1e-34
    fe, L = lowrank_fit(Y, w, lams[2])
    np.testing.assert_allclose(float(ours.att), (Y - fe - L)[W > 0].mean(), atol=ATOL)


def trop_package_cases(rng):
    cases = []
    for n, t, n_tr, n_post in [(8, 7, 2, 2), (12, 9, 3, 3)]:
        y = rng.normal(size=(n, t)) + rng.normal(size=(n, 2)) @ rng.normal(size=(2, t))
        d = np.zeros((n, t))
        d[:n_tr, -n_post:] = 1
        cases.append((y, d, n_post))
    return cases


# The package solves with cvxpy: SCS (eps_abs = eps_rel = 1e-5, cvxpy's default) for a
# finite lambda_nn, OSQP for lambda_nn = inf. Observed gaps are below 1e-6; the bound
# allows for SCS's stopping criterion on other platforms.
TROP_PACKAGE_ATOL = 1e-5


def test_global_variant_agrees_with_the_trop_package(rng, prop99_panel):
    trop_pkg = pytest.importorskip("trop")
    triples = [
        (0.0, 0.0, math.inf),
        (0.5, 0.3, math.inf),
        (0.5, 0.3, 4.0),
        (0.0, 0.2, 1.0),
    ]
    cases = trop_package_cases(rng)
    Y, W, _ = prop99_panel.arrays()
    cases.append((np.asarray(Y), np.asarray(W), 12))
    prop99_triples = [(0.05, 0.2, math.inf), (0.05, 0.2, 20.0), (0.0, 0.0, 50.0)]
    for k, (y, d, n_post) in enumerate(cases):
        treated = list(np.flatnonzero(d.any(axis=1)))
        for lams in prop99_triples if k == len(cases) - 1 else triples:
            ours = trop.fit_global(*jarr(y, d), None, *lams, options=TIGHT)
            theirs = trop_pkg.TROP_TWFE_average(
                y, d, treated, *lams, treated_periods=n_post
            )
            assert abs(float(ours.att) - theirs) < TROP_PACKAGE_ATOL, (k, lams)


def test_loocv_holds_out_a_random_subset_of_a_large_panels_cells(rng):
    y, d, _ = panel_arrays(rng, n=10, t=8, p_missing=0.0)
    panel = Panel.from_arrays(y, d)
    n_control = int((1 - d).sum())
    grid = {"lambda_unit": [0.0], "lambda_time": [0.0], "lambda_nn": [math.inf, 1.0]}
    with pytest.warns(
        jaxpanel.TuningWarning, match=f"held out a random 20 of the {n_control}"
    ):
        est = jaxpanel.trop(panel, grid=grid, loocv_cells=20, cv_seed=3, search="grid")
    assert est.info["loocv_cells"] == 20
    assert est.info["loocv_control_cells"] == n_control
    # the criterion is the sum over that subset (the same draw from cv_seed)
    cells, _ = tt.loocv_cells(*jarr(y, d, np.ones_like(y)), 20, seed=3)
    assert len(cells) == 20 and len({tuple(c) for c in cells}) == 20
    points = np.array([[0.0, 0.0, math.inf], [0.0, 0.0, 1.0]])
    q, _ = tt.loocv_scores(
        *jarr(y, d, np.ones_like(y)), points, cells, trop.TROPOptions(tol=1e-6)
    )
    np.testing.assert_allclose(np.sort(est.info["cv_scores"]), np.sort(q), rtol=1e-6)
    full = jaxpanel.trop(panel, grid=grid, loocv_cells=None, search="grid")
    assert full.info["loocv_cells"] == n_control  # no warning: every cell
    with pytest.raises(ValueError, match="loocv_cells must be a positive integer"):
        jaxpanel.trop(panel, grid=grid, loocv_cells=0)
    with pytest.raises(ValueError, match="loocv_cells must be a positive integer"):
        jaxpanel.trop(panel, 0.1, 0.1, 1.0, loocv_cells=-5)  # nothing tuned: still
    same = jaxpanel.trop(panel, grid=grid, loocv_cells=np.int64(n_control))
    assert same.info["loocv_cells"] == n_control
