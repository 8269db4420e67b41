"""The TROP paper's Tables 1, 2, 3 and 5A and the SDID paper's Table 2, cell by cell (issue 13).

    for s in trop_table1 trop_table2 trop_table3 trop_table5 sdid_table2 sdid_table2_mc \
             trop_table2_exact_weights; do
        jaxpanel study run studies/$s.toml --data-dir DIR --out runs/$s
    done
    for s in cps_urate_authors_data trop_table5_urate_authors_data; do  # authors' CPS.csv
        jaxpanel study run studies/$s.toml --data-dir AUTHORS_DIR --out runs/$s
    done
    for s in nine_designs trop_table1 trop_table2 trop_table3; do  # the authors' SDID
        jaxpanel study run studies/${s}_authors_sdid.toml --data-dir DIR \
            --out runs/${s}_authors_sdid
    done
    python bench/bench_trop_tables.py --runs runs --data-dir DIR

Reads each study's folder (``runs/<study file stem>``) and, for Table 1's rows 1-9, the
committed nine-design results (bench/results/nine_designs_comparison.json, from
studies/nine_designs.toml). For each cell: jaxpanel's value with its Monte Carlo SE, the
printed value, and z = (jaxpanel - printed) / sqrt(se^2 + se_printed^2 + rounding^2), the
printed value's Monte Carlo SE taken as this run's per-replication spread over the
paper's 1,000 replications, its rounding as uniform over the last printed digit.

- Absolute RMSE (TROP Tables 2 and 3, SDID Table 2): SE by the delta method,
  ``sd(e^2) / (2 RMSE sqrt(n))``.
- Normalised RMSE (TROP Tables 1 and 5A: RMSE over TROP's; the paper divides by the
  row's smallest, which is TROP's in every row run here): SE of the ratio by the delta method on the log ratio with the
  covariance of the two estimators' squared errors on the same replications; for the
  nine-design rows (per-replication errors not committed) the covariance is set to 0,
  which overstates the SE when the errors are positively correlated.

Writes bench/results/trop_tables.md and .json, and the keynote's figure
(bench/results/nine_designs_rmse.png and .svg: normalised RMSE of the six estimators on
the nine designs) from the committed nine-design results.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from bench_nine_designs import AUTHORS, R_SYNTHDID

RESULTS = Path(__file__).resolve().parent / "results"
STUDIES = Path(__file__).resolve().parent.parent / "studies"
EST = ("trop", "sdid", "sc", "did", "mc", "difp")
NINE = (
    "CPS log_wage / min_wage", "CPS urate / min_wage", "CPS hours / min_wage",
    "CPS log_wage / open_carry", "CPS log_wage / abort_ban", "CPS log_wage / random",
    "PWT log_gdp / dem", "PWT log_gdp / educ", "PWT log_gdp / random",
)  # fmt: skip

# TROP paper (arXiv 2508.21536 v2) Table 1: RMSE over the smallest, TROP SDID SC DID MC DIFP.
TABLE1 = {
    "CPS log_wage / min_wage": (1.00, 1.14, 1.44, 1.91, 1.26, 1.22),
    "CPS urate / min_wage": (1.00, 1.05, 1.11, 1.89, 1.10, 1.09),
    "CPS hours / min_wage": (1.00, 1.19, 1.22, 1.25, 1.11, 1.20),
    "CPS log_wage / open_carry": (1.00, 1.15, 1.13, 2.04, 1.33, 1.32),
    "CPS log_wage / abort_ban": (1.00, 1.14, 1.43, 1.99, 1.25, 1.24),
    "CPS log_wage / random": (1.00, 1.12, 1.10, 1.95, 1.24, 1.17),
    "PWT log_gdp / dem": (1.00, 1.44, 1.59, 7.85, 1.76, 1.54),
    "PWT log_gdp / educ": (1.00, 1.51, 2.10, 6.90, 1.60, 1.57),
    "PWT log_gdp / random": (1.00, 1.32, 1.51, 4.31, 1.41, 1.50),
    "Germany GDP / random": (1.00, 1.46, 2.82, 3.58, 1.56, 2.46),
    "Germany GDP / simulated": (1.00, 1.79, 5.82, 7.58, 1.93, 4.72),
    "Germany GDP / treated unit": (1.00, 1.13, 1.82, 5.17, 1.27, 1.89),
    "Basque GDP / random": (1.00, 1.02, 4.55, 9.11, 1.70, 2.47),
    "Basque GDP / simulated": (1.00, 1.55, 2.11, 3.05, 1.30, 1.66),
    "Basque GDP / treated unit": (1.00, 1.35, 2.79, 1.25, 3.02, 2.94),
    "Smoking packs pc / random": (1.00, 1.22, 1.48, 2.16, 1.14, 1.45),
    "Smoking packs pc / simulated": (1.00, 1.28, 1.93, 2.88, 1.44, 1.41),
    "Smoking packs pc / treated unit": (1.00, 1.04, 1.72, 2.18, 1.27, 1.30),
}
# The authors' notebooks' absolute RMSEs behind two of Table 1's rows (the arrays their
# "TROP_basque (Table 2)" and "TROP_smoking (Table 2)" notebooks divide by the best to get
# the printed rows; the lambdas of those runs are not in the notebooks).
NOTEBOOK_ABS = {
    "Basque GDP / simulated": (0.0505, 0.0792, 0.1078, 0.1559, 0.0661, 0.0847),
    "Smoking packs pc / simulated": (0.2069, 0.2648, 0.3994, 0.5955, 0.2978, 0.2921),
}
# Table 2: design statistics (RMS of F, of M, noise sd, AR(2)), lambdas, RMSE (same order).
TABLE2 = {
    "upper: CPS log_wage / min_wage": (
        (0.992, 0.10, 0.098, 0.010, -0.057), (0, 0.1, 0.9),
        (0.025, 0.029, 0.037, 0.049, 0.032, 0.032)),
    "upper: CPS urate / min_wage": (
        (0.770, 0.40, 0.604, 0.039, 0.011), (1.6, 0.35, 0.011),
        (0.203, 0.214, 0.226, 0.384, 0.224, 0.221)),
    "upper: PWT log_gdp / dem": (
        (0.972, 0.229, 0.069, 0.913, -0.221), (0.3, 0.4, 0.006),
        (0.023, 0.036, 0.040, 0.198, 0.045, 0.039)),
    "upper: Germany GDP / random": (
        (0.994, 0.108, 0.032, 0.840, -0.200), (1.2, 0.2, 0.011),
        (0.025, 0.037, 0.065, 0.073, 0.032, 0.038)),
    "upper: Basque GDP / random": (
        (0.986, 0.167, 0.037, 1.228, -0.577), (0, 0.35, 0.006),
        (0.041, 0.070, 0.109, 0.145, 0.069, 0.082)),
    "upper: Smoking packs pc / random": (
        (0.935, 0.337, 0.166, 0.506, -0.058), (0.25, 0.4, 0.011),
        (0.085, 0.108, 0.132, 0.192, 0.102, 0.129)),
    "lower: CPS log_wage / min_wage": (
        (0.992, 0.10, 0.098, 0.010, -0.057), (0, 0.2, 0.105),
        (0.111, 0.121, 0.127, 0.156, 0.123, 0.121)),
    "lower: CPS urate / min_wage": (
        (0.770, 0.40, 0.604, 0.039, 0.011), (2, 0.03, 0.325),
        (0.637, 0.713, 0.688, 0.629, 0.701, 0.666)),
    "lower: PWT log_gdp / dem": (
        (0.972, 0.229, 0.069, 0.913, -0.221), (1.8, 4.4, 0.01),
        (0.052, 0.056, 0.116, 0.294, 0.059, 0.083)),
    "lower: Germany GDP / random": (
        (0.994, 0.108, 0.032, 0.840, -0.200), (0.1, 3.8, 0.01),
        (0.037, 0.044, 0.105, 0.136, 0.056, 0.076)),
    "lower: Basque GDP / random": (
        (0.986, 0.167, 0.037, 1.228, -0.577), (0.3, 0.2, 0.006),
        (0.039, 0.033, 0.180, 0.333, 0.055, 0.072)),
    "lower: Smoking packs pc / random": (
        (0.935, 0.337, 0.166, 0.506, -0.058), (0.5, 0.5, 0.0163),
        (0.200, 0.190, 0.279, 0.464, 0.208, 0.218)),
}  # fmt: skip
# Table 3: RMSE (same order); the baselines are Table 2's upper CPS and PWT rows.
TABLE3 = {
    "A: CPS log_wage / min_wage, Baseline": (0.025, 0.029, 0.037, 0.050, 0.032, 0.032),
    "A: CPS log_wage / min_wage, No Auto Corr": (
        0.027,
        0.029,
        0.037,
        0.049,
        0.033,
        0.032,
    ),
    "A: CPS log_wage / min_wage, No M": (0.015, 0.018, 0.018, 0.013, 0.015, 0.017),
    "A: CPS log_wage / min_wage, No F": (0.026, 0.029, 0.022, 0.049, 0.032, 0.032),
    "A: CPS log_wage / min_wage, Only Noise": (
        0.015,
        0.018,
        0.014,
        0.013,
        0.015,
        0.017,
    ),
    "B: PWT log_gdp / dem, Baseline": (0.023, 0.036, 0.040, 0.198, 0.046, 0.039),
    "B: PWT log_gdp / dem, No Auto Corr": (0.027, 0.030, 0.033, 0.197, 0.046, 0.033),
    "B: PWT log_gdp / dem, No M": (0.015, 0.016, 0.019, 0.016, 0.014, 0.018),
    "B: PWT log_gdp / dem, No F": (0.028, 0.036, 0.028, 0.198, 0.046, 0.039),
    "B: PWT log_gdp / dem, Only Noise": (0.015, 0.016, 0.016, 0.016, 0.014, 0.018),
}
# Table 5 panel A: RMSE over the unrestricted TROP's, by variant (rows) and design.
VARIANTS = (
    "trop", "nn_inf", "unit_0", "time_0", "unit_time_0", "unit_0_nn_inf",
    "time_0_nn_inf", "did_twfe",
)  # fmt: skip
TABLE5A = {
    "CPS log_wage / min_wage": (1.00, 1.00, 1.00, 1.28, 1.28, 1.00, 1.92, 1.96),
    "CPS urate / min_wage": (1.00, 1.21, 1.10, 1.11, 1.10, 1.22, 1.78, 1.89),
    "PWT log_gdp / dem": (1.00, 1.65, 1.04, 1.91, 1.91, 1.70, 5.35, 8.61),
    "Germany GDP / random": (1.00, 1.48, 1.00, 1.28, 1.28, 1.48, 2.84, 2.92),
    "Basque GDP / random": (1.00, 1.85, 1.00, 1.51, 1.51, 1.85, 3.54, 3.54),
    "Smoking packs pc / random": (1.00, 1.46, 1.04, 1.20, 1.20, 1.46, 2.26, 2.26),
}
# SDID paper Table 2 (R synthdid), from bench_nine_designs.R_SYNTHDID.
SDID_EST = ("did", "sc", "sdid", "difp", "mc")
PAPER_REPS = 1000


def _rounding(decimals: int) -> float:
    """sd of a value rounded to ``decimals``: uniform over one unit of the last digit."""
    return 10.0**-decimals / math.sqrt(12)


def _errors(folder: Path) -> dict:
    """{(design, estimator): errors} of a study folder (a copy: callers add entries)."""
    return dict(_read_errors(Path(folder)))


@functools.cache
def _read_errors(folder: Path) -> dict:
    from jaxpanel import study

    df = study.read(folder)
    return {
        k: g["error"].to_numpy(float)
        for k, g in df.groupby(["design", "estimator"], sort=False)
    }


def _rmse(e: np.ndarray) -> tuple[float, float, float]:
    """RMSE, its Monte Carlo SE and the sd of the squared errors."""
    e = e[np.isfinite(e)]
    r = float(np.sqrt(np.mean(e**2)))
    sd2 = float(np.std(e**2, ddof=1))
    return r, sd2 / (2 * r * np.sqrt(len(e))), sd2


def _z(value, se, printed, se_printed, decimals):
    return (value - printed) / math.sqrt(
        se**2 + se_printed**2 + _rounding(decimals) ** 2
    )


def absolute(errors: dict, design: str, est: str, printed: float, decimals: int = 3):
    """A cell of an absolute-RMSE table."""
    e = errors[(design, est)]
    r, se, sd2 = _rmse(e)
    se_p = sd2 / (2 * max(printed, 1e-12) * math.sqrt(PAPER_REPS))
    return {
        "design": design, "estimator": est, "n": int(np.isfinite(e).sum()),
        "value": r, "se": se, "printed": printed, "printed_digits": decimals,
        "z": _z(r, se, printed, se_p, decimals),
    }  # fmt: skip


def ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """RMSE(a) / RMSE(b) on the same replications and its delta-method SE."""
    ok = np.isfinite(a) & np.isfinite(b)
    x, y = a[ok] ** 2, b[ok] ** 2
    n = len(x)
    A, B = x.mean(), y.mean()
    r = math.sqrt(A / B)
    c = np.cov(x, y)
    var_log = 0.25 * (c[0, 0] / A**2 + c[1, 1] / B**2 - 2 * c[0, 1] / (A * B)) / n
    return r, r * math.sqrt(max(var_log, 0.0)), n


def normalised(errors: dict, design: str, ests, printed, base=None) -> list[dict]:
    """Cells of a normalised table: over ``base`` or over the design's smallest RMSE."""
    rm = {e: _rmse(errors[(design, e)])[0] for e in ests}
    b = base or min(rm, key=rm.get)
    rows = []
    for est, p in zip(ests, printed):
        r, se, n = ratio(errors[(design, est)], errors[(design, b)])
        rows.append({
            "design": design, "estimator": est, "n": n, "value": r, "se": se,
            "printed": p, "printed_digits": 2, "over": b, "rmse": rm[est],
            # the paper's ratio has this run's Monte Carlo error too (1,000 replications)
            "z": _z(r, se, p, se * math.sqrt(n / PAPER_REPS), 2) if est != b else 0.0,
        })  # fmt: skip
    return rows


def table1(runs: Path) -> list[dict]:
    rows = []
    nine = json.loads((RESULTS / "nine_designs_comparison.json").read_text())
    cell = {(c["design"], c["estimator"]): c for c in nine}
    for design in NINE:
        rm = {e: cell[(design, e)]["rmse"] for e in EST}
        se = {e: cell[(design, e)]["se"] for e in EST}
        b = "trop"  # the paper's divisor in every row run here (TROP prints 1.00)
        for est, p in zip(EST, TABLE1[design]):
            r = rm[est] / rm[b]
            s = r * math.hypot(se[est] / rm[est], se[b] / rm[b]) if est != b else 0.0
            rows.append({
                "design": design, "estimator": est, "n": cell[(design, est)]["n"],
                "value": r, "se": s, "printed": p, "printed_digits": 2, "over": b,
                "rmse": rm[est],
                "z": _z(r, s, p, s, 2) if est != b else 0.0,
            })  # fmt: skip
    errors = _errors(runs / "trop_table1")
    for design in list(TABLE1)[len(NINE) :]:
        rows += normalised(errors, design, EST, TABLE1[design], base="trop")
    return rows


def table1_diagnostics(runs: Path) -> list[dict]:
    """Rows 10-18: which disagreements are the design's, which the lambdas' or forms'.

    ``did/sc``: DID's RMSE over SC's, neither of which depends on lambdas or on the
    normaliser, ours against the printed ratio of the two printed ratios (rounding of
    both taken). ``table2``: for the random rows, Table 1's printed ratios against the
    same ratios from Table 2's printed RMSEs (the same design and lambdas in the paper).
    """
    errors = _errors(runs / "trop_table1")
    rows = []
    for design in list(TABLE1)[len(NINE) :]:
        p = dict(zip(EST, TABLE1[design]))
        r, se, n = ratio(errors[(design, "did")], errors[(design, "sc")])
        printed = p["did"] / p["sc"]
        # rounding of two 2-decimal ratios, propagated to their quotient
        rnd = printed * math.hypot(_rounding(2) / p["did"], _rounding(2) / p["sc"])
        se_p = se * math.sqrt(n / PAPER_REPS)
        row = {"design": design, "did_over_sc": r, "se": se, "printed": printed,
               "z": (r - printed) / math.sqrt(se**2 + se_p**2 + rnd**2)}  # fmt: skip
        t2 = TABLE2.get(f"upper: {design}")
        if t2 is not None:
            best = min(t2[2])
            row["table2_normalised"] = [round(v / best, 2) for v in t2[2]]
            row["table1_printed"] = list(TABLE1[design])
        rows.append(row)
    return rows


def table1_notebook(runs: Path) -> list[dict]:
    """Rows 14 and 17 in absolute RMSE against the notebooks' arrays."""
    errors = _errors(runs / "trop_table1")
    return [
        absolute(errors, design, est, p, 4)
        for design, printed in NOTEBOOK_ABS.items()
        for est, p in zip(EST, printed)
    ]


# Table 2's upper single-unit rows: the same designs and lambdas as Table 1's random rows
TABLE1_RANDOM = (
    "Germany GDP / random",
    "Basque GDP / random",
    "Smoking packs pc / random",
)


def table2(runs: Path) -> list[dict]:
    errors = _errors(runs / "trop_table2")
    t1 = _errors(runs / "trop_table1")
    for name in TABLE1_RANDOM:
        for e in EST:  # the same design and lambdas: Table 1's run
            errors[(f"upper: {name}", e)] = t1[(name, e)]
    rows = []
    for design, (_stats, _lam, rmse) in TABLE2.items():
        for est, p in zip(EST, rmse):
            rows.append(absolute(errors, design, est, p))
    return rows


def table2_statistics(data_dir: Path) -> list[dict]:
    """Table 2's design columns, from the designs of the study files that ran them."""
    from jaxpanel.study import _designs, _spec

    tables = {}
    for stem in ("trop_table2", "trop_table1"):  # Table 1's run has the random rows
        spec = _spec.load(STUDIES / f"{stem}.toml")
        tables.update(zip(spec.design_names(), spec.designs))
    rows = []
    for design, (stats, lam, _rmse_) in TABLE2.items():
        if not design.startswith("upper"):
            continue
        name = design.split(": ", 1)[1]
        d = tables.get(design, tables.get(name))
        s = _designs.build_design(d, str(data_dir)).statistics()
        ours = (s["F"], s["M"], s["noise"], s["ar1"], s["ar2"])
        rows.append({"design": name, "ours": ours, "printed": stats, "lambdas": lam})
    return rows


def table3(runs: Path) -> list[dict]:
    errors = _errors(runs / "trop_table3")
    t2 = _errors(runs / "trop_table2")
    base = {"A": "upper: CPS log_wage / min_wage", "B": "upper: PWT log_gdp / dem"}
    for panel, name in base.items():
        d = TABLE3_BASE[panel]
        for e in EST:
            errors[(d, e)] = t2[(name, e)]
    rows = []
    for design, rmse in TABLE3.items():
        for est, p in zip(EST, rmse):
            rows.append(absolute(errors, design, est, p))
    return rows


TABLE3_BASE = {
    "A": "A: CPS log_wage / min_wage, Baseline",
    "B": "B: PWT log_gdp / dem, Baseline",
}


def table5a(runs: Path) -> list[dict]:
    errors = _errors(runs / "trop_table5")
    rows = []
    for design, printed in TABLE5A.items():
        rows += normalised(errors, design, VARIANTS, printed, base="trop")
    urate = runs / "trop_table5_urate_authors_data"
    if urate.is_dir():
        design = "CPS urate / min_wage"
        for r in normalised(_errors(urate), design, VARIANTS, TABLE5A[design], "trop"):
            r["design"] = "CPS urate / min_wage (the authors' CPS.csv)"
            rows.append(r)
    return rows


def sdid_table2(runs: Path) -> list[dict]:
    errors = _errors(runs / "sdid_table2")
    mc = runs / "sdid_table2_mc"
    if mc.is_dir():
        errors.update(_errors(mc))
    rows = []
    for design, printed in R_SYNTHDID.items():
        for est in SDID_EST:
            if (design, est) in errors:
                rows.append(absolute(errors, design, est, printed[est]))
    return rows


def authors_sdid(runs: Path) -> list[dict]:
    """The authors' SDID (studies/*_authors_sdid.toml: the same panels) cell by cell."""
    rows = []
    nine = _errors(runs / "nine_designs_authors_sdid")
    for design in NINE:
        r = absolute(nine, design, "sdid_authors", AUTHORS[design][1], 4)
        r["design"] = f"nine designs (notebook, 4 decimals): {design}"
        rows.append(r)
    t1 = _errors(runs / "trop_table1")
    t1.update(_errors(runs / "trop_table1_authors_sdid"))
    for design in list(TABLE1)[len(NINE) :]:
        ests = [e if e != "sdid" else "sdid_authors" for e in EST]
        for r in normalised(t1, design, ests, TABLE1[design], base="trop"):
            if r["estimator"] == "sdid_authors":
                r["design"] = f"Table 1 (normalised): {design}"
                rows.append(r)
    t2 = _errors(runs / "trop_table2_authors_sdid")
    t1a = _errors(runs / "trop_table1_authors_sdid")
    for name in TABLE1_RANDOM:
        t2[(f"upper: {name}", "sdid_authors")] = t1a[(name, "sdid_authors")]
    for design, (_s, _l, rmse) in TABLE2.items():
        r = absolute(t2, design, "sdid_authors", rmse[1])
        r["design"] = f"Table 2: {design}"
        rows.append(r)
    t3 = _errors(runs / "trop_table3_authors_sdid")
    for design, rmse in TABLE3.items():
        if (design, "sdid_authors") in t3:
            r = absolute(t3, design, "sdid_authors", rmse[1])
            r["design"] = f"Table 3: {design}"
            rows.append(r)
    return rows


def urate_authors_data(runs: Path) -> list[dict]:
    """CPS urate on the authors' copy of CPS.csv against their notebook and Table 2."""
    errors = _errors(runs / "cps_urate_authors_data")
    rows = []
    for est, p in zip(EST, AUTHORS["CPS urate / min_wage"]):
        r = absolute(errors, "upper: CPS urate / min_wage", est, p, 4)
        r["design"] = "10 x 10 vs the authors' notebook"
        rows.append(r)
    for design in ("upper: CPS urate / min_wage", "lower: CPS urate / min_wage"):
        for est, p in zip(EST, TABLE2[design][2]):
            r = absolute(errors, design, est, p)
            r["design"] = design.replace("upper", "10 x 10 vs Table 2").replace(
                "lower", "1 x 1 vs Table 2"
            )
            rows.append(r)
    return rows


def exact_weights(runs: Path) -> list[dict]:
    """PWT's Table 2 rows: SC and DIFP with exact weights (the authors' cvxpy fits)."""
    errors = _errors(runs / "trop_table2_exact_weights")
    rows = []
    for design in ("upper: PWT log_gdp / dem", "lower: PWT log_gdp / dem"):
        printed = dict(zip(EST, TABLE2[design][2]))
        for est in ("sc", "difp"):
            rows.append(absolute(errors, design, f"{est}_exact", printed[est]))
    return rows


def lambda_sets(runs: Path) -> list[dict]:
    """CPS log_wage and PWT dem: each lambda set against each printed number.

    The nine-design notebook (Table 1's numbers, 4 decimals) ran (0.01, 0.2, 0.2) and
    (0.3, 0.325, 0.016); Table 2 prints (0, 0.1, 0.9) and (0.3, 0.4, 0.006). TROP and
    the authors' MC (whose lambda_nn is the set's) under both, on the same panels.
    """
    nine = {
        (c["design"], c["estimator"]): c
        for c in json.loads((RESULTS / "nine_designs_comparison.json").read_text())
    }
    t2 = _errors(runs / "trop_table2")
    rows = []
    for design, nine_lam, t2_lam in (
        ("CPS log_wage / min_wage", (0.01, 0.2, 0.2), (0, 0.1, 0.9)),
        ("PWT log_gdp / dem", (0.3, 0.325, 0.016), (0.3, 0.4, 0.006)),
    ):
        for est in ("trop", "mc"):
            k = EST.index(est)
            printed = {"notebook": (AUTHORS[design][k], 4),
                       "Table 2": (TABLE2[f"upper: {design}"][2][k], 3)}  # fmt: skip
            c = nine[(design, est)]
            r2, se2, sd2 = _rmse(t2[(f"upper: {design}", est)])
            sd2_nine = c["se"] * 2 * c["rmse"] * math.sqrt(c["n"])
            for lam, value, se, sd in ((nine_lam, c["rmse"], c["se"], sd2_nine),
                                       (t2_lam, r2, se2, sd2)):  # fmt: skip
                for where, (p, dec) in printed.items():
                    se_p = sd / (2 * p * math.sqrt(PAPER_REPS))
                    rows.append({
                        "design": f"{design}, lambdas {lam}, vs {where}",
                        "estimator": est, "value": value, "se": se, "printed": p,
                        "printed_digits": dec, "z": _z(value, se, p, se_p, dec),
                    })  # fmt: skip
    return rows


def figure() -> list[Path]:
    """The keynote's figure from the committed nine-design results."""
    from jaxpanel.study._report import figure as draw

    nine = pd.DataFrame(
        json.loads((RESULTS / "nine_designs_comparison.json").read_text())
    )
    nine["rmse_rel"] = nine["rmse"] / nine.groupby("design")["rmse"].transform("min")
    return draw(nine, RESULTS / "nine_designs_rmse")


def _fmt_z(z: float) -> str:
    return f"**{z:+.1f}**" if abs(z) > 3 else f"{z:+.1f}"


def _grid(rows, cols, digits, title, head) -> list[str]:
    """A designs x estimators grid: 'value (se) / printed, z' per cell."""
    out = [f"### {title}", "", head, "", "| design | " + " | ".join(cols) + " |",
           "|---|" + "---|" * len(cols)]  # fmt: skip
    by = {(r["design"], r["estimator"]): r for r in rows}
    for design in dict.fromkeys(r["design"] for r in rows):
        cells = []
        for c in cols:
            r = by.get((design, c))
            if r is None:
                cells.append("")
                continue
            cells.append(
                f"{r['value']:.{digits}f} ({r['se']:.{digits}f}) / "
                f"{r['printed']:.{r['printed_digits']}f}, "
                f"{_fmt_z(r['z'])}"
            )
        out.append(f"| {design} | " + " | ".join(cells) + " |")
    outside = [r for r in rows if abs(r["z"]) > 3]
    out += ["", f"{len(rows) - len(outside)} of {len(rows)} cells within 3 SE.", ""]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = ap.parse_args(argv)
    out = {}
    md = ["# The TROP and SDID papers' tables, cell by cell", ""]
    md += [
        (
            "Each cell: jaxpanel's value (Monte Carlo SE) / the printed value, z (both Monte "
            "Carlo errors and the printed rounding; |z| > 3 in bold). Generated by "
            "`bench/bench_trop_tables.py` from the study runs named in each section."
        ),
        "",
    ]
    sections = [
        ("table1", table1, 3, EST, "TROP Table 1: RMSE over TROP's (the paper's smallest in every row)",
         "studies/nine_designs.toml (rows 1-9) and studies/trop_table1.toml"),
        ("table1_notebook", table1_notebook, 4, EST,
         "TROP Table 1 rows 14 and 17 in absolute RMSE, against the notebooks' arrays",
         "studies/trop_table1.toml"),
        ("table2", table2, 3, EST, "TROP Table 2: RMSE",
         ("studies/trop_table2.toml; upper Germany, Basque, Smoking rows from "
         "studies/trop_table1.toml (same designs and lambdas)")),
        ("table3", table3, 3, EST, "TROP Table 3: RMSE, components shut down",
         "studies/trop_table3.toml; baselines from studies/trop_table2.toml"),
        ("table5a", table5a, 3, VARIANTS,
         "TROP Table 5 panel A: RMSE over the unrestricted TROP's",
         "studies/trop_table5.toml"),
        ("sdid_table2", sdid_table2, 3, SDID_EST, "SDID paper Table 2: RMSE",
         "studies/sdid_table2.toml (MC: studies/sdid_table2_mc.toml, 100 replications)"),
        ("lambda_sets", lambda_sets, 4, ("trop", "mc"),
         "CPS log_wage and PWT dem: the two lambda sets against both printed numbers",
         "studies/nine_designs.toml and studies/trop_table2.toml (the same panels)"),
        ("urate_authors_data", urate_authors_data, 3, EST,
         "CPS urate on the TROP authors' copy of CPS.csv",
         "studies/cps_urate_authors_data.toml"),
        ("exact_weights", exact_weights, 3, ("sc_exact", "difp_exact"),
         "TROP Table 2, PWT rows: SC and DIFP with exact weights (as the authors' cvxpy)",
         "studies/trop_table2_exact_weights.toml"),
        ("authors_sdid", authors_sdid, 4, ("sdid_authors",),
         "The TROP authors' SDID (squared weights) against their SDID columns",
         ("studies/nine_designs_authors_sdid.toml and trop_table1-3_authors_sdid.toml "
         "(the same panels as their studies)")),
    ]  # fmt: skip
    for key, fn, digits, cols, title, source in sections:
        try:
            rows = fn(args.runs)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            md += [f"### {title}", "", f"not run: {exc}", ""]
            continue
        out[key] = rows
        md += _grid(rows, cols, digits, title, f"Source: {source}.")
        if key == "table1":
            diag = table1_diagnostics(args.runs)
            out["table1_diagnostics"] = diag
            md += [
                (
                    "Rows 10-18, lambda-free check: DID's RMSE over SC's (neither depends "
                    "on TROP's lambdas or on the row's normaliser), jaxpanel (SE) / "
                    "printed (Table 1's DID over its SC), z; and for the random rows the "
                    "same row of Table 2 (same design and lambdas in the paper), "
                    "normalised, against Table 1's."
                ),
                "",
                "| design | DID / SC | Table 1 printed | Table 2 printed, normalised |",
                "|---|---|---|---|",
            ]
            for d in diag:
                t1 = ", ".join(f"{v:.2f}" for v in d.get("table1_printed", []))
                t2 = ", ".join(f"{v:.2f}" for v in d.get("table2_normalised", []))
                md.append(
                    f"| {d['design']} | {d['did_over_sc']:.2f} ({d['se']:.2f}) / "
                    f"{d['printed']:.2f}, {_fmt_z(d['z'])} | {t1} | {t2} |"
                )
            md.append("")
        if key == "table2":
            stats = table2_statistics(args.data_dir)
            out["table2_statistics"] = stats
            md += ["Design columns (F, M, noise sd, AR(2)): jaxpanel / printed", ""]
            md += ["| design | jaxpanel | printed | lambdas |", "|---|---|---|---|"]
            for s in stats:
                o = ", ".join(f"{v:.3f}" for v in s["ours"])
                p = ", ".join(f"{v:.3f}" for v in s["printed"])
                md.append(f"| {s['design']} | {o} | {p} | {s['lambdas']} |")
            md.append("")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trop_tables.json").write_text(json.dumps(out, indent=1, default=float))
    (RESULTS / "trop_tables.md").write_text("\n".join(md))
    files = figure()
    print("\n".join(md))
    print("written:", RESULTS / "trop_tables.md", *files)


if __name__ == "__main__":
    main()
