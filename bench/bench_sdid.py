"""SDID on Prop 99: one fit (compile, steady state), 1,000 placebo fits vmapped, and the
same work by azcausal (measured here) and R synthdid (times recorded in the reference file).

    python bench/bench_sdid.py [--reps 1000] [--peer-reps 20] [--dtype float64]

Placebo fits follow R's ``placebo_se``: the real treated unit is dropped (frequency 0), one
random control is declared treated over the real post-periods, the original estimate's
tuning constants are kept and its unit weights warm-start Frank-Wolfe.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _harness import measure, record, show, time_call

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "references"
    / "prop99_synthdid_R.json"
)


def placebo_inputs(panel, reps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    controls = np.flatnonzero(~panel.ever_treated)
    W = np.zeros((reps, panel.N, panel.T))
    freq = np.tile((~panel.ever_treated).astype(float), (reps, 1))
    for b in range(reps):
        W[b, rng.choice(controls), panel.n_pre :] = 1.0
    return W, freq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--peer-reps", type=int, default=20)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", args.dtype == "float64")

    from jaxpanel import datasets
    from jaxpanel.estimators import sdid

    panel = datasets.prop99_panel()
    Y, W, M = panel.arrays(args.dtype)

    one = measure(sdid.att, Y, W, M, repeats=5)
    base = sdid.fit(Y, W, M)
    consts = (
        base.info["zeta_omega"],
        base.info["zeta_lambda"],
        base.info["min_decrease"],
    )
    Wb, fb = (jnp.asarray(a, args.dtype) for a in placebo_inputs(panel, args.reps))

    def placebo(w, f):
        return sdid.fit(Y, w, M, f, base.unit_weights, None, *consts).att

    batched = jax.vmap(placebo)
    many = measure(batched, Wb, fb, repeats=2)
    atts = np.asarray(jax.jit(batched)(Wb, fb))
    se = float(np.sqrt((args.reps - 1) / args.reps) * atts.std(ddof=1))
    ours_fit_s = one["steady_s"]
    ours_rep_s = many["steady_s"] / args.reps

    row = {
        "dtype": args.dtype,
        "N": panel.N,
        "T": panel.T,
        "att": float(base.att),
        "fit_compile_s": one["compile_s"],
        "fit_steady_s": ours_fit_s,
        "placebo_reps": args.reps,
        "placebo_compile_s": many["compile_s"],
        "placebo_steady_s": many["steady_s"],
        "placebo_fits_per_s": args.reps / many["steady_s"],
        "placebo_se": se,
    }

    if REFERENCE.exists():
        r = json.loads(REFERENCE.read_text())["prop99"]["sdid"]
        row["r_fit_s"] = r["time_s_estimate_median5"]
        row["r_placebo_1000_s"] = r["time_s_placebo_1000"]
        row["ratio_r_fit"] = r["time_s_estimate_median5"] / ours_fit_s
        row["ratio_r_placebo_per_rep"] = (r["time_s_placebo_1000"] / 1000) / ours_rep_s
    else:
        print(f"R reference times skipped: {REFERENCE} not found")

    try:
        import warnings

        from azcausal.core.error import Placebo
        from azcausal.core.frame import CausalDataFrame
        from azcausal.estimators.panel.sdid import SDID
    except ImportError:
        print("azcausal not installed: peer comparison skipped (pip install azcausal)")
    else:
        warnings.simplefilter("ignore")
        cdf = CausalDataFrame(datasets.prop99()).setup(
            unit="State", time="Year", outcome="PacksPerCapita", intervention="treated"
        )
        az_panel = cdf.to_panel()
        est = SDID()
        t = time_call(est.fit, az_panel, repeats=3)
        res = est.fit(az_panel)
        t0 = time.perf_counter()
        est.error(res, Placebo(n_samples=args.peer_reps))
        az_rep_s = (time.perf_counter() - t0) / args.peer_reps
        row.update(
            azcausal_att=float(res.effect.value),
            azcausal_fit_s=t["steady_s"],
            azcausal_placebo_per_rep_s=az_rep_s,
            azcausal_placebo_reps_measured=args.peer_reps,
            ratio_azcausal_fit=t["steady_s"] / ours_fit_s,
            ratio_azcausal_placebo_per_rep=az_rep_s / ours_rep_s,
        )
    show(record("sdid_prop99", row))


if __name__ == "__main__":
    main()
