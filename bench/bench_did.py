"""DID vmapped over random treatment masks on Prop 99: compile and steady-state seconds, fits/s.

python bench/bench_did.py [--batch 10000] [--dtype float64|float32]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _harness import measure, record, show


def random_masks(n: int, t: int, batch: int, seed: int = 0) -> np.ndarray:
    """Block designs: 1-5 random treated units adopting at a random period in [3, T)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((batch, n, t))
    for b in range(batch):
        k = rng.integers(1, 6)
        units = rng.choice(n, size=k, replace=False)
        start = rng.integers(3, t)
        w[b, units, start:] = 1.0
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", args.dtype == "float64")

    from jaxpanel import datasets
    from jaxpanel.estimators import did

    panel = datasets.prop99_panel()
    Y, W, M = panel.arrays(args.dtype)
    masks = jnp.asarray(random_masks(panel.N, panel.T, args.batch), args.dtype)
    batched = jax.vmap(did.att, in_axes=(None, 0, None))
    t = measure(batched, Y, masks, M, repeats=args.repeats)
    one = measure(did.att, Y, W, M, repeats=20)
    row = record(
        "did_prop99_masks",
        {
            "dtype": args.dtype,
            "N": panel.N,
            "T": panel.T,
            "batch": args.batch,
            **t,
            "fits_per_s": args.batch / t["steady_s"],
            "single_fit_s": one["steady_s"],
            "single_compile_s": one["compile_s"],
        },
    )
    show(row)


if __name__ == "__main__":
    main()
