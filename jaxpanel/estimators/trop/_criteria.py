"""TROP tuning criteria: leave-one-out over control cells and the package's placebo RMSE.

Both criteria score a batch of grid points ``(lambda_unit, lambda_time, lambda_nn)`` in one
jitted call. Points sharing ``(lambda_unit, lambda_time)`` share their weights, so each
lane of the batch is one (cell or placebo set, weight pair) and walks that pair's
``lambda_nn`` values in decreasing order, warm-starting every fit from the previous one
(the fits are exact, so the order changes the iteration count, not the result). Lanes are
chunked to a memory budget (``jaxpanel.batch.lane_map``).

- LOOCV (paper Eq. 4-5): every control cell (i, t) is held out in turn and predicted by the
  paper's fit with weights centred on (i, t); ``Q(lambda) = sum tau_it^2``. Cells whose
  held-out fit is unidentified whatever the weights (e.g. a unit's only control cell) are
  left out of the sum and counted.
- Placebo RMSE (the ``trop`` package's ``TROP_cv_*``): on the never-treated units only,
  each placebo set of units is declared treated over the last ``T_post`` periods and the
  estimator is applied; the score is the root mean square of the placebo ATTs (the true
  effect is zero). Placebo sets are drawn exactly as the package draws them (NumPy
  ``default_rng(seed)``; ``choice`` without replacement per trial, or a permutation split
  into K folds), so the same seed gives the same sets.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import MAX_STEPS, combine_all, failed, lowrank, twfe

from ... import batch
from .._core import finish, standardise
from . import _weights as tw
from ._fitting import TROPOptions, cell_path


def group_points(points: np.ndarray, k_min: int = 1):
    """Group (P, 3) points by (lambda_unit, lambda_time).

    Returns ``(pairs (G, 2), nn (G, K), where (P, 2))``: each group's ``lambda_nn`` values in
    decreasing order, padded by repeating the smallest (a warm-started repeat stops after
    one step), and each point's (group, slot). To keep the number of compiled shapes small
    across the calls of a search, ``K >= k_min`` and ``G`` is rounded up (to a power of
    two up to 8, then to a multiple of 8) with dummy groups ``(0, 0, inf)``, whose fits
    take one step.
    """
    points = np.asarray(points, float)
    keys = list(map(tuple, points[:, :2]))
    pairs = list(dict.fromkeys(keys))
    per = {
        p: sorted({x for q, x in zip(keys, points[:, 2]) if q == p}, reverse=True)
        for p in pairs
    }
    k = max(k_min, max(len(v) for v in per.values()))
    nn = [v + [v[-1]] * (k - len(v)) for v in (per[p] for p in pairs)]
    g = (
        1 << (len(pairs) - 1).bit_length()
        if len(pairs) <= 8
        else -(-len(pairs) // 8) * 8
    )
    dummies = g - len(pairs)
    table = np.array([*pairs, *[(0.0, 0.0)] * dummies], float)
    nn = np.array([*nn, *[[np.inf] * k] * dummies], float)
    where = np.array(
        [(pairs.index(q), per[q].index(x)) for q, x in zip(keys, points[:, 2])]
    )
    return table, nn, where


def loocv_cells(
    Y, W, mask, max_cells: int | None = None, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Control cells whose held-out fit is identified with uniform weights.

    With ``max_cells``, a random subset of that many control cells (NumPy
    ``default_rng(seed)``, without replacement, in panel order) is checked instead of
    all of them. Returns the (C, 2) array of cells and the number of checked control
    cells left out (not identified).
    """
    Y, W, mask = (jnp.asarray(a) for a in (Y, W, mask))
    c = (1 - W) * mask
    ii, tt = np.nonzero(np.asarray(c) > 0)
    if max_cells is not None and len(ii) > max_cells:
        pick = np.sort(
            np.random.default_rng(seed).choice(len(ii), max_cells, replace=False)
        )
        ii, tt = ii[pick], tt[pick]

    # chunked: one (N, T) weight matrix and its factor per lane
    chunk = batch.lanes_per_chunk(len(ii), batch.lane_bytes(*Y.shape, 8))
    good = np.asarray(_identified(c, jnp.asarray(ii), jnp.asarray(tt), chunk))
    cells = np.stack([ii[good], tt[good]], axis=1)
    return cells, int((~good).sum())


@partial(jax.jit, static_argnames=("chunk",))
def _identified(c, ii, tt, chunk: int):
    """Whether each held-out cell ``(ii, tt)`` of the control cells ``c`` is identified."""

    def ok(ix):
        i, t = ix
        w = c.at[i, t].set(0.0)
        fac = twfe.factor(w)
        return (w[i].sum() > 0) & (w[:, t].sum() > 0) & (fac.n_components == 1)

    return batch.lane_map(ok, (ii, tt), chunk)


@partial(jax.jit, static_argnames=("options",))
def loocv_table(Y, W, mask, cells, pairs, nn, options: TROPOptions, X=None):
    """Held-out prediction errors: ``tau (G, C, K)``, ``steps``, ``status`` (same shape).

    ``X`` (K, N, T): covariates in every fit (standardised here), or None.
    """
    Y = jnp.asarray(Y)
    W = jnp.asarray(W, Y.dtype)
    mask = jnp.asarray(mask, Y.dtype)
    if X is not None:
        X = standardise(jnp.asarray(X, Y.dtype), mask)[0]
    y = jnp.where(mask > 0, Y, 0.0)
    c = (1 - W) * mask
    cells = jnp.asarray(cells)
    pairs = jnp.asarray(pairs, Y.dtype)
    nn = jnp.asarray(nn, Y.dtype)
    n_g, n_c = pairs.shape[0], cells.shape[0]
    g_idx = jnp.repeat(jnp.arange(n_g), n_c)
    c_idx = jnp.tile(jnp.arange(n_c), n_g)

    def lane(ix):
        g, k = ix
        i, t = cells[k, 0], cells[k, 1]
        return cell_path(y, c, i, t, pairs[g, 0], pairs[g, 1], nn[g], options, None, X)

    per_lane = batch.lane_bytes(*Y.shape, Y.dtype.itemsize)
    chunk = batch.lanes_per_chunk(n_g * n_c, per_lane, options.memory_bytes)
    tau, steps, status = batch.lane_map(lane, (g_idx, c_idx), chunk)
    shape = (n_g, n_c, nn.shape[1])
    return tau.reshape(shape), steps.reshape(shape), status.reshape(shape)


def _summary(steps, status, used):
    return {
        "fits": int(used.sum()),
        "max_steps_hit": int(((status == MAX_STEPS) & used).sum()),
        "steps_total": int(np.where(used, steps, 0).sum()),
    }


def loocv_scores(
    Y, W, mask, points, cells, options: TROPOptions, k_min: int = 1, X=None
):
    """``Q(lambda)`` (paper Eq. 5) for (P, 3) points.

    The sum of squared held-out errors; inf where a held-out fit failed. Returns
    ``(scores (P,), diagnostics dict)``.
    """
    pairs, nn, where = group_points(points, k_min)
    tau, steps, status = (
        np.asarray(a) for a in loocv_table(Y, W, mask, cells, pairs, nn, options, X)
    )
    bad = np.asarray(failed(status)) | ~np.isfinite(tau)
    q = np.where(bad.any(axis=1), np.inf, (np.where(bad, 0.0, tau) ** 2).sum(axis=1))
    used = np.zeros(nn.shape, bool)
    used[where[:, 0], where[:, 1]] = True
    diag = _summary(steps, status, np.broadcast_to(used[:, None, :], steps.shape))
    return q[where[:, 0], where[:, 1]], diag


def placebo_sets(
    n_control: int,
    n_trials: int = 200,
    n_units: int = 1,
    method: str = "resample",
    K: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Placebo-treated sets of control units, drawn as the ``trop`` package draws them.

    ``method="resample"``: ``n_trials`` sets of ``n_units`` distinct units (NumPy
    ``default_rng(seed).choice`` per trial). ``"kfold"``: a permutation split into ``K``
    near-equal folds (``np.array_split``), padded with -1 to a common size.

    Parameters
    ----------
    n_control : never-treated units. n_trials, n_units : sets and units per set.
    method : 'resample' or 'kfold'. K : folds for 'kfold'. seed : NumPy seed.

    Returns
    -------
    (B, m) int array of control indices (-1 pads).

    Raises
    ------
    ValueError
        Too few controls for the sets asked for; an unknown method.
    """
    rng = np.random.default_rng(seed)
    units = np.arange(n_control)
    if method == "resample":
        if not 1 <= n_units < n_control:
            raise ValueError(
                f"placebo sets need 1 <= n_units < {n_control} control units, "
                f"got {n_units}"
            )
        return np.stack(
            [rng.choice(units, size=n_units, replace=False) for _ in range(n_trials)]
        )
    if method == "kfold":
        if K is None or not 2 <= K <= n_control:
            raise ValueError(f"kfold needs 2 <= K <= {n_control}, got {K}")
        folds = np.array_split(rng.permutation(units), K)
        size = max(len(f) for f in folds)
        return np.stack(
            [np.pad(f, (0, size - len(f)), constant_values=-1) for f in folds]
        )
    raise ValueError(f"method must be 'resample' or 'kfold', got {method!r}")


@partial(jax.jit, static_argnames=("n_post", "variant", "options"))
def placebo_table(
    Y, mask, controls, sets, pairs, nn, n_post: int, variant: str, options: TROPOptions
):
    """Placebo ATTs ``att (G, B, K)`` and statuses on the control-only panel.

    ``controls`` (N,) 0/1 marks never-treated units; ``sets`` (B, m) indexes them (in panel
    order among controls; -1 pads); the set's units are treated over the last ``n_post``
    periods.
    """
    Y = jnp.asarray(Y)
    dtype = Y.dtype
    mask = jnp.asarray(mask, dtype) * jnp.asarray(controls, dtype)[:, None]
    y = jnp.where(mask > 0, Y, 0.0)
    N, T = Y.shape
    rows = jnp.nonzero(jnp.asarray(controls) > 0, size=N, fill_value=0)[0]
    sets = jnp.asarray(sets)
    pairs = jnp.asarray(pairs, dtype)
    nn = jnp.asarray(nn, dtype)
    n_g, n_b = pairs.shape[0], sets.shape[0]
    post = (jnp.arange(T) >= T - n_post).astype(dtype)

    def assignment(b):
        s = sets[b]
        unit = (
            jnp.zeros(N, dtype).at[rows[jnp.maximum(s, 0)]].max((s >= 0).astype(dtype))
        )
        return unit[:, None] * post[None, :] * mask

    def lane_global(ix):
        g, b = ix
        Wb = assignment(b)
        d_unit, d_time = tw.global_distances(y, Wb, mask)
        omega, theta = tw.global_weights(
            d_unit, d_time, pairs[g, 0], pairs[g, 1], options.squared_weights
        )
        w = omega[:, None] * theta[None, :] * (1 - Wb) * mask
        fac = twfe.factor(w)
        ones = (jnp.ones(N, dtype), jnp.ones(T, dtype))

        def body(L, lam):
            res = lowrank.solve(
                y, w, lam, L, tol=options.tol, max_steps=options.max_steps, fac=fac
            )
            out = finish(y, Wb, mask, res, *ones)
            return res.L, (out.att, out.status)

        _, (att, status) = jax.lax.scan(body, jnp.zeros_like(y), nn[g])
        return att, status

    n_cells = sets.shape[1] * n_post

    def lane_paper(ix):
        g, b = ix
        Wb = assignment(b)
        c = (1 - Wb) * mask
        s = sets[b]
        unit = rows[jnp.maximum(s, 0)]
        ii = jnp.repeat(unit, n_post)
        tt = jnp.tile(jnp.arange(T - n_post, T), sets.shape[1])
        valid = jnp.repeat(s >= 0, n_post) & (mask[ii, tt] > 0)

        def cell(i, t):
            return cell_path(y, c, i, t, pairs[g, 0], pairs[g, 1], nn[g], options)

        tau, _, status = jax.vmap(cell)(ii, tt)  # (cells, K)
        att = jnp.where(valid[:, None], tau, 0.0).sum(axis=0) / valid.sum()
        # a failure of any cell fails the set (a cell at its iteration cap does not)
        worst = combine_all(jnp.where(failed(status), status, 0), valid[:, None], 0)
        return att, worst

    lane = lane_global if variant == "global" else lane_paper
    g_idx = jnp.repeat(jnp.arange(n_g), n_b)
    b_idx = jnp.tile(jnp.arange(n_b), n_g)
    cells_per_lane = 1 if variant == "global" else n_cells
    per_lane = batch.lane_bytes(N, T, jnp.dtype(dtype).itemsize) * cells_per_lane
    chunk = batch.lanes_per_chunk(n_g * n_b, per_lane, options.memory_bytes)
    att, status = batch.lane_map(lane, (g_idx, b_idx), chunk)
    shape = (n_g, n_b, nn.shape[1])
    return att.reshape(shape), status.reshape(shape)


def placebo_scores(
    Y, mask, controls, sets, points, n_post, variant, options: TROPOptions, k_min=1
):
    """Placebo RMSE for (P, 3) points.

    Trials whose fit failed are dropped (as the package drops non-finite ATTs); inf when
    all fail. Returns ``(scores (P,), diagnostics)``.
    """
    pairs, nn, where = group_points(points, k_min)
    att, status = (
        np.asarray(a)
        for a in placebo_table(
            Y, mask, controls, sets, pairs, nn, n_post, variant, options
        )
    )
    ok = np.isfinite(att) & ~np.asarray(failed(status))
    n_ok = ok.sum(axis=1)
    mse = np.where(ok, att, 0.0) ** 2
    rmse = np.where(n_ok > 0, np.sqrt(mse.sum(axis=1) / np.maximum(n_ok, 1)), np.inf)
    diag = {"trials": int(att.shape[1]), "failed_trials": int((~ok).sum())}
    return rmse[where[:, 0], where[:, 1]], diag
