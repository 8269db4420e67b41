"""MC: matrix completion with a nuclear-norm penalty (Athey, Bayati, Doudchenko, Imbens and
Khosravi 2021, JASA; METHODS.md section 3).

On the control cells ``O`` (untreated and observed)::

    min over L, u, v of  (1 / |O|) sum_{O} (Y - L - u 1' - 1 v')^2 + lam ||L||_*      (3.3)

with unpenalised unit and time effects; ``Y(0)`` on treated cells is the fitted
``L + u 1' + 1 v'`` and the ATT the mean of ``Y - Y(0)`` over treated cells. ``lam`` is on
this scale (R MCPanel's); the kernels' unnormalised penalty is ``lambda_nn = lam |O|``.

The penalty is chosen by K-fold cross-validation (MCPanel's ``mcnnm_cv``): each fold trains on
a random ~``cv_ratio`` of the control cells and predicts the rest; the penalty path has
``num_lambda - 1`` points log-spaced over three decades down from the smallest penalty that
gives ``L = 0`` on every fold (the largest of the folds' ``2 sigma_max(P_O(Y - u - v)) / |O|``),
then 0; the chosen penalty minimises the root of the fold-averaged validation MSE.

Two solvers:

- ``"mcpanel"`` (default): MCPanel's own iteration and stopping rule (``kernels.mcpanel``),
  which stops well short of the optimum; it reproduces R MCPanel's CV curve, penalty and ATT
  (Prop 99: -19.99641 with 100 penalties, -20.21813 with 20).
- ``"exact"``: the same objective solved to convergence (``kernels.lowrank``: FISTA with the
  fixed effects profiled out exactly); every (fold, penalty) fit is one independent lane of
  a single batch. On Prop 99 it picks the same penalty index; the converged fit moves the
  ATT by 0.04 (100 penalties) and 0.28 (20).

Folds: by default MCPanel's own 0/1 draws (C++ ``std::default_random_engine`` with its
default seed, ``std::bernoulli_distribution(cv_ratio)``, filled fold by fold, unit by unit,
period by period) over the rows laid out as R synthdid's ``panel.matrices`` does (never-
treated units first, then treated units, each in panel order), which is what makes the R
numbers reproducible; pass ``seed`` for JAX-random folds instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import lowrank, mcpanel, twfe
from jaxpanel.kernels._loop import MAX_STEPS, NONFINITE

from .. import tuning
from ..panel import Panel
from ..requirements import ESTIMATORS, require
from ..results import Estimate, make_estimate, with_variance
from ._core import _require_panel, default_mask
from ._lowrank import LowRankFit, connected, from_result

Solver = Literal["mcpanel", "exact"]
SOLVERS = ("mcpanel", "exact")
CVPath = Literal["warm", "batch"]
CV_PATHS = ("warm", "batch")


@dataclass(frozen=True)
class MCOptions:
    """Solver and CV settings (hashable: a static argument of the jitted functions).

    Attributes
    ----------
    solver : "mcpanel" (R MCPanel's iteration and stopping rule) or "exact" (converged).
    num_lambda : length of the penalty path, including the final 0 (MCPanel: 100; the SDID
        paper's MC column used 20).
    max_iter, rel_tol : MCPanel's sweep cap per penalty and relative-decrease tolerance
        (defaults of ``mcnnm_cv``; its ``mcnnm_fit`` uses ``max_iter=1000``).
    tol, max_steps : the exact solver's relative tolerance (None: the dtype default of
        ``kernels.lowrank``) and iteration cap.
    memory_bytes : working memory for one chunk of the exact solver's CV batch (None:
        ``jaxpanel.tuning.default_memory_bytes()``, 16 MiB on CPU, 1 GiB otherwise).
    cv_path : how the exact solver runs the (fold, penalty) fits: "warm" (default) walks
        each fold's path warm-starting every fit from the previous one (folds batched);
        "batch" makes every (fold, penalty) fit an independent lane of one batch, chunked
        to ``memory_bytes``. Both converge to the same fits; on a CPU "warm" does about 25
        times less work (Prop 99: 2.5 s against 60 s).
    """

    solver: Solver = "mcpanel"
    num_lambda: int = 100
    max_iter: int = 400
    rel_tol: float = 1e-5
    tol: float | None = None
    max_steps: int = 10_000
    memory_bytes: int | None = None
    cv_path: CVPath = "warm"

    def __post_init__(self):
        if self.solver not in SOLVERS:
            raise ValueError(
                f"solver must be one of {', '.join(map(repr, SOLVERS))}, "
                f"got {self.solver!r}"
            )
        if self.cv_path not in CV_PATHS:
            raise ValueError(
                f"cv_path must be one of {', '.join(map(repr, CV_PATHS))}, "
                f"got {self.cv_path!r}"
            )
        if self.num_lambda < 3:
            raise ValueError(f"num_lambda must be at least 3, got {self.num_lambda}")


class MCCV(NamedTuple):
    """Cross-validation of the penalty.

    Attributes
    ----------
    lambdas : (K,) the penalty path (MCPanel's scale), decreasing, ending at 0.
    cv_rmse : (K,) root of the fold-averaged validation MSE (inf where a fold failed).
    best_index : () int32, first minimiser of ``cv_rmse``.
    best_lambda : () the chosen penalty.
    steps : (F, K) solver iterations per fold and penalty.
    status : (F, K) solver status per fold and penalty.
    """

    lambdas: jax.Array
    cv_rmse: jax.Array
    best_index: jax.Array
    best_lambda: jax.Array
    steps: jax.Array
    status: jax.Array


def fold_draws(n: int, t: int, num_folds: int = 5, cv_ratio: float = 0.8) -> np.ndarray:
    """MCPanel's CV draws: (num_folds, n, t) 0/1, 1 = training cell.

    libstdc++'s ``std::default_random_engine`` (``minstd_rand0``: ``x <- 16807 x mod
    (2^31 - 1)``, seed 1) feeds ``std::bernoulli_distribution(cv_ratio)``, which draws
    ``generate_canonical<double, 53>`` from two engine outputs ``(g1 + g2 R) / R^2``,
    ``R = 2^31 - 2``, ``g = x - 1``; the draw is 1 when that is below ``cv_ratio``. Filled
    fold by fold, then row by row, then column by column, as MCPanel's ``create_folds``.
    """
    m, a = 2147483647, 16807
    r = float(m - 1)
    x = 1
    out = np.empty(num_folds * n * t)
    for k in range(out.size):
        x = (a * x) % m
        g1 = x - 1
        x = (a * x) % m
        g2 = x - 1
        u = (float(g1) + float(g2) * r) / (r * r)
        out[k] = 1.0 if min(u, np.nextafter(1.0, 0.0)) < cv_ratio else 0.0
    return out.reshape(num_folds, n, t)


def _obj_floor(y, cells):
    """MCPanel's objective floor (1e-8) in units of the outcome's variance over ``cells``:
    its literal 1e-8 would make the fit depend on the outcome's scale."""
    n = jnp.maximum(cells.sum(), 1)
    m = (y * cells).sum() / n
    var = (cells * (y - m) ** 2).sum() / n
    return 1e-8 * jnp.where(var > 0, var, 1.0)


def _control(Y, W, mask):
    Y = jnp.asarray(Y)
    mask = default_mask(Y, mask)
    W = jnp.asarray(W, Y.dtype)
    control = (1 - W) * mask
    return Y, W, mask, jnp.where(mask > 0, Y, 0.0), control


def _lane_fit_exact(y, train, lam, options: MCOptions):
    """One exact fit at MCPanel penalty ``lam`` on training cells ``train``."""
    return lowrank.solve(
        y, train, lam * train.sum(), tol=options.tol, max_steps=options.max_steps
    )


def _finish_mcpanel(Y, W, mask, control, res: mcpanel.MCPanelFit) -> LowRankFit:
    unit_ok, time_ok, n_comp = connected(control)
    sv = jnp.linalg.svd(res.L, compute_uv=False)
    # rank relative to the largest singular value (an absolute floor would make the
    # reported rank depend on the outcome's scale)
    scale = jnp.where(sv[0] > 0, sv[0], 1.0)
    kernel_like = lowrank.LowRankResult(
        res.L,
        jnp.zeros((), Y.dtype),
        res.u,
        res.v,
        res.fitted,
        unit_ok,
        time_ok,
        n_comp,
        (sv > 1e-12 * scale).sum().astype(jnp.int32),
        res.steps,
        res.status,
    )
    ones_n = jnp.ones(Y.shape[0], Y.dtype)
    ones_t = jnp.ones(Y.shape[1], Y.dtype)
    return from_result(Y, W, mask, kernel_like, ones_n, ones_t)


@partial(jax.jit, static_argnames=("options",))
def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lam: jax.Array | float = 0.0,
    options: MCOptions = MCOptions(),
) -> LowRankFit:
    """MC at a fixed penalty ``lam`` (MCPanel's scale, Eq. 3.3).

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment, 0/1 observed mask (default all observed).
    lam : penalty; ``inf`` gives DID, ``0`` an unpenalised ``L`` (see ``kernels.lowrank``
        for what that imputes).
    options : MCOptions. With ``solver="mcpanel"`` this is MCPanel's ``mcnnm_fit``: a
        warm-started walk down MCPanel's 100-point path from the full-data top penalty to
        ``lam``.

    Returns
    -------
    LowRankFit (``unit_weights`` and ``time_weights`` are ones).
    """
    Y, W, mask, y, control = _control(Y, W, mask)
    ones_n = jnp.ones(Y.shape[0], Y.dtype)
    ones_t = jnp.ones(Y.shape[1], Y.dtype)
    lam = jnp.asarray(lam, Y.dtype)
    if options.solver == "exact":
        res = _lane_fit_exact(y, control, lam, options)
        return from_result(Y, W, mask, res, ones_n, ones_t)
    eff = mcpanel.effects(y, control, 1000, options.rel_tol)
    grid = mcpanel.path_grid(eff.lambda_max, 100)
    lambdas = jnp.concatenate([grid, lam[None]])
    active = jnp.concatenate(
        [(grid >= lam) & (lam < eff.lambda_max), jnp.ones(1, bool)]
    )
    path = mcpanel.fit_path(
        y,
        control,
        lambdas,
        eff.u,
        eff.v,
        active,
        options.max_iter,
        options.rel_tol,
        _obj_floor(y, control),
    )
    last = jax.tree_util.tree_map(lambda x: x[-1], path)
    return _finish_mcpanel(Y, W, mask, control, last)


def _cv_mse(Y, valid, fitted):
    n = valid.sum()
    err = jnp.where(valid > 0, Y - fitted, 0.0)
    return (err**2).sum() / n


def _cv_exact(Y, y, control, folds, options: MCOptions):
    train = control[None] * folds  # (F, N, T)
    valid = control[None] * (1 - folds)

    def top(tr):
        fe = twfe.solve(y, tr)
        resid = jnp.where(tr > 0, y - fe.fitted, 0.0)
        return 2.0 * jnp.linalg.svd(resid, compute_uv=False)[0] / tr.sum()

    lambdas = mcpanel.path_grid(jax.vmap(top)(train).max(), options.num_lambda).astype(
        Y.dtype
    )
    if options.cv_path == "warm":

        def one(tr, va):
            path = lowrank.solve_path(
                y,
                tr,
                lambdas * tr.sum(),
                tol=options.tol,
                max_steps=options.max_steps,
            )
            mse = jax.vmap(lambda f: _cv_mse(Y, va, f))(path.fitted)
            return mse, path.steps, path.status

        return (lambdas, *jax.vmap(one)(train, valid))

    n_folds, k = folds.shape[0], lambdas.shape[0]
    fold_idx = jnp.repeat(jnp.arange(n_folds), k)
    lam_idx = jnp.tile(jnp.arange(k), n_folds)

    def lane(ix):
        f, j = ix
        res = _lane_fit_exact(y, train[f], lambdas[j], options)
        return _cv_mse(Y, valid[f], res.fitted), res.steps, res.status

    per_lane = tuning.lane_bytes(Y.shape[0], Y.shape[1], Y.dtype)
    chunk = tuning.batch_size(n_folds * k, per_lane, options.memory_bytes)
    mse, steps, status = tuning.lane_map(lane, (fold_idx, lam_idx), chunk)
    shape = (n_folds, k)
    return lambdas, mse.reshape(shape), steps.reshape(shape), status.reshape(shape)


def _cv_mcpanel(Y, y, control, folds, options: MCOptions):
    train = control[None] * folds
    valid = control[None] * (1 - folds)
    # MCPanel's create_folds fixes these two settings for the folds' starting values.
    eff = jax.vmap(lambda tr: mcpanel.effects(y * tr, tr, 1000, 1e-5))(train)
    lambdas = mcpanel.path_grid(eff.lambda_max.max(), options.num_lambda)

    def one(tr, va, u, v):
        path = mcpanel.fit_path(
            y * tr,
            tr,
            lambdas,
            u,
            v,
            None,
            options.max_iter,
            options.rel_tol,
            _obj_floor(y, tr),
        )
        mse = jax.vmap(lambda f: _cv_mse(Y, va, f))(path.fitted)
        return mse, path.steps, path.status

    mse, steps, status = jax.vmap(one)(train, valid, eff.u, eff.v)
    return lambdas, mse, steps, status


@partial(jax.jit, static_argnames=("options",))
def cv(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None,
    folds: jax.Array,
    options: MCOptions = MCOptions(),
) -> MCCV:
    """K-fold cross-validation of the penalty (MCPanel's ``mcnnm_cv``).

    Parameters
    ----------
    Y, W, mask : (N, T).
    folds : (F, N, T) 0/1 draws; fold ``f`` trains on ``control * folds[f]`` and validates
        on ``control * (1 - folds[f])`` (see :func:`fold_draws`).
    options : MCOptions (solver, path length, tolerances).
    """
    Y, W, mask, y, control = _control(Y, W, mask)
    folds = jnp.asarray(folds, Y.dtype)
    run_cv = _cv_exact if options.solver == "exact" else _cv_mcpanel
    lambdas, mse, steps, status = run_cv(Y, y, control, folds, options)
    ok = jnp.isfinite(mse) & (status != NONFINITE)
    mse = jnp.where(ok, mse, jnp.inf)
    rmse = jnp.sqrt(mse.mean(axis=0))
    best = jnp.argmin(rmse).astype(jnp.int32)
    return MCCV(lambdas, rmse, best, lambdas[best], steps, status)


@partial(jax.jit, static_argnames=("options",))
def fit_cv(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None,
    folds: jax.Array,
    options: MCOptions = MCOptions(),
) -> tuple[LowRankFit, MCCV]:
    """Cross-validate the penalty (:func:`cv`), then fit MC on all control cells with it.

    With ``solver="mcpanel"`` the final fit walks the same path on the full data down to the
    chosen penalty, warm-starting as MCPanel does; with ``"exact"`` it is one converged fit.
    """
    Y, W, mask, y, control = _control(Y, W, mask)
    res_cv = cv(Y, W, mask, folds, options)
    if options.solver == "exact":
        out = fit(Y, W, mask, res_cv.best_lambda, options)
        return out, res_cv
    eff = mcpanel.effects(y, control, options.max_iter, options.rel_tol)
    active = jnp.arange(res_cv.lambdas.shape[0]) <= res_cv.best_index
    path = mcpanel.fit_path(
        y,
        control,
        res_cv.lambdas,
        eff.u,
        eff.v,
        active,
        options.max_iter,
        options.rel_tol,
        _obj_floor(y, control),
    )
    last = jax.tree_util.tree_map(lambda x: x[res_cv.best_index], path)
    return _finish_mcpanel(Y, W, mask, control, last), res_cv


def panel_fold_draws(
    panel: Panel, num_folds: int = 5, cv_ratio: float = 0.8
) -> np.ndarray:
    """:func:`fold_draws` for ``panel``, drawn over synthdid's row layout (never-treated
    units first, then treated units, each in panel order) and returned in panel order."""
    order = np.concatenate(
        [np.flatnonzero(~panel.ever_treated), np.flatnonzero(panel.ever_treated)]
    )
    draws = fold_draws(panel.N, panel.T, num_folds, cv_ratio)
    out = np.empty_like(draws)
    out[:, order, :] = draws
    return out


def estimate(
    panel: Panel,
    lam: float | None = None,
    *,
    solver: Solver = "mcpanel",
    num_lambda: int = 100,
    num_folds: int = 5,
    cv_ratio: float = 0.8,
    seed: int | jax.Array | None = None,
    max_iter: int = 400,
    rel_tol: float = 1e-5,
    tol: float | None = None,
    max_steps: int = 10_000,
    variance: str | None = None,
    reps: int | None = None,
) -> Estimate:
    """MC on a :class:`jaxpanel.Panel` (block, staggered or on/off treatment).

    Parameters
    ----------
    panel : the data.
    lam : a fixed penalty (MCPanel's scale, Eq. 3.3); None (default) cross-validates it.
    solver : "mcpanel" (R MCPanel's numbers) or "exact" (converged fits); see the module
        docstring.
    num_lambda, num_folds, cv_ratio : the CV path and folds (MCPanel's defaults 100, 5,
        0.8; the SDID paper used ``num_lambda=20``).
    seed : None (default) for MCPanel's own fold draws; an int or PRNG key for JAX-random
        Bernoulli(cv_ratio) folds.
    max_iter, rel_tol : MCPanel's sweep cap and tolerance (``solver="mcpanel"``).
    tol, max_steps : the exact solver's tolerance and iteration cap.

    variance, reps : also run a variance method (``jaxpanel.inference``), e.g.
        ``variance='placebo', reps=1000``; it re-fits with the chosen penalties
        held fixed and draws its replicates from ``seed`` (0 when None).

    Returns
    -------
    Estimate; ``info`` holds the chosen penalty (``lambda``, and ``lambda_nn = lambda |O|``
    on the kernels' scale), the path and CV curve, the rank of ``L``, solver iterations
    and ``fixed_options`` (the recipe options with ``lam`` fixed at the chosen penalty;
    ``estimate.recipe`` re-runs the CV).
    """
    _require_panel(panel)
    require(panel, "mc", ESTIMATORS["mc"])
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2, got {num_folds}")
    if not 0.0 < cv_ratio < 1.0:
        raise ValueError(f"cv_ratio must be in (0, 1), got {cv_ratio}")
    if lam is not None and not lam >= 0:
        raise ValueError(f"lam must be a non-negative number or None, got {lam}")
    options = MCOptions(solver, num_lambda, max_iter, rel_tol, tol, max_steps)
    Y, W, mask = panel.arrays()
    n_obs = float(((1 - W) * mask).sum())
    info: dict = {"solver": solver}
    if lam is None:
        if seed is None:
            folds = panel_fold_draws(panel, num_folds, cv_ratio)
            info["folds"] = "mcpanel"
        else:
            key = jax.random.PRNGKey(seed) if isinstance(seed, int) else seed
            folds = jax.random.bernoulli(key, cv_ratio, (num_folds, panel.N, panel.T))
            info["folds"] = f"seed={seed}" if isinstance(seed, int) else "key"
        out, res_cv = fit_cv(Y, W, mask, jnp.asarray(folds, Y.dtype), options)
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
        out = fit(Y, W, mask, lam, options)
        chosen = float(lam)
    info.update(
        {"lambda": chosen, "lambda_nn": chosen * n_obs},
        rank=int(out.rank),
        steps=int(out.steps),
    )
    recipe = {
        "lam": lam,
        "solver": solver,
        "num_lambda": num_lambda,
        "num_folds": num_folds,
        "cv_ratio": cv_ratio,
        "seed": seed,
        "max_iter": max_iter,
        "rel_tol": rel_tol,
        "tol": tol,
        "max_steps": max_steps,
    }
    info["fixed_options"] = {**recipe, "lam": chosen}
    est = make_estimate(panel, "mc", out, options=recipe, info=info)
    return with_variance(est, variance, reps, 0 if seed is None else seed)


__all__ = [
    "MCCV",
    "SOLVERS",
    "MCOptions",
    "cv",
    "estimate",
    "fit",
    "fit_cv",
    "fold_draws",
    "panel_fold_draws",
]
