"""Seconds per design and estimator of a study (default: the nine-design study).

    python bench/bench_study.py --data-dir ../shared/data --out runs/nine [--reps N]

Runs (or resumes) the study with ``jaxpanel.study.run``, then records one row per
(design, estimator) in ``bench/results/study_<name>.jsonl``: the first chunk's seconds
(compilation included; later designs of the same shape reuse the compiled function) and
the steady seconds per replication over the other chunks, plus the RMSE. A resumed run
records the chunks it timed itself (timings are kept per chunk in ``DIR/_timing``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
from _harness import record, show

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", default=str(ROOT / "studies" / "nine_designs.toml"))
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=None, help="override the study's reps")
    ap.add_argument("--chunk", type=int, default=None)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    from jaxpanel import study

    spec = study.load(args.study, data_dir=args.data_dir)
    if args.reps or args.chunk:
        d = spec.to_dict()
        d["reps"] = args.reps or spec.reps
        d["chunk"] = args.chunk or spec.chunk
        spec = study.from_dict(d, base=spec.base)
    t0 = time.perf_counter()
    res = study.run(spec, args.out, progress=True)
    wall = time.perf_counter() - t0
    summary = study.summarize(args.out)
    timing = [
        json.loads(p.read_text()) for p in Path(args.out, "_timing").glob("*.json")
    ]
    names = spec.design_names()
    for di, design in enumerate(names):
        recs = sorted(
            (t for t in timing if t["design"] == di), key=lambda t: t["chunk"]
        )
        for label in spec.labels:
            if not recs:
                continue
            first = recs[0]["seconds"][label]
            rest = recs[1:]
            per_rep = (
                sum(t["seconds"][label] for t in rest) / sum(t["reps"] for t in rest)
                if rest
                else None
            )
            s = summary[(summary.design == design) & (summary.estimator == label)]
            row = record(
                f"study_{spec.name}",
                {
                    "design": design,
                    "estimator": label,
                    "reps": spec.reps,
                    "chunk": spec.chunk,
                    "first_chunk_s": first,
                    "steady_s_per_rep": per_rep,
                    "rmse": float(s.rmse.iloc[0]),
                    "rmse_mcse": float(s.rmse_mcse.iloc[0]),
                    "run_wall_s": wall,  # this call (0 if it only resumed a finished run)
                    "chunks_run": res["chunks"],
                },
            )
            show(row)


if __name__ == "__main__":
    main()
