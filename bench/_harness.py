"""Benchmark harness: AOT compile time and steady-state time reported separately.

``measure(fn, *args)`` lowers and compiles ``jax.jit(fn)`` ahead of time (compile seconds),
runs the compiled executable once as a warm-up, then times ``repeats`` calls with
``block_until_ready`` and reports the median (steady-state seconds). Rows are appended as
JSON lines to ``bench/results/<name>.jsonl`` with device, dtype and jax version.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import jax

RESULTS = Path(__file__).resolve().parent / "results"


def measure(fn, *args, repeats: int = 5) -> dict:
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return {
        "compile_s": compile_s,
        "steady_s": statistics.median(times),
        "steady_min_s": min(times),
        "repeats": repeats,
    }


def time_call(fn, *args, repeats: int = 5, warmup: int = 1) -> dict:
    """Wall seconds of a Python-level call (for peers and user-level APIs)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn(*args)
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return {
        "first_s": first_s,
        "steady_s": statistics.median(times),
        "repeats": repeats,
    }


def environment() -> dict:
    dev = jax.devices()[0]
    return {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', dev.platform)}",
        "n_devices": jax.device_count(),
        "jax": jax.__version__,
        "x64": bool(jax.config.jax_enable_x64),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def record(name: str, row: dict) -> dict:
    row = {
        "bench": name,
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **environment(),
        **row,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"{name}.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def show(row: dict) -> None:
    keys = [k for k in row if k not in ("host", "python", "utc")]
    print(
        "  ".join(
            f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
            for k in keys
        )
    )
