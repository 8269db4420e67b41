"""kernels.simplex: Frank-Wolfe (R semantics) against a NumPy transliteration; the exact
active-set solver against KKT conditions and SciPy's SLSQP."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpanel.kernels import CONVERGED, simplex

from .. import reference_synth as ref


def problem(rng, m=19, n=12, scale=10.0):
    A = rng.normal(size=(m, n)).cumsum(axis=0) * scale + rng.normal(size=n) * 30
    b = A[:, :3].mean(axis=1) + rng.normal(size=m) * scale * 0.5
    return A, b


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("zeta", [1e-3, 0.5, 5.0])
def test_frank_wolfe_matches_reference_iterate(rng, intercept, zeta):
    A, b = problem(rng)
    x_ref, t_ref = ref.fw(A, b, zeta, intercept, None, min_decrease=1e-4, max_iter=500)
    p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), zeta, intercept=intercept)
    out = jax.jit(simplex.frank_wolfe, static_argnames="max_iter")(
        p, simplex.uniform(p), 1e-4, max_iter=500
    )
    assert int(out.steps) == t_ref
    np.testing.assert_allclose(np.asarray(out.x), x_ref, atol=1e-10)
    expect = CONVERGED if t_ref < 500 else simplex.MAX_STEPS
    assert int(out.status) == expect


def test_sparsified_matches_reference_two_stage(rng):
    A, b = problem(rng, n=25)
    x1, t1 = ref.fw(A, b, 0.8, True, None, 1e-5, 100)
    x2, t2 = ref.fw(A, b, 0.8, True, ref.sparsify(x1), 1e-5, 3000)
    p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), 0.8)
    out = simplex.frank_wolfe_sparsified(p, simplex.uniform(p), 1e-5, max_iter=3000)
    assert (int(out.steps_pre), int(out.steps)) == (t1, t2)
    np.testing.assert_allclose(np.asarray(out.x), x2, atol=1e-10)


def test_row_weights_equal_duplicated_rows(rng):
    A, b = problem(rng)
    counts = rng.integers(0, 3, size=A.shape[0]).astype(float)
    rows = np.repeat(np.arange(A.shape[0]), counts.astype(int))
    p_w = simplex.make_problem(
        jnp.asarray(A), jnp.asarray(b), 0.3, row_weights=jnp.asarray(counts)
    )
    p_d = simplex.make_problem(jnp.asarray(A[rows]), jnp.asarray(b[rows]), 0.3)
    a = simplex.frank_wolfe(p_w, simplex.uniform(p_w), 1e-5, 2000)
    d = simplex.frank_wolfe(p_d, simplex.uniform(p_d), 1e-5, 2000)
    assert int(a.steps) == int(d.steps)
    np.testing.assert_allclose(np.asarray(a.x), np.asarray(d.x), atol=1e-10)


def test_column_frequencies_equal_duplicated_columns_at_the_optimum(rng):
    A, b = problem(rng, n=8)
    f = np.array([1, 3, 0, 2, 1, 1, 2, 1], float)
    cols = np.repeat(np.arange(8), f.astype(int))
    p_f = simplex.make_problem(
        jnp.asarray(A), jnp.asarray(b), 2.0, col_weights=jnp.asarray(f)
    )
    p_d = simplex.make_problem(jnp.asarray(A[:, cols]), jnp.asarray(b), 2.0)
    xf = np.asarray(simplex.active_set(p_f).x)
    xd = np.asarray(simplex.active_set(p_d).x)
    total = np.zeros(8)
    np.add.at(total, cols, xd)
    assert xf[2] == 0.0
    np.testing.assert_allclose(xf, total, atol=1e-9)


def kkt_violation(p, x):
    grad = np.asarray(p.G @ x - p.g + p.ridge * x)
    allowed = np.asarray(p.allowed)
    support = (x > 1e-12) & allowed
    level = grad[support].mean()
    spread = np.ptp(grad[support])
    off = (grad[allowed & ~support] - level).min(initial=np.inf)
    return spread, off, np.abs(grad).max()


@pytest.mark.parametrize("zeta,intercept", [(1e-6, False), (1e-6, True), (3.0, True)])
def test_active_set_is_exact(rng, zeta, intercept):
    A, b = problem(rng, m=19, n=38)
    p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), zeta, intercept=intercept)
    out = jax.jit(simplex.active_set)(p)
    x = np.asarray(out.x)
    assert int(out.status) == CONVERGED
    assert np.all(x >= 0) and abs(x.sum() - 1) < 1e-12
    spread, off, scale = kkt_violation(p, x)
    assert spread <= 1e-9 * scale and off >= -1e-9 * scale
    _, f_ref = ref.simplex_qp(A, b, zeta, intercept)
    f = float(simplex.objective(p, jnp.asarray(x)))
    assert f <= f_ref + 1e-9 * abs(f_ref)
    # Frank-Wolfe's duality gap bounds the suboptimality: zero at the exact solution.
    assert float(simplex.fw_gap(p, jnp.asarray(x))) < 1e-8 * abs(f)


def factor_problem(rng, m, n):
    """Rows of a rank-2 factor panel with noise: the target is the last column."""
    L = rng.normal(size=(m, 2)) @ rng.normal(size=(2, n + 1))
    Y = L + 0.3 * rng.normal(size=(m, n + 1)) + 10 * rng.normal()
    return Y[:, :n], Y[:, n], float(np.std(np.diff(Y, axis=0)))


def starts(p, rng):
    """The best vertex, a Frank-Wolfe iterate's support, a random support, all variables."""
    n = p.G.shape[0]
    fw = simplex.frank_wolfe(p, simplex.uniform(p), 0.0, 500).x
    rnd = rng.dirichlet(np.ones(n)) * (rng.random(n) < 0.5)
    return [(None, 0.0), (fw, 0.01), (jnp.asarray(rnd), 0.0), (simplex.uniform(p), 0.0)]


solve_from = jax.jit(
    lambda p, x0, support: simplex.active_set(p, x0=x0, support=support)
)


@pytest.mark.parametrize("m,n", [(8, 60), (12, 200), (30, 20)])
def test_active_set_minimiser_does_not_depend_on_the_start(rng, m, n):
    """SDID's ridge: the same weights (1e-12) from every start. SC's and DIFP's tiny
    ridge (1e-6 sigma, about 1e-12 of the Gram matrix: supports' systems are too badly
    conditioned to start from) ignores the start: the vertex start's result exactly."""
    A, b, sigma = factor_problem(rng, m, n)
    for zeta, intercept in [
        (2 * sigma, True),
        (1e-6 * sigma, False),
        (1e-6 * sigma, True),
    ]:
        p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), zeta, intercept)
        out = [
            jax.jit(simplex.active_set)(p) if x0 is None else solve_from(p, x0, s)
            for x0, s in starts(p, rng)
        ]
        X = np.array([np.asarray(o.x) for o in out])
        assert all(int(o.status) == CONVERGED for o in out)
        if zeta > 1e-3 * sigma:
            np.testing.assert_allclose(X, np.broadcast_to(X[0], X.shape), atol=1e-12)
            assert int(out[1].steps) < int(out[0].steps)  # fewer solves from near
        else:
            np.testing.assert_array_equal(X, np.broadcast_to(X[0], X.shape))


def test_active_set_start_with_duplicate_variables(rng):
    """Controls copied several times: SC's tiny ridge cannot tell the copies apart (its
    support systems are singular in floating point): the Frank-Wolfe start is ignored and
    the vertex start converges; under SDID's ridge the copies share the weight and every
    start gives the same weights."""
    A, b, sigma = factor_problem(rng, 8, 24)
    A = np.concatenate([A, np.repeat(A[:, :5], 7, axis=1)], axis=1)
    for zeta in (1e-6 * sigma, 2 * sigma):
        p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), zeta, False)
        assert bool(simplex.startable(p)) == (zeta > 1e-3 * sigma)
        out = [
            jax.jit(simplex.active_set)(p) if x0 is None else solve_from(p, x0, s)
            for x0, s in starts(p, rng)
        ]
        assert all(int(o.status) == CONVERGED for o in out)
        X = np.array([np.asarray(o.x) for o in out])
        np.testing.assert_allclose(X, np.broadcast_to(X[0], X.shape), atol=1e-12)


def test_active_set_tolerance_reaches_the_tiny_ridge(rng):
    """On SC problems with 300 controls and 8 pre-periods the default tolerance never
    ends higher than the old relative tolerance 1e-10, and on some it ends lower by more
    than 5 % (the old one stopped at the first support that fits the rows exactly)."""
    gains = []
    for _ in range(6):
        A, b, sigma = factor_problem(rng, 8, 300)
        p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), 1e-6 * sigma, True)
        f = float(simplex.objective(p, simplex.active_set(p).x))
        f_loose = float(simplex.objective(p, simplex.active_set(p, tol=1e-10).x))
        f_uniform = float(simplex.objective(p, simplex.uniform(p)))
        assert f <= f_loose + 1e-15 * f_uniform
        gains.append(f / f_loose)
    assert min(gains) < 0.95


def test_active_set_without_a_unique_minimiser_starts_at_the_vertex(rng):
    """zeta = 0 with more variables than rows: many minimisers, and a start's support may
    be singular; the start is ignored, so the result is the vertex start's."""
    A, b, _ = factor_problem(rng, 5, 40)
    p = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), 0.0, True)
    vertex = simplex.active_set(p)
    for x0, s in starts(p, rng)[1:]:
        out = solve_from(p, x0, s)
        assert int(out.status) == int(vertex.status)
        np.testing.assert_array_equal(np.asarray(out.x), np.asarray(vertex.x))


def test_excluded_variables_stay_zero(rng):
    A, b = problem(rng)
    allowed = np.ones(A.shape[1], bool)
    allowed[[0, 4, 7]] = False
    p = simplex.make_problem(
        jnp.asarray(A), jnp.asarray(b), 0.5, allowed=jnp.asarray(allowed)
    )
    for x in (
        simplex.frank_wolfe(p, simplex.uniform(p), 1e-6, 1000).x,
        simplex.active_set(p).x,
    ):
        x = np.asarray(x)
        assert np.all(x[~allowed] == 0) and abs(x.sum() - 1) < 1e-12


def test_vmap_lanes_stop_independently(rng):
    probs = [problem(rng) for _ in range(4)]
    A = jnp.asarray(np.stack([a for a, _ in probs]))
    b = jnp.asarray(np.stack([bb for _, bb in probs]))
    zetas = jnp.asarray([0.01, 0.5, 2.0, 8.0])

    def solve(A, b, z):
        p = simplex.make_problem(A, b, z)
        return simplex.frank_wolfe(p, simplex.uniform(p), 1e-2, 2000)

    batched = jax.jit(jax.vmap(solve))(A, b, zetas)
    for k in range(4):
        one = solve(A[k], b[k], zetas[k])
        assert int(batched.steps[k]) == int(one.steps)
        np.testing.assert_allclose(batched.x[k], one.x, atol=1e-12)
    assert len(set(np.asarray(batched.steps).tolist())) > 1


def _lanes(rng, n_outer, n_inner, m=15, n=30):
    """Problems on a shared design per outer index: targets and stopping scales vary, so
    lanes stop after anything from a few steps to the cap."""
    A = np.stack([problem(rng, m, n)[0] for _ in range(n_outer)])
    b = A[:, None, :, :4].mean(-1) + rng.normal(size=(n_outer, n_inner, m)) * 5
    stop = 10.0 ** rng.uniform(-5, 0, size=(n_outer, n_inner))
    return jnp.asarray(A), jnp.asarray(b), jnp.asarray(stop)


def _fw(A, b, stop, compact=True):
    p = simplex.make_problem(A, b, 0.7)
    return simplex.frank_wolfe(p, simplex.uniform(p), stop, 3000, compact=compact)


def test_lanes_that_stop_leave_the_batch_with_their_own_iterates(rng):
    """Compacted vmapped Frank-Wolfe: each lane's steps, iterate and status are the ones
    it gets alone (and in a lockstep batch), over one design and, nested, over one
    design per outer lane (each lane's G its own: see the next test for a shared G)."""
    A, b, stop = _lanes(rng, 3, 40)
    alone = [[_fw(A[i], b[i, j], stop[i, j]) for j in range(40)] for i in range(3)]
    steps = np.array([[int(r.steps) for r in row] for row in alone])
    assert steps.min() < 100 and (steps == 3000).any()  # lanes stop far apart
    # one design, lanes over targets and stopping scales (G = A'A of the gaps to the
    # target differs by lane)
    inner = jax.jit(jax.vmap(_fw, in_axes=(None, 0, 0)))(A[0], b[0], stop[0])
    lockstep = jax.jit(jax.vmap(functools.partial(_fw, compact=False), (None, 0, 0)))(
        A[0], b[0], stop[0]
    )
    # nested: an outer vmap over designs (G batched) of the inner one
    nested = jax.jit(jax.vmap(jax.vmap(_fw, in_axes=(None, 0, 0))))(A, b, stop)
    for out in (inner, lockstep):
        np.testing.assert_array_equal(np.asarray(out.steps), steps[0])
        np.testing.assert_allclose(
            np.asarray(out.x), np.stack([r.x for r in alone[0]]), rtol=0, atol=1e-12
        )
    np.testing.assert_array_equal(np.asarray(nested.steps), steps)
    np.testing.assert_array_equal(
        np.asarray(nested.status), [[int(r.status) for r in row] for row in alone]
    )
    np.testing.assert_allclose(
        np.asarray(nested.x),
        np.stack([np.stack([r.x for r in row]) for row in alone]),
        rtol=0,
        atol=1e-12,
    )


def test_lanes_sharing_one_gram_matrix_and_empty_batches():
    """Lanes whose problems share one G (unbatched, as placebo lanes share the units'
    Gram matrix) over their own g, nested under a batch over designs; an empty batch."""
    A, b, stop = _lanes(np.random.default_rng(3), 2, 24)
    base = [simplex.make_problem(A[i], b[i, 0], 0.7) for i in range(2)]
    g = jnp.asarray(np.random.default_rng(4).normal(size=(2, 24, A.shape[2]))) * 50

    def fw(p, g, s, compact=True):
        p = p._replace(g=g)
        return simplex.frank_wolfe(p, simplex.uniform(p), s, 3000, compact=compact)

    for i in range(2):
        alone = [fw(base[i], g[i, j], stop[i, j]) for j in range(24)]
        got = jax.jit(jax.vmap(fw, in_axes=(None, 0, 0)))(base[i], g[i], stop[i])
        np.testing.assert_array_equal(got.steps, [int(r.steps) for r in alone])
        np.testing.assert_allclose(
            got.x, np.stack([r.x for r in alone]), rtol=0, atol=1e-12
        )
    both = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *base)
    nested = jax.jit(jax.vmap(jax.vmap(fw, in_axes=(None, 0, 0))))(both, g, stop)
    lockstep = jax.vmap(jax.vmap(functools.partial(fw, compact=False), (None, 0, 0)))(
        both, g, stop
    )
    np.testing.assert_array_equal(nested.steps, lockstep.steps)
    np.testing.assert_allclose(nested.x, lockstep.x, rtol=0, atol=1e-12)
    empty = jax.vmap(fw, in_axes=(None, 0, 0))(base[0], g[0, :0], stop[0, :0])
    assert empty.x.shape == (0, A.shape[2]) and empty.steps.shape == (0,)


def test_forward_mode_derivatives_of_compacted_lanes_are_the_lockstep_ones():
    """jax.jacfwd (a vmap of jvp over tangents only) goes through the plain loop."""
    A, b, stop = _lanes(np.random.default_rng(5), 1, 1)

    def x(b, compact):
        return _fw(A[0], b, stop[0, 0], compact=compact).x

    got = jax.jacfwd(lambda b: x(b, True))(b[0, 0])
    lockstep = jax.jacfwd(lambda b: x(b, False))(b[0, 0])  # as before compaction
    np.testing.assert_allclose(got, lockstep, rtol=0, atol=1e-12)
    assert np.abs(got).max() > 0


def test_compacted_sub_batch_sizes_halve_to_a_quarter():
    from jaxpanel.kernels import _loop

    assert _loop._sizes(1000) == [1000, 500, 250]
    assert _loop._sizes(100) == [100, 50, 25]
    assert _loop._sizes(20) == [20, 10, 5]  # to the first size at most 8 lanes
    assert _loop._sizes(8) == [8] and _loop._sizes(1) == [1]


def test_float32_frank_wolfe_close_to_float64(rng):
    """float32: weights within 1e-3 (absolute) of float64 after the same schedule."""
    A, b = problem(rng)
    out = {}
    for dt in (jnp.float32, jnp.float64):
        p = simplex.make_problem(jnp.asarray(A, dt), jnp.asarray(b, dt), 2.0)
        out[dt] = simplex.active_set(p)
        assert out[dt].x.dtype == dt
    np.testing.assert_allclose(
        np.asarray(out[jnp.float32].x), np.asarray(out[jnp.float64].x), atol=1e-3
    )


@pytest.mark.parametrize("m,n", [(19, 38), (12, 90)])
def test_factored_active_set_is_the_dense_one(rng, m, n):
    """The Woodbury steps (an (m, m) Cholesky) reach the dense solver's minimiser, with
    column frequencies, excluded variables and a warm start; a ridge below rounding is
    reported (MAX_STEPS), not returned as converged."""
    A, b = problem(rng, m=m, n=n)
    f = rng.integers(0, 3, size=n).astype(float)
    f[:2] = 1.0
    p = simplex.make_problem(
        jnp.asarray(A), jnp.asarray(b), 2.0, col_weights=jnp.asarray(f)
    )
    assert bool(simplex.startable(p))
    dense = jax.jit(simplex.active_set)(p)
    fact = jax.jit(functools.partial(simplex.active_set, factored=True))(p)
    assert int(fact.status) == CONVERGED == int(dense.status)
    np.testing.assert_allclose(np.asarray(fact.x), np.asarray(dense.x), atol=1e-12)
    spread, off, scale = kkt_violation(p, np.asarray(fact.x))
    assert spread <= 1e-9 * scale and off >= -1e-9 * scale
    warm = jax.jit(
        lambda p, x0: simplex.active_set(p, x0=x0, support=0.01, factored=True)
    )(p, simplex.uniform(p))
    np.testing.assert_allclose(np.asarray(warm.x), np.asarray(dense.x), atol=1e-12)
    tiny = simplex.make_problem(jnp.asarray(A), jnp.asarray(b), 1e-9)
    assert not bool(simplex.startable(tiny))
    out = simplex.active_set(tiny, factored=True)
    assert int(out.status) != CONVERGED
    with pytest.raises(ValueError, match="factor F"):
        simplex.active_set(p._replace(F=None), factored=True)
