"""MC at the user level, and its refits for variance methods."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import MAX_STEPS

from ... import batch
from ..._make import check_variance_args, make_estimate, with_variance
from ...fit import Replicator
from ...panel import Panel
from ...requirements import ESTIMATORS, require
from ...results import Estimate
from .._core import check_covariates, outputs, require_panel, resample_rows
from ._cv import fit_cv, panel_fold_draws
from ._fit import MCOptions, Solver, fit


@functools.cache
def _replicate_fns(options: MCOptions):
    """MC refits with the penalty held at the chosen value.

    On the resampled rows themselves (the bootstrap on duplicated units is then exact).
    """

    def refit(data, W, freq, mask):
        idx, valid = resample_rows(freq)
        Y, W, mask = data["Y"][idx], W[idx], mask[idx] * valid[:, None]
        X = data.get("X")
        X = None if X is None else X[:, idx]
        return outputs(fit(Y, W, mask, data["lam"], options, X), Y, W, mask)

    def fixed(data, freq):
        return refit(data, data["W"], freq, data["mask"])

    return refit, refit, fixed


def replicator(Y, W, mask, lam: float, options: MCOptions, X=None) -> Replicator:
    """MC's refits: the penalty ``lam`` held fixed (MCPanel's scale).

    Parameters
    ----------
    Y, W, mask : (N, T) the estimate's arrays.
    lam : the chosen penalty. options : MCOptions. X : (K, N, T) covariates or None.

    Returns
    -------
    Replicator (refits on the resampled rows).
    """
    data = {"Y": Y, "W": W, "mask": mask, "lam": jnp.asarray(lam, Y.dtype)}
    if X is not None:
        data["X"] = X
    return Replicator(data, *_replicate_fns(options))


def estimate(
    panel: Panel,
    lam: float | None = None,
    *,
    solver: Solver = "mcpanel",
    num_lambda: int = 100,
    num_folds: int = 5,
    cv_ratio: float = 0.8,
    cv_seed: int | jax.Array | None = None,
    max_iter: int = 400,
    rel_tol: float = 1e-5,
    tol: float | None = None,
    max_steps: int = 10_000,
    covariates: bool = True,
    variance: str | None = None,
    reps: int | None = None,
    seed: int | jax.Array | None = None,
) -> Estimate:
    """MC on a :class:`jaxpanel.Panel` (block, staggered or on/off treatment).

    Parameters
    ----------
    panel : the data.
    lam : a fixed penalty (MCPanel's scale, Eq. 3.3); None (default) cross-validates it.
    solver : "mcpanel" (R MCPanel's iteration: its numbers) or "exact" (converged fits).
    num_lambda, num_folds, cv_ratio : the CV path and folds (MCPanel's defaults 100, 5,
        0.8; the SDID paper used ``num_lambda=20``).
    cv_seed : None (default) for MCPanel's own fold draws; an int or PRNG key for
        JAX-random Bernoulli(cv_ratio) folds.
    max_iter, rel_tol : MCPanel's sweep cap and tolerance (``solver="mcpanel"``).
    tol, max_steps : the exact solver's tolerance and iteration cap.
    covariates : use the panel's covariates (``Panel.X``), if it has any (default), with
        unpenalised coefficients in the fit and the penalty on ``L`` only; they need
        ``solver="exact"``. False ignores them.
    variance, reps, seed : also run a variance method (:mod:`jaxpanel.inference`), e.g.
        ``variance='placebo', reps=1000``; it refits with the chosen penalty held fixed
        and draws its replicates from ``seed`` (separate from ``cv_seed``).

    Returns
    -------
    Estimate; ``info`` holds the chosen penalty (``lambda``, and ``lambda_nn = lambda
    |O|`` on the kernels' scale), the path and CV curve, the rank of ``L``, solver
    iterations and ``fixed_options`` (the recipe options with ``lam`` fixed at the
    chosen penalty; ``estimate.recipe`` re-runs the CV).

    Raises
    ------
    ValueError
        A treated cell's Y(0) is not identified (the message names the estimators that
        apply); ``num_folds < 2``, ``cv_ratio`` outside (0, 1), a negative ``lam``, an
        unknown ``solver``.

    References
    ----------
    Athey, Bayati, Doudchenko, Imbens and Khosravi (2021), Eq. (3.3) and Sec. 4.2 (the
    penalty by cross-validation); R MCPanel's ``mcnnm_cv``.
    """
    require_panel(panel)
    check_variance_args(variance, reps, seed)  # before tuning, not after
    if covariates is not True and covariates is not False:
        raise ValueError(f"covariates must be True or False, got {covariates!r}")
    if covariates and panel.covariate_names and solver != "exact":
        raise ValueError(
            "mc with covariates needs solver='exact' (the converged fit with "
            "unpenalised coefficients; MCPanel's own iteration is reproduced without "
            "covariates). Fix: jaxpanel.mc(panel, solver='exact'), or covariates=False"
        )
    require(panel, "mc", ESTIMATORS["mc"])
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2, got {num_folds}")
    if not 0.0 < cv_ratio < 1.0:
        raise ValueError(f"cv_ratio must be in (0, 1), got {cv_ratio}")
    if lam is not None and not lam >= 0:
        raise ValueError(f"lam must be a non-negative number or None, got {lam}")
    options = MCOptions(solver, num_lambda, max_iter, rel_tol, tol, max_steps)
    Y, W, mask = panel.arrays()
    X = panel.covariate_arrays(Y.dtype) if covariates else None
    if X is not None:
        check_covariates(panel, "mc")
    n_obs = float(((1 - W) * mask).sum())
    info: dict = {"solver": solver}
    if lam is None:
        if cv_seed is None:
            folds = panel_fold_draws(panel, num_folds, cv_ratio)
            info["folds"] = "mcpanel"
        else:
            shape = (num_folds, panel.N, panel.T)
            folds = jax.random.bernoulli(batch.key(cv_seed), cv_ratio, shape)
            info["folds"] = f"seed={cv_seed}" if isinstance(cv_seed, int) else "key"
        out, res_cv = fit_cv(Y, W, mask, jnp.asarray(folds, Y.dtype), options, X)
        res_cv = jax.tree_util.tree_map(np.asarray, res_cv)
        chosen = float(res_cv.best_lambda)
        info.update(
            lambdas=res_cv.lambdas,
            cv_rmse=res_cv.cv_rmse,
            best_index=int(res_cv.best_index),
            cv_steps=res_cv.steps,
            cv_not_converged=int((res_cv.status == MAX_STEPS).sum()),
        )
    else:
        out = fit(Y, W, mask, lam, options, X)
        chosen = float(lam)
    info.update(
        {"lambda": chosen, "lambda_nn": chosen * n_obs},
        rank=int(out.rank),
        steps=int(out.steps),
    )
    if "beta" in out.info:
        info["beta"] = np.asarray(out.info["beta"]).tolist()
    recipe = {
        "lam": lam,
        "solver": solver,
        "num_lambda": num_lambda,
        "num_folds": num_folds,
        "cv_ratio": cv_ratio,
        "cv_seed": cv_seed,
        "max_iter": max_iter,
        "rel_tol": rel_tol,
        "tol": tol,
        "max_steps": max_steps,
        "covariates": covariates,
    }
    info["fixed_options"] = {**recipe, "lam": chosen}
    est = make_estimate(
        panel,
        "mc",
        out,
        entry=estimate,
        options=recipe,
        replicator=replicator(Y, W, mask, chosen, options, X),
        requirements=ESTIMATORS["mc"],
        info=info,
    )
    return with_variance(est, variance, reps, seed)
