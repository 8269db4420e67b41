"""The iteration of R MCPanel (Athey et al. 2021), to reproduce its numbers.

MCPanel minimises, over the observed cells ``O`` (``mask == 1``)::

    (1 / |O|) sum_{O} (Y - L - u 1' - 1 v')^2 + lam ||L||_*

by block-coordinate descent: one exact update of the unit effects ``u`` (row means of
``Y - L - v`` over observed cells), one of the time effects ``v``, then one proximal
gradient step on ``L`` with step ``|O| / 2``, i.e. ``L <- SVT(P_O(Y - L - u - v) + L,
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
changing or ``max_iter``); the largest useful penalty is ``2 sigma_max(P_O(Y - u - v)) /
|O|``.

Written from the MCPanel source (github susanathey/MCPanel, src/mcnnm_R.cpp) as a
specification; pure, static shapes, safe under ``jit`` and ``vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import twfe
from ._loop import run
from .twfe import TwoWayFit


class _State(NamedTuple):
    L: jax.Array
    u: jax.Array
    v: jax.Array
    obj: jax.Array
    sv: jax.Array  # singular values of L (after thresholding)


def _two_way(Y, mask, L, u, v, sv, steps, status, n_components) -> TwoWayFit:
    """MCPanel's fit in the kernels' one result type.

    ``mu = 0``: MCPanel keeps its ``u`` and ``v`` as they are.
    """
    return TwoWayFit(
        jnp.zeros((), Y.dtype),
        u,
        v,
        L + u[:, None] + v[None, :],
        (mask > 0).any(axis=1),
        (mask > 0).any(axis=0),
        n_components,
        jnp.asarray(status, jnp.int32),
        L,
        (sv > 0).sum().astype(jnp.int32),
        jnp.asarray(steps, jnp.int32),
    )


def _masked_mean(x: jax.Array, mask: jax.Array, axis: int) -> jax.Array:
    count = (mask > 0).sum(axis=axis)
    total = jnp.where(mask > 0, x, 0.0).sum(axis=axis)
    count = count.astype(total.dtype)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0)


def _sweep(Y, mask, L, v):
    u = _masked_mean(Y - L - v[None, :], mask, axis=1)
    v = _masked_mean(Y - L - u[:, None], mask, axis=0)
    return u, v


def _objective(Y, mask, L, u, v, nuclear, lam):
    err = jnp.where(mask > 0, L + u[:, None] + v[None, :] - Y, 0.0)
    # lam = inf with L = 0 is a finite objective (inf * 0 would be NaN)
    penalty = jnp.where(nuclear > 0, lam * nuclear, 0.0)
    return (err**2).sum() / mask.sum() + penalty


def effects(
    Y: jax.Array, mask: jax.Array, max_iter: int = 1000, rel_tol: float = 1e-5
) -> TwoWayFit:
    """MCPanel's starting fixed effects (``L = 0``; its ``initialize_uv``).

    Parameters
    ----------
    Y : (N, T) outcomes; mask : (N, T) 0/1 observed (training) cells.
    max_iter, rel_tol : MCPanel's sweep cap and relative-change tolerance.

    Returns
    -------
    ``TwoWayFit`` with ``alpha = u``, ``beta = v`` and ``L = None``.
    """
    Y = jnp.where(mask > 0, Y, 0.0)
    zeros = jnp.zeros_like(Y)
    u0 = jnp.zeros(Y.shape[0], Y.dtype)
    v0 = jnp.zeros(Y.shape[1], Y.dtype)
    k = jnp.zeros(min(Y.shape), Y.dtype)
    init = _State(zeros, u0, v0, _objective(Y, mask, zeros, u0, v0, 0.0, 0.0), k)

    def step(s):
        u, v = _sweep(Y, mask, zeros, s.v)
        return _State(zeros, u, v, _objective(Y, mask, zeros, u, v, 0.0, 0.0), k)

    def done(old, new):
        rel = (new.obj - old.obj) / old.obj
        return (rel < rel_tol) & (rel >= 0)

    out = run(step, done, init, max_iter)
    s = out.state
    fe = _two_way(Y, mask, zeros, s.u, s.v, k, out.steps, out.status, jnp.int32(1))
    return fe._replace(L=None, rank=None)


def lambda_max(Y: jax.Array, mask: jax.Array, fe: TwoWayFit) -> jax.Array:
    """The smallest penalty giving ``L = 0`` (MCPanel's scaling).

    ``2 sigma_max(P_O(Y - u - v)) / |O|`` at the starting effects ``fe``.

    Parameters
    ----------
    Y : (N, T) outcomes. mask : (N, T) 0/1 cells. fe : :func:`effects` on them.

    Returns
    -------
    () the penalty.
    """
    resid = jnp.where(mask > 0, Y - fe.alpha[:, None] - fe.beta[None, :], 0.0)
    return 2.0 * jnp.linalg.svd(resid, compute_uv=False)[0] / mask.sum()


def _fit(Y, mask, lam, L0, u0, v0, max_iter, rel_tol, obj_floor):
    """MCPanel's iteration at one penalty: the final state, steps and status."""
    Y = jnp.where(mask > 0, Y, 0.0)
    n_obs = mask.sum()
    lam = jnp.asarray(lam, Y.dtype)
    sv0 = jnp.linalg.svd(L0, compute_uv=False)
    init = _State(L0, u0, v0, _objective(Y, mask, L0, u0, v0, sv0.sum(), lam), sv0)

    def step(s):
        u, v = _sweep(Y, mask, s.L, s.v)
        proj = jnp.where(mask > 0, Y - s.L - u[:, None] - v[None, :], 0.0) + s.L
        uu, sv, vt = jnp.linalg.svd(proj, full_matrices=False)
        sv = jnp.maximum(sv - lam * n_obs / 2.0, 0.0)
        L = (uu * sv[None, :]) @ vt
        return _State(L, u, v, _objective(Y, mask, L, u, v, sv.sum(), lam), sv)

    def done(old, new):
        rel = (old.obj - new.obj) / old.obj
        return (new.obj < obj_floor) | ((rel < rel_tol) & (rel >= 0))

    return run(step, done, init, max_iter)


def fit(
    Y: jax.Array,
    mask: jax.Array,
    lam: jax.Array,
    L0: jax.Array,
    u0: jax.Array,
    v0: jax.Array,
    max_iter: int = 400,
    rel_tol: float = 1e-5,
    obj_floor: jax.Array | float = 1e-8,
) -> TwoWayFit:
    """One MCPanel fit at penalty ``lam`` from ``(L0, u0, v0)`` (its ``NNM_fit``).

    Parameters
    ----------
    Y : (N, T) outcomes; mask : (N, T) 0/1 observed (training) cells.
    lam : penalty on MCPanel's scale. L0, u0, v0 : warm start.
    max_iter, rel_tol : MCPanel's sweep cap and relative-decrease tolerance.
    obj_floor : stop once the objective is below it. MCPanel's literal rule is 1e-8 in
        squared outcome units, which ties the stopping point to the outcome's scale;
        callers that want a rule equivariant to rescaling pass 1e-8 times a squared
        outcome scale.

    Returns
    -------
    ``TwoWayFit`` (``alpha = u``, ``beta = v``, ``mu = 0``, with ``L``, ``rank``, ``steps``).
    """
    out = _fit(Y, mask, lam, L0, u0, v0, max_iter, rel_tol, obj_floor)
    s = out.state
    n_comp = twfe.factor(jnp.asarray(mask, Y.dtype)).n_components
    return _two_way(Y, mask, s.L, s.u, s.v, s.sv, out.steps, out.status, n_comp)


def fit_path(
    Y: jax.Array,
    mask: jax.Array,
    lambdas: jax.Array,
    u0: jax.Array,
    v0: jax.Array,
    active: jax.Array | None = None,
    max_iter: int = 400,
    rel_tol: float = 1e-5,
    obj_floor: jax.Array | float = 1e-8,
) -> TwoWayFit:
    """MCPanel's warm-started path (its ``NNM_with_uv_init``): ``L`` starts at zero.

    ``active`` (K,) bool marks the path points actually fitted; an inactive point leaves
    the warm start untouched (so a jitted caller can fit a data-dependent prefix of a
    fixed-length path). Returns a ``TwoWayFit`` with a leading axis of length K.

    Parameters
    ----------
    Y : (N, T) outcomes. mask : (N, T) 0/1 training cells. lambdas : (K,) penalties.
    u0, v0 : starting effects. active : (K,) bool or None (all).
    max_iter, rel_tol, obj_floor : as :func:`fit`.
    """
    lambdas = jnp.asarray(lambdas, Y.dtype)
    if active is None:
        active = jnp.ones(lambdas.shape, bool)
    L0 = jnp.zeros_like(Y)
    sv0 = jnp.zeros(min(Y.shape), Y.dtype)

    def body(carry, x):
        lam, on = x
        out = _fit(Y, mask, lam, *carry[:3], max_iter, rel_tol, obj_floor)
        new = (out.state.L, out.state.u, out.state.v, out.state.sv)
        kept = jax.tree_util.tree_map(lambda a, b: jnp.where(on, a, b), new, carry)
        steps = jnp.where(on, out.steps, 0)
        status = jnp.where(on, out.status, 0)
        return kept, (*kept, steps, status)

    _, (L, u, v, sv, steps, status) = jax.lax.scan(
        body, (L0, u0, v0, sv0), (lambdas, active)
    )
    n_comp = twfe.factor(jnp.asarray(mask, Y.dtype)).n_components
    return jax.vmap(
        lambda *a: _two_way(Y, mask, *a, n_comp), in_axes=(0, 0, 0, 0, 0, 0)
    )(L, u, v, sv, steps, status)


def path_grid(lambda_max: jax.Array, num: int) -> jax.Array:
    """MCPanel's penalty path.

    ``num - 1`` points log-spaced over three decades down from ``lambda_max``, then 0.
    ``num >= 3`` is a Python int.

    Parameters
    ----------
    lambda_max : () the top penalty. num : points, >= 3 (static).

    Returns
    -------
    (num,) decreasing penalties ending at 0.

    Raises
    ------
    ValueError
        ``num < 3``.
    """
    if num < 3:
        raise ValueError(f"a penalty path needs at least 3 points, got {num}")
    lambda_max = jnp.asarray(lambda_max)
    top = jnp.log10(lambda_max)
    step = -3.0 / (num - 2)
    grid = 10.0 ** (top + step * jnp.arange(num - 1, dtype=lambda_max.dtype))
    return jnp.concatenate([grid, jnp.zeros(1, lambda_max.dtype)])


__all__ = [
    "effects",
    "fit",
    "fit_path",
    "lambda_max",
    "path_grid",
]
