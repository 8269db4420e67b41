"""Unit and time weights of the synthetic-control family (R synthdid semantics).

A block design is described by masks, so that one compiled function serves every placebo
or bootstrap draw: ``treated`` (N,) marks treated units, ``post`` (T,) the treated periods,
``freq`` (N,) unit frequencies (1 normally, bootstrap counts, 0 to leave a unit out).
With ``co = (1 - treated) * (freq > 0)`` and ``pre = 1 - post``:

- noise level sigma: sd (n - 1 denominator) of the first differences of control outcomes
  over pre-periods (R: ``sd(apply(Y[1:N0, 1:T0], 1, diff))``);
- unit weights omega (Arkhangelsky et al. 2021, Eq. 2.2): minimise
  ``zeta^2 ||omega||^2 + (1/T_pre) sum_{t pre} (omega_0 + omega'Y_co,t - mean_tr Y_t)^2``;
- time weights lambda (Eq. 2.3): minimise
  ``zeta^2 ||lambda||^2 + (1/N_co) sum_{i co} (lambda_0 + lambda'Y_i,pre - mean_post Y_i)^2``;

both over the simplex, the intercepts by centring (kernels.simplex). With unit frequencies
the control rows of the time-weight problem are weighted by their counts, and a unit drawn
k times enters the unit-weight problem with ridge ``zeta^2 omega_i^2 / k`` (the exact
optimum of the problem with the unit duplicated k times).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxpanel.kernels import CONVERGED, MAX_STEPS, simplex

Solver = Literal["fw", "exact"]
SOLVERS = ("fw", "exact")


class BlockMasks(NamedTuple):
    """Block-design masks, all in Y's float dtype.

    Attributes
    ----------
    treated : (N,) 1 for treated units (with frequency > 0).
    control : (N,) 1 for never-treated units (with frequency > 0).
    post : (T,) 1 for treated periods.
    pre : (T,) 1 for pre-periods.
    freq : (N,) unit frequencies.
    """

    treated: jax.Array  # (N,) 1 for treated units (with freq > 0)
    control: jax.Array  # (N,) 1 for control units (with freq > 0)
    post: jax.Array  # (T,) 1 for treated periods
    pre: jax.Array  # (T,) 1 for pre-periods
    freq: jax.Array  # (N,) unit frequencies


def block_masks(
    W: jax.Array, freq: jax.Array | None = None, periods: jax.Array | None = None
) -> BlockMasks:
    """Block-design masks from a treatment matrix ``W`` (N, T) and unit frequencies.

    ``periods`` (T,) marks the periods in the sample (default all): absent periods are
    neither pre nor post (the time placebo drops the real post-periods this way).

    Parameters
    ----------
    W : (N, T) 0/1 block treatment.
    freq : (N,) unit frequencies (default 1; 0 leaves a unit out).
    periods : (T,) 1 for the periods in the sample (default all).

    Returns
    -------
    BlockMasks in W's dtype.
    """
    W = jnp.asarray(W)
    dtype = W.dtype
    f = jnp.ones(W.shape[0], dtype) if freq is None else jnp.asarray(freq, dtype)
    t_in = (
        jnp.ones(W.shape[1], dtype) if periods is None else jnp.asarray(periods, dtype)
    )
    present = (f > 0).astype(dtype)
    ever = (W.max(axis=1) > 0).astype(dtype)
    # Treated periods are those where treated units (present in the sample) are treated.
    post = (jnp.max(W * present[:, None], axis=0) > 0).astype(dtype) * t_in
    return BlockMasks(ever * present, (1 - ever) * present, post, (1 - post) * t_in, f)


def noise_level(Y: jax.Array, b: BlockMasks) -> jax.Array:
    """Sd of first differences of control outcomes over consecutive pre-periods.

    Parameters
    ----------
    Y : (N, T) outcomes. b : BlockMasks (controls weighted by their frequencies).

    Returns
    -------
    () sigma, in outcome units (NaN with fewer than two differences).

    References
    ----------
    R synthdid: ``sd(apply(Y[1:N0, 1:T0], 1, diff))``.
    """
    diffs = Y[:, 1:] - Y[:, :-1]
    ok = b.pre[1:] * b.pre[:-1]
    w = (b.control * b.freq)[:, None] * ok[None, :]
    n = w.sum()
    mean = (w * diffs).sum() / n
    return jnp.sqrt((w * (diffs - mean) ** 2).sum() / (n - 1))


def _treated_mean(Y: jax.Array, b: BlockMasks) -> jax.Array:
    wt = b.treated * b.freq
    return (wt @ Y) / wt.sum()


def _post_mean(Y: jax.Array, b: BlockMasks) -> jax.Array:
    return (Y @ b.post) / b.post.sum()


class UnitGram(NamedTuple):
    """The unit-weight problem's Gram matrix over all units, shared by replicates.

    Every unit placebo and bootstrap replicate of an estimate fits its unit weights on
    the same pre-periods; only the target (the mean of the replicate's treated units)
    and the units allowed change. Since the target is a combination ``A s`` of the
    units' own columns, each replicate's problem is ``G``, ``g = G s``, ``bb = s'G s``
    with one ``G``: built once (O(N^2 T_pre)), it saves each replicate the Gram
    matrix's construction and its N x N memory (:func:`omega_problem`).

    Attributes
    ----------
    G : (N, N) ``A'diag(pre)A`` with ``A`` = the outcomes over periods minus a reference
        path (the controls' mean), centred over the pre-periods with an intercept.
    pre : (T,) the pre-periods it was built on (a replicate on other periods may not
        use it).
    F : (T, N) the factor ``G = F'F`` (``A`` with its rows scaled by ``sqrt(pre)``),
        for the exact solver's factored steps.
    """

    G: jax.Array
    pre: jax.Array
    F: jax.Array


def unit_gram(
    Y: jax.Array, mask: jax.Array, b: BlockMasks, intercept: bool
) -> UnitGram:
    """The Gram matrix of the unit-weight problems on ``b``'s pre-periods (all units).

    Parameters
    ----------
    Y : (N, T) outcomes. mask : (N, T) observed cells (others enter as 0 and are never
        weighted). b : BlockMasks of the estimate (its pre-periods and controls).
    intercept : static; centre over the pre-periods (SDID, DIFP), as :func:`omega_problem`.

    Returns
    -------
    UnitGram.
    """
    A = jnp.where(mask > 0, Y, 0.0).T  # (T, N)
    wc = b.control * b.freq
    # Subtracting one path from every unit changes no simplex problem (sum x = sum s
    # = 1) and keeps the Gram form free of the outcome's level (as make_problem's gaps).
    A = A - ((A @ wc) / wc.sum())[:, None]
    r = b.pre
    if intercept:
        A = A - ((r @ A) / r.sum())[None, :]
    F = A * jnp.sqrt(r)[:, None]
    G = F.T @ F
    return UnitGram(0.5 * (G + G.T), r, F)


def omega_problem(
    Y: jax.Array,
    b: BlockMasks,
    zeta: jax.Array,
    intercept: bool,
    gram: UnitGram | None = None,
) -> simplex.Problem:
    """Unit-weight problem: rows = pre-periods, variables = units (controls allowed).

    Parameters
    ----------
    Y : (N, T) outcomes. b : BlockMasks.
    zeta : ridge scale zeta_omega (outcome units). intercept : static.
    gram : the estimate's :class:`UnitGram` (replicates on its pre-periods, which the
        caller must check), or None to build the problem from ``Y``. The same problem
        either way (to rounding): the target ``A s``, ``s`` the treated units'
        frequencies normalised, gives ``g = G s`` and ``bb = s'G s``.

    Returns
    -------
    ``kernels.simplex.Problem``.

    References
    ----------
    Arkhangelsky et al. (2021), Eq. (2.2); R synthdid's ``sc.weight.fw``.
    """
    if gram is None:
        return simplex.make_problem(
            Y.T,
            _treated_mean(Y, b),
            zeta,
            intercept=intercept,
            row_weights=b.pre,
            col_weights=b.control * b.freq,
        )
    wt = b.treated * b.freq
    s = wt / wt.sum()
    g = gram.G @ s
    f = b.control * b.freq
    ok = f > 0
    n_rows = b.pre.sum()
    ridge = jnp.where(
        ok, n_rows * jnp.asarray(zeta, Y.dtype) ** 2 / jnp.where(ok, f, 1), 0
    )
    return simplex.Problem(gram.G, g, s @ g, ridge, ok, n_rows, gram.F)


def lambda_problem(
    Y: jax.Array, b: BlockMasks, zeta: jax.Array, intercept: bool
) -> simplex.Problem:
    """Time-weight problem: rows = control units (by frequency), variables = pre-periods.

    Parameters
    ----------
    Y : (N, T) outcomes. b : BlockMasks.
    zeta : ridge scale zeta_lambda (outcome units). intercept : static.

    Returns
    -------
    ``kernels.simplex.Problem``.

    References
    ----------
    Arkhangelsky et al. (2021), Eq. (2.3); R synthdid's ``sc.weight.fw`` on the
    transposed problem.
    """
    return simplex.make_problem(
        Y,
        _post_mean(Y, b),
        zeta,
        intercept=intercept,
        row_weights=b.control * b.freq,
        allowed=b.pre > 0,
    )


def solve(
    p: simplex.Problem,
    init: jax.Array | None,
    min_decrease: jax.Array,
    solver: Solver = "fw",
    max_iter: int = 10_000,
    max_iter_pre: int = 100,
    sparsify: bool = True,
    factored: bool = False,
) -> simplex.Solution:
    """Solve a weight problem with R's two-stage Frank-Wolfe or the exact active-set QP.

    ``init`` warm-starts Frank-Wolfe (R passes the original weights in bootstrap and placebo
    replications); None starts from uniform weights. The exact solver starts its active
    set from the support of 500 Frank-Wolfe steps from the same start (the weights above
    1% of their largest) where the ridge is well above rounding (SDID's unit weights; SC's
    and DIFP's tiny ridge start from the best vertex: ``kernels.simplex.active_set``);
    its minimiser does not depend on the start, its number of dense solves does (a 200 x
    50 SDID fit: 184 from the best vertex, 7 from there).

    Frank-Wolfe's iteration cap is part of R's definition of the estimator (R stops there
    silently, and on Prop 99 the unit weights reach it), so a capped run is reported in
    ``capped`` with its duality gap, not as a failed status. The exact solver's cap is a
    failure (MAX_STEPS).

    Parameters
    ----------
    p : the problem. init : (n,) warm start or None.
    min_decrease : Frank-Wolfe's stopping scale (outcome units).
    solver : 'fw' or 'exact' (static). max_iter, max_iter_pre, sparsify : R's schedule.
    factored : static; the exact solver's steps through the problem's factor
        (``kernels.simplex.active_set(factored=True)``: O(m^2 n) instead of O(n^3) per
        step), for problems whose ridge is well above rounding (SDID's unit weights).

    Returns
    -------
    ``kernels.simplex.Solution`` with ``capped`` and ``gap`` filled in.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 4.1 (Frank-Wolfe); R synthdid's ``sc.weight.fw``.
    """
    if solver == "exact":
        # the active set starts from the support of 500 Frank-Wolfe steps from the warm
        # start (its cost is a dense solve per support change; its minimiser does not
        # depend on the start); where it may not start there (tiny ridge) Frank-Wolfe
        # stops after its first two steps (an infinite stopping scale)
        x0 = start(init, p.allowed, p.G.dtype)
        stop = jnp.where(simplex.startable(p), 0.0, jnp.inf).astype(p.G.dtype)
        # (no stopping rule where it starts the active set: lanes in lockstep)
        x0 = simplex.frank_wolfe(p, x0, stop, 500, compact=False).x
        r = simplex.active_set(p, x0=x0, support=0.01, factored=factored)
        return r._replace(capped=jnp.asarray(False), gap=simplex.fw_gap(p, r.x))
    x0 = start(init, p.allowed, p.G.dtype)
    if sparsify:
        r = simplex.frank_wolfe_sparsified(p, x0, min_decrease, max_iter, max_iter_pre)
    else:
        r = simplex.frank_wolfe(p, x0, min_decrease, max_iter)
    capped = r.status == MAX_STEPS
    status = jnp.where(capped, CONVERGED, r.status).astype(jnp.int32)
    return r._replace(status=status, capped=capped, gap=simplex.fw_gap(p, r.x))


class CovariateSolution(NamedTuple):
    """Weights and covariate coefficients fitted jointly (:func:`solve_with_covariates`).

    Attributes
    ----------
    omega : (N,) unit weights. lam : (T,) time weights. beta : (K,) coefficients.
    steps : () int32 iterations. capped : () bool, stopped at ``max_iter``.
    """

    omega: jax.Array
    lam: jax.Array
    beta: jax.Array
    steps: jax.Array
    capped: jax.Array


def _fw_step_dense(A, b, x, rows, ridge, allowed):
    """One Frank-Wolfe step with exact line search (R synthdid's ``fw.step``).

    ``min sum_r rows_r (A x - b)_r^2 + sum_i ridge_i x_i^2`` on the simplex over the
    ``allowed`` variables, on the matrix itself (its Gram form changes every step here).
    """
    Ax = A @ x
    half_grad = ((Ax - b) * rows) @ A + ridge * x
    big = jnp.finfo(A.dtype).max / 8
    i = jnp.argmin(jnp.where(allowed, half_grad, big))
    d = (-x).at[i].add(1.0)
    d_err = A[:, i] - Ax
    den = (rows * d_err**2).sum() + (ridge * d * d).sum()
    ok = (x[i] < 1) & (den > 0)
    step = jnp.clip(-(half_grad @ d) / jnp.where(ok, den, 1.0), 0.0, 1.0)
    return x + jnp.where(ok, step, 0.0) * d


def solve_with_covariates(
    Y: jax.Array,
    X: jax.Array,
    b: BlockMasks,
    zeta_omega: jax.Array,
    zeta_lambda: jax.Array,
    min_decrease: jax.Array,
    omega_init: jax.Array,
    lambda_init: jax.Array,
    *,
    update_omega: bool = True,
    update_lambda: bool = True,
    omega_intercept: bool = True,
    lambda_intercept: bool = True,
    max_iter: int = 10_000,
) -> CovariateSolution:
    """Unit weights, time weights and covariate coefficients fitted jointly.

    R synthdid's ``sc.weight.fw.covariates`` (its only covariate form; Stata ``sdid``'s
    ``covariates(..., optimized)``): on ``Y - X beta``, each iteration takes a gradient
    step of size ``1/t`` on ``beta`` for the sum of both weight problems' objectives,
    then one Frank-Wolfe step on lambda and one on omega; it stops when the objective
    decreased by at most ``min_decrease**2`` (after 2 iterations) or at ``max_iter``.
    Weights not updated (SC's zero lambda, DIFP's uniform lambda) stay at their start but
    their problem still enters the objective and the gradient, as in R.

    Parameters
    ----------
    Y : (N, T) outcomes. X : (K, N, T) covariates. b : BlockMasks.
    zeta_omega, zeta_lambda : ridge scales (outcome units). min_decrease : stopping
        scale. omega_init : (N,), lambda_init : (T,) starts on the simplex (or the fixed
        weights).
    update_omega, update_lambda, omega_intercept, lambda_intercept, max_iter : static.

    Returns
    -------
    CovariateSolution.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 4 (covariates); R synthdid's
    ``sc.weight.fw.covariates``; Clarke, Pailañir, Athey and Imbens (2023), Sec. 2.4.
    """
    dtype = Y.dtype
    rows_l = b.control * b.freq  # lambda problem: control units, by frequency
    rows_o = b.pre  # omega problem: pre-periods
    n0, t0 = rows_l.sum(), rows_o.sum()
    allowed_o = b.control > 0
    allowed_l = b.pre > 0
    f = jnp.where(allowed_o, b.freq, 1.0)
    ridge_o = jnp.where(allowed_o, t0 * zeta_omega**2 / f, 0.0)
    ridge_l = jnp.where(allowed_l, n0 * zeta_lambda**2, 0.0)
    wt = b.treated * b.freq

    def treated_mean(Z):  # (T,)
        return (wt @ Z) / wt.sum()

    def post_mean(Z):  # (N,)
        return (Z @ b.post) / b.post.sum()

    def centre(A, v, rows):
        m = (rows @ A) / rows.sum()
        return A - m[None, :], v - (rows @ v) / rows.sum()

    def problems(Yb):
        A_l, b_l = Yb, post_mean(Yb)  # rows units, variables periods
        if lambda_intercept:
            A_l, b_l = centre(A_l, b_l, rows_l)
        A_o, b_o = Yb.T, treated_mean(Yb)  # rows periods, variables units
        if omega_intercept:
            A_o, b_o = centre(A_o, b_o, rows_o)
        return A_l, b_l, A_o, b_o

    def update(Yb, lam, om):
        A_l, b_l, A_o, b_o = problems(Yb)
        if update_lambda:
            lam = _fw_step_dense(A_l, b_l, lam, rows_l, ridge_l, allowed_l)
        err_l = A_l @ lam - b_l
        if update_omega:
            om = _fw_step_dense(A_o, b_o, om, rows_o, ridge_o, allowed_o)
        err_o = A_o @ om - b_o
        val = (
            (ridge_o * om) @ om / t0
            + (ridge_l * lam) @ lam / n0
            + (rows_o * err_o) @ err_o / t0
            + (rows_l * err_l) @ err_l / n0
        )
        return lam, om, err_l, err_o, val

    def contract(beta):
        return jnp.tensordot(beta, X, axes=1)

    def gradient(lam, om, err_l, err_o):
        # d/d beta_k of the objective: the collapsed X_k against each problem's residuals
        xl = X @ lam - (X @ b.post) / b.post.sum()  # (K, N): X_k lambda - post mean
        xo = jnp.einsum("knt,n->kt", X, om) - jnp.einsum("knt,n->kt", X, wt) / wt.sum()
        return -(
            (xl * (rows_l * err_l)[None, :]).sum(axis=1) / n0
            + (xo * (rows_o * err_o)[None, :]).sum(axis=1) / t0
        )

    tol = jnp.asarray(min_decrease, dtype) ** 2
    beta0 = jnp.zeros(X.shape[0], dtype)
    lam, om, err_l, err_o, val = update(Y, lambda_init, omega_init)
    inf = jnp.asarray(jnp.inf, dtype)

    def cond(state):
        t, prev, val = state[0], state[1], state[2]
        return (t < max_iter) & ((t < 2) | (prev - val > tol))

    def body(state):
        t, _prev, val, beta, lam, om, err_l, err_o = state
        t = t + 1
        beta = beta - gradient(lam, om, err_l, err_o) / t.astype(dtype)
        lam, om, err_l, err_o, new = update(Y - contract(beta), lam, om)
        return t, val, new, beta, lam, om, err_l, err_o

    state = (jnp.zeros((), jnp.int32), inf, val, beta0, lam, om, err_l, err_o)
    t, prev, val, beta, lam, om, _, _ = jax.lax.while_loop(cond, body, state)
    capped = (t >= max_iter) & (prev - val > tol)
    return CovariateSolution(om, lam, beta, t, capped)


def start(init: jax.Array | None, allowed: jax.Array, dtype) -> jax.Array:
    """Frank-Wolfe's start: ``init`` on the ``allowed`` (bool) variables, summing to one.

    R's ``sum_normalize``: None, or a start with no weight on the allowed variables,
    becomes uniform over them.
    """
    a = jnp.asarray(allowed, bool)
    uniform = a.astype(dtype) / a.sum().astype(dtype)
    if init is None:
        return uniform
    x0 = jnp.where(a, jnp.asarray(init, dtype), 0.0)
    total = x0.sum()
    return jnp.where(total > 0, x0 / jnp.where(total > 0, total, 1), uniform)


def fixed(values: jax.Array, allowed: jax.Array) -> simplex.Solution:
    """Weights given, not fitted: restricted to ``allowed`` and renormalised.

    Parameters
    ----------
    values : (n,) the weights.
    allowed : (n,) 1 where a weight may be non-zero.

    Returns
    -------
    ``kernels.simplex.Solution`` with zero steps and status CONVERGED.
    """
    w = jnp.where(allowed > 0, values, 0.0)
    w = w / w.sum()
    return _given(w)


def zero(like: jax.Array) -> simplex.Solution:
    """No weights at all (SC's time weights).

    Parameters
    ----------
    like : (T,) an array of the weights' shape and dtype.

    Returns
    -------
    ``kernels.simplex.Solution`` of zeros.
    """
    return _given(jnp.zeros_like(like))


def _given(w: jax.Array) -> simplex.Solution:
    z = jnp.zeros((), jnp.int32)
    return simplex.Solution(w, z, z, z, jnp.asarray(False), jnp.zeros((), w.dtype))


__all__ = [
    "SOLVERS",
    "BlockMasks",
    "CovariateSolution",
    "Solver",
    "UnitGram",
    "block_masks",
    "fixed",
    "lambda_problem",
    "noise_level",
    "omega_problem",
    "solve",
    "solve_with_covariates",
    "start",
    "unit_gram",
    "zero",
]
