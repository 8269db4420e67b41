"""TROP: the triply robust panel estimator (Athey, Imbens, Qu and Viviano 2025,
arXiv 2508.21536; METHODS.md section 4).

Paper version (``variant="paper"``, the default; Eq. 2-3 and, for several treated cells,
Eq. 13 / Algorithm 2): every treated observed cell (i, t) gets its own fit of::

    min over mu, alpha, beta, L of
        sum_js omega_j theta_s (1 - W_js) O_js (Y_js - mu - alpha_j - beta_s - L_js)^2
        + lambda_nn ||L||_*

with ``theta_s = exp(-lambda_time |t - s|)`` and ``omega_j = exp(-lambda_unit
dist_{-t}(j, i))`` (``jaxpanel._trop_weights``), then ``tau_it = Y_it - mu - alpha_i - beta_t
- L_it`` and ATT = the mean of ``tau_it`` over treated cells. The treated cells are one
batch (``jax.vmap``, chunked to memory). Any design works: block, staggered, on/off, and
unbalanced panels (missing cells have zero weight).

Global variant (``variant="global"``, the authors' ``trop`` package, ``TROP_TWFE_average``):
one fit with weights ``exp(-lambda_unit d_j - lambda_time d_s)`` on control cells, ``d_j``
the RMS gap to the average treated trajectory over the pre-periods and ``d_s`` the distance
to the centre of the treated block; ATT = the mean residual over treated cells. Block
designs only.

Lambda scales. ``lambda_time`` is per period and ``lambda_unit`` per outcome unit (the
distances are RMS outcome gaps); ``lambda_nn`` multiplies ``||L||_*`` against the
unnormalised weighted sum of squares above (the paper's and both packages' scale; MC's
``lam`` is ``lambda_nn / |O|``). ``lambda_nn = inf`` drops L, ``0`` leaves it unpenalised
(see ``kernels.lowrank``). For the global variant, ``squared_weights=False`` (default) is
the package's scale: the weight multiplies the squared residual. ``squared_weights=True``
reproduces the authors' simulation notebooks, which put ``exp(-lambda_unit d_j -
lambda_time d_s)`` inside the square: the same fit as the package's with lambdas twice as
large (so the notebooks' lambdas are half the package's).

Tuning (``jaxpanel.estimators._trop_tuning``): leave-one-out over control cells (Eq. 4-5,
the default for the paper version) or the package's placebo RMSE (the default for the
global variant), searched coordinate-wise (the paper's footnote 2) or over the full grid.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import lowrank, twfe
from jaxpanel.kernels._loop import CONVERGED, MAX_STEPS, NONFINITE, UNIDENTIFIED

from .. import _trop_weights as tw
from .. import tuning
from ..panel import Panel
from ..requirements import Requirements, require
from ..results import ConvergenceWarning, Estimate, make_estimate, with_variance
from ._core import _require_panel, default_mask
from ._lowrank import LowRankFit, impute_lowrank

Variant = Literal["paper", "global"]
VARIANTS = ("paper", "global")


@dataclass(frozen=True)
class TROPOptions:
    """Solver settings (hashable: a static argument of the jitted functions).

    Attributes
    ----------
    tol : relative tolerance of ``kernels.lowrank`` (None: its dtype default).
    max_steps : iteration cap per fit.
    memory_bytes : working memory of one chunk of a batch of fits (None:
        ``jaxpanel.tuning.default_memory_bytes()``, 16 MiB on CPU, 1 GiB otherwise).
    squared_weights : global variant only; the simulation notebooks' convention (weights
        inside the square), see the module docstring.
    """

    tol: float | None = None
    max_steps: int = 10_000
    memory_bytes: int | None = None
    squared_weights: bool = False


class TROPFit(NamedTuple):
    """Array-level result of the per-cell estimator (a pytree).

    Attributes
    ----------
    att : () mean of the cell effects.
    tau : (N, T) cell effects on treated observed cells, 0 elsewhere.
    y0 : (N, T) ``Y - tau`` on treated cells, the observed ``Y`` elsewhere (each treated
        cell has its own fit, so there is no single fitted surface).
    status : () int32, the worst cell status (nonfinite, unidentified, max_steps).
    cells : (C, 2) int32 (unit, period) of the treated cells (padding repeats cell 0).
    cell_valid : (C,) bool, False on padding.
    cell_tau : (C,) cell effects.
    cell_steps : (C,) solver iterations.
    cell_status : (C,) int32.
    """

    att: jax.Array
    tau: jax.Array
    y0: jax.Array
    status: jax.Array
    cells: jax.Array
    cell_valid: jax.Array
    cell_tau: jax.Array
    cell_steps: jax.Array
    cell_status: jax.Array


def worst_status(status: jax.Array, valid: jax.Array) -> jax.Array:
    """One status for many fits: nonfinite, then unidentified, then max_steps."""
    s = jnp.where(valid, status, CONVERGED)
    out = jnp.where(jnp.any(s == MAX_STEPS), MAX_STEPS, CONVERGED)
    out = jnp.where(jnp.any(s == UNIDENTIFIED), UNIDENTIFIED, out)
    return jnp.where(jnp.any(s == NONFINITE), NONFINITE, out).astype(jnp.int32)


def cell_path(
    y: jax.Array,
    c: jax.Array,
    i: jax.Array,
    t: jax.Array,
    lambda_unit: jax.Array,
    lambda_time: jax.Array,
    lambda_nn: jax.Array,
    options: TROPOptions,
    freq: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Effect of cell (i, t) for several ``lambda_nn`` (K,) at one weight pair.

    The fit uses the untreated observed cells ``c`` except (i, t) itself, weighted by the
    paper's Eq. 3 weights centred on (i, t); ``tau = y_it - fitted_it``. For a treated cell
    this is the paper's estimator; for a control cell it is the leave-one-out prediction
    error of Eq. 4. The weights are factored once and the penalties (sorted decreasing for
    speed) are solved in turn, each warm-started from the previous ``L``. ``freq`` (N,)
    multiplies the weights of unit j by its frequency (bootstrap counts; 0 drops a unit).

    Returns
    -------
    ``(tau (K,), steps (K,), status (K,))``; status UNIDENTIFIED when unit i and period t
    are not tied together by weighted cells.
    """
    omega, theta = tw.cell_weights(y, c, i, t, lambda_unit, lambda_time)
    if freq is not None:
        omega = omega * freq
    w = (omega[:, None] * theta[None, :] * c).at[i, t].set(0.0)
    fac = twfe.factor(w)

    def body(L, lam):
        res = lowrank.solve(
            y, w, lam, L, tol=options.tol, max_steps=options.max_steps, fac=fac
        )
        ok = res.unit_identified[i] & res.time_identified[t] & (res.n_components == 1)
        status = jnp.where(
            res.status != CONVERGED, res.status, jnp.where(ok, CONVERGED, UNIDENTIFIED)
        )
        return res.L, (y[i, t] - res.fitted[i, t], res.steps, status.astype(jnp.int32))

    L0 = jnp.zeros_like(y)
    _, out = jax.lax.scan(body, L0, jnp.atleast_1d(jnp.asarray(lambda_nn, y.dtype)))
    return out


def _arrays(Y, W, mask):
    Y = jnp.asarray(Y)
    mask = default_mask(Y, mask)
    W = jnp.asarray(W, Y.dtype)
    return Y, W, mask, jnp.where(mask > 0, Y, 0.0), (1 - W) * mask


def count_cells(W, mask=None) -> int:
    """Number of treated observed cells (a concrete Python int, for ``n_cells``)."""
    W = np.asarray(W)
    m = np.ones_like(W) if mask is None else np.asarray(mask)
    return int(((W > 0) & (m > 0)).sum())


@partial(jax.jit, static_argnames=("n_cells", "options"))
def _fit(Y, W, mask, lambda_unit, lambda_time, lambda_nn, n_cells, options, freq=None):
    """``fit`` with a static ``n_cells``; ``freq`` (N,) are unit frequencies (inference:
    bootstrap counts multiply each unit's weights and its cells' weight in the ATT; 0
    drops a unit)."""
    Y, W, mask, y, c = _arrays(Y, W, mask)
    treated = W * mask
    if freq is not None:
        freq = jnp.asarray(freq, Y.dtype)
        treated = treated * (freq > 0)[:, None]
    ii, tt = jnp.nonzero(treated > 0, size=n_cells, fill_value=0)
    valid = jnp.arange(n_cells) < treated.sum()
    dtype = Y.dtype
    lu, lt, ln = (jnp.asarray(x, dtype) for x in (lambda_unit, lambda_time, lambda_nn))

    def lane(cell):
        i, t = cell
        tau, steps, status = cell_path(y, c, i, t, lu, lt, ln[None], options, freq)
        return tau[0], steps[0], status[0]

    per_lane = tuning.lane_bytes(Y.shape[0], Y.shape[1], dtype)
    chunk = tuning.batch_size(n_cells, per_lane, options.memory_bytes)
    tau, steps, status = tuning.lane_map(lane, (ii, tt), chunk)
    tau = jnp.where(valid, tau, 0.0)
    tau_mat = jnp.zeros_like(y).at[ii, tt].add(tau)
    cw = valid.astype(dtype) if freq is None else jnp.where(valid, freq[ii], 0.0)
    att = (tau * cw).sum() / cw.sum()
    y0 = jnp.where(treated > 0, y - tau_mat, y)
    # More treated cells than lanes: the ATT would leave some out, so it is not reported
    # as estimated (the concrete-input wrapper raises instead).
    overflow = (treated > 0).sum() > n_cells
    status = jnp.where(overflow, UNIDENTIFIED, worst_status(status, valid))
    return TROPFit(
        att,
        tau_mat,
        y0,
        status.astype(jnp.int32),
        jnp.stack([ii, tt], axis=1).astype(jnp.int32),
        valid,
        tau,
        steps,
        status,
    )


def fit(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lambda_unit: float | jax.Array = 0.0,
    lambda_time: float | jax.Array = 0.0,
    lambda_nn: float | jax.Array = math.inf,
    n_cells: int | None = None,
    options: TROPOptions = TROPOptions(),
) -> TROPFit:
    """TROP, paper version, at fixed lambdas: one fit per treated cell (Eq. 2-3, 13).

    Parameters
    ----------
    Y, W, mask : (N, T) outcomes, 0/1 treatment, 0/1 observed mask (default all observed).
    lambda_unit, lambda_time, lambda_nn : scalars (traced: vmap over them freely).
    n_cells : static number of treated cells to fit (padding beyond the actual count is
        ignored). Default: counted from ``W`` and ``mask``, which must then be concrete;
        under ``jax.vmap`` over treatment masks pass the largest count. A mask with more
        treated cells than ``n_cells`` raises ``ValueError`` (concrete input) or gets
        status UNIDENTIFIED (traced input).
    options : TROPOptions.

    Returns
    -------
    TROPFit.
    """
    concrete = not any(isinstance(a, jax.core.Tracer) for a in (W, mask))
    if n_cells is None:
        n_cells = count_cells(W, mask)
    elif concrete and count_cells(W, mask) > n_cells:
        raise ValueError(
            f"n_cells={n_cells} is smaller than the {count_cells(W, mask)} treated "
            "observed cells; pass n_cells >= that count"
        )
    if n_cells < 1:
        raise ValueError("TROP needs at least one treated observed cell (n_cells >= 1)")
    return _fit(Y, W, mask, lambda_unit, lambda_time, lambda_nn, n_cells, options)


@partial(jax.jit, static_argnames=("options",))
def fit_global(
    Y: jax.Array,
    W: jax.Array,
    mask: jax.Array | None = None,
    lambda_unit: float | jax.Array = 0.0,
    lambda_time: float | jax.Array = 0.0,
    lambda_nn: float | jax.Array = math.inf,
    options: TROPOptions = TROPOptions(),
) -> LowRankFit:
    """TROP, global variant (the ``trop`` package), at fixed lambdas: one shared fit.

    ``W`` must be a block design (every treated unit treated from the same period to the
    end); the user level checks this. Returns a LowRankFit whose ``unit_weights`` and
    ``time_weights`` are the global ``omega`` and ``theta``.
    """
    Y, W, mask, y, _ = _arrays(Y, W, mask)
    d_unit, d_time = tw.global_distances(y, W, mask)
    dtype = Y.dtype
    omega, theta = tw.global_weights(
        d_unit,
        d_time,
        jnp.asarray(lambda_unit, dtype),
        jnp.asarray(lambda_time, dtype),
        options.squared_weights,
    )
    return impute_lowrank(
        Y,
        W,
        mask,
        omega,
        theta,
        jnp.asarray(lambda_nn, dtype),
        tol=options.tol,
        max_steps=options.max_steps,
    )


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


def requirements(variant: Variant = "paper", cv: CV | None = None) -> Requirements:
    """Design requirements: the paper version takes any design whose treated cells are
    identified; the global variant a block design with never-treated units (its unit
    distances are to their average treated trajectory); the placebo criterion at least
    two never-treated units (one is declared treated, the others are its controls)."""
    cv = ("loocv" if variant == "paper" else "placebo") if cv is None else cv
    controls = 2 if cv == "placebo" else (1 if variant == "global" else 0)
    if variant == "global":
        return Requirements(
            absorbing=True, block=True, min_controls=controls, min_pre=1
        )
    return Requirements(min_controls=controls)


def _check_lambda(name: str, value, allow_inf: bool) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if not ok or (math.isinf(value) and not allow_inf) or math.isnan(value):
        allowed = "a number in [0, inf]" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )


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
    seed: int = 0,
    squared_weights: bool = False,
    tol: float | None = None,
    tune_tol: float = 1e-6,
    max_steps: int = 10_000,
    memory_bytes: int | None = None,
    variance: str | None = None,
    reps: int | None = None,
) -> Estimate:
    """TROP on a :class:`jaxpanel.Panel`, tuning the lambdas it is not given.

    Parameters
    ----------
    panel : the data (any design for the paper version; a block design for "global").
    lambda_unit, lambda_time, lambda_nn : fixed values; each one left None is tuned (all
        three given: no tuning). Scales in the module docstring.
    variant : "paper" (one fit per treated cell) or "global" (the ``trop`` package).
    cv : "loocv" (paper Eq. 4-5; default for "paper") or "placebo" (the package's
        placebo RMSE; default and only choice for "global").
    search : "cycle" (the paper's footnote 2: lambda_time with lambda_unit = 0 and
        lambda_nn = inf, then lambda_unit, then lambda_nn, then rounds over (time, unit,
        nn) until nothing changes; the placebo criterion starts instead from the grid
        means and cycles (unit, time, nn), as the package's ``TROP_cv_cycle``) or "grid"
        (every point, as ``TROP_cv_joint``).
    grid : dict of ``lambda_unit``, ``lambda_time``, ``lambda_nn`` sequences; default
        :func:`default_grid`.
    n_trials, placebo_units, placebo_method, K, seed : placebo sets (package defaults:
        200 resampled sets of 1 unit, seed 0; ``placebo_method="kfold"`` with ``K``).
    squared_weights : global variant only: weights inside the square (the authors'
        simulation notebooks); see the module docstring.
    tol : tolerance of the final fits (None: ``kernels.lowrank`` default, 1e-9 in
        float64); ``tune_tol``: of the tuning fits, whose criterion needs less.
    max_steps, memory_bytes : iteration cap per fit; working memory per batch chunk.

    variance, reps : also run a variance method (``jaxpanel.inference``), e.g.
        ``variance='placebo', reps=1000``; it re-fits with the chosen penalties
        held fixed and draws its replicates from ``seed`` (the same seed).

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
    from . import _trop_tuning as tt

    _require_panel(panel)
    _choice("variant", variant, VARIANTS)
    _choice("search", search, SEARCHES)
    cv = ("loocv" if variant == "paper" else "placebo") if cv is None else cv
    _choice("cv", cv, CVS)
    _check_lambda("lambda_unit", lambda_unit, allow_inf=False)
    _check_lambda("lambda_time", lambda_time, allow_inf=False)
    _check_lambda("lambda_nn", lambda_nn, allow_inf=True)
    require(panel, "trop", requirements(variant, cv))
    if variant == "global":
        if cv == "loocv":
            raise ValueError(
                "the global variant is tuned by the placebo criterion (cv='placebo'); "
                "leave-one-out over control cells (cv='loocv') belongs to the paper "
                "version (variant='paper')"
            )
    elif squared_weights:
        raise ValueError("squared_weights applies to variant='global' only")
    options = TROPOptions(tol, max_steps, memory_bytes, squared_weights)
    tune_options = TROPOptions(tune_tol, max_steps, memory_bytes, squared_weights)
    Y, W, mask = panel.arrays()
    fixed = (lambda_unit, lambda_time, lambda_nn)
    info: dict = {"variant": variant}
    if all(x is not None for x in fixed):
        chosen = tuple(float(x) for x in fixed)
        info["tuned"] = False
    else:
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
                _check_lambda(f"grid value of {name}", v, allow_inf=(k == 2))
            if not values:
                raise ValueError(f"the {name} grid is empty")
            grids.append([float(v) for v in values])
        t0 = time.perf_counter()
        diag: dict = {}

        def add(d):
            for key, val in d.items():
                diag[key] = diag.get(key, 0) + val

        if cv == "loocv":
            cells, dropped = tt.loocv_cells(Y, W, mask)
            info.update(loocv_cells=len(cells), loocv_cells_dropped=dropped)

            def score(points):
                q, d = tt.loocv_scores(
                    Y, W, mask, points, cells, tune_options, len(grids[2])
                )
                add(d)
                return q

        else:
            controls = ~panel.ever_treated
            sets = tt.placebo_sets(
                int(controls.sum()), n_trials, placebo_units, placebo_method, K, seed
            )
            n_post = panel.n_post
            info.update(placebo_sets=len(sets), placebo_periods=n_post)

            def score(points):
                r, d = tt.placebo_scores(
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
        if diag.get("max_steps_hit", 0):
            import warnings

            warnings.warn(
                f"trop: {diag['max_steps_hit']} tuning fits stopped at max_steps="
                f"{max_steps}; raise max_steps or loosen tune_tol",
                ConvergenceWarning,
                stacklevel=2,
            )
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
        "seed": seed,
        "squared_weights": squared_weights,
        "tol": tol,
        "tune_tol": tune_tol,
        "max_steps": max_steps,
        "memory_bytes": memory_bytes,
    }
    # The same estimator with the lambdas held at their chosen values (the paper's
    # bootstrap re-fits with fixed lambdas): Recipe("trop", info["fixed_options"]).
    info["fixed_options"] = {
        **recipe,
        "lambda_unit": lu,
        "lambda_time": lt,
        "lambda_nn": ln,
    }
    if variant == "global":
        out = fit_global(Y, W, mask, lu, lt, ln, options)
        info.update(rank=int(out.rank), steps=int(out.steps))
        est = make_estimate(
            panel,
            "trop",
            out,
            options=recipe,
            unit_weights=np.asarray(out.unit_weights),
            time_weights=np.asarray(out.time_weights),
            info=info,
        )
        return with_variance(est, variance, reps, seed)
    out = fit(Y, W, mask, lu, lt, ln, count_cells(W, mask), options)
    info.update(
        cells=int(np.asarray(out.cell_valid).sum()),
        cell_steps_max=int(np.asarray(out.cell_steps).max()),
    )
    est = make_estimate(
        panel,
        "trop",
        out,
        options=recipe,
        info=info,
        counterfactual=functools.partial(
            _untreated_trajectory, panel, out, (lu, lt, ln), options
        ),
    )
    return with_variance(est, variance, reps, seed)


def _untreated_trajectory(panel, out, lambdas, options: TROPOptions) -> np.ndarray:
    """(T,) mean imputed Y(0) of the treated units per period, for the trajectory.

    On treated cells it is the estimate's own imputation. The treated units' untreated
    cells get their leave-one-out prediction (Eq. 4: the paper's fit with weights
    centred on that cell and the cell held out), so the pre-period fit shown is an
    honest out-of-sample one, not the observed outcome; NaN where that fit is not
    identified.
    """
    from ._trop_tuning import loocv_table

    Y, W, mask = panel.arrays()
    y0 = np.where(panel.mask, np.asarray(out.y0), np.nan)
    cells = np.argwhere(panel.ever_treated[:, None] & panel.mask & ~panel.W)
    if len(cells):
        pairs = np.array([lambdas[:2]], float)
        nn = np.array([[lambdas[2]]], float)
        tau, _, status = (
            np.asarray(a)[0, :, 0]
            for a in loocv_table(Y, W, mask, cells, pairs, nn, options)
        )
        ok = (status != NONFINITE) & (status != UNIDENTIFIED) & np.isfinite(tau)
        y0[cells[:, 0], cells[:, 1]] = np.where(
            ok, panel.Y[cells[:, 0], cells[:, 1]] - tau, np.nan
        )
    rows = y0[panel.ever_treated]
    ok = np.isfinite(rows)
    n = ok.sum(axis=0)
    total = np.where(ok, rows, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)
