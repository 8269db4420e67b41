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

Confidence sets invert the test over a grid of effects, every grid point one lane of one
batched call: the constant-effect set (all post-periods jointly) and one set per
post-period (data: the pre-periods and that period). The grid (``grid_points`` points
around the ATT, and zero) is widened (x4, up to four times) while the accepted points
reach its edge; a set still reaching the edge of the widest grid is reported unbounded on
that side. The accepted set is reported as it is, a union of intervals (the runs of
accepted grid points), and each boundary is refined twice on a grid of ``grid_points``
points between the last accepted and the first rejected point (resolution about the
first grid's step / grid_points^2). A set is a set: no standard error is derived from it.
With fewer than ``1 / (1 - level)`` permutations no effect can be rejected and the set is
the whole line (with an ``InferenceWarning``). The p-value is the test of effect = 0 (on
the grid, so zero is in the set exactly when its p-value exceeds 1 - level).
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import batch
from .._options import check_choice
from ._requirements import require
from ._result import InferenceWarning, VarianceResult, alpha_of, result

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


def _runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [i, j] of the runs of accepted points."""
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


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
    scheme : 'block' (moving-block permutations: the T cyclic shifts of time) or 'iid'
        (``reps`` random permutations from ``seed``, and the identity).
    grid_points : points of the first search grid and of each boundary's refinement.
    chunk, progress : batching (``jaxpanel.batch``) and progress bar.
    return_draws : keep the joint set's p-values on its grid.

    Returns
    -------
    VarianceResult with ``reference='conformal'``: ``ci_set`` the accepted constant
    effects as disjoint intervals (a side at +-inf where the set is unbounded), ``ci``
    that set when it is one interval (else None), ``p_value`` of a zero effect, ``se``
    None; ``info`` holds the per-period sets (``per_period_sets``; ``per_period_ci`` where
    a period's set is one interval), the grid and its p-values, and the number of
    permutations.

    Raises
    ------
    ValueError
        Not DID or the SC family, not a balanced block design, an unknown ``scheme``,
        or no effect accepted at this level.

    Warns
    -----
    InferenceWarning
        Fewer than ``1 / (1 - level)`` permutations: no effect can be rejected.

    References
    ----------
    Chernozhukov, Wuthrich and Zhu (2021), JASA, Sec. 2-3 (the statistic with q = 1).
    """
    check_choice("scheme", scheme, SCHEMES)
    require("conformal", est)
    panel = est.panel
    Y, _, _ = panel.arrays()
    dtype = Y.dtype
    np_dtype = np.dtype(dtype)
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
    alpha = alpha_of(level)

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
    n_joint, n_one = int(perms_joint.shape[0]), int(perms_one.shape[0])
    perms_joint, perms_one = jnp.asarray(perms_joint), jnp.asarray(perms_one)

    def evaluate(points, rows_list, post_list, perms):
        """p-values at ``points[k]`` on sample ``rows_list[k]``: one batched call."""
        sizes = [len(pt) for pt in points]
        if sum(sizes) == 0:
            return [np.zeros(0) for _ in points]
        effects = np.concatenate(points).astype(np_dtype)
        rows_b = np.repeat(np.asarray(rows_list), sizes, 0).astype(np_dtype)
        post_b = np.repeat(np.asarray(post_list), sizes, 0).astype(np_dtype)
        p = batch.run(
            lane,
            (effects, rows_b, post_b),
            shared={"data": rep.data, "Yco": Yco, "y": y, "perms": perms},
            n_cells=(panel.N, T),
            itemsize=np_dtype.itemsize,
            chunk=chunk,
            progress=progress,
            desc="conformal",
        )
        # a share of the permutations, exactly (float32 lanes would round 1/20 above 0.05)
        n = int(perms.shape[0])
        p = np.round(np.asarray(p, float) * n) / n
        return np.split(p, np.cumsum(sizes)[:-1])

    # half-width of the grid: a generous multiple of the residual spread under effect = att
    u_att = np.asarray(
        rep.residuals(rep.data, Yco, y - est.att * post_all, jnp.ones(T, dtype))
    )
    spread = float(np.std(u_att)) * np.sqrt(T - t0)
    half = 6 * max(spread, abs(est.att)) or 6 * float(np.std(np.asarray(Yco)))
    offsets = np.linspace(-1.0, 1.0, grid_points)

    def solve_sets(centres, rows_list, post_list, perms, with_zero=False):
        """Accepted sets (lists of intervals) of each row, and the joint grid/p."""
        n_rows = len(centres)
        halves = np.full(n_rows, half, float)

        def grid_of(k):
            g = centres[k] + halves[k] * offsets
            if with_zero and g[0] < 0 < g[-1]:
                g = np.union1d(g, [0.0])
            return g

        grids = [grid_of(k) for k in range(n_rows)]
        ps = evaluate(grids, rows_list, post_list, perms)
        for _ in range(4):  # widen while accepted points reach the grid's edge
            edge = [bool(pv[0] > alpha or pv[-1] > alpha) for pv in ps]
            if not any(edge):
                break
            halves = np.where(edge, 4 * halves, halves)
            grids = [grid_of(k) for k in range(n_rows)]
            ps = evaluate(grids, rows_list, post_list, perms)
        # then one grid over each accepted hull (a step of about its width /
        # grid_points, to find the gaps inside it), unbounded sides kept open
        hull = []
        for k, (g, pv) in enumerate(zip(grids, ps)):
            ok = np.flatnonzero(pv > alpha)
            if len(ok):
                i, j = max(ok[0] - 1, 0), min(ok[-1] + 1, len(g) - 1)
                hull.append(k)
                fine = np.linspace(g[i], g[j], grid_points)
                if with_zero and fine[0] < 0 < fine[-1]:
                    fine = np.union1d(fine, [0.0])
                grids[k] = fine
        if hull:
            new = evaluate(
                [grids[k] for k in hull],
                [rows_list[k] for k in hull],
                [post_list[k] for k in hull],
                perms,
            )
            for k, pv in zip(hull, new):
                ps[k] = pv
        # each boundary: (row, inside point, outside point, run index, side)
        runs = [_runs(pv > alpha) for g, pv in zip(grids, ps)]
        sets = [
            [[float(g[i]), float(g[j])] for i, j in rk] for g, rk in zip(grids, runs)
        ]
        bounds = []
        for k, (g, rk) in enumerate(zip(grids, runs)):
            for r, (i, j) in enumerate(rk):
                if i == 0:
                    sets[k][r][0] = -math.inf
                else:
                    bounds.append([k, g[i], g[i - 1], r, 0])
                if j == len(g) - 1:
                    sets[k][r][1] = math.inf
                else:
                    bounds.append([k, g[j], g[j + 1], r, 1])
        inner = np.linspace(0.0, 1.0, grid_points + 2)[1:-1]
        for _ in range(2):  # refine every boundary between its two grid points
            if not bounds:
                break
            pts = [b[1] + (b[2] - b[1]) * inner for b in bounds]
            pv = evaluate(
                pts,
                [rows_list[b[0]] for b in bounds],
                [post_list[b[0]] for b in bounds],
                perms,
            )
            for b, x, q in zip(bounds, pts, pv):
                out = np.flatnonzero(q <= alpha)
                first_out = out[0] if len(out) else len(x)
                if first_out > 0:
                    b[1] = float(x[first_out - 1])
                if first_out < len(x):
                    b[2] = float(x[first_out])
        for k, lo_hi_point, _, r, side in bounds:
            sets[k][r][side] = float(lo_hi_point)
        return [tuple(tuple(iv) for iv in sk) for sk in sets], grids[0], ps[0]

    whole = ((-math.inf, math.inf),)
    if round(n_joint * alpha, 9) < 1:
        warnings.warn(
            f"conformal: {n_joint} permutations cannot reject any effect at level "
            f"{level:g} (the smallest p-value is 1/{n_joint}). The set is the whole "
            "line. Fix: more periods, scheme='iid' with reps >= "
            f"{math.ceil(1 / alpha)}, or a lower level",
            InferenceWarning,
            stacklevel=3,
        )
        joint_set, grid0, p0 = whole, np.zeros(0), np.zeros(0)
    else:
        sets, grid0, p0 = solve_sets(
            np.asarray([est.att]),
            [np.ones(T)],
            [np.asarray(post_all)],
            perms_joint,
            with_zero=True,
        )
        joint_set = sets[0]
    if not joint_set:
        raise ValueError(
            f"conformal: no effect value is accepted at level {level:g}: every value "
            f"searched has a p-value of at most {1 - level:g} (the largest is "
            f"{float(p0.max()):.3g}), so the model is rejected at every constant "
            "effect. Fix: use another method that applies "
            "(jaxpanel.inference.methods_for(est))"
        )
    if len(grid0) and np.any(grid0 == 0.0):
        p_zero = float(p0[np.flatnonzero(grid0 == 0.0)[0]])
    else:
        p_zero = float(
            evaluate([np.zeros(1)], [np.ones(T)], [np.asarray(post_all)], perms_joint)[
                0
            ][0]
        )

    # per-period sets: sample = pre-periods + period t, centred on that period's effect
    periods = np.arange(T)
    rows_list = [((periods < t0) | (periods == t)).astype(float) for t in range(t0, T)]
    post_list = [(periods == t).astype(float) for t in range(t0, T)]
    if round(n_one * alpha, 9) < 1:
        per_period = [whole] * len(rows_list)
    else:
        centres = est.trajectory["effect"].to_numpy()[t0:]
        per_period = solve_sets(centres, rows_list, post_list, perms_one)[0]
    times = [panel.times[t] for t in range(t0, T)]
    info = {
        "scheme": scheme,
        "per_period_sets": dict(zip(times, per_period)),
        "per_period_ci": {t: s[0] for t, s in zip(times, per_period) if len(s) == 1},
        "grid": grid0,
        "p_values": p0,
        "n_permutations": n_joint,
        "n_permutations_per_period": n_one,
    }
    return result(
        "conformal",
        est.att,
        None,
        level,
        "conformal",
        ci=joint_set[0] if len(joint_set) == 1 else None,
        p=p_zero,
        ci_set=joint_set,
        n_valid=n_joint,
        n_requested=n_joint,
        draws=p0 if return_draws else None,
        info=info,
    )
