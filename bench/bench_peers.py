"""jaxpanel against the fastest installed peer, side by side in one run (issue 15's table).

    python bench/bench_peers.py [--sizes prop99 40x30 200x50 1000x50 3000x100]
                                [--estimators sdid mc] [--reps 1000]
                                [--peer-reps 50] [--timeout 1800] [--merge]

Each panel size runs in its own process (so its peak memory is its own); rows go to
``bench/results/peers.json`` and the table with ratios to ``bench/results/peers.md``
(``--merge``: the recorded rows of the sizes, tasks and peers not run now are kept, and
their run's settings are recorded as ``merged_meta``).

Rows, for SDID on each panel (Prop 99, then synthetic factor-model panels N x T with
N/20 treated units, at least 1, and the last T/5 periods treated):

- ``placebo_fw``: the placebo SE with R synthdid's Frank-Wolfe weights (jaxpanel
  ``variance("placebo")``) against diff-diff's ``SyntheticDiD(variance_method="placebo")``
  (its Rust backend, one fit at a time);
- ``placebo_exact``: the same with exact simplex weights (``solver="exact"``) against
  panelkit's ``SyntheticDiD(inference="placebo")``;
- ``bootstrap_fw``: the bootstrap SE with R-exact weights (R's ``bootstrap_se``: units
  resampled, weights re-estimated from the original ones) against diff-diff's
  ``variance_method="bootstrap"``;
- ``jackknife_fw`` / ``jackknife_exact``: the fixed-weight jackknife (R's
  ``jackknife_se``, every unit left out once, so not scaled: the SEs agree to rounding)
  against diff-diff's / panelkit's (panels with more than one treated unit);
- ``fit_fw``, ``fit_exact``: one fit at the user level (``jaxpanel.sdid``, steady state)
  against diff-diff's fit (with its cheapest inference, 2 placebo replicates: it has no
  fit without one) and panelkit's (no inference).
- ``mc_fit`` (``--estimators mc``): MC at one fixed penalty solved to convergence
  (``jaxpanel.mc(panel, lam, solver="exact")``) against panelkit's ``MCNNM`` and
  pyfector's ``fect(method="mc")`` at the same penalty on their scales (``_mc_rows``).
  Tuning by cross-validation is not compared: the three packages' CV rules (folds,
  penalty paths, held-out cells) differ, so their chosen penalties differ.

Peers' replicate rows run ``--peer-reps`` replicates and are scaled to ``--reps`` (their
replicates are independent fits one after another); jaxpanel runs all ``--reps``. Same
numbers: the ATTs are compared (R-exact against diff-diff, exact weights against
panelkit), and each SE is reported so that the Monte Carlo agreement can be read. Compile
time is the first call minus the steady state, in a process with the persistent
compilation cache off (``JAXPANEL_COMPILATION_CACHE=0``), so it is a cold compile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = ("prop99", "40x30", "200x50", "1000x50", "3000x100")
ESTIMATORS = ("sdid", "mc")


def synthetic(N: int, T: int, seed: int = 0):
    """Factor-model panel: unit and time effects, rank-2 interactions, AR(1) noise."""
    rng = np.random.default_rng(seed)
    n_tr, t_post = max(1, N // 20), max(1, T // 5)
    u, v = rng.normal(size=(N, 2)), rng.normal(size=(T, 2)).cumsum(axis=0) / 3
    noise = rng.normal(size=(N, T))
    for t in range(1, T):
        noise[:, t] += 0.5 * noise[:, t - 1]
    Y = rng.normal(size=(N, 1)) * 3 + np.linspace(0, 2, T) + u @ v.T + noise
    W = np.zeros((N, T))
    W[:n_tr, T - t_post :] = 1.0
    return Y, W


def panel_for(size: str):
    import jaxpanel

    if size == "prop99":
        p = jaxpanel.datasets.prop99_panel()
        return p, np.asarray(p.Y, float), np.asarray(p.W, float)
    N, T = map(int, size.split("x"))
    Y, W = synthetic(N, T)
    return jaxpanel.Panel.from_arrays(Y, W), Y, W


def _timed(fn, repeats: int = 3, budget_s: float | None = None):
    """``(result, first call s, median of the repeats s)``; for a peer (nothing to
    compile), a first call over ``budget_s`` is not repeated (a fit of minutes) and is
    its own steady state."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    if budget_s is not None and first > budget_s:
        return out, first, first
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, first, float(np.median(times))


def _long(Y, W):
    import pandas as pd

    N, T = Y.shape
    ever = W.max(axis=1)
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(N), T),
            "time": np.tile(np.arange(T), N),
            "y": Y.ravel(),
            "ever": np.repeat(ever, T).astype(int),
        }
    )


def one_size(size: str, reps: int, peer_reps: int, estimators=ESTIMATORS) -> list[dict]:
    """Every row of one panel size (run in its own process)."""
    import jax

    jax.config.update("jax_enable_x64", True)

    warnings.simplefilter("ignore")
    panel, Y, W = panel_for(size)
    rows = []
    if "sdid" in estimators:
        rows += _sdid_rows(size, panel, Y, W, reps, peer_reps)
    if "mc" in estimators:
        rows += _mc_rows(size, panel, Y, W)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for r in rows:
        r["peak_rss_mib"] = peak
    return rows


def _block(W) -> tuple[int, list[int]]:
    """``(pre-periods, treated units)`` of a block design, as the peers take them."""
    n_pre = int(W.shape[1] - W.sum(axis=0).astype(bool).sum())
    return n_pre, [int(i) for i in np.flatnonzero(W.max(axis=1) > 0)]


def _row_maker(rows: list, size: str, N: int, T: int):
    def row(task, ours_s, peer, peer_s, **extra):
        rows.append(
            {
                "panel": size,
                "N": N,
                "T": T,
                "task": task,
                "jaxpanel_s": ours_s,
                "peer": peer,
                "peer_s": peer_s,
                "speedup": (peer_s / ours_s) if peer_s and ours_s else None,
                **extra,
            }
        )

    return row


# Peers' tolerance for the MC fit: their ATTs then agree with jaxpanel's converged fit
# (relative tolerance 1e-9 on L) to 1e-6 or better (7e-7: pyfector on Prop 99).
MC_PEER_TOL = 1e-10


def _mc_rows(size, panel, Y, W) -> list[dict]:
    """MC at one fixed penalty, solved to convergence, against panelkit and pyfector.

    The penalty is a tenth of the smallest one that gives ``L = 0`` (MCPanel's
    ``lambda_max`` at its starting fixed effects), on MCPanel's scale ``lam`` (loss
    divided by the number of control cells ``|O|``). The same objective is panelkit's
    ``MCNNM(lambda_=lam |O| / 2)`` (soft-impute, loss halved) and pyfector's
    ``fect(method="mc", lam=lam |O| / (2 N T))`` (its thresholding scales the matrix by
    ``1 / (N T)``), each run to tolerance ``MC_PEER_TOL``.
    """
    import jaxpanel
    from jaxpanel.kernels import mcpanel

    N, T = Y.shape
    rows = []
    row = _row_maker(rows, size, N, T)
    control = (W == 0).astype(float)
    O = float(control.sum())
    n_pre, treated = _block(W)
    y = Y * control
    lam = float(mcpanel.lambda_max(y, control, mcpanel.effects(y, control))) / 10
    est, first, ours = _timed(lambda: jaxpanel.mc(panel, lam, solver="exact"))

    def mc_row(peer, peer_s, peer_att):
        row(
            "mc_fit", ours, peer, peer_s, att=est.att, peer_att=peer_att,
            att_diff=abs(est.att - peer_att), compile_s=first - ours, lam=lam,
            steps=int(est.info["steps"]),
        )  # fmt: skip

    try:
        import panelkit
    except ImportError:
        panelkit = None
    if panelkit is not None:
        pk = panelkit.MCNNM(lambda_=lam * O / 2, max_iter=10**6, tol=MC_PEER_TOL)
        r, _, pk_s = _timed(lambda: pk.fit(Y, treated, n_pre), budget_s=10.0)
        mc_row("panelkit", pk_s, float(r.att))
    try:
        import pyfector
    except ImportError:
        pyfector = None
    if pyfector is not None:
        df = _long(Y, W)
        df["d"] = W.ravel()

        def fect():
            return pyfector.fect(
                df, Y="y", D="d", index=("unit", "time"), method="mc",
                lam=lam * O / (2 * N * T), CV=False, tol=MC_PEER_TOL, max_iter=10**6,
            )  # fmt: skip

        r, _, fe_s = _timed(fect, budget_s=10.0)
        mc_row("pyfector", fe_s, float(r.att_avg))
    if panelkit is None and pyfector is None:
        row("mc_fit", ours, "panelkit, pyfector (not installed)", None)
    return rows


def _sdid_rows(size, panel, Y, W, reps, peer_reps) -> list[dict]:
    """The SDID rows (module docstring)."""
    import jaxpanel

    N, T = Y.shape
    n_pre, treated = _block(W)
    rows = []
    row = _row_maker(rows, size, N, T)

    def fit_row(task, est, steady, first, peer, peer_s, peer_res):
        """One fit's row: times, the ATTs and their difference, compile seconds."""
        peer_att = float(peer_res.att)
        row(
            task, steady, peer, peer_s, att=est.att, peer_att=peer_att,
            att_diff=abs(est.att - peer_att), compile_s=first - steady,
        )  # fmt: skip

    # ---- jaxpanel
    est_fw, first_fw, fit_fw = _timed(lambda: jaxpanel.sdid(panel))
    est_x, first_x, fit_x = _timed(lambda: jaxpanel.sdid(panel, solver="exact"))

    def var(est, method, **kw):
        return est.variance(method, progress=False, **kw)

    pl_fw, pl_fw_first, pl_fw_s = _timed(
        lambda: var(est_fw, "placebo", reps=reps, seed=0), repeats=1
    )
    # with one treated unit the bootstrap and the jackknife are undefined (R: NA)
    jk_fw = len(treated) > 1
    if jk_fw:
        bs_fw, bs_fw_first, bs_fw_s = _timed(
            lambda: var(est_fw, "bootstrap", reps=reps, seed=0), repeats=1
        )
        jkf, jkf_first, jkf_s = _timed(lambda: var(est_fw, "jackknife"), repeats=1)
    pl_x, _, pl_x_s = _timed(
        lambda: var(est_x, "placebo", reps=reps, seed=0), repeats=1
    )
    # the jackknife holds the weights fixed: no solve per replicate, so it runs at
    # every size
    jk = len(treated) > 1
    if jk:
        jk_x, _, jk_s = _timed(lambda: var(est_x, "jackknife"), repeats=1)

    # ---- diff-diff (R-exact Frank-Wolfe, Rust backend)
    try:
        from diff_diff import SyntheticDiD as DD
    except ImportError:
        DD = None
    if DD is not None:
        df = _long(Y, W)
        post = list(range(n_pre, T))

        def dd(n, method="placebo"):
            return DD(variance_method=method, n_bootstrap=n, seed=0).fit(
                df, outcome="y", treatment="ever", unit="unit", time="time",
                post_periods=post,
            )  # fmt: skip

        r2, _, dd2 = _timed(lambda: dd(2), repeats=1, budget_s=10.0)
        rp, _, ddp = _timed(lambda: dd(peer_reps), repeats=1, budget_s=10.0)
        per_rep = max(ddp - dd2, 0.0) / max(peer_reps - 2, 1)
        fit_row(
            "fit_fw", est_fw, fit_fw, first_fw, "diff-diff (fit + 2 placebo)", dd2, r2
        )
        row(
            "placebo_fw", pl_fw_s, "diff-diff", per_rep * reps,
            se=pl_fw.se, peer_se=float(rp.se), peer_reps_run=peer_reps,
            compile_s=pl_fw_first - pl_fw_s,
        )  # fmt: skip
        if jk_fw:
            _, _, ddb2 = _timed(lambda: dd(2, "bootstrap"), repeats=1, budget_s=10.0)
            rb, _, ddb = _timed(
                lambda: dd(peer_reps, "bootstrap"), repeats=1, budget_s=10.0
            )
            per_rep = max(ddb - ddb2, 0.0) / max(peer_reps - 2, 1)
            row(
                "bootstrap_fw", bs_fw_s, "diff-diff", per_rep * reps,
                se=bs_fw.se, peer_se=float(rb.se), peer_reps_run=peer_reps,
                compile_s=bs_fw_first - bs_fw_s,
            )  # fmt: skip
            # every unit left out once: no scaling, the same SE to rounding
            rj, _, ddj = _timed(lambda: dd(2, "jackknife"), repeats=1, budget_s=10.0)
            row(
                "jackknife_fw", jkf_s, "diff-diff", ddj, se=jkf.se,
                peer_se=float(rj.se), se_diff=abs(jkf.se - float(rj.se)),
                compile_s=jkf_first - jkf_s,
            )  # fmt: skip
    else:
        row("placebo_fw", pl_fw_s, "diff-diff (not installed)", None, se=pl_fw.se)
        if jk_fw:
            row("bootstrap_fw", bs_fw_s, "diff-diff (not installed)", None)

    # ---- panelkit (exact simplex weights)
    try:
        import panelkit
    except ImportError:
        panelkit = None
    if panelkit is not None:
        pk0 = panelkit.SyntheticDiD(inference=None)
        r0, _, pk_fit = _timed(lambda: pk0.fit(Y, treated, n_pre), budget_s=10.0)
        fit_row("fit_exact", est_x, fit_x, first_x, "panelkit", pk_fit, r0)
        donors = N - len(treated)
        if pk_fit * donors > 4 * 3600:
            # its placebo refits SDID once per control (its n_reps is the block
            # bootstrap's); at 3,000 x 100 a run was stopped unfinished after 20 minutes
            row(
                "placebo_exact", pl_x_s, "panelkit", None, se=pl_x.se,
                skipped=f"not run: panelkit's placebo refits once per control ({donors} "
                f"refits; its one fit takes {pk_fit:.0f} s)",
            )  # fmt: skip
        else:
            pkp = panelkit.SyntheticDiD(inference="placebo", seed=0)
            rp, _, pk_pl = _timed(
                lambda: pkp.fit(Y, treated, n_pre), repeats=1, budget_s=10.0
            )
            n_run = len(np.atleast_1d(rp.placebo_atts))
            per_rep = max(pk_pl - pk_fit, 0.0) / n_run
            row(
                "placebo_exact", pl_x_s, "panelkit", per_rep * min(reps, _distinct(N, treated, reps)),
                se=pl_x.se, peer_se=float(rp.se), peer_reps_run=n_run,
            )  # fmt: skip
        if jk:
            pkj = panelkit.SyntheticDiD(inference="jackknife")
            rj, _, pk_jk = _timed(
                lambda: pkj.fit(Y, treated, n_pre), repeats=1, budget_s=10.0
            )
            row(
                "jackknife_exact", jk_s, "panelkit", pk_jk,
                se=jk_x.se, peer_se=float(rj.se),
            )  # fmt: skip
    else:
        row("placebo_exact", pl_x_s, "panelkit (not installed)", None, se=pl_x.se)
    for r in rows:
        if r["task"] == "placebo_exact" and r["peer"] == "panelkit" and r["peer_s"]:
            r["note"] = (
                "panelkit's placebo fits each control once as the treated unit; its "
                "time per fit is scaled to the replicates"
            )
    return rows


def _distinct(N: int, treated: list, reps: int) -> int:
    """Placebo draws a peer needs: with one treated unit, one per control (enumerated)."""
    return N - 1 if len(treated) == 1 else reps


def _ratio(x) -> str:
    return "-" if x is None else f"{x:.3g}x"


def _key(r: dict) -> tuple:
    """A row's identity when merging: panel, task and the peer's name."""
    return r["panel"], r["task"], r["peer"].split(" (")[0]


def table(rows: list[dict]) -> str:
    lines = [
        "| panel | task | jaxpanel (s) | peer | peer (s) | jaxpanel faster by | ATT diff | SEs (jaxpanel / peer) | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip

    def f(x, d=3):
        return "-" if x is None else f"{x:.{d}g}"

    for r in rows:
        ses = f"{f(r.get('se'), 4)} / {f(r.get('peer_se'), 4)}" if "se" in r else "-"
        if r.get("skipped"):
            lines.append(
                f"| {r['panel']} | {r['task']} | {f(r.get('jaxpanel_s'))} | {r['peer']} "
                "| - | - | - | "
                f"skipped: {r['skipped']} | {r['peak_rss_mib']:.0f} |"
            )
            continue
        lines.append(
            f"| {r['panel']} | {r['task']} | {f(r['jaxpanel_s'])} | {r['peer']} | "
            f"{f(r['peer_s'])} | {_ratio(r['speedup'])} | {f(r.get('att_diff'), 2)} | "
            f"{ses} | {r['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=list(SIZES[:4]))
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--peer-reps", type=int, default=50)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the recorded rows (panel, task, peer) not run now",
    )
    ap.add_argument(
        "--estimators", nargs="+", choices=ESTIMATORS, default=list(ESTIMATORS)
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        rows = one_size(args.one, args.reps, args.peer_reps, args.estimators)
        print(json.dumps(rows))
        return
    rows = []
    env = {**os.environ, "JAXPANEL_COMPILATION_CACHE": "0"}
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", size, "--reps", str(args.reps)]
        cmd += ["--peer-reps", str(args.peer_reps), "--estimators", *args.estimators]
        t0 = time.perf_counter()
        try:
            out = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                env=env,
                timeout=args.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            print(f"{size}: over {args.timeout} s, skipped", flush=True)
            continue
        if out.returncode:
            print(f"{size}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        got = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{size}: {time.perf_counter() - t0:.0f} s", flush=True)
        rows += got
    import jax

    meta = {
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "reps": args.reps,
        "peer_reps": args.peer_reps,
        "device": "cpu",
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in ("diff_diff", "panelkit", "pyfector"):
        try:
            from importlib.metadata import version

            meta[name] = version(name.replace("_", "-"))
        except Exception:  # noqa: BLE001 - a peer not installed
            meta[name] = None
    RESULTS.mkdir(exist_ok=True)
    if args.merge and (RESULTS / "peers.json").exists():
        old = json.loads((RESULTS / "peers.json").read_text())
        ran = {_key(r) for r in rows}
        kept = [r for r in old["rows"] if _key(r) not in ran]
        order = {s: k for k, s in enumerate(SIZES)}
        rows = sorted(kept + rows, key=lambda r: order.get(r["panel"], len(order)))
        # the settings of the runs the kept rows come from
        meta["merged"] = sorted({r["panel"] for r in kept}, key=order.get)
        meta["merged_meta"] = {
            k: v for k, v in old["meta"].items() if k != "merged_meta"
        }
    (RESULTS / "peers.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1)
    )
    text = table(rows)
    (RESULTS / "peers.md").write_text(
        "# jaxpanel against the fastest installed peer (bench/bench_peers.py)\n\n"
        + f"{json.dumps(meta)}\n\n"
        + text
        + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
