"""TROP's tuning: the default grid, scaled to the data, and the search over it.

Leave-one-out over control cells (Eq. 4-5, the default for the paper version) or the
package's placebo RMSE (the default for the global variant), searched coordinate-wise
(the paper's footnote 2) or over the full grid; every (cell or placebo set, grid point)
fit of a criterion is one lane of a batch (``_criteria``).
"""

from __future__ import annotations

import math
import operator
import time
import warnings
from typing import Literal

import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import twfe

from ... import tuning
from ...panel import Panel
from ...results import ConvergenceWarning
from . import _criteria
from . import _weights as tw
from ._fitting import TROPOptions, Variant

CV = Literal["loocv", "placebo"]
CVS = ("loocv", "placebo")
Search = Literal["cycle", "grid"]
SEARCHES = ("cycle", "grid")

# Default grids, in scale-free units (see default_grid): 6 x 6 x 5 points.
TIME_GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
UNIT_GRID_SCALED = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
NN_GRID_SCALED = (math.inf, 1 / 4, 1 / 16, 1 / 64, 1 / 256)


def _median_distance(Y, W, mask, variant: str) -> float:
    Y, W, mask = (np.asarray(a, float) for a in (Y, W, mask))
    ever = (W * mask).max(axis=1) > 0
    if variant == "global":
        d_unit, _ = tw.global_distances(
            jnp.asarray(Y), jnp.asarray(W), jnp.asarray(mask)
        )
        d = np.asarray(d_unit)[~ever]
    else:
        c = (1 - W) * mask
        d = []
        for i in np.flatnonzero(ever):
            both = c * c[i][None, :]
            n = both.sum(axis=1)
            gap = ((Y - Y[i][None, :]) ** 2 * both).sum(axis=1)
            d.extend(np.sqrt(gap[~ever & (n > 0)] / n[~ever & (n > 0)]))
        d = np.asarray(d)
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else 1.0


def _uniform_lambda_max(Y, W, mask) -> float:
    c = jnp.asarray((1 - np.asarray(W)) * np.asarray(mask))
    y = jnp.where(jnp.asarray(mask) > 0, jnp.asarray(Y), 0.0)
    resid = jnp.where(c > 0, y - twfe.solve(y, c).fitted, 0.0)
    return float(2.0 * jnp.linalg.svd(resid, compute_uv=False)[0])


def default_grid(panel: Panel, variant: Variant = "paper") -> dict:
    """The default tuning grid for ``panel`` (6 x 6 x 5 points), scaled to the data.

    - ``lambda_time`` (per period): 0, 0.1, 0.3, 1, 3, 10 (the adjacent period weighs 1,
      0.90, 0.74, 0.37, 0.05, 5e-5 of the target period). Leave-one-out on Prop 99 keeps
      improving up to about 3-4: held-out cells are best predicted from the same period
      and the nearest periods of their own unit.
    - ``lambda_unit``: 0, 0.25, 0.5, 1, 2, 4 divided by the median unit distance ``m``
      (treated to control units, Eq. 3 without leaving a period out; for the global
      variant the median ``d_j`` of the control units), so the median control unit weighs
      1, 0.78, 0.61, 0.37, 0.14, 0.02.
    - ``lambda_nn``: inf, then 1/4, 1/16, 1/64, 1/256 of ``lambda_max``, the smallest
      penalty giving ``L = 0`` with uniform weights (``2 sigma_max`` of the two-way residual
      on control cells); with decaying weights ``L`` vanishes at smaller penalties.

    Returns a dict with the three grids and the scales ``unit_scale`` (m) and
    ``nn_scale`` (lambda_max).

    Parameters
    ----------
    panel : a Panel. variant : 'paper' or 'global' (which unit distance sets the scale).
    """
    Y, W, mask = panel.arrays()
    m = _median_distance(Y, W, mask, variant)
    top = _uniform_lambda_max(Y, W, mask)
    return {
        "lambda_unit": tuple(x / m for x in UNIT_GRID_SCALED),
        "lambda_time": TIME_GRID,
        "lambda_nn": tuple(x * top for x in NN_GRID_SCALED),
        "unit_scale": m,
        "nn_scale": top,
    }


def check_lambda(name: str, value, allow_inf: bool) -> None:
    """Raise ``ValueError`` unless ``value`` is None or a valid lambda.

    Valid: a number in [0, inf] (``allow_inf``) or in [0, inf).
    """
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if not ok or (math.isinf(value) and not allow_inf) or math.isnan(value):
        allowed = "a number in [0, inf]" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


# The most held-out cells of the default LOOCV criterion (Prop 99 has 1,197 control
# cells, R synthdid's CPS panel 1,900); larger panels use a random subset of this size.
LOOCV_CELLS = 2_500


def check_loocv_cells(value):
    """``value`` as an int (NumPy integers too) or None; ``ValueError`` otherwise."""
    if value is None:
        return None
    if not isinstance(value, bool):
        try:
            n = operator.index(value)
        except TypeError:
            n = 0
        if n >= 1:
            return n
    raise ValueError(
        f"loocv_cells must be a positive integer or None (all cells), got {value!r}"
    )


def tune(
    panel: Panel,
    fixed: tuple,
    *,
    variant: Variant,
    cv: CV,
    search: Search,
    grid: dict | None,
    n_trials: int,
    placebo_units: int,
    placebo_method: str,
    K: int | None,
    cv_seed: int,
    options: TROPOptions,
    max_steps: int,
    X=None,
    loocv_cells: int | None = LOOCV_CELLS,
) -> tuple[tuple[float, float, float], dict]:
    """Choose the lambdas not given in ``fixed`` by the criterion ``cv``.

    ``fixed`` is a (lambda_unit, lambda_time, lambda_nn) tuple with None for those to
    tune.

    Returns
    -------
    ``(chosen lambdas, info)``: every grid point scored with its score, the search's
    rounds, seconds and fit counts, the grid and its scales.

    ``loocv_cells``: the most cells the LOOCV criterion holds out (None: all; checked by
    the caller, :func:`check_loocv_cells`); more are
    subsampled (``default_rng(cv_seed)``, without replacement) with a warning that
    gives the tuning time and the time all cells would take.

    Raises
    ------
    ValueError
        A malformed ``grid`` or a grid value out of range.
    """
    Y, W, mask = panel.arrays()
    tune_options = options
    info: dict = {}
    names = ("lambda_unit", "lambda_time", "lambda_nn")
    if grid is not None and (
        not isinstance(grid, dict) or any(n not in grid for n in names)
    ):
        raise ValueError(
            "grid must be a dict with keys 'lambda_unit', 'lambda_time' and "
            "'lambda_nn' (sequences of values)"
        )
    given = grid or default_grid(panel, variant)
    grids = []
    for k, name in enumerate(names):
        values = (fixed[k],) if fixed[k] is not None else tuple(given[name])
        for v in values:
            check_lambda(f"grid value of {name}", v, allow_inf=(k == 2))
        if not values:
            raise ValueError(f"the {name} grid is empty")
        grids.append([float(v) for v in values])
    t0 = time.perf_counter()
    diag: dict = {}

    def add(d):
        for key, val in d.items():
            diag[key] = diag.get(key, 0) + val

    total = None
    if cv == "loocv":
        n_control = int(np.asarray((1 - W) * mask).sum())
        subsample = loocv_cells is not None and n_control > loocv_cells
        cells, dropped = _criteria.loocv_cells(
            Y, W, mask, loocv_cells if subsample else None, cv_seed
        )
        total = n_control if subsample else None
        if len(cells) == 0:
            raise ValueError(
                f"trop: none of the {loocv_cells if subsample else n_control} held-out "
                "control cells leaves an identified fit (each needs another control "
                "cell in its unit and its period); "
                + (
                    "raise loocv_cells or change cv_seed"
                    if subsample
                    else "the LOOCV criterion is undefined here: use cv='placebo' or "
                    "fixed lambdas"
                )
            )
        info.update(
            loocv_cells=len(cells),
            loocv_cells_dropped=dropped,
            loocv_control_cells=n_control,
        )

        def score(points):
            q, d = _criteria.loocv_scores(
                Y, W, mask, points, cells, tune_options, len(grids[2]), X
            )
            add(d)
            return q

    else:
        controls = ~panel.ever_treated
        sets = _criteria.placebo_sets(
            int(controls.sum()), n_trials, placebo_units, placebo_method, K, cv_seed
        )
        n_post = panel.n_post
        info.update(placebo_sets=len(sets), placebo_periods=n_post)

        def score(points):
            r, d = _criteria.placebo_scores(
                Y,
                mask,
                controls.astype(float),
                sets,
                points,
                n_post,
                variant,
                tune_options,
                len(grids[2]),
            )
            add(d)
            return r

    if search == "grid":
        res = tuning.grid_search(score, grids)
    elif cv == "loocv":

        def pick(k, default):
            return fixed[k] if fixed[k] is not None else default

        first = [
            (1, (pick(0, 0.0), pick(2, math.inf))),
            (0, (None, pick(2, math.inf))),
            (2, (None, None)),
        ]
        start = [pick(0, 0.0), grids[1][0], pick(2, math.inf)]
        res = tuning.cycle_search(score, grids, start, (1, 0, 2), first)
    else:
        start = [float(np.mean(g)) for g in grids]
        res = tuning.cycle_search(score, grids, start, (0, 1, 2))
    chosen = res.best
    info.update(
        tuned=True,
        cv=cv,
        search=search,
        grid={n: tuple(g) for n, g in zip(names, grids)},
        cv_score=res.score,
        cv_points=res.points,
        cv_scores=res.scores,
        rounds=res.rounds,
        tuning_seconds=time.perf_counter() - t0,
        tuning=diag,
    )
    if grid is None:
        info.update(unit_scale=given["unit_scale"], nn_scale=given["nn_scale"])
    if total is not None:
        took = info["tuning_seconds"]
        warnings.warn(
            f"trop: the LOOCV criterion held out a random {len(cells):,} of the "
            f"{total:,} control cells (loocv_cells={loocv_cells}); tuning took "
            f"{took:.1f} s, and all cells would take about "
            f"{took * total / len(cells) / 60:.1f} min (loocv_cells=None; on the "
            "command line --loocv-cells all)",
            tuning.TuningWarning,
            stacklevel=3,
        )
    if diag.get("max_steps_hit", 0):
        warnings.warn(
            f"trop: {diag['max_steps_hit']} tuning fits stopped at max_steps="
            f"{max_steps}; raise max_steps or loosen tune_tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    return chosen, info
