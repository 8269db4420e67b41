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


def omega_problem(
    Y: jax.Array, b: BlockMasks, zeta: jax.Array, intercept: bool
) -> simplex.Problem:
    """Unit-weight problem: rows = pre-periods, variables = units (controls allowed).

    Parameters
    ----------
    Y : (N, T) outcomes. b : BlockMasks.
    zeta : ridge scale zeta_omega (outcome units). intercept : static.

    Returns
    -------
    ``kernels.simplex.Problem``.

    References
    ----------
    Arkhangelsky et al. (2021), Eq. (2.2); R synthdid's ``sc.weight.fw``.
    """
    return simplex.make_problem(
        Y.T,
        _treated_mean(Y, b),
        zeta,
        intercept=intercept,
        row_weights=b.pre,
        col_weights=b.control * b.freq,
    )


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
) -> simplex.Solution:
    """Solve a weight problem with R's two-stage Frank-Wolfe or the exact active-set QP.

    ``init`` warm-starts Frank-Wolfe (R passes the original weights in bootstrap and placebo
    replications); None starts from uniform weights. The exact solver needs no start.

    Frank-Wolfe's iteration cap is part of R's definition of the estimator (R stops there
    silently, and on Prop 99 the unit weights reach it), so a capped run is reported in
    ``capped`` with its duality gap, not as a failed status. The exact solver's cap is a
    failure (MAX_STEPS).

    Parameters
    ----------
    p : the problem. init : (n,) warm start or None.
    min_decrease : Frank-Wolfe's stopping scale (outcome units).
    solver : 'fw' or 'exact' (static). max_iter, max_iter_pre, sparsify : R's schedule.

    Returns
    -------
    ``kernels.simplex.Solution`` with ``capped`` and ``gap`` filled in.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 4.1 (Frank-Wolfe); R synthdid's ``sc.weight.fw``.
    """
    if solver == "exact":
        r = simplex.active_set(p)
        return r._replace(capped=jnp.asarray(False), gap=simplex.fw_gap(p, r.x))
    x0 = simplex.uniform(p) if init is None else jnp.where(p.allowed, init, 0.0)
    # R's sum_normalize: a start with no weight on the allowed variables becomes uniform.
    total = x0.sum()
    x0 = jnp.where(total > 0, x0 / jnp.where(total > 0, total, 1), simplex.uniform(p))
    if sparsify:
        r = simplex.frank_wolfe_sparsified(p, x0, min_decrease, max_iter, max_iter_pre)
    else:
        r = simplex.frank_wolfe(p, x0, min_decrease, max_iter)
    capped = r.status == MAX_STEPS
    status = jnp.where(capped, CONVERGED, r.status).astype(jnp.int32)
    return r._replace(status=status, capped=capped, gap=simplex.fw_gap(p, r.x))


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
    "Solver",
    "block_masks",
    "fixed",
    "lambda_problem",
    "noise_level",
    "omega_problem",
    "solve",
    "zero",
]
