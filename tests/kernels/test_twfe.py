"""kernels.twfe: exact weighted two-way FE solve against a dense least-squares reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxpanel.kernels import CONVERGED, twfe

from ..reference import twfe_fit

RTOL = 1e-8  # float64; the solve is direct, so only rounding separates it from lstsq


def random_problem(rng, n, t, p_zero=0.3, zero_row=False, zero_col=False):
    y = rng.normal(size=(n, t)) * 10 + rng.normal(size=(n, 1)) * 50 + 100
    w = rng.exponential(size=(n, t)) * (rng.random((n, t)) > p_zero)
    if zero_row:
        w[1] = 0.0
    if zero_col:
        w[:, 2] = 0.0
    y[w == 0] = rng.normal(size=int((w == 0).sum())) * 1e6  # ignored cells hold junk
    return y, w


@pytest.mark.parametrize("n,t", [(12, 7), (7, 12), (9, 9), (40, 31)])
@pytest.mark.parametrize(
    "zeros", [(False, False), (True, False), (False, True), (True, True)]
)
def test_matches_lstsq(rng, n, t, zeros):
    y, w = random_problem(rng, n, t, zero_row=zeros[0], zero_col=zeros[1])
    res = twfe.solve_jit(jnp.asarray(y), jnp.asarray(w))
    ref = twfe_fit(y, w)
    assert int(res.status) == CONVERGED
    assert int(res.n_components) == 1
    ok = (
        np.asarray(res.unit_identified)[:, None]
        & np.asarray(res.time_identified)[None, :]
    )
    np.testing.assert_array_equal(ok.any(axis=1), w.sum(axis=1) > 0)
    np.testing.assert_allclose(
        np.asarray(res.fitted)[ok], ref[ok], rtol=RTOL, atol=RTOL * 100
    )
    # Unidentified effects are exactly zero, not junk.
    assert np.all(np.asarray(res.alpha)[w.sum(axis=1) == 0] == 0)
    assert np.all(np.asarray(res.beta)[w.sum(axis=0) == 0] == 0)


@pytest.mark.parametrize(
    "unit_fe,time_fe", [(True, False), (False, True), (False, False)]
)
def test_one_way_matches_lstsq(rng, unit_fe, time_fe):
    y, w = random_problem(rng, 10, 8)
    res = twfe.solve_jit(
        jnp.asarray(y), jnp.asarray(w), unit_fe=unit_fe, time_fe=time_fe
    )
    ref = twfe_fit(y, w, unit_fe, time_fe)
    np.testing.assert_allclose(np.asarray(res.fitted), ref, rtol=RTOL, atol=1e-6)


def test_normal_equations_and_normalisation(rng):
    y, w = random_problem(rng, 15, 11)
    res = twfe.solve_jit(jnp.asarray(y), jnp.asarray(w))
    resid = np.where(w > 0, y - np.asarray(res.fitted), 0.0)
    scale = np.abs(y[w > 0]).max()
    # Gradient of the weighted objective w.r.t. each effect is zero.
    np.testing.assert_allclose(
        (w * resid).sum(axis=1), 0.0, atol=1e-9 * scale * w.sum()
    )
    np.testing.assert_allclose(
        (w * resid).sum(axis=0), 0.0, atol=1e-9 * scale * w.sum()
    )
    assert (
        abs(float((w.sum(axis=1) * np.asarray(res.alpha)).sum()))
        < 1e-8 * scale * w.sum()
    )
    assert (
        abs(float((w.sum(axis=0) * np.asarray(res.beta)).sum()))
        < 1e-8 * scale * w.sum()
    )


def test_disconnected_components_are_counted(rng):
    y = rng.normal(size=(6, 6))
    w = np.zeros((6, 6))
    w[:3, :3] = 1.0
    w[3:, 3:] = 1.0
    res = twfe.solve_jit(jnp.asarray(y), jnp.asarray(w))
    assert int(res.n_components) == 2
    # Within each block the fit is still the least-squares fit.
    np.testing.assert_allclose(
        np.asarray(res.fitted)[:3, :3], twfe_fit(y[:3, :3], w[:3, :3]), atol=1e-10
    )
    np.testing.assert_allclose(
        np.asarray(res.fitted)[3:, 3:], twfe_fit(y[3:, 3:], w[3:, 3:]), atol=1e-10
    )


def test_exact_fit_when_model_is_true(rng):
    n, t = 20, 13
    alpha = rng.normal(size=n)
    beta = rng.normal(size=t)
    y = 3.0 + alpha[:, None] + beta[None, :]
    w = rng.exponential(size=(n, t)) * (rng.random((n, t)) > 0.5)
    res = twfe.solve_jit(jnp.asarray(y), jnp.asarray(w))
    np.testing.assert_allclose(np.asarray(res.fitted), y, atol=1e-10)


def test_vmap_equals_loop_and_factor_reuse(rng):
    problems = [random_problem(rng, 9, 6) for _ in range(5)]
    ys = jnp.asarray(np.stack([p[0] for p in problems]))
    ws = jnp.asarray(np.stack([p[1] for p in problems]))
    batched = jax.jit(jax.vmap(twfe.solve))(ys, ws)
    for k in range(5):
        one = twfe.solve_jit(ys[k], ws[k])
        np.testing.assert_allclose(
            batched.fitted[k], one.fitted, rtol=1e-12, atol=1e-10
        )
    # One factorisation serves many outcome matrices.
    fac = twfe.factor(ws[0])
    for k in range(5):
        a = twfe.apply(fac, ys[k])
        b = twfe.solve(ys[k], ws[0])
        np.testing.assert_allclose(a.fitted, b.fitted, rtol=1e-12, atol=1e-10)


def test_float32_tolerance(rng):
    """float32: fitted values within 1e-4 relative of the float64 reference (documented)."""
    y, w = random_problem(rng, 39, 31)
    res = twfe.solve_jit(jnp.asarray(y, jnp.float32), jnp.asarray(w, jnp.float32))
    assert res.fitted.dtype == jnp.float32
    ref = twfe_fit(y, w)
    ok = w.sum(axis=1)[:, None] > 0
    np.testing.assert_allclose(
        np.asarray(res.fitted)[ok.repeat(31, 1)], ref[ok.repeat(31, 1)], rtol=1e-4
    )


# Shapes from a short list: each new shape compiles once, values vary freely.
SHAPES = st.sampled_from([(2, 3), (5, 4), (4, 7)])


@settings(max_examples=40, deadline=None)
@given(
    shape=SHAPES,
    p_zero=st.floats(0.0, 0.7),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_fitted_values_match_reference_on_identified_cells(
    shape, p_zero, seed
):
    n, t = shape
    rng = np.random.default_rng(seed)
    y, w = random_problem(rng, n, t, p_zero=p_zero)
    res = twfe.solve_jit(jnp.asarray(y), jnp.asarray(w))
    if int(res.n_components) != 1:
        # Disconnected weights: fitted values are only unique within a component, and the
        # count must match a direct graph search.
        assert int(res.n_components) == n_components_reference(w)
        return
    ok = (
        np.asarray(res.unit_identified)[:, None]
        & np.asarray(res.time_identified)[None, :]
    )
    if ok.any():
        ref = twfe_fit(y, w)
        np.testing.assert_allclose(
            np.asarray(res.fitted)[ok], ref[ok], rtol=1e-8, atol=1e-7
        )


def n_components_reference(w):
    """Connected components of the weighted bipartite unit-period graph (BFS)."""
    n = w.shape[0]
    seen_u, seen_t, count = set(), set(), 0
    for j0 in range(n):
        if w[j0].sum() == 0 or j0 in seen_u:
            continue
        count += 1
        stack = [("u", j0)]
        while stack:
            kind, k = stack.pop()
            if kind == "u" and k not in seen_u:
                seen_u.add(k)
                stack += [("t", s) for s in np.flatnonzero(w[k] > 0)]
            elif kind == "t" and k not in seen_t:
                seen_t.add(k)
                stack += [("u", j) for j in np.flatnonzero(w[:, k] > 0)]
    return count


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**31 - 1))
def test_property_component_count(shape, seed):
    n, t = shape
    rng = np.random.default_rng(seed)
    w = (rng.random((n, t)) > 0.75).astype(float)
    res = twfe.solve_jit(jnp.asarray(rng.normal(size=(n, t))), jnp.asarray(w))
    assert int(res.n_components) == n_components_reference(w)


def test_weights_spanning_forty_orders_of_magnitude(rng):
    """TROP's time decay gives period weights down to 1e-40; the solve stays finite and
    satisfies every row's and column's normal equation relative to its own weights."""
    n, t = 12, 30
    y = rng.normal(size=(n, t)) * 10 + rng.normal(size=(n, 1)) * 50
    theta = np.exp(-3.0 * np.abs(np.arange(t) - 29))  # 1 down to 1e-38
    w = np.outer(rng.uniform(0.2, 1.0, n), theta)
    w[0, 20:] = 0.0  # unit 0 only in far, tiny-weight periods
    res = twfe.solve_jit(jnp.asarray(y), jnp.asarray(w))
    assert int(res.status) == CONVERGED
    r = y - np.asarray(res.fitted)
    for axis in (1, 0):
        scale = (w * np.abs(r)).sum(axis=axis) + (w * np.abs(y)).sum(axis=axis) * 1e-300
        assert np.all(np.abs((w * r).sum(axis=axis)) <= 1e-8 * scale)
