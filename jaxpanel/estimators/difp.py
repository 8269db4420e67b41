"""DIFP: synthetic control with an intercept, as in R synthdid.

Doudchenko and Imbens (2016).

Unit weights omega with an intercept and a ridge ``zeta_omega = 1e-6`` times the noise
level, uniform time weights over the pre-periods: ``synthdid_estimate(weights =
list(lambda = rep(1 / T0, T0)), eta.omega = 1e-6)``. Prop 99: -11.1046.
"""

from __future__ import annotations

from functools import partial

import jax

from .. import weights as wts
from .._make import with_variance
from .._options import check_choice
from ..fit import Fit
from ..panel import Panel
from ..results import Estimate
from ._core import att_or_nan
from ._staggered import estimate_family
from ._synth import COVARIATE_FORMS, DIFP, synth_fit


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
    """DIFP at the array level: pure, jitted, vmappable over its array arguments.

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
    Doudchenko and Imbens (2016); Arkhangelsky et al. (2021), Table 1 (DIFP).
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
        options=DIFP.replace(solver=solver, covariates=covariates),
    )


def att(*args, **kwargs) -> jax.Array:
    """DIFP estimate of the ATT (a scalar), NaN where the fit failed.

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
    """DIFP on a balanced :class:`jaxpanel.Panel`: a block design, or staggered adoption.

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
    Doudchenko and Imbens (2016); Arkhangelsky et al. (2021), Table 1 (DIFP).
    """
    check_choice("solver", solver, wts.SOLVERS)
    check_choice("covariates", covariates, COVARIATE_FORMS)
    options = DIFP.replace(solver=solver, covariates=covariates)
    recipe = {"solver": solver, "covariates": covariates}
    est = estimate_family(panel, "difp", options, estimate, recipe)
    return with_variance(est, variance, reps, seed)


__all__ = [
    "att",
    "estimate",
    "fit",
]
