"""TROP fits at fixed lambdas: per treated cell (the paper) and global (the package)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import (
    CONVERGED,
    UNIDENTIFIED,
    combine,
    combine_all,
    lowrank,
    twfe,
)

from ... import batch
from ...fit import Fit
from .._core import default_mask, finish, impute_lowrank, standardise
from . import _weights as tw

Variant = Literal["paper", "global", "simulation"]
VARIANTS = ("paper", "global", "simulation")


@dataclass(frozen=True)
class TROPOptions:
    """Solver settings (hashable: a static argument of the jitted functions).

    Attributes
    ----------
    tol : relative tolerance of ``kernels.lowrank`` (None: its dtype default).
    max_steps : iteration cap per fit.
    memory_bytes : working memory of one chunk of a batch of fits (None:
        ``jaxpanel.tuning.default_memory_bytes()``, 16 MiB on CPU, 1 GiB otherwise).
    squared_weights : global variant only; the simulation notebooks' weight scale
        (weights inside the square), see the module docstring. The "simulation" variant
        always has it.
    """

    tol: float | None = None
    max_steps: int = 10_000
    memory_bytes: int | None = None
    squared_weights: bool = False


DEFAULT = TROPOptions()


def cell_path(
    y: jax.Array,
    c: jax.Array,
    i: jax.Array,
    t: jax.Array,
    lambda_unit: jax.Array,
    lambda_time: jax.Array,
    lambda_nn: jax.Array,
    options: TROPOptions,
    freq: jax.Array | None = None,
    X: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Effect of cell (i, t) for several ``lambda_nn`` (K,) at one weight pair.

    The fit uses the untreated observed cells ``c`` except (i, t) itself, weighted by the
    paper's Eq. 3 weights centred on (i, t); ``tau = y_it - fitted_it``. For a treated cell
    this is the paper's estimator; for a control cell it is the leave-one-out prediction
    error of Eq. 4. The weights are factored once and the penalties (sorted decreasing for
    speed) are solved in turn, each warm-started from the previous ``L``. ``freq`` (N,)
    multiplies the weights of unit j by its frequency (bootstrap counts; 0 drops a unit).

    Parameters
    ----------
    y : (N, T) outcomes (0 on unobserved cells). c : (N, T) 0/1 untreated observed cells.
    i, t : the target cell (traced ints).
    lambda_unit, lambda_time : decay rates (per outcome unit, per period).
    lambda_nn : (K,) penalties. options : TROPOptions.
    freq : (N,) unit frequencies or None.
    X : (K_x, N, T) covariates with unpenalised coefficients in the weighted fit (the
        paper's Eq. 14: the penalty is on the low-rank remainder only), or None.

    Returns
    -------
    ``(tau (K,), steps (K,), status (K,))``; status UNIDENTIFIED when unit i and period t
    are not tied together by weighted cells.
    """
    omega, theta = tw.cell_weights(y, c, i, t, lambda_unit, lambda_time)
    if freq is not None:
        omega = omega * freq
    w = (omega[:, None] * theta[None, :] * c).at[i, t].set(0.0)
    fac = twfe.factor(w)

    def body(L, lam):
        res = lowrank.solve(
            y, w, lam, L, tol=options.tol, max_steps=options.max_steps, fac=fac, X=X
        )
        ok = res.unit_identified[i] & res.time_identified[t] & (res.n_components == 1)
        status = combine(res.status, jnp.where(ok, CONVERGED, UNIDENTIFIED))
        return res.L, (y[i, t] - res.fitted[i, t], res.steps, status.astype(jnp.int32))

    L0 = jnp.zeros_like(y)
    _, out = jax.lax.scan(body, L0, jnp.atleast_1d(jnp.asarray(lambda_nn, y.dtype)))
    return out


def _arrays(Y, W, mask):
    Y = jnp.asarray(Y)
    mask = default_mask(Y, mask)
    W = jnp.asarray(W, Y.dtype)
    return Y, W, mask, jnp.where(mask > 0, Y, 0.0), (1 - W) * mask


def count_cells(W, mask=None) -> int:
    """Number of treated observed cells (a concrete Python int, for ``n_cells``).

    Parameters
    ----------
    W : (N, T) 0/1 treatment (concrete). mask : (N, T) or None.

    Returns
    -------
    int.
    """
    W = np.asarray(W)
    m = np.ones_like(W) if mask is None else np.asarray(mask)
    return int(((W > 0) & (m > 0)).sum())


@partial(jax.jit, static_argnames=("n_cells", "options"))
def _fit(
    Y, W, mask, lambda_unit, lambda_time, lambda_nn, n_cells, options, freq=None, X=None
):
    """``fit`` with a static ``n_cells``.

    ``freq`` (N,) are unit frequencies (inference: bootstrap counts multiply each unit's
    weights and its cells' weight in the ATT; 0 drops a unit). ``X`` (K, N, T)
    covariates (Eq. 14), standardised over the observed cells here.
    """
    Y, W, mask, y, c = _arrays(Y, W, mask)
    if X is not None:
        X = standardise(jnp.asarray(X, Y.dtype), mask)[0]
    treated = W * mask
    if freq is not None:
        freq = jnp.asarray(freq, Y.dtype)
        treated = jnp.where((freq > 0)[:, None], treated, 0.0)
    ii, tt = jnp.nonzero(treated > 0, size=n_cells, fill_value=0)
    valid = jnp.arange(n_cells) < (treated > 0).sum()
    dtype = Y.dtype
    lu, lt, ln = (jnp.asarray(x, dtype) for x in (lambda_unit, lambda_time, lambda_nn))

    def lane(cell):
        i, t = cell
        tau, steps, status = cell_path(y, c, i, t, lu, lt, ln[None], options, freq, X)
        return tau[0], steps[0], status[0]

    per_lane = batch.lane_bytes(Y.shape[0], Y.shape[1], dtype.itemsize)
    chunk = batch.lanes_per_chunk(n_cells, per_lane, options.memory_bytes)
    tau, steps, status = batch.lane_map(lane, (ii, tt), chunk)
    tau = jnp.where(valid, tau, 0.0)
    tau_mat = jnp.zeros_like(y).at[ii, tt].add(tau)
    cw = valid.astype(dtype) if freq is None else jnp.where(valid, freq[ii], 0.0)
    att = (tau * cw).sum() / cw.sum()
    y0 = jnp.where(treated > 0, y - tau_mat, y)
    # More treated cells than lanes: the ATT would leave some out, so it is not reported
    # as estimated (the concrete-input wrapper raises instead).
    overflow = (treated > 0).sum() > n_cells
    worst = combine(combine_all(status, valid), jnp.where(overflow, UNIDENTIFIED, 0))
    info = {
        "cells": jnp.stack([ii, tt], axis=1).astype(jnp.int32),
        "cell_valid": valid,
        "cell_tau": tau,
        "cell_steps": steps,
        "cell_status": status,
    }
    return Fit(att=att, tau=tau_mat, y0=y0, status=worst, info=info)


def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lambda_unit: float | jax.Array = 0.0,
    lambda_time: float | jax.Array = 0.0,
    lambda_nn: float | jax.Array = math.inf,
    n_cells: int | None = None,
    options: TROPOptions = DEFAULT,
    X: jax.Array | None = None,
) -> Fit:
    """TROP, paper version, at fixed lambdas: one fit per treated cell (Eq. 2-3, 13).

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment, 0/1 observed mask (default all observed).
    lambda_unit, lambda_time, lambda_nn : scalars (traced: vmap over them freely).
    n_cells : static number of treated cells to fit (padding beyond the actual count is
        ignored). Default: counted from ``W`` and ``mask``, which must then be concrete;
        under ``jax.vmap`` over treatment masks pass the largest count. A mask with more
        treated cells than ``n_cells`` raises ``ValueError`` (concrete input) or gets
        status UNIDENTIFIED (traced input).
    options : TROPOptions.
    X : (K, N, T) time-varying covariates, or None: each cell's weighted fit is then
        ``alpha_j + beta_s + X_js'b + R_js`` with ``b`` unpenalised and the nuclear norm
        on ``R`` only (Eq. 14). Standardised first: the estimate does not depend on
        their units.

    Returns
    -------
    Fit; ``info`` holds the treated cells ``cells`` (C, 2) (padding repeats cell 0),
    ``cell_valid`` (C,) (False on padding), ``cell_tau``, ``cell_steps``,
    ``cell_status``; the status is the most severe cell's.

    References
    ----------
    Athey, Imbens, Qu and Viviano (2025), Eq. (2)-(3) and (13), Algorithm 2.
    """
    concrete = not any(isinstance(a, jax.core.Tracer) for a in (W, mask))
    if n_cells is None:
        n_cells = count_cells(W, mask)
    elif concrete and count_cells(W, mask) > n_cells:
        raise ValueError(
            f"n_cells={n_cells} is smaller than the {count_cells(W, mask)} treated "
            "observed cells; pass n_cells >= that count"
        )
    if n_cells < 1:
        raise ValueError("TROP needs at least one treated observed cell (n_cells >= 1)")
    return _fit(
        Y, W, mask, lambda_unit, lambda_time, lambda_nn, n_cells, options, None, X
    )


def _global_weights(y, W, mask, lambda_unit, lambda_time, squared: bool):
    """``(omega (N,), theta (T,))`` of the one-fit variants (``_weights``)."""
    d_unit, d_time = tw.global_distances(y, W, mask)
    dtype = y.dtype
    lu, lt = jnp.asarray(lambda_unit, dtype), jnp.asarray(lambda_time, dtype)
    return tw.global_weights(d_unit, d_time, lu, lt, squared)


@partial(jax.jit, static_argnames=("options",))
def fit_global(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lambda_unit: float | jax.Array = 0.0,
    lambda_time: float | jax.Array = 0.0,
    lambda_nn: float | jax.Array = math.inf,
    options: TROPOptions = DEFAULT,
) -> Fit:
    """TROP, global variant (the ``trop`` package), at fixed lambdas: one shared fit.

    ``W`` must be a block design (every treated unit treated from the same period to the
    end); the user level checks this. Returns a Fit whose ``unit_weights`` and
    ``time_weights`` are the global ``omega`` and ``theta``, with ``L``.

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 block treatment, observed mask.
    lambda_unit, lambda_time, lambda_nn : decay rates and penalty (scales in the
        package's convention, or the notebooks' with ``options.squared_weights``).
    options : TROPOptions.

    Returns
    -------
    Fit with ``L``; ``info`` has the rank of ``L`` and the iterations.

    References
    ----------
    The authors' ``trop`` package (``TROP_TWFE_average``); Athey, Imbens, Qu and
    Viviano (2025), Sec. 3.
    """
    Y, W, mask, y, _ = _arrays(Y, W, mask)
    omega, theta = _global_weights(
        y, W, mask, lambda_unit, lambda_time, options.squared_weights
    )
    return impute_lowrank(
        Y,
        W,
        mask,
        omega,
        theta,
        jnp.asarray(lambda_nn, Y.dtype),
        tol=options.tol,
        max_steps=options.max_steps,
    )


@partial(jax.jit, static_argnames=("options",))
def fit_simulation(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lambda_unit: float | jax.Array = 0.0,
    lambda_time: float | jax.Array = 0.0,
    lambda_nn: float | jax.Array = math.inf,
    options: TROPOptions = DEFAULT,
) -> Fit:
    """TROP as the authors' simulation notebooks fit it (``TROP_TWFE_average``).

    One fit over every observed cell, treated ones included, with one shared effect::

        min over mu, alpha, beta, L, tau of
            sum_js (delta_js (Y_js - mu - alpha_j - beta_s - L_js - tau W_js))^2
            + lambda_nn ||L||_*

    ``delta_js = exp(-lambda_unit d_j - lambda_time d_s)`` with the global variant's
    distances (``d_j`` the RMS gap to the average treated trajectory over the
    pre-periods, treated units included; ``d_s = |s - (T - T_post / 2)|``), so the cell
    weight is ``delta^2`` (lambdas on the notebooks' scale). ``tau`` is profiled out with
    the fixed effects (``kernels.lowrank.solve`` with ``X = W``) and is the ATT: a
    ``delta^2``-weighted mean of the treated cells' residuals, not their plain mean.
    ``W`` must be a block design (the user level checks this).

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 block treatment, observed mask.
    lambda_unit, lambda_time, lambda_nn : decay rates and penalty (notebook scale).
    options : TROPOptions (``squared_weights`` is ignored: always inside the square).

    Returns
    -------
    Fit: ``att`` = tau; ``y0`` the fitted ``mu + alpha + beta + L`` (tau W left out);
    ``tau`` the treated cells' ``Y - y0``; ``unit_weights``, ``time_weights`` the
    squared deltas; ``L``; ``info`` has the rank of ``L`` and the iterations.

    References
    ----------
    The authors' replication notebooks (xyang23/TROP-Estimator, ``methods.py``,
    ``TROP_TWFE_average``), which produced the TROP paper's simulation tables (Athey,
    Imbens, Qu and Viviano 2025, Tables 1-3).
    """
    Y, W, mask, y, _ = _arrays(Y, W, mask)
    omega, theta = _global_weights(y, W, mask, lambda_unit, lambda_time, True)
    dtype = Y.dtype
    w = omega[:, None] * theta[None, :] * mask
    res = lowrank.solve(
        y,
        w,
        jnp.asarray(lambda_nn, dtype),
        X=(W * mask)[None],
        tol=options.tol,
        max_steps=options.max_steps,
    )
    tau = res.coef[0]
    fit = finish(Y, W, mask, res._replace(fitted=res.fitted - tau * W), omega, theta)
    return fit._replace(att=tau)


def one_fit(variant: str):
    """The single-fit function of a one-fit variant ('global' or 'simulation')."""
    return fit_simulation if variant == "simulation" else fit_global
