"""The TROP authors' SDID on the same simulated panels as a study's other estimators.

    python bench/bench_authors_sdid.py studies/nine_designs.toml --data-dir DIR \\
        --out runs/nine_designs_authors_sdid
    python bench/bench_authors_sdid.py studies/trop_table1.toml --data-dir DIR \\
        --out runs/trop_table1_authors_sdid

For every design of the study file and every replication r, the panel the study runner
draws (key ``fold_in(fold_in(key(seed), d), r)``, :func:`jaxpanel.study.replication`)
and ``sdid.fit_trop_authors`` on it (the authors' ``SDID_weights`` / ``SDID_TWFE``).
Writes ``OUT/errors.parquet`` (design, estimator 'sdid_authors', rep, estimate,
truth, error), read by bench/bench_trop_tables.py.

Why not a study file with ``sdid form = "trop_authors"``: on the PWT designs the study
runner's compiled chunk stalls on this 2-core CPU (XLA's CPU runtime idles in
BlockUntilReady; 10 replications did not finish in 6 minutes; the CPS designs ran), while
the same fit jitted and vmapped here takes about 0.1 s per 10 replications. The cause is
not found (issue 13's closing note).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--chunk", type=int, default=100)
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    from jaxpanel import batch
    from jaxpanel.estimators import sdid
    from jaxpanel.study import _designs, _spec

    spec = _spec.load(args.study, args.data_dir)
    dtype = jnp.float32 if spec.dtype == "float32" else jnp.float64
    rows = []
    t0 = time.perf_counter()
    for di, d in enumerate(spec.designs):
        design = _designs.build_design(d, str(args.data_dir))
        draw = _designs.replication(design, d, dtype)
        name = spec.design_names()[di]

        def one(key, draw=draw):
            Y, W, truth = draw(jax.random.fold_in(key, 0))
            return sdid.fit_trop_authors(Y, W).att, truth

        fn = jax.jit(jax.vmap(one))
        base = jax.random.fold_in(batch.key(spec.seed), di)
        for start in range(0, spec.reps, args.chunk):
            r = jnp.arange(start, min(start + args.chunk, spec.reps))
            keys = jax.vmap(lambda i, base=base: jax.random.fold_in(base, i))(r)
            est, truth = (np.asarray(x) for x in fn(keys))
            rows.append(
                pd.DataFrame(
                    {
                        "design": name,
                        "estimator": "sdid_authors",
                        "rep": np.asarray(r),
                        "estimate": est,
                        "truth": truth,
                        "error": est - truth,
                    }
                )
            )
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.concat(rows).to_parquet(args.out / "errors.parquet")
    print(f"{time.perf_counter() - t0:.1f} s -> {args.out / 'errors.parquet'}")


if __name__ == "__main__":
    main()
