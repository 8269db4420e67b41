"""Staggered adoption for the synthetic-control family: one block fit per adoption cohort.

The SDID paper (Arkhangelsky et al. 2021, Sec. 8 and Appendix), Clarke, Pailañir, Athey
and Imbens (2023, Stata ``sdid``, Sec. 2.3) and R synthdid's authors extend SC, DIFP and
SDID to treated units adopting at different periods the same way:

- a cohort is the set of treated units whose first treated period is ``a``;
- each cohort is fitted as a block design against the never-treated units alone (other
  cohorts' units are left out), over every period: pre-periods ``t < a``, post-periods
  ``t >= a``; its tuning constants (noise level, ridge) come from that sample;
- the cohort ATTs are averaged with weights proportional to their treated cells
  ``N_tr,c * T_post,c``, which makes the aggregate the mean effect over all treated cells.

All cohorts are one batch (``jax.vmap`` over the cohorts' first treated periods), and the
whole procedure is a pure function of arrays, so variance replicates (bootstrap draws,
placebo assignments, left-out units) refit it as one batch too.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxpanel.kernels import UNIDENTIFIED, combine_all

from .._make import make_estimate
from ..fit import Fit, Replicator, first_treated
from ..requirements import SYNTH, require
from ..results import Estimate
from ._core import (
    check_covariates,
    default_mask,
    outputs,
    project,
    require_panel,
    standardise,
)
from ._synth import OPTIONS, SDID, SynthOptions, estimate_synth, synth_fit


def adoption_periods(W: Any) -> np.ndarray:
    """The cohorts' first treated periods (column indices), sorted, as int32 (C,).

    Parameters
    ----------
    W : (N, T) 0/1 absorbing treatment (NumPy or a concrete JAX array).

    Returns
    -------
    (C,) int32: the distinct first treated columns of the ever-treated units.
    """
    W = np.asarray(W) > 0
    ever = W.any(axis=1)
    return np.unique(np.argmax(W[ever], axis=1)).astype(np.int32)


def staggered_fit(
    Y: jax.Array,
    W: jax.Array,
    adoptions: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
    omega_init: jax.Array | None = None,
    lambda_init: jax.Array | None = None,
    X: jax.Array | None = None,
    *,
    options: SynthOptions = SDID,
) -> Fit:
    """A synthetic-control-family estimator on a staggered design (array level).

    Parameters
    ----------
    Y : (N, T) outcomes.
    W : (N, T) 0/1 absorbing treatment: treated units adopt at their first treated
        period and stay treated; never-treated units are the controls.
    adoptions : (C,) int, the cohorts' first treated columns (:func:`adoption_periods`);
        static in size, so replicates with fewer cohorts (a bootstrap draw without some
        cohort) leave those lanes empty. A cohort with no unit contributes nothing.
    mask : (N, T) observed cells (whole units or periods may be absent). Default all.
    freq : (N,) unit frequencies (bootstrap counts; 0 leaves a unit out). Default 1.
    omega_init : (C, N) warm starts of each cohort's unit weights (or the weights, for
        ``options.omega_mode == 'given'``); lambda_init : (C, T) likewise.
    X : (K, N, T) covariates, or None. As Stata ``sdid``: standardised once over the
        whole panel; 'optimized' (``options.covariates``) fits each cohort's
        coefficients with its weights, 'projected' removes ``X beta`` fitted once on the
        untreated cells of every unit before the cohorts are fitted. ``info['beta']``
        is (C, K) or (K,) accordingly.
    options : static :class:`SynthOptions` of the family member (SC, DIFP, SDID, DID).

    Returns
    -------
    Fit: ``att`` the treated-cell-weighted mean of the cohort ATTs (the mean of ``tau``
    over all treated cells, frequency weighted); ``tau`` and ``y0`` each treated unit's
    cells from its own cohort's fit (``y0 = Y`` on never-treated units); ``unit_weights``
    and ``time_weights`` None (they are per cohort); ``info`` per cohort (leading axis
    C): ``cohort_adoption``, ``cohort_att``, ``cohort_weight`` (its share of treated
    cells; 0 for an empty lane), ``cohort_n_treated``, ``omega`` (C, N), ``lambda``
    (C, T),
    ``noise_level``, ``zeta_omega``, ``zeta_lambda``, and the solvers' statuses.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 8; Clarke, Pailañir, Athey and Imbens (2023), Sec.
    2.3, Stata ``sdid`` (the per-adoption loop of its ``synthdid`` Mata function).
    """
    Y = jnp.asarray(Y)
    dtype = Y.dtype
    W = jnp.asarray(W, dtype)
    T = Y.shape[1]
    mask = default_mask(Y, mask)
    row_in = (mask.max(axis=1) > 0).astype(dtype)
    freq = row_in if freq is None else jnp.asarray(freq, dtype) * row_in
    adoptions = jnp.asarray(adoptions, jnp.int32)
    adopt = first_treated(W)
    never = adopt == T
    cols = jnp.arange(T, dtype=jnp.int32)
    xb = jnp.zeros_like(Y)
    beta = sd = None
    if X is not None:
        X, _mean, sd = standardise(jnp.asarray(X, dtype), mask)
        if options.covariates == "projected":
            beta, xb = project(Y, W, mask, freq, X)
            X = None
    Yfit = Y - xb

    def one(a, om0, lam0):
        in_c = ((adopt == a) & (freq > 0)).astype(dtype)
        rows = jnp.maximum(in_c, never.astype(dtype))
        Wc = in_c[:, None] * (cols >= a)[None, :].astype(dtype)
        f = synth_fit(
            Yfit,
            Wc,
            mask * rows[:, None],
            freq,
            om0,
            lam0,
            X=X,
            options=options,
            x_scale=sd,
        )
        n_tr = (freq * in_c).sum()
        w = n_tr * (Wc * mask).max(axis=0).sum()
        return f, in_c, n_tr, w

    axes = (0, None if omega_init is None else 0, None if lambda_init is None else 0)
    fits, in_c, n_tr, w = jax.vmap(one, in_axes=axes)(
        adoptions, omega_init, lambda_init
    )
    live = w > 0
    share = w / jnp.where(live.any(), w.sum(), 1.0)
    att_c = jnp.where(live, fits.att, jnp.nan)
    att = jnp.where(live, fits.att, 0.0) @ share
    member = in_c  # (C, N)
    tau = jnp.einsum("cn,cnt->nt", member, jnp.where(live[:, None, None], fits.tau, 0))
    y0_tr = jnp.einsum("cn,cnt->nt", member, jnp.where(live[:, None, None], fits.y0, 0))
    treated_row = member.sum(axis=0) > 0
    y0 = jnp.where(treated_row[:, None], y0_tr + xb, Y)
    status = combine_all(fits.status, where=live)
    status = jnp.where(live.any(), status, jnp.int32(UNIDENTIFIED))
    info = {
        "cohort_adoption": adoptions,
        "cohort_att": att_c,
        "cohort_weight": share,
        "cohort_n_treated": n_tr,
        "cohort_status": fits.status,
        "omega": fits.unit_weights,
        "lambda": fits.time_weights,
        **{
            k: fits.info[k]
            for k in ("noise_level", "zeta_omega", "zeta_lambda", "min_decrease")
        },
    }
    if beta is not None:
        info["beta"] = beta / sd
    elif X is not None:
        info["beta"] = fits.info["beta"]
    return Fit(att=att, tau=tau, y0=y0, status=status, info=info)


staggered_fit_jit = jax.jit(staggered_fit, static_argnames=("options",))


@functools.partial(jax.jit, static_argnames=("method", "solver", "covariates"))
def fit(
    Y: jax.Array,
    W: jax.Array,
    adoptions: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
    X: jax.Array | None = None,
    method: str = "sdid",
    solver: str = "fw",
    covariates: str = "optimized",
) -> Fit:
    """SC, DIFP or SDID on a staggered design at the array level (public entry).

    Pure, jitted and vmappable over its array arguments; :func:`staggered_fit` with the
    member's options. ``jaxpanel.estimators.staggered.fit(Y, W, adoption_periods(W))``.

    Parameters
    ----------
    Y, W, adoptions, mask, freq, X : as :func:`staggered_fit`.
    method : static; 'sdid', 'sc' or 'difp'. solver : static; 'fw' or 'exact'.
    covariates : static; 'optimized' or 'projected' (with ``X``).

    Returns
    -------
    Fit (see :func:`staggered_fit`).
    """
    options = OPTIONS[method].replace(solver=solver, covariates=covariates)
    return staggered_fit(Y, W, adoptions, mask, freq, X=X, options=options)


# ---------------------------------------------------------------- replicates
@functools.cache
def _replicate_fns(opts: SynthOptions):
    """The staggered procedure's refits (one set per options: stable identities).

    As Stata ``sdid`` does for staggered designs, the bootstrap and placebo refits start
    from the estimate's weights of each cohort and recompute each cohort's tuning
    constants on the replicate's sample; the jackknife holds each cohort's omega
    (renormalised over the controls left) and lambda fixed.
    """
    fixed_opts = opts.fixed().replace(formula_imputation=True)

    def refit(data, W, freq, mask):
        f = staggered_fit(
            data["Y"], W, data["adoptions"], mask, freq, data["omega"],
            data["lambda"], data.get("X"), options=opts,
        )  # fmt: skip
        return {**outputs(f, data["Y"], W, mask, freq), "cohort": f.info["cohort_att"]}

    def refit_cold(data, W, freq, mask):
        f = staggered_fit(
            data["Y"], W, data["adoptions"], mask, freq, X=data.get("X"), options=opts
        )
        return {**outputs(f, data["Y"], W, mask, freq), "cohort": f.info["cohort_att"]}

    def fixed(data, freq):
        f = staggered_fit(
            data["Y"], data["W"], data["adoptions"], data["mask"], freq,
            data["omega"], data["lambda"], data.get("X"), options=fixed_opts,
        )  # fmt: skip
        return {
            **outputs(f, data["Y"], data["W"], data["mask"], freq),
            "cohort": f.info["cohort_att"],
        }

    return refit, refit_cold, fixed


def replicator(
    Y, W, mask, fit: Fit, opts: SynthOptions, method: str, X=None
) -> Replicator:
    """The staggered procedure's refits for variance methods.

    The bootstrap, placebo and jackknife; the regression-based variance and conformal
    inference are not defined for it (no ``linear`` or ``residuals``).
    """
    dtype = Y.dtype
    data = {
        "Y": Y,
        "W": W,
        "mask": mask,
        "adoptions": jnp.asarray(fit.info["cohort_adoption"], jnp.int32),
        "omega": jnp.asarray(fit.info["omega"], dtype),
        "lambda": jnp.asarray(fit.info["lambda"], dtype),
    }
    if X is not None:
        data["X"] = X
    refuses = {}
    if method == "sc":
        refuses["jackknife"] = (
            "the jackknife is not recommended for SC (Arkhangelsky et al. 2021, Sec. 5: "
            "its weights are not stable enough for the fixed-weight jackknife)"
        )
    return Replicator(data, *_replicate_fns(opts), refuses=refuses)


def estimate_family(
    panel, method: str, options: SynthOptions, entry, recipe: dict
) -> Estimate:
    """User level of SC, DIFP and SDID: a block fit, or one per adoption cohort.

    A block design is R synthdid's estimator (:func:`estimate_synth`); a staggered one
    is fitted cohort by cohort against the never-treated units (:func:`staggered_fit`)
    and the Estimate's ``cohorts`` frame lists the cohorts.

    Raises ``ValueError`` (before any numerics) when the panel does not meet the family's
    requirements (``jaxpanel.requirements.SYNTH``: balanced, absorbing, never-treated
    units, 2 pre-periods before the earliest adoption), naming the estimators that apply.
    """
    require_panel(panel)
    if panel.design != "staggered":
        return estimate_synth(panel, method, options, entry, recipe)
    require(panel, method, SYNTH)
    Y, W, mask = panel.arrays()
    X = panel.covariate_arrays(Y.dtype) if options.covariates else None
    if X is not None:
        check_covariates(panel, method)
    adoptions = adoption_periods(panel.W & panel.mask)
    fit = staggered_fit_jit(Y, W, adoptions, mask, X=X, options=options)
    info = {
        k: np.asarray(fit.info[k]).tolist()
        for k in ("noise_level", "zeta_omega", "zeta_lambda", "beta")
        if k in fit.info
    }
    est = make_estimate(
        panel,
        method,
        fit,
        entry=entry,
        options=recipe,
        replicator=replicator(Y, W, mask, fit, options, method, X),
        requirements=SYNTH,
        info=info,
    )
    return est.replace(cohorts=cohort_frame(panel, est.fit, options))


def cohort_frame(panel, fit: Fit, options: SynthOptions) -> pd.DataFrame:
    """Per adoption cohort: its size, post-periods, weight in the ATT, ATT, weights.

    Columns ``n_treated``, ``n_post`` (T_post of the cohort), ``weight`` (its share of
    treated cells), ``att``, ``omega`` (Series over the never-treated units) and
    ``lambda`` (Series over the cohort's pre-periods; None for SC); indexed by the
    cohort's first treated period.
    """
    info = fit.info
    adoptions = np.asarray(info["cohort_adoption"])
    controls = ~panel.ever_treated
    rows = []
    for c, a in enumerate(adoptions):
        lam = None
        if options.lambda_mode != "zero":
            lam = pd.Series(
                np.asarray(info["lambda"][c])[:a], index=panel.times[:a], name="lambda"
            )
        rows.append(
            {
                "n_treated": round(float(info["cohort_n_treated"][c])),
                "n_post": int(panel.T - a),
                "weight": float(info["cohort_weight"][c]),
                "att": float(info["cohort_att"][c]),
                "omega": pd.Series(
                    np.asarray(info["omega"][c])[controls],
                    index=panel.units[controls],
                    name="omega",
                ),
                "lambda": lam,
            }
        )
    index = pd.Index(panel.times[adoptions], name="adoption")
    return pd.DataFrame(rows, index=index)
