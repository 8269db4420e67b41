"""The accelerator suite: one command, a time limit, JSON rows (issue 15).

    python bench/gpu_suite.py --time-limit 540 [--data-dir ../shared/data] [--quick]

Parts, in order, each skipped with a note once the time limit is near:

1. ``throughput``: SDID and DID fits per second against the batch size (64 ... 16,384
   placebo assignments of a Prop 99-sized panel, the array level vmapped and jitted),
   float32 and float64, compile and steady state apart.
2. ``placebo_100k``: the user-level SDID placebo SE with 100,000 replicates on a 40 x 30
   panel with 4 treated units (Frank-Wolfe weights), float64.
3. ``nine_designs``: the keynote's nine-design study (``studies/nine_designs.toml``) with
   ``--study-reps`` replications per design (needs CPS.csv and PENN.csv in
   ``--data-dir``).

Rows go to ``bench/results/gpu_suite.json`` (device, dtype, jax version with each);
``--quick`` shrinks every part (a CPU smoke run of the script itself).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', d.platform)} x{jax.device_count()}"


def _prop99_like(dtype):
    import jaxpanel

    Y, W, M = jaxpanel.datasets.prop99_panel().arrays(dtype)
    return Y, W, M


def throughput(sizes, dtypes, deadline: float) -> list[dict]:
    """Fits per second of vmapped SDID and DID over placebo assignments."""
    import jax.numpy as jnp

    from jaxpanel.estimators import did, sdid

    rows = []
    for dtype in dtypes:
        jax.config.update("jax_enable_x64", dtype == "float64")
        Y, W, M = _prop99_like(dtype)
        N, T = Y.shape
        treated = np.asarray(W).max(axis=1) > 0
        controls = np.flatnonzero(~treated)
        freq = jnp.asarray(~treated, Y.dtype)
        post = np.asarray(W)[treated][0]
        for name, att in (("sdid", sdid.att), ("did", did.att)):

            def batch_fit(Ws, att=att, Y=Y, M=M, freq=freq):
                return jax.vmap(lambda w: att(Y, w, M, freq))(Ws)

            fn = jax.jit(batch_fit)
            for B in sizes:
                if time.perf_counter() > deadline:
                    rows.append({"part": "throughput", "skipped": "time limit"})
                    return rows
                rng = np.random.default_rng(B)
                Ws = np.zeros((B, N, T))
                Ws[np.arange(B), rng.choice(controls, B)] = post
                Ws = jnp.asarray(Ws, Y.dtype)
                t0 = time.perf_counter()
                jax.block_until_ready(fn(Ws))
                first = time.perf_counter() - t0
                t0 = time.perf_counter()
                jax.block_until_ready(fn(Ws))
                steady = time.perf_counter() - t0
                rows.append(
                    {
                        "part": "throughput",
                        "estimator": name,
                        "dtype": dtype,
                        "batch": B,
                        "compile_s": first - steady,
                        "steady_s": steady,
                        "fits_per_s": B / steady,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return rows


def placebo(reps: int, deadline: float) -> list[dict]:
    """The user-level SDID placebo SE with ``reps`` replicates (40 x 30, 4 treated)."""
    jax.config.update("jax_enable_x64", True)
    import jaxpanel

    if time.perf_counter() > deadline:
        return [{"part": "placebo", "skipped": "time limit"}]
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(40, 30)).cumsum(axis=1) + rng.normal(size=(40, 1)) * 3
    W = np.zeros((40, 30))
    W[:4, 24:] = 1.0
    est = jaxpanel.sdid(jaxpanel.Panel.from_arrays(Y, W))
    t0 = time.perf_counter()
    first = est.variance("placebo", reps=min(reps, 1000), progress=False)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = est.variance("placebo", reps=reps, progress=False)
    seconds = time.perf_counter() - t0
    row = {
        "part": "placebo",
        "reps": reps,
        "seconds": seconds,
        "fits_per_s": reps / seconds,
        "first_call_s": warm,
        "se": float(res.se),
        "se_1000": float(first.se),
    }
    print(json.dumps(row), flush=True)
    return [row]


def nine_designs(reps: int, data_dir: Path | None, deadline: float) -> list[dict]:
    """The nine-design study, ``reps`` replications per design, through the CLI."""
    if data_dir is None or not (data_dir / "CPS.csv").exists():
        return [
            {"part": "nine_designs", "skipped": "no CPS.csv / PENN.csv (--data-dir)"}
        ]
    left = deadline - time.perf_counter()
    if left < 60:
        return [{"part": "nine_designs", "skipped": "time limit"}]
    text = (ROOT / "studies" / "nine_designs.toml").read_text()
    lines = [
        f"reps = {reps}" if line.startswith("reps") else line
        for line in text.splitlines()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "nine.toml"
        spec.write_text("\n".join(lines) + "\n")
        cmd = [sys.executable, "-m", "jaxpanel", "study", "run", str(spec)]
        cmd += ["--data-dir", str(data_dir), "--out", str(Path(tmp) / "out")]
        t0 = time.perf_counter()
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=left, check=False
            )
        except subprocess.TimeoutExpired:
            return [{"part": "nine_designs", "skipped": f"over the {left:.0f} s left"}]
        seconds = time.perf_counter() - t0
    row = {"part": "nine_designs", "reps": reps, "seconds": seconds}
    if out.returncode:
        row["error"] = out.stderr[-2000:]
    print(json.dumps(row), flush=True)
    return [row]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=540.0, help="seconds in all")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--study-reps", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = ap.parse_args()
    deadline = time.perf_counter() + args.time_limit
    sizes = (16, 64) if args.quick else (64, 256, 1024, 4096, 16384)
    rows = throughput(sizes, ("float32", "float64"), deadline - 0.5 * args.time_limit)
    rows += placebo(2_000 if args.quick else 100_000, deadline - 0.25 * args.time_limit)
    rows += nine_designs(2 if args.quick else args.study_reps, args.data_dir, deadline)
    meta = {"device": _device(), "jax": jax.__version__, "quick": args.quick}
    RESULTS.mkdir(exist_ok=True)
    name = "gpu_suite_quick.json" if args.quick else "gpu_suite.json"
    (RESULTS / name).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
