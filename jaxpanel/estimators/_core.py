"""The one shared fit: weighted two-way FE on control cells, then imputation of Y(0).

Every estimator in jaxpanel is this function with a choice of unit weights ``omega``, time
weights ``theta`` and fixed effects (METHODS.md section 1)::

    min  sum_js omega_j theta_s (1 - W_js) O_js (Y_js - mu - alpha_j - beta_s)^2
    tau_it = Y_it - (mu + alpha_i + beta_t)   on treated observed cells
    ATT    = mean of tau_it over treated observed cells.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpanel.kernels import twfe
from jaxpanel.kernels._loop import CONVERGED, NONFINITE, UNIDENTIFIED


class Fit(NamedTuple):
    """Array-level result of one fit (a pytree: ``jax.vmap`` adds a leading axis).

    Attributes
    ----------
    att : () average effect over treated observed cells.
    tau : (N, T) cell effects Y - Y(0)-hat on treated observed cells, 0 elsewhere.
    y0 : (N, T) fitted/imputed untreated outcomes on every cell.
    mu, alpha, beta : the fitted two-way model, ``y0 = mu + alpha_j + beta_s``.
    unit_weights : (N,) unit weights omega used in the fit.
    time_weights : (T,) time weights theta used in the fit.
    status : () int32, see ``jaxpanel.kernels.status_name``.
    info : estimator-specific diagnostics (a dict of arrays, or None).
    """

    att: jax.Array
    tau: jax.Array
    y0: jax.Array
    mu: jax.Array
    alpha: jax.Array
    beta: jax.Array
    unit_weights: jax.Array
    time_weights: jax.Array
    status: jax.Array
    info: Any = None


def default_mask(Y: jax.Array, mask: jax.Array | None) -> jax.Array:
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
    """Fit the weighted two-way model on control cells and impute Y(0) on treated cells.

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment and 0/1 observed mask (same float dtype).
    unit_weights : (N,) omega >= 0; time_weights : (T,) theta >= 0.
    unit_fe, time_fe : static; SC drops the unit effects.
    att_unit_weights, info : passed to :func:`finish`.
    identified : extra identification condition of the caller (scalar or (N, T)).

    Returns
    -------
    Fit. Status is UNIDENTIFIED when some treated cell's unit or period has no weighted
    control cell, or the weighted cells split into disconnected groups.
    """
    Y = jnp.asarray(Y)
    W = jnp.asarray(W, Y.dtype)
    mask = jnp.asarray(mask, Y.dtype)
    control = (1 - W) * mask
    w = unit_weights[:, None] * time_weights[None, :] * control
    res = twfe.solve(jnp.where(mask > 0, Y, 0.0), w, unit_fe, time_fe)
    cell_ok = res.unit_identified[:, None] & res.time_identified[None, :]
    return finish(
        Y,
        W,
        mask,
        res.fitted,
        res.mu,
        res.alpha,
        res.beta,
        unit_weights,
        time_weights,
        res.status,
        cell_ok & (res.n_components == 1) & identified,
        att_unit_weights,
        info,
    )


def finish(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    y0: jax.Array,
    mu: jax.Array,
    alpha: jax.Array,
    beta: jax.Array,
    unit_weights: jax.Array,
    time_weights: jax.Array,
    status: jax.Array,
    identified: jax.Array,
    att_unit_weights: jax.Array | None = None,
    info: Any = None,
) -> Fit:
    """Cell effects, ATT and final status from an imputed ``y0`` (shared by all estimators).

    ``identified`` is an (N, T) boolean (or a scalar) saying where ``y0`` is identified; a
    treated observed cell where it is not makes the status UNIDENTIFIED (unless the solver
    already reported a failure, which takes precedence). ``att_unit_weights`` (N,) weighs
    units in the ATT (bootstrap frequencies); by default every treated cell counts once.
    """
    treated = W * mask
    tau = jnp.where(treated > 0, Y - y0, 0.0)
    cw = treated if att_unit_weights is None else treated * att_unit_weights[:, None]
    n_tr = cw.sum()
    att = (tau * cw).sum() / n_tr
    ok = jnp.all(jnp.where(treated > 0, identified, True)) & (n_tr > 0)
    status = jnp.where(
        status != CONVERGED, status, jnp.where(ok, CONVERGED, UNIDENTIFIED)
    ).astype(jnp.int32)
    return Fit(att, tau, y0, mu, alpha, beta, unit_weights, time_weights, status, info)


def att_or_nan(fit: Fit) -> jax.Array:
    """The fit's ATT, NaN where its status is a failure (non-finite or unidentified):
    a bare ATT carries no status, and a number from a failed fit would be silent."""
    bad = (fit.status == NONFINITE) | (fit.status == UNIDENTIFIED)
    return jnp.where(bad, jnp.nan, fit.att)


def _require_panel(panel) -> None:
    from ..panel import Panel

    if not isinstance(panel, Panel):
        raise TypeError(
            f"expected a jaxpanel.Panel, got {type(panel).__name__}; build one with "
            "jaxpanel.Panel.from_long(df, unit=..., time=..., outcome=..., treatment=...)"
        )
