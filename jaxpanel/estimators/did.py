"""DID / TWFE in imputation form (uniform unit and time weights).

Fit ``Y_js = mu + alpha_j + beta_s`` by least squares on the untreated observed cells, impute
Y(0) on treated cells and average ``Y - Y(0)-hat`` over them (Borusyak, Jaravel and Spiess
2024). In a block design this is the classical difference in differences (R synthdid's
``did_estimate``); with staggered adoption it is the imputation estimator, free of the
negative-weight problem of the dummy regression. Treatment may switch off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..panel import Panel
from ..requirements import ESTIMATORS, require
from ..results import Estimate, make_estimate, with_variance
from ._core import Fit, _require_panel, att_or_nan, default_mask, impute


@jax.jit
def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
) -> Fit:
    """DID fit. ``Y``, ``W``, ``mask``: (N, T); ``mask`` defaults to all observed.

    ``freq`` (N,) are unit frequencies (bootstrap counts; 0 leaves a unit out): a unit drawn
    k times weighs k in the fit and in the ATT, exactly as k copies of it would. Pure and
    jitted; ``jax.vmap`` over any argument batches fits (placebo masks, bootstrap draws,
    simulated panels).
    """
    Y = jnp.asarray(Y)
    mask = default_mask(Y, mask)
    f = jnp.ones(Y.shape[0], Y.dtype) if freq is None else jnp.asarray(freq, Y.dtype)
    ones_t = jnp.ones(Y.shape[1], Y.dtype)
    mask = mask * (f > 0)[:, None]
    return impute(Y, W, mask, f, ones_t, att_unit_weights=f)


@jax.jit
def att(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
) -> jax.Array:
    """DID estimate of the ATT (a scalar): ``fit(Y, W, mask, freq).att``, NaN where the
    fit failed (status non-finite or unidentified; :func:`fit` has the status)."""
    return att_or_nan(fit(Y, W, mask, freq))


def estimate(
    panel: Panel, variance: str | None = None, reps: int | None = None, seed=0
) -> Estimate:
    """DID on a :class:`jaxpanel.Panel` (block, staggered or on/off treatment).

    ``variance`` (e.g. 'placebo', with ``reps`` and ``seed``) also runs a variance method
    (see :mod:`jaxpanel.inference`).

    Returns
    -------
    Estimate with the ATT, the per-period trajectory and the recipe.
    """
    _require_panel(panel)
    require(panel, "did", ESTIMATORS["did"])
    Y, W, mask = panel.arrays()
    est = make_estimate(panel, "did", fit(Y, W, mask))
    return with_variance(est, variance, reps, seed)
