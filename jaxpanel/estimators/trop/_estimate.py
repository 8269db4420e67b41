"""TROP at the user level: checks, tuning, the fit, its trajectory and its refits."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import failed

from ..._make import check_variance_args, make_estimate, with_variance
from ...fit import Replicator
from ...panel import Panel
from ...requirements import Requirements, require
from ...results import Estimate
from .._core import (
    check_covariates,
    outputs,
    refuse_covariates,
    require_panel,
    resample_rows,
)
from ._criteria import loocv_table
from ._fitting import (
    VARIANTS,
    TROPOptions,
    Variant,
    _fit,
    count_cells,
    fit,
    one_fit,
)
from ._tuning import (
    CV,
    CVS,
    LOOCV_CELLS,
    SEARCHES,
    Search,
    check_lambda,
    check_loocv_cells,
    tune,
)


def requirements(variant: Variant = "paper", cv: CV | None = None) -> Requirements:
    """Design requirements.

    The paper version takes any design whose treated cells are identified; the global
    variant a block design with never-treated units (its unit distances are to their
    average treated trajectory); the placebo criterion at least two never-treated units
    (one is declared treated, the others are its controls).

    Parameters
    ----------
    variant : 'paper', 'global' or 'simulation' (as 'global').
    cv : 'loocv' or 'placebo' (None: the variant's).

    Returns
    -------
    Requirements.
    """
    variant = "global" if variant == "simulation" else variant
    cv = ("loocv" if variant == "paper" else "placebo") if cv is None else cv
    controls = 2 if cv == "placebo" else (1 if variant == "global" else 0)
    if variant == "global":
        return Requirements(
            absorbing=True, block=True, min_controls=controls, min_pre=1
        )
    return Requirements(min_controls=controls)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )


@functools.cache
def _replicate_fns(options: TROPOptions, variant: str, n_cells: int):
    """TROP refits with the lambdas held at the chosen values (the paper's bootstrap).

    The global variant (one fit) refits on the resampled rows themselves, which is
    exactly the bootstrap on duplicated units; the per-cell version multiplies each
    unit's weights by its count (and each treated cell's weight in the ATT), which
    equals the duplicated-rows fit except that the nuclear norm sees
    ``diag(sqrt(count)) L`` rather than ``L``. "Fixed" means the lambdas fixed, the
    weights recomputed (TROP's weights are functions of the data, not optimised).
    """

    def lams(data):
        return data["lambda_unit"], data["lambda_time"], data["lambda_nn"]

    if variant in ("global", "simulation"):
        one = one_fit(variant)

        def refit(data, W, freq, mask):  # no covariates in these variants
            idx, valid = resample_rows(freq)
            Y, W, mask = data["Y"][idx], W[idx], mask[idx] * valid[:, None]
            return outputs(one(Y, W, mask, *lams(data), options), Y, W, mask)

    else:

        def refit(data, W, freq, mask):
            f = _fit(
                data["Y"], W, mask, *lams(data), n_cells, options, freq, data.get("X")
            )
            # per-cell fits have no fitted surface off the treated cells: no leads
            return outputs(f, data["Y"], W, mask, freq, leads=False)

    def fixed(data, freq):
        return refit(data, data["W"], freq, data["mask"])

    return refit, refit, fixed


def replicator(Y, W, mask, lambdas, options, variant, n_cells, X=None) -> Replicator:
    """TROP's refits for variance methods at the chosen ``lambdas``.

    ``n_cells`` is the most treated cells a replicate has (per-cell TROP sizes its batch of cell fits
    by it; variance methods with fewer treated cells rebuild with their own).

    Parameters
    ----------
    Y, W, mask : (N, T) the estimate's arrays.
    lambdas : the chosen (lambda_unit, lambda_time, lambda_nn).
    options : TROPOptions. variant : 'paper' or 'global'. n_cells : see above.
    X : (K, N, T) covariates (paper version), or None.

    Returns
    -------
    Replicator (with ``resize`` for the per-cell version).
    """
    names = ("lambda_unit", "lambda_time", "lambda_nn")
    data = {"Y": Y, "W": W, "mask": mask}
    data.update({k: jnp.asarray(v, Y.dtype) for k, v in zip(names, lambdas)})
    if X is not None:
        data["X"] = X
    resize = None
    if variant == "paper":
        resize = functools.partial(
            lambda k, X: replicator(Y, W, mask, lambdas, options, variant, k, X),
            X=X,
        )
    fns = _replicate_fns(options, variant, int(n_cells))
    return Replicator(data, *fns, resize=resize)


def estimate(
    panel: Panel,
    lambda_unit: float | None = None,
    lambda_time: float | None = None,
    lambda_nn: float | None = None,
    *,
    variant: Variant = "paper",
    cv: CV | None = None,
    search: Search = "cycle",
    grid: dict | None = None,
    n_trials: int = 200,
    placebo_units: int = 1,
    placebo_method: str = "resample",
    K: int | None = None,
    cv_seed: int = 0,
    loocv_cells: int | None = LOOCV_CELLS,
    squared_weights: bool = False,
    tol: float | None = None,
    tune_tol: float = 1e-6,
    max_steps: int = 10_000,
    memory_bytes: int | None = None,
    covariates: bool = True,
    variance: str | None = None,
    reps: int | None = None,
    seed: int | jax.Array | None = None,
) -> Estimate:
    """TROP on a :class:`jaxpanel.Panel`, tuning the lambdas it is not given.

    Parameters
    ----------
    panel : the data (any design for the paper version; a block design for "global").
    lambda_unit, lambda_time, lambda_nn : fixed values; each one left None is tuned (all
        three given: no tuning). Scales in the module docstring.
    variant : "paper" (one fit per treated cell), "global" (the ``trop`` package) or
        "simulation" (the authors' simulation notebooks: treated cells in the loss with
        one shared effect, weights inside the square; fixed lambdas only, on the
        notebooks' scale).
    cv : "loocv" (paper Eq. 4-5; default for "paper") or "placebo" (the package's
        placebo RMSE; default and only choice for "global").
    search : "cycle" (the paper's footnote 2: lambda_time with lambda_unit = 0 and
        lambda_nn = inf, then lambda_unit, then lambda_nn, then rounds over (time, unit,
        nn) until nothing changes; the placebo criterion starts instead from the grid
        means and cycles (unit, time, nn), as the package's ``TROP_cv_cycle``) or "grid"
        (every point, as ``TROP_cv_joint``).
    grid : dict of ``lambda_unit``, ``lambda_time``, ``lambda_nn`` sequences; default
        :func:`~jaxpanel.estimators.trop.default_grid`.
    n_trials, placebo_units, placebo_method, K, cv_seed : placebo sets of the placebo
        criterion, drawn as the package draws them (NumPy ``default_rng(cv_seed)``;
        package defaults: 200 resampled sets of 1 unit, seed 0; ``placebo_method=
        "kfold"`` with ``K``).
    loocv_cells : the most control cells the LOOCV criterion holds out (default
        2,500: every cell of Prop 99's or a CPS-sized panel); a panel with more uses a
        random subset of this size (drawn from ``cv_seed``; the criterion is an average
        over cells) and warns with the time the tuning took and the time all cells
        would take. None holds out every cell.
    squared_weights : global variant only: weights inside the square (the authors'
        notebooks' scale, still the package's control-cells-only fit; their form is
        ``variant="simulation"``); see the module docstring.
    tol : tolerance of the final fits (None: ``kernels.lowrank`` default, 1e-9 in
        float64); ``tune_tol``: of the tuning fits, whose criterion needs less.
    max_steps, memory_bytes : iteration cap per fit; working memory per batch chunk.

    covariates : use the panel's covariates (``Panel.X``), if it has any (default), in
        every cell's weighted fit with unpenalised coefficients (the paper's Eq. 14; the
        paper version only); False ignores them.
    variance, reps, seed : also run a variance method (:mod:`jaxpanel.inference`),
        e.g. ``variance='placebo', reps=1000``; it refits with the chosen lambdas held
        fixed and draws its replicates from ``seed`` (separate from ``cv_seed``).

    Returns
    -------
    Estimate. Its ``trajectory`` shows, for the paper version, the per-cell imputations
    on treated cells and, on the treated units' untreated cells, each cell's
    leave-one-out prediction (the LOOCV fit of Eq. 4 at the chosen lambdas): TROP has no
    single fitted surface, and the observed outcome there would show a perfect pre-fit
    that is not one. ``info`` holds the lambdas, whether they were tuned, the CV criterion, the
    search, every grid point scored with its score, tuning seconds, fit and iteration
    counts, and ``fixed_options``: the recipe options with the chosen lambdas fixed
    (``estimate.recipe`` re-tunes; ``Recipe("trop", info["fixed_options"])`` does not).
    """
    require_panel(panel)
    check_variance_args(variance, reps, seed)  # before tuning, not after
    _choice("variant", variant, VARIANTS)
    if covariates is not True and covariates is not False:
        raise ValueError(f"covariates must be True or False, got {covariates!r}")
    if covariates and variant != "paper":
        refuse_covariates(panel, f"trop(variant={variant!r})")
    _choice("search", search, SEARCHES)
    cv = ("loocv" if variant == "paper" else "placebo") if cv is None else cv
    _choice("cv", cv, CVS)
    loocv_cells = check_loocv_cells(loocv_cells)  # checked even when nothing is tuned
    check_lambda("lambda_unit", lambda_unit, allow_inf=False)
    check_lambda("lambda_time", lambda_time, allow_inf=False)
    check_lambda("lambda_nn", lambda_nn, allow_inf=True)
    fixed_lambdas = (lambda_unit, lambda_time, lambda_nn)
    require(panel, "trop", requirements(variant, cv))
    if variant in ("global", "simulation") and cv == "loocv":
        raise ValueError(
            "the global variant is tuned by the placebo criterion (cv='placebo'); "
            "leave-one-out over control cells (cv='loocv') belongs to the paper "
            "version (variant='paper')"
        )
    if squared_weights and variant != "global":
        raise ValueError(
            "squared_weights applies to variant='global' only (the 'simulation' "
            "variant always puts the weights inside the square)"
        )
    if variant == "simulation" and any(x is None for x in fixed_lambdas):
        raise ValueError(
            "variant='simulation' reproduces the authors' simulation tables at their "
            "lambdas: give lambda_unit, lambda_time and lambda_nn (tune with "
            "variant='global', whose distances are the same, if you need tuning)"
        )
    options = TROPOptions(tol, max_steps, memory_bytes, squared_weights)
    tune_options = TROPOptions(tune_tol, max_steps, memory_bytes, squared_weights)
    Y, W, mask = panel.arrays()
    X = panel.covariate_arrays(Y.dtype) if covariates and variant == "paper" else None
    if X is not None:
        check_covariates(panel, "trop")
    fixed = (lambda_unit, lambda_time, lambda_nn)
    info: dict = {"variant": variant}
    if all(x is not None for x in fixed):
        chosen = tuple(float(x) for x in fixed)
        info["tuned"] = False
    else:
        chosen, tuned = tune(
            panel,
            fixed,
            variant=variant,
            cv=cv,
            search=search,
            grid=grid,
            n_trials=n_trials,
            placebo_units=placebo_units,
            placebo_method=placebo_method,
            K=K,
            cv_seed=cv_seed,
            loocv_cells=loocv_cells,
            options=tune_options,
            max_steps=max_steps,
            X=X,
        )
        info.update(tuned)
    lu, lt, ln = chosen
    info.update(lambda_unit=lu, lambda_time=lt, lambda_nn=ln)
    recipe = {
        "lambda_unit": lambda_unit,
        "lambda_time": lambda_time,
        "lambda_nn": lambda_nn,
        "variant": variant,
        "cv": cv,
        "search": search,
        "grid": grid,
        "n_trials": n_trials,
        "placebo_units": placebo_units,
        "placebo_method": placebo_method,
        "K": K,
        "cv_seed": cv_seed,
        "loocv_cells": loocv_cells,
        "squared_weights": squared_weights,
        "tol": tol,
        "tune_tol": tune_tol,
        "max_steps": max_steps,
        "memory_bytes": memory_bytes,
        "covariates": covariates,
    }
    # The same estimator with the lambdas held at their chosen values (the paper's
    # bootstrap re-fits with fixed lambdas): Recipe("trop", info["fixed_options"]).
    info["fixed_options"] = {
        **recipe,
        "lambda_unit": lu,
        "lambda_time": lt,
        "lambda_nn": ln,
    }
    n_cells = count_cells(W, mask)
    common = {
        "entry": estimate,
        "options": recipe,
        "replicator": replicator(Y, W, mask, chosen, options, variant, n_cells, X),
        "requirements": requirements(variant, cv),
    }
    if variant in ("global", "simulation"):
        out = one_fit(variant)(Y, W, mask, lu, lt, ln, options)
        info.update(rank=int(out.rank), steps=int(out.steps))
        est = make_estimate(
            panel,
            "trop",
            out,
            unit_weights=np.asarray(out.unit_weights),
            time_weights=np.asarray(out.time_weights),
            info=info,
            **common,
        )
        return with_variance(est, variance, reps, seed)
    out = fit(Y, W, mask, lu, lt, ln, n_cells, options, X)
    info.update(
        cells=int(np.asarray(out.cell_valid).sum()),
        cell_steps_max=int(np.asarray(out.cell_steps).max()),
    )
    est = make_estimate(
        panel,
        "trop",
        out,
        info=info,
        counterfactual=functools.partial(
            _untreated_trajectory, panel, out, (lu, lt, ln), options, X
        ),
        **common,
    )
    # per-cell fits have no fitted surface off the treated cells: no event-study leads
    est = est.replace(event_leads=False)
    return with_variance(est, variance, reps, seed)


def _untreated_trajectory(
    panel, out, lambdas, options: TROPOptions, X=None
) -> np.ndarray:
    """(T,) mean imputed Y(0) of the treated units per period, for the trajectory.

    On treated cells it is the estimate's own imputation. The treated units' untreated
    cells get their leave-one-out prediction (Eq. 4: the paper's fit with weights
    centred on that cell and the cell held out), so the pre-period fit shown is an
    honest out-of-sample one, not the observed outcome; NaN where that fit is not
    identified.
    """
    Y, W, mask = panel.arrays()
    y0 = np.where(panel.mask, np.asarray(out.y0), np.nan)
    cells = np.argwhere(panel.ever_treated[:, None] & panel.mask & ~panel.W)
    if len(cells):
        pairs = np.array([lambdas[:2]], float)
        nn = np.array([[lambdas[2]]], float)
        tau, _, status = (
            np.asarray(a)[0, :, 0]
            for a in loocv_table(Y, W, mask, cells, pairs, nn, options, X)
        )
        ok = ~np.asarray(failed(status)) & np.isfinite(tau)
        y0[cells[:, 0], cells[:, 1]] = np.where(
            ok, panel.Y[cells[:, 0], cells[:, 1]] - tau, np.nan
        )
    rows = y0[panel.ever_treated]
    ok = np.isfinite(rows)
    n = ok.sum(axis=0)
    total = np.where(ok, rows, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)
