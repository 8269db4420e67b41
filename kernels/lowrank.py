"""Weighted two-way FE fit with a nuclear-norm-penalised low-rank term.

Solves, for cell weights ``w >= 0`` (zero on treated and missing cells) and a penalty
``lambda_nn`` in ``[0, inf]``::

    min over mu, alpha, beta, L of
        sum_js w_js (Y_js - mu - alpha_j - beta_s - L_js)^2 + lambda_nn ||L||_*

(Athey et al. 2021, Eq. 3.3, and Athey, Imbens, Qu and Viviano 2025,
Eq. 2, both up to the scaling of the loss). The fixed effects are unpenalised, so they are
profiled out exactly: with ``F(L)`` the weighted two-way fit of ``Y - L``
(``kernels.twfe``, factored once per weight matrix and applied once per iteration), the
reduced loss ``f(L) = sum_js w_js (Y - F(L) - L)_js^2`` is convex with gradient
``-2 w * (Y - F(L) - L)`` and Lipschitz constant ``2 max(w)``. FISTA (Beck and Teboulle
2009) with the gradient restart of O'Donoghue and Candes (2015) then iterates::

    G     = Z + (w / max w) * (Y - F(Z) - Z)          (gradient step, step 1 / (2 max w))
    L_new = SVT(G, lambda_nn / (2 max w))               (proximal step on ||.||_*)
    Z     = L_new + momentum * (L_new - L)

The gradient vanishes on zero-weight cells, so the gradient step leaves ``L`` unchanged
there; only the proximal (low-rank) step moves it. The loop stops when the largest change of
``L`` is below ``tol`` times the outcome scale (the RMS deviation of ``Y`` over weighted
cells).

The two ends of the penalty are handled exactly, without huge or tiny stand-ins:

- ``lambda_nn = inf``: ``L = 0`` and the fit is the weighted two-way FE fit.
- ``lambda_nn = 0``: ``L`` is unpenalised, so it absorbs every weighted residual and the
  minimum (zero) is reached on a continuum of ``(F, L)``. The kernel returns the minimiser
  with the smallest weighted norm of ``L``: ``F`` is the weighted two-way fit of ``Y`` and
  ``L = Y - F`` on weighted cells, ``0`` elsewhere (the fixed point of the iteration above
  started from ``L = 0`` with uniform weights). On zero-weight cells the imputed value is
  therefore the ``lambda_nn = inf`` one; the ``lambda_nn -> 0+`` limit (the
  minimum-nuclear-norm interpolant) is a different point, reached with a small positive
  penalty.

Regressors ``X`` (K, N, T) with unpenalised coefficients ``b`` (``... - sum_k b_k X_kjs``
inside the square) are profiled out with the fixed effects by Frisch-Waugh-Lovell: each
``X_k`` is residualised on the weighted two-way space once, ``b`` is the weighted
regression of the target on those residuals, and ``F`` the two-way fit of the target less
``X b`` (the TROP authors' simulation form puts the treatment indicator here with one
shared effect; covariates enter the same way).

All functions are pure, use static shapes and are safe under ``jax.jit`` and ``jax.vmap``
(over ``Y``, ``w``, ``lambda_nn`` and the warm start); under ``vmap`` each lane keeps the
iterate at which it converged.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import twfe
from ._loop import run
from ._status import CONVERGED, NONFINITE, combine


class _State(NamedTuple):
    L: jax.Array  # current iterate
    Z: jax.Array  # extrapolated (momentum) point
    t: jax.Array  # FISTA momentum scalar
    sv: jax.Array  # singular values of L after thresholding


def svt(x: jax.Array, threshold: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Singular value thresholding: the proximal map of ``threshold * ||.||_*``.

    Returns ``(U diag(max(s - threshold, 0)) V', max(s - threshold, 0))`` for the thin SVD
    ``x = U diag(s) V'``. An infinite threshold gives exactly zero.

    Parameters
    ----------
    x : (m, n) matrix. threshold : () scalar >= 0 (inf allowed).
    """
    u, s, vt = jnp.linalg.svd(x, full_matrices=False)
    s = jnp.maximum(s - threshold, 0.0)
    return (u * s[None, :]) @ vt, s


def svt_gram(x: jax.Array, threshold: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`svt` from the eigendecomposition of the smaller Gram matrix.

    ``x V diag(max(s - threshold, 0) / s) V'`` with ``x'x = V diag(s^2) V'``: half the
    cost of the SVD on CPU for panel-sized matrices (39 x 31: 87 against 180
    microseconds). Squaring loses accuracy on singular values far below the largest
    (relative error about ``eps * (s_max / s)^2``), harmless in float64 at the thresholds
    used here and the reason float32 keeps the SVD (see :func:`solve`).

    Parameters
    ----------
    x : (m, n) matrix. threshold : () scalar >= 0.

    Returns
    -------
    As :func:`svt`.
    """
    tall = x.shape[0] >= x.shape[1]
    a = x if tall else x.T
    e, v = jnp.linalg.eigh(a.T @ a)
    s = jnp.sqrt(jnp.maximum(e, 0.0))
    kept = jnp.maximum(s - threshold, 0.0)
    scale = jnp.where(kept > 0, kept / jnp.where(s > 0, s, 1.0), 0.0)
    out = ((a @ v) * scale[None, :]) @ v.T
    return (out if tall else out.T), kept[::-1]


def default_tol(dtype) -> float:
    """Default relative tolerance: 1e-9, or 100 machine epsilons if that is larger.

    Parameters
    ----------
    dtype : the floating dtype.

    Returns
    -------
    float.
    """
    return max(1e-9, 100.0 * float(jnp.finfo(dtype).eps))


def _scale(y: jax.Array, w: jax.Array) -> jax.Array:
    """RMS deviation of ``y`` over weighted cells (1 where that is zero)."""
    on = w > 0
    n = jnp.maximum(on.sum(), 1).astype(y.dtype)
    m = jnp.where(on, y, 0.0).sum() / n
    s = jnp.sqrt(jnp.where(on, (y - m) ** 2, 0.0).sum() / n)
    return jnp.where(s > 0, s, 1.0)


def _is_static(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _model(fac, w, X):
    """``target -> (two-way fit, coefficients)`` of the two-way model plus regressors.

    ``X`` None: the two-way fit alone (coefficients None). Otherwise Frisch-Waugh-Lovell:
    ``b = (Xr' w Xr)^-1 Xr' w target`` with ``Xr`` the regressors' weighted two-way
    residuals, then the two-way fit of ``target - X b``; its ``fitted`` includes ``X b``.
    """
    if X is None:
        return lambda target: (twfe.apply(fac, target), None)
    X = jnp.asarray(X, fac.w.dtype)
    Xr = jax.vmap(lambda x: jnp.where(w > 0, x - twfe.apply(fac, x).fitted, 0.0))(X)
    wXr = Xr * w[None]
    gram = jnp.einsum("knt,lnt->kl", wXr, Xr)

    def fit(target):
        b = jnp.linalg.solve(gram, jnp.einsum("knt,nt->k", wXr, target))
        xb = jnp.einsum("k,knt->nt", b, X)
        fe = twfe.apply(fac, target - xb)
        return fe._replace(fitted=fe.fitted + xb), b

    return fit


def _finish(model, y, L, sv, steps, status) -> twfe.TwoWayFit:
    fe, coef = model(y - L)
    finite = jnp.isfinite(coef).all() if coef is not None else True
    return fe._replace(
        fitted=fe.fitted + L,
        status=combine(status, fe.status, jnp.where(finite, CONVERGED, NONFINITE)),
        L=L,
        rank=(sv > 0).sum().astype(jnp.int32),
        steps=jnp.asarray(steps, jnp.int32),
        coef=coef,
    )


def _interpolant(model, y, w) -> jax.Array:
    """``L`` for ``lambda_nn = 0``: the weighted model's residual on weighted cells."""
    return jnp.where(w > 0, y - model(y)[0].fitted, 0.0)


def solve(
    Y: jax.Array,
    w: jax.Array,
    lambda_nn: jax.Array | float,
    L0: jax.Array | None = None,
    *,
    tol: float | None = None,
    max_steps: int = 10_000,
    fac: twfe.TWFEFactor | None = None,
    method: str = "auto",
    X: jax.Array | None = None,
) -> twfe.TwoWayFit:
    """Weighted nuclear-norm-penalised two-way FE fit of ``Y`` with cell weights ``w``.

    Parameters
    ----------
    Y : (N, T) outcomes; values on zero-weight cells are ignored (NaN allowed there).
    w : (N, T) non-negative cell weights (zero on treated and missing cells).
    lambda_nn : scalar in ``[0, inf]``, the penalty on the unnormalised loss above. A
        Python ``inf`` or ``0`` skips the iteration; a traced value is handled per lane.
    L0 : (N, T) warm start (default zero); ignored when ``lambda_nn`` is 0 or inf.
    tol : stop when ``max |L_k+1 - L_k| <= tol * scale``, ``scale`` the RMS deviation of
        ``Y`` over weighted cells; default :func:`default_tol` of the dtype.
    max_steps : iteration cap (status MAX_STEPS when reached).
    fac : ``twfe.factor(w)``, if already computed (it depends on ``w`` only).
    method : singular value thresholding by "svd" or "gram" (:func:`svt_gram`); "auto"
        (default) takes "gram" in float64 and "svd" otherwise.
    X : (K, N, T) regressors with unpenalised coefficients (module docstring), or None.
        Their residuals on the weighted two-way space must be linearly independent
        (else the coefficients are non-finite and the status says so).

    Returns
    -------
    ``twfe.TwoWayFit`` with ``L``, its ``rank``, the iteration count ``steps`` and, with
    ``X``, the coefficients ``coef`` (``fitted`` includes ``X coef``).
    """
    Y = jnp.asarray(Y)
    w = jnp.asarray(w, Y.dtype)
    dtype = jnp.result_type(Y, w)
    y = jnp.where(w > 0, Y, 0.0).astype(dtype)
    fac = twfe.factor(w) if fac is None else fac
    model = _model(fac, w, X)
    zeros = jnp.zeros_like(y)
    k = min(y.shape)
    if _is_static(lambda_nn) and (math.isinf(lambda_nn) or lambda_nn == 0):
        if math.isinf(lambda_nn):
            return _finish(model, y, zeros, jnp.zeros(k, dtype), 0, CONVERGED)
        L = _interpolant(model, y, w)
        sv = jnp.linalg.svd(L, compute_uv=False)
        return _finish(model, y, L, sv, 0, CONVERGED)

    lam = jnp.asarray(lambda_nn, dtype)
    tol = default_tol(dtype) if tol is None else tol
    if method == "auto":
        method = "gram" if dtype == jnp.float64 else "svd"
    if method not in ("svd", "gram"):
        raise ValueError(f"method must be 'auto', 'svd' or 'gram', got {method!r}")
    prox = svt_gram if method == "gram" else svt
    wmax = w.max()
    wn = jnp.where(wmax > 0, w / jnp.where(wmax > 0, wmax, 1.0), 0.0)
    threshold = lam / (2.0 * jnp.where(wmax > 0, wmax, 1.0))
    limit = tol * _scale(y, w)
    is_inf = jnp.isinf(lam)
    is_zero = lam == 0
    fixed = is_inf | is_zero  # closed forms: the loop leaves them where they start
    L_start = zeros if L0 is None else jnp.asarray(L0, dtype)
    L_start = jnp.where(
        is_inf, zeros, jnp.where(is_zero, _interpolant(model, y, w), L_start)
    )

    def step(s: _State) -> _State:
        resid = y - model(y - s.Z)[0].fitted - s.Z
        g = s.Z + jnp.where(w > 0, wn * resid, 0.0)
        L, sv = prox(g, threshold)
        L = jnp.where(fixed, s.L, L)
        # Gradient restart: drop the momentum when it points against the step taken.
        restart = jnp.vdot(s.Z - L, L - s.L) > 0
        t = jnp.where(restart, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * s.t**2)))
        z = jnp.where(restart, L, L + ((s.t - 1.0) / t) * (L - s.L))
        return _State(L, z, t.astype(dtype), sv)

    def done(old: _State, new: _State) -> jax.Array:
        return jnp.max(jnp.abs(new.L - old.L)) <= limit

    init = _State(L_start, L_start, jnp.asarray(1.0, dtype), jnp.zeros(k, dtype))
    # lambda_nn = inf needs no step (L = 0, no singular values); lambda_nn = 0 takes one
    # step, which leaves L where it starts and records its singular values; -inf is
    # invalid and fails (NONFINITE) in its step.
    out = run(step, done, init, max_steps, skip=lam == jnp.inf)
    return _finish(model, y, out.state.L, out.state.sv, out.steps, out.status)


def solve_path(
    Y: jax.Array,
    w: jax.Array,
    lambdas: jax.Array,
    L0: jax.Array | None = None,
    *,
    tol: float | None = None,
    max_steps: int = 10_000,
    method: str = "auto",
    X: jax.Array | None = None,
) -> twfe.TwoWayFit:
    """:func:`solve` along a sequence of penalties, each warm-started from the previous.

    ``lambdas`` (K,) should decrease (the solution moves least from one to the next); the
    weights are factored once. Returns a ``twfe.TwoWayFit`` with a leading axis of length
    K.

    Parameters
    ----------
    Y, w : (N, T) outcomes and cell weights. lambdas : (K,) penalties.
    L0 : (N, T) warm start of the first. tol, max_steps, method, X : as :func:`solve`.
    """
    Y = jnp.asarray(Y)
    w = jnp.asarray(w, Y.dtype)
    fac = twfe.factor(w)
    L_init = jnp.zeros(Y.shape, jnp.result_type(Y, w)) if L0 is None else L0

    def body(L, lam):
        res = solve(
            Y, w, lam, L, tol=tol, max_steps=max_steps, fac=fac, method=method, X=X
        )
        return res.L, res

    _, out = jax.lax.scan(body, L_init, jnp.asarray(lambdas, L_init.dtype))
    return out


solve_jit = jax.jit(solve, static_argnames=("tol", "max_steps", "method"))

__all__ = [
    "default_tol",
    "solve",
    "solve_jit",
    "solve_path",
    "svt",
    "svt_gram",
]
