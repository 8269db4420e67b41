"""Synthetic difference in differences (SDID).

Arkhangelsky, Athey, Hirshberg, Imbens and Wager (2021).

Unit weights omega with an intercept and a ridge ``zeta_omega = (N_tr T_post)^(1/4)``
times the noise level, time weights lambda with an intercept and ``zeta_lambda = 1e-6``
times the noise level, then the weighted two-way fit (Algorithm 1): R synthdid's
``synthdid_estimate`` with its defaults. Prop 99: -15.6038 (R -15.6038).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from .. import weights as wts
from .._make import with_variance
from .._options import check_choice
from ..fit import Fit
from ..kernels import combine, lowrank
from ..panel import Panel
from ..results import Estimate
from ._core import att_or_nan
from ._staggered import estimate_family
from ._synth import COVARIATE_FORMS, SDID, synth_fit


@partial(jax.jit, static_argnames=("solver", "covariates"))
def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
    omega_init: jax.Array | None = None,
    lambda_init: jax.Array | None = None,
    zeta_omega: jax.Array | None = None,
    zeta_lambda: jax.Array | None = None,
    min_decrease: jax.Array | None = None,
    solver: wts.Solver = "fw",
    X: jax.Array | None = None,
    covariates: str = "optimized",
) -> Fit:
    """SDID at the array level: pure, jitted, vmappable over its array arguments.

    Parameters
    ----------
    Y : (N, T) outcomes.
    W : (N, T) 0/1 block treatment (treated units: rows with any 1; treated periods:
        columns with any 1 among them).
    mask : (N, T) observed cells; whole units or periods may be absent, the rest must
        be balanced (else the status is 'unidentified'). Default all observed.
    freq : (N,) unit frequencies (bootstrap counts; 0 leaves a unit out). Default 1.
    omega_init, lambda_init : (N,), (T,) warm starts of Frank-Wolfe (R passes the
        estimate's weights in its bootstrap and placebo).
    zeta_omega, zeta_lambda, min_decrease : tuning constants in outcome units; None
        computes them from the data as R does (from the noise level).
    solver : static; 'fw' (R synthdid's Frank-Wolfe, its exact semantics) or 'exact'
        (the active-set minimiser of the weight problems).
    X : (K, N, T) time-varying covariates, or None; ``covariates`` (static) says how
        they enter: 'optimized' (R synthdid's joint fit) or 'projected' (see
        :class:`jaxpanel.estimators._synth.SynthOptions`); the coefficients are in
        ``info['beta']``.

    Returns
    -------
    Fit: ``unit_weights`` omega (0 off the controls), ``time_weights`` lambda (0 off
    the pre-periods), ``info`` the solvers' iterations, statuses, duality gaps and the
    tuning constants.

    References
    ----------
    Arkhangelsky et al. (2021), Algorithm 1 and Eq. (2.2)-(2.3); R synthdid's
    ``synthdid_estimate``.
    """
    return synth_fit(
        Y,
        W,
        mask,
        freq,
        omega_init,
        lambda_init,
        zeta_omega,
        zeta_lambda,
        min_decrease,
        X,
        options=SDID.replace(solver=solver, covariates=covariates),
    )


def att(*args, **kwargs) -> jax.Array:
    """SDID estimate of the ATT (a scalar), NaN where the fit failed.

    Parameters
    ----------
    *args, **kwargs : as :func:`fit`.

    Returns
    -------
    () ``fit(...).att``; NaN where its status is non-finite or unidentified
    (:func:`fit` has the status).
    """
    return att_or_nan(fit(*args, **kwargs))


def estimate(
    panel: Panel,
    solver: wts.Solver = "fw",
    covariates: str | None = "optimized",
    variance: str | None = None,
    reps: int | None = None,
    seed: int | jax.Array | None = None,
) -> Estimate:
    """SDID on a balanced :class:`jaxpanel.Panel`: a block design, or staggered adoption.

    Parameters
    ----------
    panel : the data.
    solver : 'fw' (R synthdid's Frank-Wolfe; reproduces R's numbers) or 'exact' (the
        exact minimisers of the weight problems).
    covariates : how the panel's covariates (``Panel.X``) enter, if it has any:
        'optimized' (default; R synthdid's joint fit of the weights and coefficients,
        Stata ``sdid``'s default), 'projected' (Kranz 2022: the outcome net of the
        covariates' two-way-fit coefficients on the untreated cells), or None (ignore
        them). Standardised internally: results do not depend on their units.
    variance : also run a variance method (:func:`jaxpanel.inference.variance`), e.g.
        'placebo', with ``reps`` replicates drawn from ``seed`` (default 0).

    Returns
    -------
    Estimate: ATT, unit weights omega over the controls, time weights lambda over the
    pre-periods (SC: none), the synthetic-control trajectory, solver diagnostics.
    Staggered adoption (Arkhangelsky et al. 2021, Sec. 8; Stata ``sdid``): one block
    fit per adoption cohort against the never-treated units, the cohort ATTs weighted
    by their treated cells; ``Estimate.cohorts`` lists them with their weights (the
    Estimate's own weights are then None).

    Raises
    ------
    ValueError
        The panel is not balanced with an absorbing treatment, never-treated units, at
        least 2 pre-periods before the first adoption and 2 first differences of
        control outcomes (the message names the requirement and the estimators that
        apply); covariates the unit and period effects absorb; an unknown ``solver``
        or ``covariates``.

    References
    ----------
    Arkhangelsky et al. (2021), Algorithm 1 and Eq. (2.2)-(2.3); R synthdid's
    ``synthdid_estimate``.
    """
    check_choice("solver", solver, wts.SOLVERS)
    check_choice("covariates", covariates, COVARIATE_FORMS)
    options = SDID.replace(solver=solver, covariates=covariates)
    recipe = {"solver": solver, "covariates": covariates}
    est = estimate_family(panel, "sdid", options, estimate, recipe)
    return with_variance(est, variance, reps, seed)


__all__ = [
    "att",
    "estimate",
    "fit",
]


@jax.jit
def fit_trop_authors(Y: jax.Array, W: jax.Array, mask: jax.Array | None = None) -> Fit:
    """SDID as the TROP authors computed it for their tables (``SDID_TWFE``); not R's.

    Used only to reproduce the TROP paper's simulation tables: R synthdid's SDID
    (:func:`fit`) is jaxpanel's SDID. Their form (``methods.py`` of the authors' notebooks)
    differs from R's in three ways:

    - unit weights: the exact simplex minimiser with an intercept of ``||y - X w - mu||^2
      + zeta^2 T_pre ||w||^2``, ``zeta^2 = sqrt(N_tr T_post)`` times the *population*
      variance of the controls' first differences over the pre-periods (R: the sample
      variance; and Frank-Wolfe with sparsification);
    - time weights: the exact simplex minimiser with an intercept, unregularised;
    - the two-way fit with one shared effect ``tau W`` over every cell, the cell weight
      ``(u_j v_s)^2`` (weights inside the square; ``u`` omega on controls and ``1/N_tr``
      on treated units, ``v`` lambda on pre-periods and ``1/T_post`` after); ATT = tau.

    Parameters
    ----------
    Y, W, mask : as :func:`fit` (a balanced block design).

    Returns
    -------
    Fit: ``att`` = tau (a weighted mean of the treated cells' ``tau``, not their plain
    mean); ``y0`` the two-way fit without ``tau W``; ``unit_weights``, ``time_weights``
    omega and lambda as in :func:`fit`; ``info`` the weight fits' diagnostics.

    References
    ----------
    The TROP authors' replication notebooks (xyang23/TROP-Estimator, ``methods.py``:
    ``SDID_weights``, ``SDID_TWFE``); Athey, Imbens, Qu and Viviano (2025), Table 1's SDID.
    """
    Y = jnp.asarray(Y)
    dtype = Y.dtype
    W = jnp.asarray(W, dtype)
    blk = wts.block_masks(W)
    treated, post = blk.treated, blk.post
    n_tr, t_post = treated.sum(), post.sum()
    # R's noise level is the sample sd of the controls' pre-period first differences;
    # the authors' ridge uses their population variance
    n_diff = blk.control.sum() * (blk.pre.sum() - 1)
    var = wts.noise_level(Y, blk) ** 2 * (n_diff - 1) / n_diff
    zeta = (n_tr * t_post) ** 0.25 * jnp.sqrt(var)
    f = fit(Y, W, mask, zeta_omega=zeta, zeta_lambda=0.0, solver="exact")
    u = f.unit_weights + treated / n_tr
    v = f.time_weights + post / t_post
    m = jnp.ones_like(Y) if mask is None else jnp.asarray(mask, dtype)
    w = (u[:, None] * v[None, :]) ** 2 * m
    res = lowrank.solve(jnp.where(m > 0, Y, 0.0), w, math.inf, X=(W * m)[None])
    att = res.coef[0]
    y0 = res.fitted - att * W
    tau = jnp.where(W * m > 0, Y - y0, 0.0)
    status = combine(f.status, res.status)
    return f._replace(att=att, tau=tau, y0=y0, status=status)
