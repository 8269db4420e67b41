"""The synthetic-control family (SC, DIFP, SDID, and DID as its uniform-weight member).

One engine, R synthdid's ``synthdid_estimate`` (Arkhangelsky et al. 2021, Algorithm 1):
fit time weights lambda and unit weights omega (jaxpanel.weights), then impute Y(0) by the
weighted two-way fit of METHODS.md section 1 with unit weights omega (controls) and time
weights lambda (pre-periods). In a block design this equals R's
``tau = omega_tilde' Y lambda_tilde`` exactly:

    Y0_it = mean_pre^lambda Y_i + omega'Y_co,t - omega'Y_co,pre lambda.

Options are static (a frozen dataclass), data and tuning constants are runtime arguments,
so one compiled function serves every placebo mask and bootstrap draw under ``jax.vmap``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp

from jaxpanel import weights as wts
from jaxpanel.kernels._loop import CONVERGED

from ._core import Fit, default_mask, impute

OmegaMode = Literal["fit", "uniform", "given"]
LambdaMode = Literal["fit", "uniform", "zero", "given"]


@dataclass(frozen=True)
class SynthOptions:
    """Static options of a synthetic-control-family estimator.

    Attributes
    ----------
    omega : 'fit' (simplex weights), 'uniform', or 'given' (``omega_init``, renormalised
        over the controls present: R's fixed-weight jackknife).
    lam : 'fit', 'uniform', 'zero' (SC: no pre-period weights) or 'given'.
    omega_intercept, lambda_intercept : centre the weight problems (an intercept).
    eta_omega : zeta_omega = eta_omega * noise level; None = (N_tr T_post)^(1/4) (SDID).
    eta_lambda : zeta_lambda = eta_lambda * noise level.
    unit_fe : False for SC (no unit effect: Y0 = omega'Y_co,t).
    solver : 'fw' (R's Frank-Wolfe, the default) or 'exact' (active-set QP).
    max_iter, max_iter_pre, sparsify : R's Frank-Wolfe schedule.
    min_decrease_factor : min_decrease = factor * noise level.
    """

    omega: OmegaMode = "fit"
    lam: LambdaMode = "fit"
    omega_intercept: bool = True
    lambda_intercept: bool = True
    eta_omega: float | None = None
    eta_lambda: float = 1e-6
    unit_fe: bool = True
    solver: wts.Solver = "fw"
    max_iter: int = 10_000
    max_iter_pre: int = 100
    sparsify: bool = True
    min_decrease_factor: float = 1e-5

    def replace(self, **changes) -> SynthOptions:
        return dataclasses.replace(self, **changes)


SDID = SynthOptions()
SC = SynthOptions(lam="zero", omega_intercept=False, eta_omega=1e-6, unit_fe=False)
DIFP = SynthOptions(lam="uniform", eta_omega=1e-6)
DID = SynthOptions(omega="uniform", lam="uniform")
OPTIONS = {"sdid": SDID, "sc": SC, "difp": DIFP}


def _worst(*codes: jax.Array) -> jax.Array:
    # Any failure wins over CONVERGED; among failures the first listed.
    out = jnp.asarray(CONVERGED, jnp.int32)
    for c in reversed(codes):
        out = jnp.where(c != CONVERGED, c, out)
    return out.astype(jnp.int32)


def synth_fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    freq: jax.Array | None = None,
    omega_init: jax.Array | None = None,
    lambda_init: jax.Array | None = None,
    zeta_omega: jax.Array | None = None,
    zeta_lambda: jax.Array | None = None,
    min_decrease: jax.Array | None = None,
    *,
    options: SynthOptions = SDID,
) -> Fit:
    """One synthetic-control-family fit on a block design (array level).

    Parameters
    ----------
    Y : (N, T) outcomes. W : (N, T) 0/1 block treatment (treated units = rows with any 1,
        treated periods = columns with any 1 among them).
    mask : (N, T) observed cells. Whole rows (units) or columns (periods) may be absent;
        the remaining cells must form a balanced panel (else the status is 'unidentified').
    freq : (N,) unit frequencies (bootstrap counts; 0 leaves a unit out). Default 1.
    omega_init : (N,) warm start for Frank-Wolfe, or the weights themselves when
        ``options.omega == 'given'``; lambda_init : (T,) likewise.
    zeta_omega, zeta_lambda, min_decrease : tuning constants; None computes them from the
        data as R does (noise level of the control pre-period first differences). Variance
        methods pass the original estimate's values, as R's ``opts``.
    options : static :class:`SynthOptions`.

    Returns
    -------
    Fit with ``unit_weights`` = omega (0 off the controls), ``time_weights`` = lambda (0 off
    the pre-periods) and ``info`` = solver iterations, statuses and tuning constants.
    """
    Y = jnp.asarray(Y)
    dtype = Y.dtype
    W = jnp.asarray(W, dtype)
    mask = default_mask(Y, mask)
    # Whole rows or columns of the mask may be absent (a unit or period left out of the
    # sample); the cells that remain must form a balanced panel.
    row_in = (mask.max(axis=1) > 0).astype(dtype)
    col_in = (mask.max(axis=0) > 0).astype(dtype)
    freq = row_in if freq is None else jnp.asarray(freq, dtype) * row_in
    balanced = jnp.all(mask == row_in[:, None] * col_in[None, :])
    d = wts.design(W, freq, col_in)
    if omega_init is not None:
        # R's warm start: sum_normalize(omega[drawn units]), duplicates included.
        omega_init = omega_init * d.freq
    sigma = wts.noise_level(Y, d)
    n_tr = (d.treated * d.freq).sum()
    t_post = d.post.sum()
    eta_omega = (
        (n_tr * t_post) ** 0.25 if options.eta_omega is None else options.eta_omega
    )
    zeta_omega = (
        eta_omega * sigma if zeta_omega is None else jnp.asarray(zeta_omega, dtype)
    )
    zeta_lambda = (
        options.eta_lambda * sigma
        if zeta_lambda is None
        else jnp.asarray(zeta_lambda, dtype)
    )
    min_decrease = (
        options.min_decrease_factor * sigma
        if min_decrease is None
        else jnp.asarray(min_decrease, dtype)
    )
    solve = {
        "min_decrease": min_decrease,
        "solver": options.solver,
        "max_iter": options.max_iter,
        "max_iter_pre": options.max_iter_pre,
        "sparsify": options.sparsify,
    }

    if options.lam == "fit":
        p = wts.lambda_problem(Y, d, zeta_lambda, options.lambda_intercept)
        lam = wts.solve(p, lambda_init, **solve)
    elif options.lam == "given":
        lam = wts.fixed(lambda_init, d.pre)
    elif options.lam == "uniform":
        lam = wts.fixed(jnp.ones_like(d.pre), d.pre)
    else:  # zero
        lam = wts.zero(d.pre)

    if options.omega == "fit":
        p = wts.omega_problem(Y, d, zeta_omega, options.omega_intercept)
        om = wts.solve(p, omega_init, **solve)
    elif options.omega == "given":
        om = wts.fixed(omega_init, d.control)
    else:
        om = wts.fixed(jnp.ones_like(d.control), d.control)

    omega, lam_w = om.weights, lam.weights
    # Cell weights of the shared two-way fit: omega on controls, the treated units' own
    # rows (any positive weight gives the same imputation), lambda on pre-periods, and any
    # positive weight on the treated periods.
    unit_w = omega + d.treated * d.freq
    time_w = lam_w + d.post
    present = (d.freq > 0).astype(dtype)
    info = {
        "noise_level": sigma,
        "zeta_omega": zeta_omega,
        "zeta_lambda": zeta_lambda,
        "min_decrease": min_decrease,
        "omega_steps_pre": om.steps_pre,
        "omega_steps": om.steps,
        "omega_status": om.status,
        "omega_capped": om.capped,
        "omega_gap": om.gap,
        "lambda_steps_pre": lam.steps_pre,
        "lambda_steps": lam.steps,
        "lambda_status": lam.status,
        "lambda_capped": lam.capped,
        "lambda_gap": lam.gap,
    }
    fit = impute(
        Y,
        W,
        mask * present[:, None],
        unit_w,
        time_w,
        unit_fe=options.unit_fe,
        att_unit_weights=d.freq,
        info=info,
        identified=balanced & (n_tr > 0) & (d.control.sum() > 0),
    )
    status = _worst(om.status, lam.status, fit.status)
    return fit._replace(unit_weights=omega, time_weights=lam_w, status=status)


synth_fit_jit = jax.jit(synth_fit, static_argnames=("options",))


def counterfactual_trajectory(Y: jax.Array, fit: Fit, W: jax.Array):
    """Treated mean and synthetic-control trajectory per period (R's synthdid_plot lines).

    ``synthetic_t = omega'Y_co,t + (mean_pre^lambda Y_tr - omega'Y_co,pre lambda)``: the
    omega-weighted controls shifted by the lambda-weighted pre-period gap (no shift for SC,
    whose lambda is zero). Returns the synthetic trajectory (T,).
    """
    import numpy as np

    Y = np.asarray(Y)
    W = np.asarray(W)
    treated_units = W.max(axis=1) > 0
    tr = Y[treated_units].mean(axis=0)
    omega = np.asarray(fit.unit_weights)
    lam = np.asarray(fit.time_weights)
    sc = omega @ Y
    shift = (tr - sc) @ lam if lam.sum() > 0 else 0.0
    return sc + shift


def estimate_synth(panel, method: str, options: SynthOptions, recipe: dict):
    """User level: refuse designs the family cannot fit, fit, wrap into an Estimate."""
    import numpy as np

    from ..requirements import SYNTH, require
    from ..results import make_estimate
    from ._core import _require_panel

    _require_panel(panel)
    require(panel, method, SYNTH)
    Y, W, mask = panel.arrays()
    fit = synth_fit_jit(Y, W, mask, options=options)
    info = {k: np.asarray(v).item() for k, v in fit.info.items()}
    synthetic = counterfactual_trajectory(Y, fit, W)
    est = make_estimate(
        panel,
        method,
        fit,
        options=recipe,
        unit_weights=np.asarray(fit.unit_weights),
        time_weights=np.asarray(fit.time_weights),
        info=info,
        counterfactual=synthetic,
    )
    controls = ~panel.ever_treated
    pre = np.arange(panel.T) < panel.n_pre
    return est.replace(
        unit_weights=est.unit_weights[controls],
        time_weights=est.time_weights[pre] if options.lam != "zero" else None,
    )


def member(method: str, options: SynthOptions, doc: str):
    """Array-level ``fit`` and user-level ``estimate`` of one family member.

    ``fit(Y, W, mask=None, freq=None, omega_init=None, lambda_init=None, zeta_omega=None,
    zeta_lambda=None, min_decrease=None, solver='fw')`` is jitted (``solver`` static) and
    vmappable over its array arguments; ``estimate(panel, solver='fw')`` returns an
    Estimate.
    """
    from .._options import check_choice

    def fit(
        Y,
        W,
        mask=None,
        freq=None,
        omega_init=None,
        lambda_init=None,
        zeta_omega=None,
        zeta_lambda=None,
        min_decrease=None,
        solver: wts.Solver = "fw",
    ) -> Fit:
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
            options=options.replace(solver=solver),
        )

    def estimate(panel, solver: wts.Solver = "fw", variance=None, reps=None, seed=0):
        from ..results import with_variance

        check_choice("solver", solver, wts.SOLVERS)
        est = estimate_synth(
            panel, method, options.replace(solver=solver), {"solver": solver}
        )
        return with_variance(est, variance, reps, seed)

    fit.__doc__ = (
        f"{method.upper()} at the array level. {doc}\n\n"
        "Arguments as :func:`jaxpanel.estimators._synth.synth_fit`; ``solver`` is 'fw' "
        "(R synthdid's Frank-Wolfe) or 'exact' (active-set QP)."
    )
    estimate.__doc__ = (
        f"{method.upper()} on a balanced block-design :class:`jaxpanel.Panel`. {doc}\n\n"
        "solver : 'fw' (R synthdid's Frank-Wolfe; reproduces R's numbers) or 'exact' "
        "(the exact minimisers of the weight problems).\n"
        "variance, reps, seed : also run a variance method (jaxpanel.inference), e.g. "
        "variance='placebo', reps=1000, seed=0."
    )
    fit.__name__ = estimate.__name__ = method
    return jax.jit(fit, static_argnames=("solver",)), estimate
