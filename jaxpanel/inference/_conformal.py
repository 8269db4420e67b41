"""Conformal inference (Chernozhukov, Wuthrich and Zhu 2021, JASA).

For the null ``H0: tau_t = effect`` (a hypothesised effect) on the post-periods:

1. Impose the null: the treated series (the mean of the treated units; CWZ treat one unit)
   minus effect on the post-periods is its untreated outcome.
2. Fit the estimator's counterfactual model on all periods of the sample, the post-periods
   included (possible because under H0 they are untreated), with the estimator's own
   residual function (``Replicator.residuals``: DID a two-way fit; SC, DIFP and SDID
   their unit-weight problem with the estimate's ridge, solved exactly). Residuals
   ``u_t``.
3. Statistic ``S(u) = |P|^(-1/2) sum_{t in P} |u_t|`` (CWZ's q = 1) over the post-periods P.
4. p-value: the share of permutations pi with ``S(u o pi) >= S(u)``; moving-block
   permutations (cyclic shifts of time, CWZ's default for serially dependent data) or iid
   permutations (random, ``reps`` of them).

Confidence sets invert the test over a grid of effect, every grid point one lane of one
batched call: the constant-effect set (all post-periods jointly) and one set per
post-period (data: the pre-periods and that period). The grid is widened while a set
touches its edge, then refined twice around the accepted points (final resolution about
(hi - lo) / grid_points). Sets are reported as the hull of the accepted grid points. The reported SE is the one implied by the conformal interval,
``(hi - lo) / (2 z)``; the p-value is the test of effect = 0.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import batch
from .._options import check_choice
from ._requirements import require
from ._result import VarianceResult, z_value

SCHEMES = ("block", "iid")


def _stat(u, post):
    return (post * jnp.abs(u)).sum() / jnp.sqrt(post.sum())


def _p_value(u, rows, post, perms):
    """Share of permutations (index arrays over the sample's periods) with S >= S(u)."""
    s0 = _stat(u, post)
    # positions of the sample's periods; permutations act on those positions only
    order = jnp.argsort(-rows, stable=True)  # sample periods first, in time order
    n_in = rows.sum().astype(jnp.int32)

    def one(perm):
        # perm permutes 0..n_in-1; map to periods, leave the others in place
        k = jnp.arange(u.shape[0], dtype=jnp.int32)
        src = jnp.where(
            k < n_in,
            order[
                jnp.where(k < n_in, perm.astype(jnp.int32), 0) % jnp.maximum(n_in, 1)
            ],
            order[k],
        )
        moved = jnp.zeros_like(u).at[order].set(u[src])
        return _stat(moved, post) >= s0 - 1e-12 * jnp.abs(s0)

    return jnp.mean(jax.vmap(one)(perms).astype(u.dtype))


@functools.cache
def _lane(residuals):
    """One lane: the p-value of H0: tau = effect.

    On the sample ``rows`` with post-periods ``post``, with the estimator's
    own residual function (one lane function per estimator).
    """

    def lane(shared, effect, rows, post):
        y0 = shared["y"] - effect * post
        u = residuals(shared["data"], shared["Yco"], y0, rows)
        return _p_value(u, rows, post, shared["perms"])

    return lane


def _block_perms(n_in: int, T: int) -> np.ndarray:
    k = np.arange(T)
    return np.stack([(k + j) % n_in for j in range(n_in)])


def conformal(
    est,
    level: float = 0.95,
    scheme: str = "block",
    reps: int = 1000,
    seed=0,
    grid_points: int = 201,
    chunk=None,
    progress=None,
    return_draws: bool = False,
) -> VarianceResult:
    """Conformal inference by test inversion (Chernozhukov, Wuthrich and Zhu 2021).

    Parameters
    ----------
    est : an Estimate of DID or the SC family (its ``replicator.residuals`` fits the
        counterfactual model on every period).
    level : confidence level of the sets (default 0.95).
    scheme : 'block' (moving-block permutations: cyclic shifts of time) or 'iid'
        (``reps`` random permutations from ``seed``).
    grid_points : points of each search grid (widened, then refined twice).
    chunk, progress : batching (``jaxpanel.batch``) and progress bar.
    return_draws : keep the joint set's p-values on its grid.

    Returns
    -------
    VarianceResult: ``ci`` the accepted constant effects (hull of the accepted grid),
    ``p_value`` of a zero effect, ``se`` implied by the interval; ``info`` holds the
    per-period sets, the grid and its p-values.

    Raises
    ------
    ValueError
        Not DID or the SC family, not a balanced block design, an unknown ``scheme``,
        or no effect accepted at this level.

    References
    ----------
    Chernozhukov, Wuthrich and Zhu (2021), JASA, Sec. 2-3 (the statistic with q = 1).
    """
    check_choice("scheme", scheme, SCHEMES)
    require("conformal", est)
    panel = est.panel
    Y, _, _ = panel.arrays()
    dtype = Y.dtype
    tr = np.asarray(panel.ever_treated)
    Yco = Y[jnp.asarray(~tr)]
    y = Y[jnp.asarray(tr)].mean(axis=0)
    # Work with gaps to the controls' mean in each period: every model here (a two-way
    # fit, simplex weights summing to one) is unchanged by a per-period shift, and the
    # residuals then carry no rounding of the outcome's level, which would make the
    # statistic of the identity permutation differ from S(u) when XLA recomputes u.
    shift = Yco.mean(axis=0)
    Yco, y = Yco - shift[None, :], y - shift
    T, t0 = panel.T, panel.n_pre
    post_all = jnp.asarray(np.arange(T) >= t0, dtype)
    rep = est.replicator
    lane = _lane(rep.residuals)
    alpha = 1 - level

    def p_of(effect, rows, post, perms):
        shared = {"data": rep.data, "Yco": Yco, "y": y, "perms": perms}
        return lane(shared, effect, rows, post)

    if scheme == "block":
        perms_joint = _block_perms(T, T)
        perms_one = _block_perms(t0 + 1, T)
    else:
        keys = batch.replicate_keys(seed, 0, reps)
        perms_joint = np.asarray(jax.vmap(lambda k: jax.random.permutation(k, T))(keys))
        perms_one = np.asarray(
            jax.vmap(lambda k: jax.random.permutation(k, t0 + 1))(keys)
        )
        perms_one = np.concatenate(
            [perms_one, np.tile(np.arange(t0 + 1, T), (reps, 1))], axis=1
        )
        # the observed order counts as one permutation: p = (1 + #{S_pi >= S}) / (B + 1)
        perms_joint = np.concatenate([np.arange(T)[None, :], perms_joint])
        perms_one = np.concatenate([np.arange(T)[None, :], perms_one])
    perms_joint, perms_one = jnp.asarray(perms_joint), jnp.asarray(perms_one)

    # half-width of the grid: a generous multiple of the residual spread under effect = att
    u_att = np.asarray(
        rep.residuals(rep.data, Yco, y - est.att * post_all, jnp.ones(T, dtype))
    )
    spread = float(np.std(u_att)) * np.sqrt(T - t0)
    half = 6 * max(spread, abs(est.att)) or 6 * float(np.std(np.asarray(Yco)))

    def accepted_hull(p, grid):
        """Hull of the accepted grid points, and whether it touches the grid's edge."""
        ok = p > alpha
        if not ok.any():
            return (float("nan"), float("nan")), False
        lo, hi = grid[ok].min(), grid[ok].max()
        return (float(lo), float(hi)), bool(ok[0] or ok[-1])

    def run_grid(centres, half_width, rows_list, post_list, perms):
        """p-values on a grid around each row's centre; one batched call for all rows."""
        offsets = np.linspace(-1.0, 1.0, grid_points)
        widths = np.broadcast_to(np.asarray(half_width, float), (len(rows_list),))
        grids = np.asarray(centres)[:, None] + widths[:, None] * offsets[None, :]
        rows_b = np.repeat(np.asarray(rows_list), grid_points, 0)
        post_b = np.repeat(np.asarray(post_list), grid_points, 0)
        np_dtype = np.dtype(dtype)
        p = batch.run(
            lane,
            (
                grids.ravel().astype(np_dtype),
                rows_b.astype(np_dtype),
                post_b.astype(np_dtype),
            ),
            shared={"data": rep.data, "Yco": Yco, "y": y, "perms": perms},
            n_cells=(panel.N, T),
            itemsize=np_dtype.itemsize,
            chunk=chunk,
            progress=progress,
            desc="conformal",
        )
        return grids, np.asarray(p).reshape(len(rows_list), grid_points)

    def refine(grids, p):
        """Centres and half-widths of a finer grid around each row's accepted set."""
        step = grids[:, 1] - grids[:, 0]
        centres, widths = [], []
        for g, pv, h in zip(grids, p, step):
            ok = pv > alpha
            lo, hi = (g[ok].min(), g[ok].max()) if ok.any() else (g[np.argmax(pv)],) * 2
            centres.append((lo + hi) / 2)
            widths.append((hi - lo) / 2 + h)
        return np.asarray(centres), np.asarray(widths)

    def solve_sets(centres, half_width, rows_list, post_list, perms, widen=True):
        grids, p = run_grid(centres, half_width, rows_list, post_list, perms)
        for _ in range(5 if widen else 0):  # widen while a set touches the grid's edge
            edge = [accepted_hull(pv, g)[1] for pv, g in zip(p, grids)]
            if not any(edge):
                break
            half_width = np.where(edge, 2 * np.asarray(half_width), half_width)
            grids, p = run_grid(centres, half_width, rows_list, post_list, perms)
        for _ in range(2):  # then zoom in on the accepted sets
            centres, half_width = refine(grids, p)
            grids, p = run_grid(centres, half_width, rows_list, post_list, perms)
        return grids, p

    grids, p = solve_sets(
        [est.att], half, [np.ones(T)], [np.asarray(post_all)], perms_joint
    )
    ci = accepted_hull(p[0], grids[0])[0]
    if not np.isfinite(ci[0]):
        raise ValueError(
            f"conformal: no effect value is accepted at level {level:g}: every value "
            f"searched has a p-value of at most {1 - level:g} (the largest is "
            f"{float(p[0].max()):.3g}), so the model is rejected at every constant "
            "effect. Fix: use another method that applies "
            "(jaxpanel.inference.methods_for(est))"
        )
    p_zero = float(
        np.asarray(
            p_of(jnp.asarray(0.0, dtype), jnp.ones(T, dtype), post_all, perms_joint)
        )
    )

    # per-period sets: sample = pre-periods + period t, centred on that period's effect
    periods = np.arange(T)
    rows_list = [((periods < t0) | (periods == t)).astype(float) for t in range(t0, T)]
    post_list = [(periods == t).astype(float) for t in range(t0, T)]
    centres = est.trajectory["effect"].to_numpy()[t0:]
    grids_pp, p_pp = solve_sets(
        centres, np.full(len(centres), half), rows_list, post_list, perms_one
    )
    per_period = [accepted_hull(p_pp[k], grids_pp[k])[0] for k in range(len(rows_list))]

    lo, hi = ci
    se = float((hi - lo) / (2 * z_value(level))) if np.isfinite(lo) else float("nan")
    info = {
        "scheme": scheme,
        "per_period_ci": dict(zip([panel.times[t] for t in range(t0, T)], per_period)),
        "grid": grids[0],
        "p_values": p[0],
        "n_permutations": int(perms_joint.shape[0]),
        "se_is_implied_by_ci": True,
    }
    return VarianceResult(
        "conformal",
        se,
        ci,
        None,
        p_zero,
        int(perms_joint.shape[0]),
        int(perms_joint.shape[0]),
        level,
        p[0] if return_draws else None,
        info,
        "permutation",
    )
