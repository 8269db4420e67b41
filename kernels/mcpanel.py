"""The iteration of R MCPanel (Athey et al. 2021), to reproduce its numbers.

MCPanel minimises, over the observed cells ``O`` (``mask == 1``)::

    (1 / |O|) sum_{O} (M - L - u 1' - 1 v')^2 + lam ||L||_*

by block-coordinate descent: one exact update of the unit effects ``u`` (row means of
``M - L - v`` over observed cells), one of the time effects ``v``, then one proximal
gradient step on ``L`` with step ``|O| / 2``, i.e. ``L <- SVT(P_O(M - L - u - v) + L,
lam |O| / 2)``. It stops when the relative decrease of the objective falls in
``[0, rel_tol)`` (or the objective is below 1e-8, in squared outcome units: see ``fit``),
after at most ``max_iter`` sweeps, and
walks a decreasing path of penalties warm-starting each fit from the previous one. These
stopping semantics define the numbers MCPanel reports (its fits stop well before the
optimum: on Prop 99 the converged solution at MCPanel's chosen penalty moves the ATT by
0.04), so they are reproduced here rather than improved; ``kernels.lowrank`` solves the
same problem to convergence.

Starting values: ``u`` and ``v`` by the same sweeps with ``L = 0``, stopped when the
relative *increase* of the objective falls in ``[0, rel_tol)``, as MCPanel's
``initialize_uv`` does (the objective decreases, so in practice this runs until it stops
changing or ``max_iter``); the largest useful penalty is ``2 sigma_max(P_O(M - u - v)) /
|O|``.

Written from the MCPanel source (github susanathey/MCPanel, src/mcnnm_R.cpp) as a
specification; pure, static shapes, safe under ``jit`` and ``vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._loop import run


class Effects(NamedTuple):
    u: jax.Array  # (N,) unit effects
    v: jax.Array  # (T,) time effects
    lambda_max: jax.Array  # () smallest penalty with L = 0 (MCPanel's scaling)
    steps: jax.Array  # int32
    status: jax.Array  # int32


class MCPanelFit(NamedTuple):
    L: jax.Array  # (N, T)
    u: jax.Array  # (N,)
    v: jax.Array  # (T,)
    fitted: jax.Array  # (N, T) L + u 1' + 1 v'
    steps: jax.Array  # int32
    status: jax.Array  # int32


class _State(NamedTuple):
    L: jax.Array
    u: jax.Array
    v: jax.Array
    obj: jax.Array


def _masked_mean(x: jax.Array, mask: jax.Array, axis: int) -> jax.Array:
    count = (mask > 0).sum(axis=axis)
    total = jnp.where(mask > 0, x, 0.0).sum(axis=axis)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0)


def _sweep(M, mask, L, v):
    u = _masked_mean(M - L - v[None, :], mask, axis=1)
    v = _masked_mean(M - L - u[:, None], mask, axis=0)
    return u, v


def _objective(M, mask, L, u, v, nuclear, lam):
    err = jnp.where(mask > 0, L + u[:, None] + v[None, :] - M, 0.0)
    # lam = inf with L = 0 is a finite objective (inf * 0 would be NaN)
    penalty = jnp.where(nuclear > 0, lam * nuclear, 0.0)
    return (err**2).sum() / mask.sum() + penalty


def effects(
    M: jax.Array, mask: jax.Array, max_iter: int = 1000, rel_tol: float = 1e-5
) -> Effects:
    """MCPanel's starting fixed effects (``L = 0``) and the top of its penalty path."""
    M = jnp.where(mask > 0, M, 0.0)
    zeros = jnp.zeros_like(M)
    u0 = jnp.zeros(M.shape[0], M.dtype)
    v0 = jnp.zeros(M.shape[1], M.dtype)
    init = _State(zeros, u0, v0, _objective(M, mask, zeros, u0, v0, 0.0, 0.0))

    def step(s):
        u, v = _sweep(M, mask, zeros, s.v)
        return _State(zeros, u, v, _objective(M, mask, zeros, u, v, 0.0, 0.0))

    def done(old, new):
        rel = (new.obj - old.obj) / old.obj
        return (rel < rel_tol) & (rel >= 0)

    out = run(step, done, init, max_iter)
    u, v = out.state.u, out.state.v
    resid = jnp.where(mask > 0, M - u[:, None] - v[None, :], 0.0)
    top = jnp.linalg.svd(resid, compute_uv=False)[0]
    lam_max = 2.0 * top / mask.sum()
    return Effects(u, v, lam_max, out.steps, out.status)


def fit(
    M: jax.Array,
    mask: jax.Array,
    lam: jax.Array,
    L0: jax.Array,
    u0: jax.Array,
    v0: jax.Array,
    max_iter: int = 400,
    rel_tol: float = 1e-5,
    obj_floor: jax.Array | float = 1e-8,
) -> MCPanelFit:
    """One MCPanel fit at penalty ``lam`` from ``(L0, u0, v0)`` (its ``NNM_fit``).

    ``obj_floor``: stop once the objective is below it. MCPanel's literal rule is 1e-8 in
    squared outcome units, which ties the stopping point to the outcome's scale; callers
    that want a rule equivariant to rescaling pass ``1e-8`` times a squared outcome scale.
    """
    M = jnp.where(mask > 0, M, 0.0)
    n_obs = mask.sum()
    lam = jnp.asarray(lam, M.dtype)
    nuclear0 = jnp.linalg.svd(L0, compute_uv=False).sum()
    init = _State(L0, u0, v0, _objective(M, mask, L0, u0, v0, nuclear0, lam))

    def step(s):
        u, v = _sweep(M, mask, s.L, s.v)
        proj = jnp.where(mask > 0, M - s.L - u[:, None] - v[None, :], 0.0) + s.L
        uu, sv, vt = jnp.linalg.svd(proj, full_matrices=False)
        sv = jnp.maximum(sv - lam * n_obs / 2.0, 0.0)
        L = (uu * sv[None, :]) @ vt
        return _State(L, u, v, _objective(M, mask, L, u, v, sv.sum(), lam))

    def done(old, new):
        rel = (old.obj - new.obj) / old.obj
        return (new.obj < obj_floor) | ((rel < rel_tol) & (rel >= 0))

    out = run(step, done, init, max_iter)
    s = out.state
    fitted = s.L + s.u[:, None] + s.v[None, :]
    return MCPanelFit(s.L, s.u, s.v, fitted, out.steps, out.status)


def fit_path(
    M: jax.Array,
    mask: jax.Array,
    lambdas: jax.Array,
    u0: jax.Array,
    v0: jax.Array,
    active: jax.Array | None = None,
    max_iter: int = 400,
    rel_tol: float = 1e-5,
    obj_floor: jax.Array | float = 1e-8,
) -> MCPanelFit:
    """MCPanel's warm-started path (its ``NNM_with_uv_init``): ``L`` starts at zero.

    ``active`` (K,) bool marks the path points actually fitted; an inactive point leaves
    the warm start untouched (so a jitted caller can fit a data-dependent prefix of a
    fixed-length path). Returns a MCPanelFit with a leading axis of length K.
    """
    lambdas = jnp.asarray(lambdas, M.dtype)
    if active is None:
        active = jnp.ones(lambdas.shape, bool)
    L0 = jnp.zeros_like(M)

    def body(carry, x):
        L, u, v = carry
        lam, on = x
        res = fit(M, mask, lam, L, u, v, max_iter, rel_tol, obj_floor)
        res = jax.tree_util.tree_map(
            lambda new, old: jnp.where(on, new, old),
            res,
            MCPanelFit(
                L, u, v, L + u[:, None] + v[None, :], jnp.int32(0), jnp.int32(0)
            ),
        )
        return (res.L, res.u, res.v), res

    _, out = jax.lax.scan(body, (L0, u0, v0), (lambdas, active))
    return out


def path_grid(lambda_max: jax.Array, num: int) -> jax.Array:
    """MCPanel's penalty path: ``num - 1`` points log-spaced over three decades down from
    ``lambda_max``, then 0. ``num >= 3`` is a Python int."""
    if num < 3:
        raise ValueError(f"a penalty path needs at least 3 points, got {num}")
    lambda_max = jnp.asarray(lambda_max)
    top = jnp.log10(lambda_max)
    step = -3.0 / (num - 2)
    grid = 10.0 ** (top + step * jnp.arange(num - 1, dtype=lambda_max.dtype))
    return jnp.concatenate([grid, jnp.zeros(1, lambda_max.dtype)])
