"""TROP and MC on Prop 99: fixed-lambda fits, LOOCV / placebo tuning, and peers.

python bench/bench_trop.py [--skip-grid] [--skip-peers] [--trials 200]
                           [--only fixed,mc,loocv,cps,placebo,peers]

Ratios against peers use this run's rows, or the latest recorded ones of the same kind
(``--only peers`` after a full run).

Rows (bench/results/trop_prop99.jsonl), all in float64 on this machine's CPU:

- ``trop_fixed`` / ``trop_global_fixed``: one estimate at a fixed lambda triple, AOT
  compile seconds and steady-state seconds (``_harness.measure``).
- ``mc_cv``: MC with MCPanel's CV (100 penalties), both solvers; R MCPanel's recorded
  ``time_s_cv_fit`` (../shared references, R 4.2.2 on a 2-core VM) for scale.
- ``trop_loocv_grid`` / ``trop_loocv_cycle``: paper TROP tuned by leave-one-out over all
  control cells on the default 6 x 6 x 5 grid (full grid / coordinate cycle), seconds.
- ``trop_loocv_cycle_cps``: the same cycle on a CPS-sized panel, R synthdid's CPS
  log_wage (50 states x 40 years, ``../shared/data/CPS.csv``; skipped where absent) with
  10 states (NumPy ``default_rng(0)``) treated in the last 10 years, the papers' placebo
  shape: 1,900 held-out cells.
- ``trop_global_placebo_grid`` / ``..._cycle``: global TROP tuned by the package's placebo
  RMSE (``--trials`` placebo sets), seconds.
- ``peer_trop_package``: the ``trop`` package (cvxpy; SCS for finite lambda_nn, OSQP for
  inf): one fit, and its placebo CV over the same grid, extrapolated from one measured
  grid point (the full joint search is 36,000 cvxpy solves); agreement of the global ATT.
- ``peer_diff_diff``: diff-diff's ``TROP(method="local")`` per-cell estimate at a fixed
  triple (its Python per-cell path, ``_fit_with_fixed_lambda``), timed and compared, with
  its defaults (max_iter=100, tol=1e-6) and converged (max_iter=5000, tol=1e-10); its
  Rust LOOCV for one grid point, extrapolated to the full grid.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import sys
import time
import warnings
from pathlib import Path

# Measure this checkout, not whichever jaxpanel is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import numpy as np
from _harness import RESULTS, measure, record, show

NAME = "trop_prop99"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "references"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def seconds(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    jax.block_until_ready(jax.tree_util.tree_leaves(out))
    return out, time.perf_counter() - t0


def _loocv_fields(est, wall: float) -> dict:
    """A LOOCV-tuned TROP estimate's tuning record: cells, fits, steps, times, choice."""
    info = est.info
    return {
        "loocv_cells": info["loocv_cells"],
        "fits": info["tuning"]["fits"],
        "solver_steps": info["tuning"]["steps_total"],
        "tuning_s": info["tuning_seconds"],
        "wall_s": wall,
        "chosen": (info["lambda_unit"], info["lambda_time"], info["lambda_nn"]),
        "att": est.att,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-grid", action="store_true", help="skip full-grid LOOCV")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--trials", type=int, default=200, help="placebo sets")
    ap.add_argument(
        "--only",
        default="fixed,mc,loocv,cps,placebo,peers",
        help="comma-separated sections to run",
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    jax.config.update("jax_enable_x64", True)

    import jaxpanel
    from jaxpanel.estimators import mc, trop

    panel = jaxpanel.datasets.prop99_panel()
    Y, W, M = panel.arrays()
    n_cells = trop.count_cells(W, M)
    base = {"dtype": "float64", "N": panel.N, "T": panel.T, "treated_cells": n_cells}
    rows = []

    def emit(kind, **row):
        rows.append(record(NAME, {"kind": kind, **base, **row}))
        show(rows[-1])

    def latest(kind):
        """This run's row of ``kind``, else the latest recorded one (or None)."""
        mine = [r for r in rows if r["kind"] == kind]
        if mine:
            return mine[-1]
        path = RESULTS / f"{NAME}.jsonl"
        if not path.exists():
            return None
        old = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        old = [r for r in old if r.get("kind") == kind]
        return old[-1] if old else None

    # ---------------------------------------------------------------- fixed lambdas
    # The triple leave-one-out chooses on Prop 99 with the default grid (cycle search).
    from jaxpanel.cli import DEMO_OPTIONS

    fixed = tuple(
        DEMO_OPTIONS["trop"][k] for k in ("lambda_unit", "lambda_time", "lambda_nn")
    )
    opts = trop.TROPOptions()
    if "fixed" in only:
        t = measure(
            lambda y, w, m: trop._fit(y, w, m, *fixed, n_cells, opts).att, Y, W, M
        )
        att = float(trop.fit(Y, W, M, *fixed).att)
        emit("trop_fixed", lambdas=fixed, att=att, **t)
        t = measure(lambda y, w, m: trop.fit_global(y, w, m, *fixed, opts).att, Y, W, M)
        att_global = float(trop.fit_global(Y, W, M, *fixed).att)
        emit("trop_global_fixed", lambdas=fixed, att=att_global, **t)

    # ---------------------------------------------------------------- MC
    folds = mc.panel_fold_draws(panel)
    r_time = None
    ref_file = REFERENCE / "prop99_synthdid_R.json"
    if ref_file.exists():
        r_time = json.loads(ref_file.read_text())["prop99"]["mc"]["time_s_cv_fit"]
    for solver in ("mcpanel", "exact") if "mc" in only else ():
        o = mc.MCOptions(solver=solver)
        t = measure(
            lambda y, w, m, f, o=o: mc.fit_cv(y, w, m, f, o)[0].att, Y, W, M, folds
        )
        out, res = mc.fit_cv(Y, W, M, folds, o)
        emit(
            "mc_cv",
            solver=solver,
            num_lambda=100,
            att=float(out.att),
            chosen_lambda=float(res.best_lambda),
            best_index_1based=int(res.best_index) + 1,
            r_mcpanel_recorded_s=r_time,
            **t,
        )

    # ---------------------------------------------------------------- tuning
    grid = trop.default_grid(panel)
    searches = ["cycle"] if args.skip_grid else ["cycle", "grid"]
    for search in searches if "loocv" in only else ():
        est, wall = seconds(jaxpanel.trop, panel, search=search)
        emit(
            f"trop_loocv_{search}",
            grid_sizes=[
                len(grid[k]) for k in ("lambda_unit", "lambda_time", "lambda_nn")
            ],
            points_scored=len(est.info["cv_scores"]),
            **_loocv_fields(est, wall),
        )
    if "cps" in only and not (DATA / "CPS.csv").exists():
        print(f"cps: skipped, {DATA / 'CPS.csv'} is absent (see ../shared/data)")
    elif "cps" in only:
        import pandas as pd

        df = pd.read_csv(DATA / "CPS.csv", sep=";")
        Yc = df.pivot(index="state", columns="year", values="log_wage").to_numpy()
        Wc = np.zeros(Yc.shape)
        treated = np.random.default_rng(0).choice(Yc.shape[0], 10, replace=False)
        Wc[treated, -10:] = 1
        cps = jaxpanel.Panel.from_arrays(Yc, Wc)
        est, wall = seconds(jaxpanel.trop, cps)
        emit(
            "trop_loocv_cycle_cps",
            N=cps.N,
            T=cps.T,
            treated_cells=trop.count_cells(*cps.arrays()[1:]),
            **_loocv_fields(est, wall),
        )
    for search in searches if "placebo" in only else ():
        est, wall = seconds(
            jaxpanel.trop, panel, variant="global", search=search, n_trials=args.trials
        )
        info = est.info
        emit(
            f"trop_global_placebo_{search}",
            trials=args.trials,
            points_scored=len(info["cv_scores"]),
            tuning_s=info["tuning_seconds"],
            wall_s=wall,
            chosen=(info["lambda_unit"], info["lambda_time"], info["lambda_nn"]),
            att=est.att,
        )
    if args.skip_peers or "peers" not in only:
        return

    # ---------------------------------------------------------------- trop package
    import trop as trop_pkg
    from trop.cv import _generate_placebo_sets, _placebo_rmse_for_lambdas

    Yn, Wn = np.asarray(Y), np.asarray(W)
    treated = list(np.flatnonzero(Wn.any(axis=1)))
    ours_one = measure(
        lambda y, w, m: trop.fit_global(y, w, m, *fixed, opts).att, Y, W, M, repeats=20
    )
    checks = []
    for lams in [
        (0.0, 0.0, math.inf),
        (0.05, 0.4, math.inf),
        fixed,
        (0.02, 0.1, 100.0),
    ]:
        ours = float(trop.fit_global(Y, W, M, *lams, trop.TROPOptions(tol=1e-11)).att)
        theirs = trop_pkg.TROP_TWFE_average(Yn, Wn, treated, *lams, treated_periods=12)
        checks.append(
            {"lambdas": lams, "ours": ours, "trop": theirs, "diff": ours - theirs}
        )
    t0 = time.perf_counter()
    for _ in range(3):
        trop_pkg.TROP_TWFE_average(Yn, Wn, treated, *fixed, treated_periods=12)
    pkg_one = (time.perf_counter() - t0) / 3
    # Placebo CV: time one finite and one infinite grid point with all trials, then
    # extrapolate to the package's joint search over the same grid (TROP_cv_joint).
    controls = Yn[~Wn.any(axis=1)]
    sets = _generate_placebo_sets(
        controls.shape[0],
        "resample",
        n_treated_units=1,
        n_trials=args.trials,
        random_state=0,
    )
    per_point = {}
    for label, lams in (
        ("finite", (grid["lambda_unit"][2], 0.4, grid["lambda_nn"][2])),
        ("inf", (grid["lambda_unit"][2], 0.4, math.inf)),
    ):
        t0 = time.perf_counter()
        _placebo_rmse_for_lambdas(
            Y=controls,
            placebo_sets=sets,
            treated_periods=12,
            lambda_unit=lams[0],
            lambda_time=lams[1],
            lambda_nn=lams[2],
            n_jobs=-1,
            prefer="threads",
            solver=None,
            verbose=False,
        )
        per_point[label] = time.perf_counter() - t0
    n_inf = sum(math.isinf(x) for x in grid["lambda_nn"])
    n_pairs = len(grid["lambda_unit"]) * len(grid["lambda_time"])
    pkg_grid = n_pairs * (
        n_inf * per_point["inf"]
        + (len(grid["lambda_nn"]) - n_inf) * per_point["finite"]
    )
    our_grid = [r for r in [latest("trop_global_placebo_grid")] if r]
    emit(
        "peer_trop_package",
        package_version=importlib.metadata.version("trop"),
        one_fit_s=pkg_one,
        ours_one_fit_steady_s=ours_one["steady_s"],
        ratio_one_fit=pkg_one / ours_one["steady_s"],
        cv_point_s=per_point,
        cv_grid_extrapolated_s=pkg_grid,
        cv_grid_extrapolation="measured one finite and one infinite lambda_nn grid point "
        f"({args.trials} placebo fits each, n_jobs=-1 threads) x {n_pairs} weight pairs",
        ours_cv_grid_s=our_grid[0]["tuning_s"] if our_grid else None,
        ratio_cv_grid=pkg_grid / our_grid[0]["tuning_s"] if our_grid else None,
        agreement=checks,
        max_abs_diff=max(abs(c["diff"]) for c in checks),
    )

    # ---------------------------------------------------------------- diff-diff
    from diff_diff import TROP as DDTROP
    from diff_diff._backend import HAS_RUST_BACKEND, _rust_loocv_grid_search

    df = jaxpanel.datasets.prop99()
    ours_cells = measure(
        lambda y, w, m: trop._fit(y, w, m, *fixed, n_cells, opts).att,
        Y,
        W,
        M,
        repeats=20,
    )

    def dd_fit(lams, max_iter=100, tol=1e-6):
        est = DDTROP(method="local", max_iter=max_iter, tol=tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est._fit_with_fixed_lambda(
                df,
                "PacksPerCapita",
                "treated",
                "State",
                "Year",
                (lams[1], lams[0], lams[2]),
            )

    comparisons = []
    for lams in [(0.05, 0.4, math.inf), (0.0, 0.0, math.inf), (0.05, 0.4, 20.0), fixed]:
        ours = float(trop.fit(Y, W, M, *lams, options=trop.TROPOptions(tol=1e-11)).att)
        t0 = time.perf_counter()
        default = dd_fit(lams)
        dd_s = time.perf_counter() - t0
        tight = dd_fit(lams, 5000, 1e-10)
        comparisons.append(
            {
                "lambdas": lams,
                "ours": ours,
                "dd_default": default,
                "dd_default_s": dd_s,
                "dd_converged": tight,
                "diff_default": ours - default,
                "diff_converged": ours - tight,
            }
        )
    fixed_cmp = next(c for c in comparisons if c["lambdas"] == fixed)
    # Rust LOOCV for one grid point (all control cells), as TROP.fit runs it per point.
    Yt = np.ascontiguousarray(Yn.T)
    Dt = np.ascontiguousarray(Wn.T)
    tdist = np.abs(np.arange(panel.T)[:, None] - np.arange(panel.T)[None, :]).astype(
        np.int64
    )
    # Grid points at a middle weight pair: lambda_nn = inf, the second-largest and the
    # smallest finite value of the default grid (one finite point takes minutes);
    # extrapolated to the 6 x 6 x 5 grid as 36 pairs x (inf + 2 x each finite one).
    rust = {}
    rust_q = []
    rust_grid = None
    if HAS_RUST_BACKEND:
        lu, lt = grid["lambda_unit"][2], grid["lambda_time"][2]
        from jaxpanel.estimators.trop import _criteria as tt

        cells, _ = tt.loocv_cells(Y, W, M)
        for ln in (grid["lambda_nn"][0], grid["lambda_nn"][2], grid["lambda_nn"][-1]):
            t0 = time.perf_counter()
            out = _rust_loocv_grid_search(
                Yt,
                Dt,
                (Dt == 0).astype(np.uint8),
                tdist,
                np.array([lt]),
                np.array([lu]),
                np.array([1e10 if math.isinf(ln) else ln]),
                100,
                1e-6,
            )
            rust[str(ln)] = time.perf_counter() - t0
            q, _ = tt.loocv_scores(
                Y, W, M, np.array([[lu, lt, ln]]), cells, trop.TROPOptions(tol=1e-9)
            )
            rust_q.append(
                {"lambda_nn": ln, "diff_diff_Q": out[3], "ours_Q": float(q[0])}
            )
        t_inf, t_large, t_small = rust.values()
        rust_grid = n_pairs * (t_inf + 2 * t_large + 2 * t_small)
    our_loocv = [r for r in [latest("trop_loocv_grid")] if r]
    emit(
        "peer_diff_diff",
        package_version=importlib.metadata.version("diff-diff"),
        per_cell_fixed_s=fixed_cmp["dd_default_s"],
        ours_per_cell_fixed_steady_s=ours_cells["steady_s"],
        ratio_per_cell_fixed=fixed_cmp["dd_default_s"] / ours_cells["steady_s"],
        comparisons=comparisons,
        rust_loocv_point_s=rust,
        loocv_criterion_check=rust_q,
        rust_loocv_grid_extrapolated_s=rust_grid,
        rust_loocv_extrapolation="grid points (all 1,197 control cells, max_iter=100, "
        "tol=1e-6) at lambda_nn = inf, lambda_max/16, lambda_max/256 and (lambda_unit, "
        f"lambda_time) = ({grid['lambda_unit'][2]:.4g}, {grid['lambda_time'][2]}); "
        f"grid = {n_pairs} pairs x (inf + 2 x lambda_max/16 + 2 x lambda_max/256)",
        ours_loocv_grid_s=our_loocv[0]["tuning_s"] if our_loocv else None,
        ratio_loocv_grid=(rust_grid / our_loocv[0]["tuning_s"])
        if (rust and our_loocv)
        else None,
    )


if __name__ == "__main__":
    main()
