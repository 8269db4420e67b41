"""Size and power of the variance methods on the CPS-calibrated design (METHODS.md Sec. 6).

    python bench/bench_variance_study.py [--replications 400] [--B 100] [--estimator did]

Design: CPS log_wage, assignment from min_wage (calibrated as in the SDID paper), at most
10 treated states treated in the last 10 of 40 years. Noise: (a) homoskedastic, (b) noise
sd differing across units (lognormal multipliers, sd 0.75 on the log scale, fixed), (c)
noise sd differing across periods (rising linearly from 0.5 to 2, so post-periods are
noisier than pre-periods). For each replication the estimator is fitted and every method
gives an SE; a test rejects when |att| > 1.96 SE. Rejection rates at effect 0 (size) and
0.05 (power; outcomes standardised, noise sd 0.098) with their Monte Carlo standard errors.
The bootstrap needs two treated units: replications with one are left out of its column.

Writes bench/results/variance_study.json and bench/results/variance_study.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "CPS.csv"
METHODS = ["placebo", "time_placebo", "regression", "conditional", "bootstrap"]


def designs(base, seed=0):
    from jaxpanel import simulate

    rng = np.random.default_rng(seed)
    N, T = base.shape
    return {
        "homoskedastic": base,
        "unit": simulate.with_heteroskedasticity(
            base, unit=np.exp(0.75 * rng.normal(size=N))
        ),
        "period": simulate.with_heteroskedasticity(base, time=np.linspace(0.5, 2.0, T)),
    }


def run(args):
    import jaxpanel
    from jaxpanel import Panel, simulate

    if not DATA.exists():
        raise SystemExit(f"needs {DATA} (the shared data folder beside the checkout)")
    base = simulate.cps_design("log_wage", "min_wage", path=DATA)
    estimator = getattr(jaxpanel, args.estimator)
    rows = []
    for name, design in designs(base).items():
        for effect in (0.0, 0.05):
            keys = jax.random.split(jax.random.PRNGKey(args.seed), args.replications)
            Ys, Ws = jax.vmap(lambda k, d=design, e=effect: simulate.draw(d, k, e))(
                keys
            )
            Ys, Ws = np.asarray(Ys), np.asarray(Ws)
            ses = {m: [] for m in METHODS}
            atts = []
            t0 = time.perf_counter()
            for r in range(args.replications):
                est = estimator(Panel.from_arrays(Ys[r], Ws[r]))
                atts.append(est.att)
                for m in METHODS:
                    kw = (
                        {"reps": args.B, "seed": r}
                        if m in ("placebo", "bootstrap", "conditional")
                        else {}
                    )
                    try:
                        ses[m].append(est.variance(m, progress=False, **kw).se)
                    except ValueError:  # bootstrap with one treated unit
                        ses[m].append(np.nan)
            seconds = time.perf_counter() - t0
            atts = np.asarray(atts)
            for m in METHODS:
                se = np.asarray(ses[m])
                ok = np.isfinite(se)
                rej = np.abs(atts[ok]) > 1.959964 * se[ok]
                rate = float(rej.mean())
                rows.append(
                    {
                        "design": name,
                        "effect": effect,
                        "method": m,
                        "rejection": rate,
                        "mc_se": float(np.sqrt(rate * (1 - rate) / ok.sum())),
                        "n": int(ok.sum()),
                        "mean_se": float(se[ok].mean()),
                        "sd_att": float(atts.std()),
                    }
                )
            print(
                f"{name:14s} effect={effect:.2f}  {seconds:7.1f}s  "
                + "  ".join(
                    f"{r['method']}={r['rejection']:.3f}" for r in rows[-len(METHODS) :]
                )
            )
    return rows


def table(rows, args) -> str:
    lines = [
        (
            f"Rejection rates at 5% ({args.estimator.upper()}, {args.replications} replications, "
            f"B = {args.B}; Monte Carlo SE in parentheses). CPS log_wage / min_wage design."
        ),
        "",
        "| noise | effect | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for design in ("homoskedastic", "unit", "period"):
        for effect in (0.0, 0.05):
            cells = []
            for m in METHODS:
                r = next(
                    x
                    for x in rows
                    if x["design"] == design
                    and x["effect"] == effect
                    and x["method"] == m
                )
                cells.append(f"{r['rejection']:.3f} ({r['mc_se']:.3f})")
            lines.append(f"| {design} | {effect} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "| noise | sd of ATT | " + " | ".join(f"mean SE {m}" for m in METHODS) + " |"
    )
    lines.append("|---|---|" + "---|" * len(METHODS))
    for design in ("homoskedastic", "unit", "period"):
        rs = [x for x in rows if x["design"] == design and x["effect"] == 0.0]
        lines.append(
            f"| {design} | {rs[0]['sd_att']:.4f} | "
            + " | ".join(f"{r['mean_se']:.4f}" for r in rs)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=400)
    ap.add_argument("--B", type=int, default=100)
    ap.add_argument("--estimator", default="did")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    rows = run(args)
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "estimator": args.estimator,
        "replications": args.replications,
        "B": args.B,
        "seconds": time.perf_counter() - t0,
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
    }
    (RESULTS / "variance_study.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1)
    )
    md = table(rows, args)
    (RESULTS / "variance_study.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
