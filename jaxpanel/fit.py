"""The contract between estimators and everything above them.

- :class:`Fit`: the array-level result of every estimator (one type for all six).
- :class:`Replicator`: what a variance method needs to refit an estimator on a placebo
  mask, a bootstrap draw or a left-out unit. Each estimator builds its own (it alone
  knows its internals) and the :class:`~jaxpanel.results.Estimate` carries it, as R
  synthdid's estimate carries its ``opts`` for ``vcov``; inference names no estimator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpanel.kernels import failed


class Fit(NamedTuple):
    """Array-level result of one fit of any estimator (a pytree).

    ``jax.vmap`` adds a leading axis to every array.

    Attributes
    ----------
    att : () average effect over treated observed cells.
    tau : (N, T) cell effects ``Y - Y(0)-hat`` on treated observed cells, 0 elsewhere.
    y0 : (N, T) fitted or imputed untreated outcomes (per-cell TROP: ``Y - tau`` on
        treated cells, the observed ``Y`` elsewhere, as it has no single fitted surface).
    status : () int32 status code (``jaxpanel.kernels.status_name``).
    unit_weights : (N,) unit weights of the fit (omega in the SC family), or None.
    time_weights : (T,) time weights (lambda in the SC family), or None.
    mu, alpha, beta : () (N,) (T,) the fitted two-way model, or None where there is no
        single one (per-cell TROP) or none was fitted (the SC family's fixed-weight
        replicates, ``SynthOptions.formula_imputation``).
    L : (N, T) low-rank term (MC, global TROP), or None.
    info : dict of estimator-specific diagnostics (arrays): solver iterations and
        statuses, tuning constants, the rank of ``L``, per-cell results. Its entries are
        also attributes: ``fit.rank`` is ``fit.info["rank"]``.
    """

    att: jax.Array
    tau: jax.Array
    y0: jax.Array
    status: jax.Array
    unit_weights: jax.Array | None = None
    time_weights: jax.Array | None = None
    mu: jax.Array | None = None
    alpha: jax.Array | None = None
    beta: jax.Array | None = None
    L: jax.Array | None = None
    info: Mapping[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        """A diagnostic from ``info`` by attribute (``fit.rank``)."""
        info = self.info or {}
        if name in info:
            return info[name]
        raise AttributeError(f"Fit has no field or diagnostic {name!r}")


@dataclass(frozen=True)
class Replicator:
    """How variance methods refit an estimator: data plus pure functions of it.

    Every function takes ``data`` (a dict of arrays: the outcomes ``Y``, treatment ``W``,
    observed ``mask``, fitted weights and tuning constants) as its first argument;
    ``refit``, ``refit_cold`` and ``fixed`` return ``{"att": (), "event": (2T - 1,)}``,
    the replicate's ATT and its effects by event time
    (:func:`event_effects`), NaN where its fit failed. The functions have stable
    identities (one per estimator configuration), so a batch of replicates compiles once
    however many estimates it serves.

    Attributes
    ----------
    data : dict of arrays shared by all replicates.
    refit : ``(data, W, freq, mask) -> outputs``, the estimator re-run on treatment ``W``
        (N, T), unit frequencies ``freq`` (N,) (bootstrap counts; 0 drops a unit) and
        observed cells ``mask``, warm-started from the estimate where it has a solver.
    refit_cold : as ``refit`` without the warm start (R's ``synthdid_placebo``).
    fixed : ``(data, freq) -> outputs`` with the estimate's weights (or penalties) held
        fixed: the jackknife; None if the estimator has none to hold.
    linear : ``(data, Y) -> att`` with everything but the outcomes held fixed, linear in
        ``Y`` (its gradient is the regression-based variance's coefficients); None where
        the estimator is not linear in Y.
    residuals : ``(data, y0, rows) -> (T,)`` the estimator's own counterfactual model fit
        on the sample periods ``rows`` with the treated mean's outcomes ``y0`` imposed
        (conformal inference); None where not available.
    refuses : variance method -> reason the estimator refuses it by default (e.g. the
        jackknife for SC), overridable by the method's ``allow`` option.
    resize : ``k -> Replicator`` sized for replicates with at most ``k`` treated cells,
        for estimators whose cost grows with them (per-cell TROP: the single-cell
        placebo asks for 1); None where the size does not matter.
    prepare : ``data -> dict`` of arrays that ``refit`` may share across replicates on
        the estimate's own periods (the unit placebo, the bootstrap, the refitted
        jackknife), built once per batch (the SC family's unit-weight Gram matrix);
        None where there is nothing to share. ``refit`` gives the same numbers without
        them (to rounding), building its own per replicate.
    """

    data: Mapping[str, Any]
    refit: Callable
    refit_cold: Callable
    fixed: Callable | None = None
    linear: Callable | None = None
    residuals: Callable | None = None
    refuses: Mapping[str, str] = field(default_factory=dict)
    resize: Callable[[int], Replicator] | None = None
    prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None

    def for_cells(self, k: int) -> Replicator:
        """The replicator sized for replicates with at most ``k`` treated cells."""
        return self if self.resize is None else self.resize(k)

    def refit_data(self) -> Mapping[str, Any]:
        """``data`` with what ``prepare`` shares added.

        The first argument of ``refit`` for replicates on the estimate's own periods
        (works under ``jax.jit``).
        """
        if self.prepare is None:
            return self.data
        return {**self.data, **self.prepare(self.data)}


def first_treated(W: jax.Array) -> jax.Array:
    """(N,) int32 first treated column per unit; T for never-treated units."""
    T = W.shape[1]
    on = jnp.asarray(W) > 0
    return jnp.where(on.any(axis=1), jnp.argmax(on, axis=1), T).astype(jnp.int32)


def event_effects(
    fit: Fit,
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    freq: jax.Array | None = None,
    leads: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Effects by event time (period minus the unit's first treated period), (2T - 1,).

    Entry ``k`` is event time ``e = k - (T - 1)``: the mean of ``Y - y0`` over the
    treated units' observed cells ``e`` periods after (``e >= 0``: treated cells, the
    cell effects ``tau``) or before (``e < 0``: the fit's in-sample gap on the
    pre-periods, the placebo leads of Stata ``sdid_event``) their first treated period,
    units weighted by ``freq``. NaN where no unit has such a cell or the fit failed.

    Parameters
    ----------
    fit : the estimator's Fit (its ``y0`` is its untreated outcome on every cell).
    Y, W, mask : (N, T) outcomes, treatment and observed cells of the fit.
    freq : (N,) unit frequencies; default 1.
    leads : static; False for estimators with no fitted surface off the treated cells
        (per-cell TROP): its leads are NaN.

    Returns
    -------
    ``(effects (2T - 1,), units (2T - 1,))``: the effects and the (frequency-weighted)
    number of treated units observed at each event time. In a block design, event time
    ``e`` is period ``T_pre + e``. The replicates of variance methods and the
    user-level ``Estimate.event_study`` both use this function.
    """
    Y = jnp.asarray(Y)
    means, units = event_means(Y - fit.y0, W, mask, freq, leads)
    return jnp.where(failed(fit.status), jnp.nan, means), units


def event_means(
    values: jax.Array,
    W: jax.Array,
    mask: jax.Array,
    freq: jax.Array | None = None,
    leads: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Means of cell ``values`` by event time over the treated units, (2T - 1,).

    The aggregation of :func:`event_effects` (``values = Y - y0``); a simulation's true
    effects by event time are the same means of its cell effects.

    Parameters
    ----------
    values : (N, T) cell values. W, mask : (N, T) treatment and observed cells.
    freq : (N,) unit frequencies; default 1. leads : static; False leaves ``e < 0`` NaN.

    Returns
    -------
    ``(means (2T - 1,), units (2T - 1,))``, entry ``k`` event time ``k - (T - 1)``; NaN
    where no treated unit is observed at that event time.
    """
    values = jnp.asarray(values)
    dtype = values.dtype
    N, T = values.shape
    W = jnp.asarray(W, dtype)
    mask = jnp.asarray(mask, dtype)
    freq = jnp.ones(N, dtype) if freq is None else jnp.asarray(freq, dtype)
    adopt = first_treated(W)
    ever = (adopt < T).astype(dtype)
    e = jnp.arange(T, dtype=jnp.int32)[None, :] - adopt[:, None]
    pre = (e < 0).astype(dtype) * (1 - W) * (1.0 if leads else 0.0)
    wgt = freq[:, None] * ever[:, None] * mask * (W + pre)
    gap = jnp.where(wgt > 0, values, 0.0)
    k = jnp.clip(e + (T - 1), 0, 2 * T - 2).ravel()
    num = jnp.zeros(2 * T - 1, dtype).at[k].add((wgt * gap).ravel())
    den = jnp.zeros(2 * T - 1, dtype).at[k].add(wgt.ravel())
    out = num / jnp.where(den > 0, den, 1.0)
    return jnp.where(den > 0, out, jnp.nan), den


__all__ = [
    "Fit",
    "Replicator",
    "event_effects",
    "event_means",
    "first_treated",
]
