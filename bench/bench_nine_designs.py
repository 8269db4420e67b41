"""The nine-design RMSE table of a study run against the published numbers (issue 13).

    jaxpanel study run studies/nine_designs.toml --data-dir DIR --out runs/nine_sim
    python bench/bench_nine_designs.py runs/nine_sim

Per design and estimator: jaxpanel's RMSE with its Monte Carlo SE (delta method,
``sd(e^2) / (2 RMSE sqrt(n))``), the TROP authors' notebook output for the same cell (the
numbers behind the TROP paper's Table 1, 1,000 replications; their DID, SC, DIFP and SDID
are their own cvxpy fits, their SDID with squared weights), and z counting both Monte
Carlo errors (the published one taken as this run's per-replication spread over 1,000
replications). Where R synthdid's number exists (SDID paper Table 2, rounded to 3
decimals), it is shown too. Writes bench/results/nine_designs_comparison.md and .json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
ESTIMATORS = ("trop", "sdid", "sc", "did", "mc", "difp")

# TROP authors' notebook outputs (xyang23/TROP-Estimator; RMSE, 1,000 replications,
# true effect 0), as quoted in METHODS.md section 6, in ESTIMATORS order.
AUTHORS = {
    "CPS log_wage / min_wage": (0.0258, 0.0293, 0.0372, 0.0491, 0.0325, 0.0315),
    "CPS urate / min_wage": (0.2032, 0.2140, 0.2256, 0.3842, 0.2244, 0.2209),
    "CPS hours / min_wage": (0.1667, 0.1990, 0.2041, 0.2084, 0.1856, 0.2002),
    "CPS log_wage / open_carry": (0.0237, 0.0273, 0.0267, 0.0484, 0.0317, 0.0312),
    "CPS log_wage / abort_ban": (0.0220, 0.0251, 0.0314, 0.0438, 0.0275, 0.0274),
    "CPS log_wage / random": (0.0227, 0.0254, 0.0249, 0.0442, 0.0280, 0.0266),
    "PWT log_gdp / dem": (0.0253, 0.0363, 0.0401, 0.1982, 0.0444, 0.0389),
    "PWT log_gdp / educ": (0.0250, 0.0376, 0.0524, 0.1722, 0.0400, 0.0391),
    "PWT log_gdp / random": (0.0292, 0.0386, 0.0441, 0.1258, 0.0413, 0.0437),
}
# SDID paper Table 2 (R synthdid; DID, SC, SDID, DIFP, MC), where the design is the same.
R_SYNTHDID = {
    "CPS log_wage / min_wage": {
        "did": 0.049, "sc": 0.037, "sdid": 0.028, "difp": 0.032, "mc": 0.035
    },
    "CPS log_wage / random": {
        "did": 0.044, "sc": 0.025, "sdid": 0.024, "difp": 0.027, "mc": 0.031
    },
    "CPS hours / min_wage": {
        "did": 0.206, "sc": 0.203, "sdid": 0.190, "difp": 0.197, "mc": 0.185
    },
    "CPS urate / min_wage": {
        "did": 0.353, "sc": 0.184, "sdid": 0.191, "difp": 0.187, "mc": 0.247
    },
    "PWT log_gdp / dem": {
        "did": 0.197, "sc": 0.038, "sdid": 0.031, "difp": 0.039, "mc": 0.058
    },
    "PWT log_gdp / educ": {
        "did": 0.172, "sc": 0.053, "sdid": 0.030, "difp": 0.039, "mc": 0.049
    },
    "PWT log_gdp / random": {
        "did": 0.129, "sc": 0.046, "sdid": 0.037, "difp": 0.045, "mc": 0.063
    },
}  # fmt: skip


def cells(df) -> list[dict]:
    rows = []
    for (design, est), g in df.groupby(["design", "estimator"], sort=False):
        e = g["error"].to_numpy()
        n = len(e)
        rmse = float(np.sqrt(np.mean(e**2)))
        sd2 = float(np.std(e**2, ddof=1))
        se = sd2 / (2 * rmse * np.sqrt(n))
        row = {"design": design, "estimator": est, "n": n, "rmse": rmse, "se": se}
        if design in AUTHORS and est in ESTIMATORS:
            p = AUTHORS[design][ESTIMATORS.index(est)]
            se_p = sd2 / (2 * p * np.sqrt(1000))
            row.update(authors=p, z_authors=(rmse - p) / np.hypot(se, se_p))
        r = R_SYNTHDID.get(design, {}).get(est)
        if r is not None:
            row["r_synthdid"] = r
        rows.append(row)
    return rows


def markdown(rows, folder) -> str:
    out = [
        "# Nine designs: RMSE against the TROP authors' notebooks and R synthdid",
        "",
        (
            f"Study folder `{folder}` (studies/nine_designs.toml). RMSE (Monte Carlo SE); "
            "'authors' = the TROP authors' notebook output (1,000 replications); z counts "
            "both Monte Carlo errors; 'R' = SDID paper Table 2 (R synthdid, 3 decimals). "
            "|z| > 3 in bold."
        ),
        "",
        "| design | estimator | n | RMSE (MC SE) | authors | z | R |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        z = r.get("z_authors")
        zs = "" if z is None else (f"**{z:+.1f}**" if abs(z) > 3 else f"{z:+.1f}")
        a = f"{r['authors']:.4f}" if "authors" in r else ""
        rr = f"{r['r_synthdid']:.3f}" if "r_synthdid" in r else ""
        out.append(
            f"| {r['design']} | {r['estimator']} | {r['n']} | {r['rmse']:.4f} "
            f"({r['se']:.4f}) | {a} | {zs} | {rr} |"
        )
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--name", default="nine_designs_comparison")
    args = ap.parse_args(argv)
    from jaxpanel import study

    rows = cells(study.read(args.folder))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
    text = markdown(rows, args.folder)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
