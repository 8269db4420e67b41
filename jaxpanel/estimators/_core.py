"""The one shared fit.

Weighted two-way FE (plus an optional low-rank term) on untreated cells, then imputation
of Y(0) on treated cells.

Every estimator in jaxpanel is this fit with a choice of unit weights, time weights, fixed
effects and penalty (Arkhangelsky et al. 2021, Sec. 1-2; Athey, Imbens, Qu and Viviano
2025, Eq. 2)::

    min  sum_js u_j v_s (1 - W_js) O_js (Y_js - mu - alpha_j - beta_s - L_js)^2
         + lambda_nn ||L||_*
    tau_it = Y_it - (mu + alpha_i + beta_t + L_it)   on treated observed cells
    ATT    = mean of tau_it over treated observed cells,

with ``L = 0`` (``lambda_nn = inf``) for DID and the SC family. Per-cell TROP runs it once
per treated cell with weights centred on that cell.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import (
    CONVERGED,
    UNIDENTIFIED,
    TwoWayFit,
    combine,
    failed,
    lowrank,
    twfe,
)

from ..fit import Fit, event_effects
from ..panel import Panel


def default_mask(Y: jax.Array, mask: jax.Array | None) -> jax.Array:
    """``mask`` as Y's dtype, or all ones (every cell observed)."""
    return jnp.ones_like(Y) if mask is None else jnp.asarray(mask, Y.dtype)


def impute(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    unit_weights: jax.Array,
    time_weights: jax.Array,
    unit_fe: bool = True,
    time_fe: bool = True,
    att_unit_weights: jax.Array | None = None,
    info: Any = None,
    identified: jax.Array | bool = True,
) -> Fit:
    """Fit the weighted two-way model on untreated cells and impute Y(0) on treated ones.

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment and 0/1 observed mask (same float dtype).
    unit_weights : (N,) >= 0; time_weights : (T,) >= 0.
    unit_fe, time_fe : static; SC drops the unit effects.
    att_unit_weights : (N,) weights of units in the ATT (bootstrap frequencies), or None.
    info : diagnostics passed through to the Fit.
    identified : extra identification condition of the caller (scalar or (N, T)).

    Returns
    -------
    Fit. Status UNIDENTIFIED when some treated cell's unit or period has no weighted
    untreated cell, or the weighted cells split into disconnected groups.
    """
    Y = jnp.asarray(Y)
    W = jnp.asarray(W, Y.dtype)
    mask = jnp.asarray(mask, Y.dtype)
    w = unit_weights[:, None] * time_weights[None, :] * (1 - W) * mask
    res = twfe.solve(jnp.where(mask > 0, Y, 0.0), w, unit_fe, time_fe)
    return finish(
        Y, W, mask, res, unit_weights, time_weights, identified, att_unit_weights, info
    )


def impute_lowrank(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    unit_weights: jax.Array,
    time_weights: jax.Array,
    lambda_nn: jax.Array | float,
    L0: jax.Array | None = None,
    tol: float | None = None,
    max_steps: int = 10_000,
) -> Fit:
    """:func:`impute` with a nuclear-norm-penalised low-rank term.

    Parameters
    ----------
    Y, W, mask, unit_weights, time_weights : as :func:`impute`.
    lambda_nn : penalty on the unnormalised weighted loss (``kernels.lowrank.solve``).
    L0, tol, max_steps : passed to the kernel.

    Returns
    -------
    Fit with ``L`` and ``info = {"rank", "steps"}``.
    """
    Y = jnp.asarray(Y)
    W = jnp.asarray(W, Y.dtype)
    mask = jnp.asarray(mask, Y.dtype)
    w = unit_weights[:, None] * time_weights[None, :] * (1 - W) * mask
    y = jnp.where(mask > 0, Y, 0.0)
    res = lowrank.solve(y, w, lambda_nn, L0, tol=tol, max_steps=max_steps)
    return finish(Y, W, mask, res, unit_weights, time_weights)


def finish(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    res: TwoWayFit,
    unit_weights: jax.Array | None,
    time_weights: jax.Array | None,
    identified: jax.Array | bool = True,
    att_unit_weights: jax.Array | None = None,
    info: Any = None,
) -> Fit:
    """Cell effects, ATT and status from a fitted two-way model (shared by all).

    Parameters
    ----------
    Y, W, mask : (N, T).
    res : the kernel's fit (``fitted`` on every cell; with ``L``, ``rank``, ``steps`` for
        a low-rank fit, which go to ``Fit.L`` and ``Fit.info``).
    unit_weights, time_weights : recorded in the Fit.
    identified : (N, T) or scalar; a treated observed cell where it is False (or whose
        unit or period the kernel could not identify, or a fit split into several
        connected groups) makes the status UNIDENTIFIED.
    att_unit_weights : (N,) weights of units in the ATT; default every treated cell once.
    info : diagnostics (a dict), merged with the kernel's rank and steps.

    Returns
    -------
    Fit; its status combines the kernel's with identification (``kernels.combine``).
    """
    treated = W * mask
    y0 = res.fitted
    tau = jnp.where(treated > 0, Y - y0, 0.0)
    cw = treated if att_unit_weights is None else treated * att_unit_weights[:, None]
    n_tr = cw.sum()
    att = (tau * cw).sum() / n_tr
    cell_ok = res.unit_identified[:, None] & res.time_identified[None, :]
    ok = cell_ok & (res.n_components == 1) & identified
    ok = jnp.all(jnp.where(treated > 0, ok, True)) & (n_tr > 0)
    status = combine(res.status, jnp.where(ok, CONVERGED, UNIDENTIFIED))
    info = dict(info or {})
    if res.rank is not None:
        info.update(rank=res.rank, steps=res.steps)
    return Fit(
        att=att,
        tau=tau,
        y0=y0,
        status=status,
        unit_weights=unit_weights,
        time_weights=time_weights,
        mu=res.mu,
        alpha=res.alpha,
        beta=res.beta,
        L=res.L,
        info=info,
    )


def att_or_nan(fit: Fit) -> jax.Array:
    """The fit's ATT, NaN where its status is a failure (non-finite or unidentified).

    A bare ATT carries no status, and a number from a failed fit would be silent.
    """
    return jnp.where(failed(fit.status), jnp.nan, fit.att)


def standardise(
    X: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Covariates as z-scores over the observed cells: ``(Xs, mean, sd)``, each (K, ...).

    Stata ``sdid``'s ``egen std()`` (sd with n - 1); a covariate constant over the
    observed cells keeps sd 1 (its coefficient is then not identified, and the fit's
    status says so where it matters).
    """
    m = mask[None]
    n = mask.sum()
    # sums over the observed cells only (NaN elsewhere must not reach a 0-weighted sum)
    mean = jnp.where(m > 0, X, 0.0).sum(axis=(1, 2)) / n
    dev = jnp.where(m > 0, X - mean[:, None, None], 0.0)
    var = (dev**2).sum(axis=(1, 2)) / (n - 1)
    sd = jnp.where(var > 0, jnp.sqrt(var), 1.0)
    Xs = dev / sd[:, None, None]
    return Xs, mean, sd


def project(Y, W, mask, freq, Xs) -> tuple[jax.Array, jax.Array]:
    """``(beta (K,), X beta (N, T))``: the projected covariate form (Kranz 2022).

    The coefficients of ``Xs`` in the two-way fit with covariates on the untreated
    observed cells, units weighted by ``freq`` (Stata ``sdid``'s ``projected``).
    """
    w = mask * (1 - W) * freq[:, None]
    beta = lowrank.solve(jnp.where(w > 0, Y, 0.0), w, math.inf, X=Xs).coef
    return beta, jnp.tensordot(beta, Xs, axes=1)


def outputs(
    fit: Fit,
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    freq: jax.Array | None = None,
    leads: bool = True,
) -> dict[str, jax.Array]:
    """What a variance replicate returns: its ATT and its effects by event time.

    ``{"att": att_or_nan(fit), "event": ...}``, the effects of
    :func:`jaxpanel.fit.event_effects`.
    """
    return {
        "att": att_or_nan(fit),
        "event": event_effects(fit, Y, W, mask, freq, leads)[0],
    }


def resample_rows(freq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Rows ``idx`` (N,) holding unit j ``freq_j`` times, and a 0/1 row mask ``valid``.

    With counts summing to N (a bootstrap draw) every row is used; with 0/1 frequencies
    (units left out) the kept units come first and the other rows are masked out. Lets
    estimators whose fit is not a weighted sum over units (a nuclear norm) refit on the
    resampled rows themselves, with static shape N.
    """
    n = freq.shape[0]
    counts = jnp.round(freq).astype(jnp.int32)
    idx = jnp.repeat(jnp.arange(n), counts, total_repeat_length=n)
    valid = (jnp.arange(n) < counts.sum()).astype(freq.dtype)
    return idx, valid


def check_covariates(panel: Panel, who: str) -> None:
    """Refuse covariates that the two-way fixed effects absorb, or that are collinear.

    Each covariate's residual from a two-way fit on the untreated observed cells (where
    every estimator fits its coefficients) must be non-zero, and the residuals must be
    linearly independent; otherwise the coefficients are not identified (a covariate
    constant within units, within periods or over all cells, or a sum of such, or a
    combination of the others) and the estimates would hang on round-off.

    Raises
    ------
    ValueError
        Naming the covariates and the fix (drop them).
    """
    if not panel.covariate_names:
        return
    names = panel.covariate_names
    cells = panel.mask & ~panel.W
    w = jnp.asarray(cells, jnp.zeros(()).dtype)  # JAX's default float
    resid = []
    for k in range(len(names)):
        x = jnp.asarray(np.where(cells, panel.X[k], 0.0), w.dtype)
        fit = twfe.solve(x, w)
        r = np.where(cells, np.asarray(x - fit.fitted), 0.0)
        resid.append(r.ravel())
    R = np.asarray(resid)
    X = np.where(cells[None], panel.X, 0.0).reshape(len(names), -1)
    scale = np.sqrt((X**2).sum(axis=1)) + 1e-300
    rel = np.sqrt((R**2).sum(axis=1)) / scale
    tol = 1e-7 if w.dtype == jnp.float64 else 1e-3
    absorbed = [n for n, v in zip(names, rel) if v < tol]
    if absorbed:
        raise ValueError(
            f"{who}: covariates {absorbed} do not vary once unit and period effects are "
            "removed (constant within units, within periods or overall, or a sum of "
            "such): the fixed effects absorb them and their coefficients are not "
            "identified. Fix: drop them"
        )
    Rn = R / np.sqrt((R**2).sum(axis=1, keepdims=True))
    eig, vec = np.linalg.eigh(Rn @ Rn.T)
    if eig[0] < tol**2 * len(names):
        involved = [n for n, v in zip(names, vec[:, 0]) if abs(v) > 0.1]
        raise ValueError(
            f"{who}: covariates {involved} are collinear once unit and period effects "
            "are removed (one is a combination of the others): their coefficients are "
            "not identified. Fix: drop one of them"
        )


def refuse_covariates(panel: Panel, who: str) -> None:
    """Raise ``ValueError`` for a panel with covariates, for estimators without them."""
    if panel.covariate_names:
        raise ValueError(
            f"{who} does not take covariates yet, and the panel has "
            f"{', '.join(map(repr, panel.covariate_names))}. Fix: build the panel "
            "without covariates=, or use did, sc, difp, sdid, mc (solver='exact') or "
            "trop (variant='paper'), which take them"
        )


def require_panel(panel: Any) -> None:
    """Raise ``TypeError`` unless ``panel`` is a :class:`jaxpanel.Panel`."""
    if not isinstance(panel, Panel):
        raise TypeError(
            f"expected a jaxpanel.Panel, got {type(panel).__name__}; build one with "
            "jaxpanel.Panel.from_long(df, unit=..., time=..., outcome=..., treatment=...)"
        )
