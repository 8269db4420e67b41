"""Study reports: RMSE, bias and their Monte Carlo SEs, coverage, size; tables and a figure."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from ._run import read


def _in_set(intervals: str, x: float) -> bool:
    """Whether ``x`` lies in a set stored as JSON ``[[lo, hi], ...]``."""
    return any(lo <= x <= hi for lo, hi in json.loads(intervals))


def summarize(results: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Per design and estimator: RMSE, bias, their Monte Carlo SEs, normalised RMSE.

    Parameters
    ----------
    results : the rows of a study (:func:`jaxpanel.study.read`) or its folder.

    Returns
    -------
    DataFrame, one row per (design, estimator): ``n`` (finite estimates), ``failed``
    (replications without an estimate), ``rmse`` and ``rmse_mcse`` (delta method:
    ``sd(e^2) / (2 rmse sqrt(n))``), ``bias`` and ``bias_mcse`` (``sd(e) / sqrt(n)``),
    ``sd`` of the estimates, ``rmse_rel`` (RMSE over the design's smallest). Where a
    variance method ran (columns ``{m}_se``): ``{m}_coverage`` of the truth by the CI,
    ``{m}_reject_01/05/10`` (share of p-values below 1, 5, 10 %) and ``{m}_se_ratio``
    (mean SE over the sd of the estimates), each with its Monte Carlo SE for the shares.
    """
    df = read(results) if not isinstance(results, pd.DataFrame) else results
    methods = [c[: -len("_level")] for c in df.columns if c.endswith("_level")]
    rows = []
    for (design, est), g in df.groupby(["design", "estimator"], sort=False):
        e = g["error"].to_numpy(float)
        ok = np.isfinite(e)
        e = e[ok]
        n = int(ok.sum())
        mse = float(np.mean(e**2)) if n else np.nan
        rmse = float(np.sqrt(mse))
        row = {
            "design": design,
            "estimator": est,
            "n": n,
            "failed": int((~ok).sum()),
            "rmse": rmse,
            "rmse_mcse": float(np.std(e**2, ddof=1) / (2 * rmse * np.sqrt(n)))
            if n > 1 and rmse > 0
            else np.nan,
            "bias": float(np.mean(e)) if n else np.nan,
            "bias_mcse": float(np.std(e, ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
            "sd": float(np.std(g["estimate"].to_numpy(float)[ok], ddof=1))
            if n > 1
            else np.nan,
        }
        for m in methods:
            se = g[f"{m}_se"].to_numpy(float)
            truth, p = g["truth"].to_numpy(float), g[f"{m}_p"].to_numpy(float)
            good = ok & np.isfinite(p)  # a conformal set has a p-value, no SE
            k = int(good.sum())
            lo, hi = g[f"{m}_ci_lo"].to_numpy(float), g[f"{m}_ci_hi"].to_numpy(float)

            def share(x, k=k):
                v = float(np.mean(x)) if k else np.nan
                return v, float(np.sqrt(v * (1 - v) / k)) if k else np.nan

            if f"{m}_set" in g:  # library mode: the set itself (a union of intervals)
                inside = np.array([_in_set(x, t) for x, t in zip(g[f"{m}_set"], truth)])
            else:
                inside = (lo <= truth) & (truth <= hi)
            cov, cov_se = share(inside[good])
            row[f"{m}_n"] = k
            row[f"{m}_coverage"], row[f"{m}_coverage_mcse"] = cov, cov_se
            for a in (1, 5, 10):
                v, s = share(p[good] < a / 100)
                row[f"{m}_reject_{a:02d}"], row[f"{m}_reject_{a:02d}_mcse"] = v, s
            has_se = good & np.isfinite(se)
            row[f"{m}_se_ratio"] = (
                float(np.mean(se[has_se]) / row["sd"]) if has_se.any() else np.nan
            )
        rows.append(row)
    out = pd.DataFrame(rows)
    best = out.groupby("design", sort=False)["rmse"].transform("min")
    out.insert(out.columns.get_loc("rmse") + 2, "rmse_rel", out["rmse"] / best)
    return out


def event_summary(results: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Per design, estimator and event time: bias, RMSE and the normal CIs' coverage.

    For a study run with ``event_study`` (columns ``event_{e}``, ``event_{e}_truth``
    and ``{m}_event_{e}_se``).

    Parameters
    ----------
    results : the rows of a study (:func:`jaxpanel.study.read`) or its folder.

    Returns
    -------
    DataFrame, one row per (design, estimator, event_time) with a finite estimate in
    some replication: ``n``, ``bias`` and ``bias_mcse``, ``rmse``, and per variance
    method ``{m}_coverage`` of the truth by ``effect +- z se`` at the method's level,
    with ``{m}_coverage_mcse``.

    Raises
    ------
    ValueError
        The study has no event-study columns.
    """
    df = read(results) if not isinstance(results, pd.DataFrame) else results
    times = sorted(
        int(c[len("event_") : -len("_truth")])
        for c in df.columns
        if c.startswith("event_") and c.endswith("_truth")
    )
    if not times:
        raise ValueError("no event-study columns: run the study with event_study=")
    methods = [c[: -len("_level")] for c in df.columns if c.endswith("_level")]
    rows = []
    for (design, est), g in df.groupby(["design", "estimator"], sort=False):
        for e in times:
            x, truth = g[f"event_{e}"].to_numpy(float), g[f"event_{e}_truth"]
            ok = np.isfinite(x)
            n = int(ok.sum())
            if not n:
                continue
            err = x[ok] - truth.to_numpy(float)[ok]
            row = {
                "design": design,
                "estimator": est,
                "event_time": e,
                "n": n,
                "bias": float(err.mean()),
                "bias_mcse": float(err.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
                "rmse": float(np.sqrt(np.mean(err**2))),
            }
            for m in methods:
                se = g[f"{m}_event_{e}_se"].to_numpy(float)[ok]
                good = np.isfinite(se)
                z = NormalDist().inv_cdf(0.5 + float(g[f"{m}_level"].iloc[0]) / 2)
                inside = np.abs(err[good]) <= z * se[good]
                k = int(good.sum())
                cov = float(inside.mean()) if k else np.nan
                row[f"{m}_coverage"] = cov
                row[f"{m}_coverage_mcse"] = (
                    float(np.sqrt(cov * (1 - cov) / k)) if k else np.nan
                )
            rows.append(row)
    return pd.DataFrame(rows)


def rmse_table(summary: pd.DataFrame, digits: int = 4) -> str:
    """Markdown table: designs in rows, estimators in columns, ``RMSE (MC SE)``."""
    cells = summary.assign(
        cell=[
            f"{r:.{digits}f} ({s:.{digits}f})"
            for r, s in zip(summary["rmse"], summary["rmse_mcse"])
        ]
    )
    wide = cells.pivot(index="design", columns="estimator", values="cell")
    wide = wide.loc[summary["design"].unique(), summary["estimator"].unique()]
    lines = ["| design | " + " | ".join(wide.columns) + " |"]
    lines.append("|---" * (len(wide.columns) + 1) + "|")
    for d, r in wide.iterrows():
        lines.append(f"| {d} | " + " | ".join(r.astype(str)) + " |")
    return "\n".join(lines)


def _markdown(df: pd.DataFrame) -> str:
    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|---" * len(df.columns) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.itertuples(False)]
    return "\n".join(lines)


def figure(summary: pd.DataFrame, path_stem: str | Path) -> list[Path]:
    """The keynote's figure: RMSE over the best estimator's, by design and estimator.

    Parameters
    ----------
    summary : :func:`summarize`'s frame. path_stem : file name without suffix.

    Returns
    -------
    The PNG and SVG files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    designs = list(summary["design"].unique())
    ests = list(summary["estimator"].unique())
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(designs), 4.0))
    width = 0.8 / len(ests)
    x = np.arange(len(designs))
    for k, est in enumerate(ests):
        s = summary[summary["estimator"] == est].set_index("design").reindex(designs)
        ax.bar(x + (k - (len(ests) - 1) / 2) * width, s["rmse_rel"], width, label=est)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(x, designs, rotation=30, ha="right")
    ax.set_ylabel("RMSE / best RMSE of the design")
    ax.legend(ncol=min(len(ests), 6), fontsize="small", frameon=False)
    fig.tight_layout()
    stem = Path(path_stem)
    files = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    # the same results give the same bytes: no date, fixed SVG ids
    with matplotlib.rc_context({"svg.hashsalt": "jaxpanel"}):
        for f in files:
            date = {"Date": None} if f.suffix == ".svg" else {}
            fig.savefig(f, dpi=150, metadata=date)
    plt.close(fig)
    return files


def report(out: str | Path) -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.md``, ``rmse.png``/``.svg`` into ``out/_report``.

    A study with ``event_study`` also gets ``event_summary.csv`` (:func:`event_summary`).

    Parameters
    ----------
    out : a study's folder.

    Returns
    -------
    dict of the files written.
    """
    out = Path(out)
    rows = read(out)
    s = summarize(rows)
    # '_' prefix: pandas.read_parquet(out) and other dataset readers skip the folder
    where = out / "_report"
    where.mkdir(exist_ok=True)
    files = {"csv": where / "summary.csv", "md": where / "summary.md"}
    s.to_csv(files["csv"], index=False)
    text = ["# Study summary", "", "RMSE (Monte Carlo SE):", "", rmse_table(s), ""]
    if any(c.endswith("_truth") and c.startswith("event_") for c in rows.columns):
        files["event_csv"] = where / "event_summary.csv"
        event_summary(rows).to_csv(files["event_csv"], index=False)
        text += ["Effects by event time: event_summary.csv", ""]
    var_cols = [c for c in s.columns if c.endswith("_coverage")]
    if var_cols:
        keep = ["design", "estimator"] + [
            c
            for c in s.columns
            if c.endswith(
                ("_coverage", "_reject_05", "_reject_10", "_reject_01", "_se_ratio")
            )
        ]
        text += ["Inference:", "", _markdown(s[keep]), ""]
    try:
        png, svg = figure(s, where / "rmse")
        files["png"], files["svg"] = png, svg
    except ImportError:
        text += ["(figure skipped: it needs matplotlib, `pip install jaxpanel[plot]`)"]
    files["md"].write_text("\n".join(text))
    return files


__all__ = ["event_summary", "figure", "report", "rmse_table", "summarize"]
