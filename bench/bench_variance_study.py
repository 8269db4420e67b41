"""Tables of the variance calibration study (issue 12) from a study runner's folder.

    jaxpanel study run studies/variance_calibration.toml --data-dir DIR --out runs/cal
    python bench/bench_variance_study.py runs/cal [more folders, e.g. runs/cal_lowrank]

For each design, estimator and variance method (each run as the library runs it, with its
default reference distribution): rejection rates of H0: tau = 0 at 1, 5 and 10 % (size:
the true effect is 0), coverage of the 95 % interval, mean SE over the sd of the
estimates, and power at effects of 0.5 and 1 noise sd, every share with its Monte Carlo
SE. Under unit heteroskedasticity the size is also split by whether the treated units'
noise sd is below or above the controls' (``treated_noise`` < 1 or > 1).

Power is read off the null replications by inverting each interval: every estimator and
every method here is shift-equivariant in a constant effect on the treated cells (the
estimate moves by the effect; the SE, the placebo and resampling draws relative to it,
and the conformal set move with it or not at all), so the test rejects tau = 0 under an
effect delta exactly when the null replication's interval (or set) excludes -delta.
``tests/test_study.py`` checks the argument on replications run with the effect.

Writes bench/results/variance_calibration.md and .json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = [
    "placebo", "bootstrap", "jackknife", "time_placebo", "regression", "conditional",
    "conformal",
]  # fmt: skip


def noise_sd(folder: Path, data_dir: Path) -> float:
    """Per-cell noise sd of the study's first design (standardised outcome)."""
    from jaxpanel import study

    spec = json.loads((folder / "_manifest.json").read_text())["study"]
    d = dict(spec["designs"][0])
    d.pop("heteroskedastic", None)
    design = study.build_design(d, str(data_dir))
    return float(np.sqrt(np.mean(np.diag(design.sigma))))


def in_set(sets: pd.Series, x: float) -> np.ndarray:
    """Whether ``x`` lies in each replication's interval set (JSON list of [lo, hi])."""
    out = []
    for s in sets:
        iv = json.loads(s) if isinstance(s, str) else []
        out.append(any(lo <= x <= hi for lo, hi in iv) if iv else np.nan)
    return np.asarray(out, float)


def share(x: np.ndarray) -> tuple[float, float, int]:
    x = x[np.isfinite(x)]
    n = len(x)
    if not n:
        return np.nan, np.nan, 0
    v = float(x.mean())
    return v, float(np.sqrt(v * (1 - v) / n)), n


def cells(df: pd.DataFrame, sigma: float) -> list[dict]:
    rows = []
    for (design, est), g in df.groupby(["design", "estimator"], sort=False):
        att = g["estimate"].to_numpy(float)
        sd = float(np.nanstd(att, ddof=1))
        for m in METHODS:
            if f"{m}_p" not in g:
                continue
            p = g[f"{m}_p"].to_numpy(float)
            ok = np.isfinite(p)
            if not ok.any():
                continue
            se = g[f"{m}_se"].to_numpy(float)
            row = {"design": design, "estimator": est, "method": m, "n": int(ok.sum())}
            row["reference"] = str(g.loc[ok, f"{m}_reference"].iloc[0])
            for a in (1, 5, 10):
                v, s, _ = share(np.where(ok, p < a / 100, np.nan))
                row[f"size_{a:02d}"], row[f"size_{a:02d}_mcse"] = v, s
            sets = g[f"{m}_set"]
            truth = g["truth"].to_numpy(float)
            cover = np.where(ok, in_set(sets, float(truth[0])), np.nan)
            row["coverage"], row["coverage_mcse"], _ = share(cover)
            # att -/+ 1.96 se (R synthdid's interval; the SDID paper's coverage)
            z = 1.959963984540054
            normal = np.where(
                ok & np.isfinite(se), np.abs(att - truth) <= z * se, np.nan
            )
            row["coverage_normal"], row["coverage_normal_mcse"], _ = share(normal)
            row["se_over_sd"] = (
                float(np.nanmean(np.where(ok, se, np.nan)) / sd)
                if np.isfinite(se[ok]).any()
                else np.nan
            )
            for k, mult in (("power_half", 0.5), ("power_one", 1.0)):
                rej = 1 - in_set(sets, -mult * sigma)
                row[k], row[f"{k}_mcse"], _ = share(np.where(ok, rej, np.nan))
            row["warned"] = float(g.loc[ok, f"{m}_warned"].mean())
            ratio = g["treated_noise"].to_numpy(float)
            if np.ptp(ratio) > 0:
                for side, sel in (("below", ratio < 1), ("above", ratio > 1)):
                    v, s, n = share(np.where(ok & sel, p < 0.05, np.nan))
                    row[f"size_05_{side}"], row[f"size_05_{side}_mcse"] = v, s
                    row[f"n_{side}"] = n
            rows.append(row)
    return rows


def fmt(v, s=None, d=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{d}f}" if s is None else f"{v:.{d}f} ({s:.{d}f})"


def markdown(rows: list[dict], sigma: float, folders) -> str:
    out = [
        "# Variance calibration (issue 12)",
        "",
        "Study runner folders: " + ", ".join(str(f) for f in folders) + ". CPS log_wage"
        " / min_wage design (SDID paper Sec. 3.1), true effect 0; every method run as "
        'the library runs it (`mode = "library"`), with its default reference '
        "distribution (`ref`). Shares with Monte Carlo SEs in parentheses. Power at "
        f"0.5 and 1 noise sd (sd {sigma:.4f}) by inverting the null replications' "
        "intervals (see `bench/bench_variance_study.py`).",
        "",
        (
            "| design | estimator | method | ref | n | size 1% | size 5% | size 10% | "
            "coverage 95% | coverage att -/+ 1.96 SE | SE / sd | power 0.5 sd | "
            "power 1 sd | warned |"
        ),
        "|---" * 14 + "|",
    ]
    for r in rows:
        out.append(
            f"| {r['design']} | {r['estimator']} | {r['method']} | {r['reference']} | "
            f"{r['n']} | {fmt(r['size_01'], r['size_01_mcse'])} | "
            f"{fmt(r['size_05'], r['size_05_mcse'])} | "
            f"{fmt(r['size_10'], r['size_10_mcse'])} | "
            f"{fmt(r['coverage'], r['coverage_mcse'])} | "
            f"{fmt(r['coverage_normal'], r['coverage_normal_mcse'])} | "
            f"{fmt(r['se_over_sd'], d=2)} | "
            f"{fmt(r['power_half'], r['power_half_mcse'])} | "
            f"{fmt(r['power_one'], r['power_one_mcse'])} | {fmt(r['warned'], d=2)} |"
        )
    split = [r for r in rows if "size_05_below" in r]
    if split:
        out += [
            "",
            (
                "Size at 5 % split by the treated units' noise sd against the controls' "
                "(designs with heteroskedasticity across units):"
            ),
            "",
            (
                "| design | estimator | method | size 5%, treated quieter (n) | "
                "size 5%, treated noisier (n) |"
            ),
            "|---" * 5 + "|",
        ]
        for r in split:
            out.append(
                f"| {r['design']} | {r['estimator']} | {r['method']} | "
                f"{fmt(r['size_05_below'], r['size_05_below_mcse'])} ({r['n_below']}) | "
                f"{fmt(r['size_05_above'], r['size_05_above_mcse'])} ({r['n_above']}) |"
            )
    return "\n".join(out) + "\n"


# The SDID paper's own replications (R synthdid's vignettes/all-simulations.rds at
# commit 02efa49, run with synthdid 2408a924; simulation 'baseline', estimator 'sdid'):
# 1,000 point estimates, the first 400 with SEs (B = 200). Read with the `rdata`
# package; coverage is mean(|estimate / se| <= qnorm(.975)) as the vignette computes it.
R_PAPER = {
    "n_coverage": 400,
    "bias": 0.0102,
    "sd": 0.0258,
    "coverage": {"bootstrap": 0.960, "jackknife": 0.9625, "placebo": 0.9525},
    "mean_se": {"bootstrap": 0.0286, "jackknife": 0.0300, "placebo": 0.0276},
}


def baseline(folders: list[Path]) -> str:
    """The SDID paper's coverage check (studies/sdid_coverage_baseline.toml and
    sdid_coverage_paper_jackknife.toml), against the paper's own replications."""
    from jaxpanel import study

    z = 1.959963984540054
    rows, first = [], None
    for folder in folders:
        df = study.read(folder)
        spec = json.loads((folder / study.MANIFEST).read_text())["study"]
        refit = {v["method"]: bool(v.get("refit")) for v in spec["variance"]}
        e = df["estimate"].to_numpy()
        first = first or (
            folder,
            len(e),
            e.mean(),
            e.std(ddof=1),
            np.sqrt((e**2).mean()),
        )
        for m in ("bootstrap", "jackknife", "placebo"):
            if f"{m}_se" not in df:
                continue
            se = df[f"{m}_se"].to_numpy()
            ok = np.isfinite(se)
            c, ce, n = share(np.abs(e[ok] / se[ok]) <= z)
            rows.append((m, refit[m], c, ce, n, se[ok].mean(), e[ok].std(ddof=1)))
    folder, n, bias, sd, rmse = first
    r = R_PAPER
    out = [
        "",
        f"## SDID paper's CPS baseline ({', '.join(map(str, folders))})",
        "",
        (
            "R synthdid's three methods as it runs them (B = 200, the placebo drawing "
            "controls with replacement), intervals att -/+ 1.96 SE. jaxpanel's SDID "
            f"over {n} replications: RMSE {rmse:.4f}, bias {bias:.4f}, sd {sd:.4f}; the "
            f"paper's own replications: bias {r['bias']:.4f}, sd {r['sd']:.4f} (1,000). "
            "'paper' is the coverage of its own 400 replications with SEs (R synthdid's "
            "vignettes/all-simulations.rds, printed 0.96 / 0.96 / 0.95); z counts both "
            "Monte Carlo errors. The paper's jackknife re-estimated the weights (R "
            "synthdid 2408a924, `refit`); Algorithm 3 and R synthdid today hold them "
            "fixed."
        ),
        "",
        (
            "| method | weights | coverage (MC SE) | n | paper (MC SE) | z | "
            "mean SE (paper's) | mean SE / sd |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for m, is_refit, c, ce, k, mse, esd in rows:
        p = r["coverage"][m]
        pe = np.sqrt(p * (1 - p) / r["n_coverage"])
        form = "fixed" if m == "jackknife" and not is_refit else "re-estimated"
        out.append(
            f"| {m} | {form} | {c:.3f} ({ce:.3f}) | {k} | {p:.3f} ({pe:.3f}) | "
            f"{(c - p) / np.hypot(ce, pe):+.1f} | {mse:.4f} ({r['mean_se'][m]:.4f}) | "
            f"{mse / esd:.2f} |"
        )
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--name", default="variance_calibration")
    ap.add_argument(
        "--sdid-baseline",
        type=Path,
        action="append",
        default=[],
        metavar="FOLDER",
        help="a run of studies/sdid_coverage_baseline.toml (and one of "
        "sdid_coverage_paper_jackknife.toml): their coverage table is added",
    )
    ap.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="FOLDER:METHOD",
        help="leave a method's rows of one folder out (e.g. a superseded form)",
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data",
        help="folder of the designs' data (CPS.csv); default ../shared/data",
    )
    args = ap.parse_args(argv)
    from jaxpanel import study

    rows = []
    sigma = None
    for folder in args.folders:
        df = study.read(folder)
        sigma = noise_sd(folder, args.data_dir) if sigma is None else sigma
        drop = [
            e.split(":", 1)[1] for e in args.exclude if Path(e.split(":")[0]) == folder
        ]
        rows += [r for r in cells(df, sigma) if r["method"] not in drop]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
    text = markdown(rows, sigma, args.folders)
    if args.sdid_baseline:
        text += baseline(args.sdid_baseline)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
