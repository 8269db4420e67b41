"""SDID placebo standard error on Prop 99 through the user API, against azcausal and R.

    python bench/bench_inference.py [--reps 1000] [--host-devices 2] [--peer-reps 20]
    python bench/bench_inference.py --sweep 100000      # on a GPU: batch-size sweep

``jaxpanel.sdid(panel).variance("placebo", reps=..., seed=0)`` is timed twice: the first call
includes compilation, the second is steady state. ``--host-devices k`` exposes k CPU cores as
k XLA devices (``--xla_force_host_platform_device_count``), over which the replicate axis is
sharded. azcausal's placebo is timed on ``--peer-reps`` replicates in the same run; R
synthdid's time (1,000 replicates, 2-core VM) comes from ../shared/references.
``--sweep B`` runs B placebo fits at several chunk sizes and reports the fastest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "references"
    / "prop99_synthdid_R.json"
)


def _chunk(reps: int) -> int:
    from jaxpanel import batch as _batch

    return _batch.chunk_size(reps, 1, len(__import__("jax").devices()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--host-devices", type=int, default=0)
    ap.add_argument("--peer-reps", type=int, default=20)
    ap.add_argument("--solver", default="fw")
    ap.add_argument("--sweep", type=int, default=0)
    ap.add_argument(
        "--repeats", type=int, default=3, help="steady-state calls (min taken)"
    )
    args = ap.parse_args()
    if args.host_devices:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={args.host_devices}"
        )
    import jax

    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import record, show

    import jaxpanel

    panel = jaxpanel.datasets.prop99_panel()
    est = jaxpanel.sdid(panel, solver=args.solver)
    t0 = time.perf_counter()
    first = est.variance("placebo", reps=args.reps, seed=0, progress=False)
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):  # steady state: the fastest of a few calls
        t0 = time.perf_counter()
        again = est.variance("placebo", reps=args.reps, seed=0, progress=False)
        times.append(time.perf_counter() - t0)
        assert again.se == first.se
    steady_s = min(times)
    per_rep = steady_s / args.reps
    row = {
        "solver": args.solver,
        "reps": args.reps,
        "se": first.se,
        "first_call_s": first_s,
        "steady_s": steady_s,
        "compile_s_approx": first_s - steady_s,
        "per_rep_s": per_rep,
        "fits_per_s": args.reps / steady_s,
        "steady_all_s": times,
        "chunk": _chunk(args.reps),
    }
    if REFERENCE.exists():
        r = json.loads(REFERENCE.read_text())["prop99"]["sdid"]
        row["r_se_placebo_1000"] = r["se_placebo_1000"]
        row["r_placebo_1000_s"] = r["time_s_placebo_1000"]
        row["ratio_r_per_rep"] = r["time_s_placebo_1000"] / 1000 / per_rep
    else:
        print(f"R reference skipped: {REFERENCE} not found")
    try:
        import warnings

        from azcausal.core.error import Placebo
        from azcausal.core.frame import CausalDataFrame
        from azcausal.estimators.panel.sdid import SDID
    except ImportError:
        print("azcausal not installed: peer comparison skipped (pip install azcausal)")
    else:
        warnings.simplefilter("ignore")
        az_panel = (
            CausalDataFrame(jaxpanel.datasets.prop99())
            .setup(
                unit="State",
                time="Year",
                outcome="PacksPerCapita",
                intervention="treated",
            )
            .to_panel()
        )
        az = SDID()
        res = az.fit(az_panel)
        t0 = time.perf_counter()
        az.error(res, Placebo(n_samples=args.peer_reps))
        az_per_rep = (time.perf_counter() - t0) / args.peer_reps
        row.update(
            azcausal_per_rep_s=az_per_rep,
            azcausal_reps_measured=args.peer_reps,
            ratio_azcausal_per_rep=az_per_rep / per_rep,
        )
    show(record("sdid_placebo_se_prop99", row))

    if args.sweep:
        best = None
        for chunk in (256, 1024, 4096, 16384, 65536):
            if chunk > args.sweep:
                break
            est.variance(
                "placebo", reps=args.sweep, seed=1, chunk=chunk, progress=False
            )  # compile
            t0 = time.perf_counter()
            est.variance(
                "placebo", reps=args.sweep, seed=1, chunk=chunk, progress=False
            )
            s = time.perf_counter() - t0
            sweep = record(
                "sdid_placebo_sweep",
                {
                    "reps": args.sweep,
                    "chunk": chunk,
                    "seconds": s,
                    "fits_per_s": args.sweep / s,
                },
            )
            show(sweep)
            best = sweep if best is None or s < best["seconds"] else best
        print(
            f"fastest chunk: {best['chunk']} ({best['seconds']:.2f} s for {args.sweep} fits)"
        )


if __name__ == "__main__":
    main()
