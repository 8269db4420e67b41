"""Slow, obviously-correct NumPy references for the low-rank estimators (MC, TROP).

The fixed effects come from dense dummy-variable weighted least squares
(``reference.twfe_fit``); the low-rank term from plain proximal gradient with a full SVD,
run far past the library's tolerance, and certified by the optimality conditions of the
nuclear-norm problem (:func:`kkt_residual`). TROP weights are built with Python loops over
units and periods, straight from the formulas in METHODS.md section 4.
"""

from __future__ import annotations

import numpy as np

from .reference import twfe_design, twfe_fit


def twfe_projector(w: np.ndarray):
    """``y -> twfe_fit(y, w)`` with the weighted least-squares solve set up once.

    The weighted design's columns are scaled to unit norm before the pseudo-inverse, so
    weights spanning many orders of magnitude (TROP's time decay) do not fall below its
    cut-off.
    """
    n, t = w.shape
    x = twfe_design(n, t)
    units = np.flatnonzero(w.sum(axis=1) > 0)
    times = np.flatnonzero(w.sum(axis=0) > 0)
    x = x[:, [0, *(1 + units[1:]), *(1 + n + times[1:])]]
    sw = np.sqrt(w.ravel())
    xw = x * sw[:, None]
    norms = np.linalg.norm(xw, axis=0)
    pinv = np.linalg.pinv(xw / norms) / norms[:, None]
    return lambda y: (x @ (pinv @ (np.where(w > 0, y, 0.0).ravel() * sw))).reshape(n, t)


def regression_projector(w: np.ndarray, X: np.ndarray):
    """``y -> (fitted, b)``: dense weighted least squares of ``y`` on the two-way dummies
    and the regressors ``X`` (K, N, T); ``b`` their coefficients."""
    n, t = w.shape
    x = twfe_design(n, t)
    units = np.flatnonzero(w.sum(axis=1) > 0)
    times = np.flatnonzero(w.sum(axis=0) > 0)
    x = x[:, [0, *(1 + units[1:]), *(1 + n + times[1:])]]
    k = X.shape[0]
    x = np.hstack([x, X.reshape(k, -1).T])
    sw = np.sqrt(w.ravel())
    xw = x * sw[:, None]
    norms = np.linalg.norm(xw, axis=0)
    pinv = np.linalg.pinv(xw / norms) / norms[:, None]

    def fit(y):
        beta = pinv @ (np.where(w > 0, y, 0.0).ravel() * sw)
        return (x @ beta).reshape(n, t), beta[-k:]

    return fit


def lowrank_regression_fit(y, w, lam, X, iters=200_000, tol=1e-13):
    """``(fitted model without L, b, L)`` minimising ``sum w (y - fe - X b - L)^2 + lam
    ||L||_*`` by accelerated proximal gradient on ``L``, the fixed effects and ``b``
    re-fitted by dense least squares at every step."""
    y = np.where(w > 0, y, 0.0)
    model = regression_projector(w, X)
    L = np.zeros_like(y)
    if not np.isinf(lam):
        L = proximal_gradient(y, w, lam, lambda x: model(x)[0], iters, tol)
    fitted, b = model(y - L)
    return fitted, b, L


def svt(x: np.ndarray, threshold: float) -> np.ndarray:
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    return (u * np.maximum(s - threshold, 0.0)) @ vt


def lowrank_fit(
    y: np.ndarray,
    w: np.ndarray,
    lam: float,
    iters: int = 200_000,
    tol: float = 1e-13,
) -> tuple[np.ndarray, np.ndarray]:
    """``(fe, L)`` minimising sum w (y - fe - L)^2 + lam ||L||_* (fe two-way).

    Accelerated proximal gradient on ``L`` with the fixed effects re-fitted exactly at
    every step (the gradient of the profiled loss); ``lam = inf`` gives ``L = 0`` and
    ``lam = 0`` the weighted residual on weighted cells (the kernel's convention).
    """
    y = np.where(w > 0, y, 0.0)
    fe_of = twfe_projector(w)
    if np.isinf(lam):
        return fe_of(y), np.zeros_like(y)
    if lam == 0:
        fe = fe_of(y)
        return fe, np.where(w > 0, y - fe, 0.0)
    L = proximal_gradient(y, w, lam, fe_of, iters, tol)
    return fe_of(y - L), L


def proximal_gradient(y, w, lam, fitted_of, iters, tol) -> np.ndarray:
    """``L`` by accelerated proximal gradient on ``sum w (y - F(y - L) - L)^2 + lam
    ||L||_*``, ``F = fitted_of`` the model profiled out exactly at every step."""
    wmax = w.max()
    L = np.zeros_like(y)
    z = L.copy()
    t = 1.0
    for _ in range(iters):
        g = z + (w / wmax) * (y - fitted_of(y - z) - z)
        new = svt(g, lam / (2 * wmax))
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = new + (t - 1) / t_new * (new - L)
        change = np.abs(new - L).max()
        L, t = new, t_new
        if change < tol * max(1.0, np.abs(y).max()):
            break
    return L


def kkt_residual(y, w, lam, fe, L, rank_tol=1e-8) -> float:
    """How far ``(fe, L)`` is from optimal, relative to ``lam``.

    Optimality: the fixed effects are the weighted fit of ``y - L`` and the gradient
    ``G = 2 w (y - fe - L)`` is a subgradient of ``lam ||.||_*`` at ``L``, i.e.
    ``G = lam U V' + R`` with ``U' R = 0``, ``R V = 0`` and ``||R||_2 <= lam`` for the
    thin SVD ``L = U S V'`` over singular values above ``rank_tol``.
    """
    g = 2 * w * (y - fe - L)
    u, s, vt = np.linalg.svd(L, full_matrices=False)
    keep = s > rank_tol * max(1.0, s.max(initial=0.0))
    u, vt = u[:, keep], vt[keep]
    ug = u.T @ g
    on_support = max(
        np.abs(ug @ vt.T - lam * np.eye(keep.sum())).max(initial=0.0),
        np.abs(ug - ug @ vt.T @ vt).max(initial=0.0),
        np.abs((g - u @ ug) @ vt.T).max(initial=0.0),
    )
    r = g - u @ (u.T @ g) - (g - u @ (u.T @ g)) @ vt.T @ vt
    spectral = max(np.linalg.norm(r, 2) - lam, 0.0)
    fe_gap = np.abs(twfe_fit(y - L, w) - fe)[w > 0].max()
    return max(on_support, spectral, fe_gap) / lam


def trop_unit_distance(y, d, mask, i, t):
    """(N,) RMS gap between unit i and each unit over periods u != t where both are
    untreated and observed (inf when there is none; 0 for unit i itself)."""
    n, T = y.shape
    out = np.zeros(n)
    for j in range(n):
        if j == i:
            continue
        total, count = 0.0, 0
        for u in range(T):
            ok = u != t and mask[i, u] and mask[j, u] and not d[i, u] and not d[j, u]
            if ok:
                total += (y[i, u] - y[j, u]) ** 2
                count += 1
        out[j] = np.sqrt(total / count) if count else np.inf
    return out


def trop_cell_weights(y, d, mask, i, t, lambda_unit, lambda_time):
    """(N, T) weights of the fit for target cell (i, t): omega_j theta_s on untreated
    observed cells other than (i, t)."""
    T = y.shape[1]
    dist = trop_unit_distance(y, d, mask, i, t)
    with np.errstate(invalid="ignore"):
        omega = np.where(
            np.isinf(dist), 0.0 if lambda_unit > 0 else 1.0, np.exp(-lambda_unit * dist)
        )
    theta = np.array([np.exp(-lambda_time * abs(t - s)) for s in range(T)])
    w = np.outer(omega, theta) * ((d == 0) & (mask > 0))
    w[i, t] = 0.0
    return w


def trop_cells(y, d, mask, lambda_unit, lambda_time, lambda_nn, cells=None):
    """Per-cell TROP (paper version): a loop over cells with the reference solver.

    ``cells`` defaults to the treated observed cells; returns the array of
    ``Y_it - fitted_it`` in row-major cell order.
    """
    if cells is None:
        cells = list(zip(*np.nonzero((d > 0) & (mask > 0))))
    taus = []
    for i, t in cells:
        w = trop_cell_weights(y, d, mask, i, t, lambda_unit, lambda_time)
        fe, L = lowrank_fit(y, w, lambda_nn)
        taus.append(y[i, t] - fe[i, t] - L[i, t])
    return np.array(taus)


def trop_global_weights(y, treated_units, n_post, lambda_unit, lambda_time):
    """The `trop` package's global weights exp(-lambda_unit d_j - lambda_time d_s):
    d_j = RMS gap to the mean treated trajectory over the first T - n_post periods,
    d_s = |s - (T - n_post / 2)|."""
    n, T = y.shape
    pre = T - n_post
    avg = y[treated_units].mean(axis=0)
    du = np.array([np.sqrt(np.mean((avg[:pre] - y[j, :pre]) ** 2)) for j in range(n)])
    ds = np.array([abs(s - (T - n_post / 2)) for s in range(T)])
    return np.exp(-lambda_unit * du)[:, None] * np.exp(-lambda_time * ds)[None, :]
