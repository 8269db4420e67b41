"""MC at a fixed penalty: options, the exact and MCPanel solvers, shared helpers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp

from jaxpanel.kernels import TwoWayFit, lowrank, mcpanel

from ...fit import Fit
from .._core import default_mask, finish, standardise

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


DEFAULT = MCOptions()


def _obj_floor(y, cells):
    """MCPanel's objective floor (1e-8) relative to the outcome's variance.

    Its literal 1e-8, in squared outcome units, would make the fit depend on the
    outcome's scale; here it is 1e-8 times the variance over ``cells``.
    """
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


def _lane_fit_exact(y, train, lam, options: MCOptions, X=None):
    """One exact fit at MCPanel penalty ``lam`` on training cells ``train``."""
    return lowrank.solve(
        y, train, lam * train.sum(), tol=options.tol, max_steps=options.max_steps, X=X
    )


def covariates_for(Y, mask, X, options: MCOptions):
    """``(Xs, sd)``: standardised covariates for the exact solver, or ``(None, None)``.

    MCPanel's own iteration (``solver="mcpanel"``) has no covariates here: refused.
    """
    if X is None:
        return None, None
    if options.solver != "exact":
        raise ValueError(
            "mc with covariates needs solver='exact' (the converged fit with "
            "unpenalised coefficients); MCPanel's iteration (solver='mcpanel') is "
            "reproduced without covariates only"
        )
    Xs, _mean, sd = standardise(jnp.asarray(X, Y.dtype), default_mask(Y, mask))
    return Xs, sd


def walk(y, cells, lambdas, fe, active, options: MCOptions) -> TwoWayFit:
    """MCPanel's warm-started path over ``lambdas`` on ``cells``.

    Starts from the effects ``fe``; its fits stop by MCPanel's own rule, with the
    objective floor made relative (:func:`_obj_floor`).
    """
    return mcpanel.fit_path(
        y,
        cells,
        lambdas,
        fe.alpha,
        fe.beta,
        active,
        options.max_iter,
        options.rel_tol,
        _obj_floor(y, cells),
    )


def ones(Y):
    """Uniform unit and time weights (MC weights every untreated cell alike)."""
    return jnp.ones(Y.shape[0], Y.dtype), jnp.ones(Y.shape[1], Y.dtype)


@partial(jax.jit, static_argnames=("options",))
def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lam: jax.Array | float = 0.0,
    options: MCOptions = DEFAULT,
    X: jax.Array | None = None,
) -> Fit:
    """MC at a fixed penalty ``lam`` (MCPanel's scale, Eq. 3.3).

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment, 0/1 observed mask (default all observed).
    lam : penalty; ``inf`` gives DID, ``0`` an unpenalised ``L`` (see ``kernels.lowrank``
        for what that imputes).
    options : MCOptions. With ``solver="mcpanel"`` this is MCPanel's ``mcnnm_fit``: a
        warm-started walk down MCPanel's 100-point path from the full-data top penalty to
        ``lam``.
    X : (K, N, T) covariates with unpenalised coefficients in the fit (the penalty on
        ``L`` only), standardised first; needs ``solver="exact"``.

    Returns
    -------
    Fit with ``L`` (``unit_weights`` and ``time_weights`` are ones; ``info`` holds the
    rank of ``L`` and the iterations).

    References
    ----------
    Athey, Bayati, Doudchenko, Imbens and Khosravi (2021), Eq. (3.3); R MCPanel's
    ``mcnnm_fit``.
    """
    Xs, sd = covariates_for(Y, mask, X, options)
    Y, W, mask, y, control = _control(Y, W, mask)
    lam = jnp.asarray(lam, Y.dtype)
    if options.solver == "exact":
        res = _lane_fit_exact(y, control, lam, options, Xs)
        info = None if Xs is None else {"beta": res.coef / sd}
        return finish(Y, W, mask, res, *ones(Y), info=info)
    eff = mcpanel.effects(y, control, 1000, options.rel_tol)
    top = mcpanel.lambda_max(y, control, eff)
    grid = mcpanel.path_grid(top, 100)
    lambdas = jnp.concatenate([grid, lam[None]])
    active = jnp.concatenate([(grid >= lam) & (lam < top), jnp.ones(1, bool)])
    path = walk(y, control, lambdas, eff, active, options)
    return finish(Y, W, mask, jax.tree_util.tree_map(lambda x: x[-1], path), *ones(Y))
