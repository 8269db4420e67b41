"""Command line: ``jaxpanel demo`` and ``jaxpanel fit FILE.csv ...``.

The command line is an application, not the library: it runs in float64 unless
``--dtype float32`` is given (the library itself never sets ``jax_enable_x64``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

DTYPES = ("float64", "float32")

# What `jaxpanel demo` passes to an estimator instead of its defaults (`--tune` passes
# nothing). TROP tunes three lambdas by leave-one-out over all 1,197 control cells of
# Prop 99 by default (minutes on a laptop CPU: bench/bench_trop.py), so the demo fixes
# them at the values that tuning chooses: `jaxpanel.trop(panel).info` on Prop 99.
DEMO_OPTIONS = {
    "trop": {
        "lambda_unit": 0.028952969783880806,  # 0.5 / median unit distance
        "lambda_time": 3.0,
        "lambda_nn": 2.662285931600467,  # lambda_max / 256
    },
}


class _CLIError(Exception):
    pass


def _set_dtype(dtype: str) -> None:
    import jax

    jax.config.update("jax_enable_x64", dtype == "float64")


def _methods() -> list[str]:
    from .estimators import REGISTRY

    return list(REGISTRY)


def _run(panel, method: str, **options):
    from .estimators import REGISTRY

    if method not in REGISTRY:
        raise _CLIError(
            f"unknown method {method!r}; choose one of {', '.join(REGISTRY)}"
        )
    return REGISTRY[method](panel, **options)


def _table(rows: list[dict]) -> str:
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    head = "  ".join(c.ljust(width[c]) for c in cols)
    body = ["  ".join(str(r[c]).ljust(width[c]) for c in cols) for r in rows]
    return "\n".join([head, "-" * len(head), *body])


def _row(est, seconds: float) -> dict:
    se = "-" if est.se is None else f"{est.se:.4f}"
    return {
        "method": est.method,
        "att": f"{est.att:.4f}",
        "se": se,
        "status": est.status,
        "seconds": f"{seconds:.3f}",
    }


def cmd_demo(args) -> int:
    from . import datasets

    panel = datasets.prop99_panel()
    print("California Proposition 99 (Abadie, Diamond and Hainmueller 2010)")
    print(panel.summary())
    print(f"dtype: {args.dtype}; seconds include compilation on first use\n")
    rows = []
    notes = []
    for method in _methods():
        options = {} if args.tune else DEMO_OPTIONS.get(method, {})
        t0 = time.perf_counter()
        est = _run(panel, method, **options)
        rows.append(_row(est, time.perf_counter() - t0))
        if options:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in options.items())
            notes.append(
                f"{method}: {shown} (the Prop 99 tuning choice; --tune re-tunes)"
            )
    print(_table(rows))
    for note in notes:
        print(note)
    return 0


def cmd_fit(args) -> int:
    import pandas as pd

    from .panel import Panel

    try:
        df = pd.read_csv(
            args.file, sep=args.sep, engine="python" if args.sep is None else "c"
        )
    except FileNotFoundError:
        raise _CLIError(f"no such file: {args.file}")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _CLIError(f"cannot read {args.file} as CSV: {str(exc).splitlines()[0]}")
    panel = Panel.from_long(
        df,
        unit=args.unit,
        time=args.time,
        outcome=args.outcome,
        treatment=args.treatment,
    )
    t0 = time.perf_counter()
    est = _run(panel, args.method)
    if args.variance is not None:
        est = est.variance(args.variance, reps=args.reps, seed=args.seed)
    elif args.reps is not None:
        raise _CLIError("--reps needs --variance (e.g. --variance placebo)")
    seconds = time.perf_counter() - t0
    print(est.summary())
    print(f"  seconds  {seconds:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxpanel", description="Causal panel-data estimators in JAX."
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float64", help="floating point precision"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="run every estimator on the bundled Prop 99 panel"
    )
    demo.add_argument(
        "--tune",
        action="store_true",
        help="tune every estimator as its defaults do (TROP's LOOCV takes minutes)",
    )
    demo.set_defaults(func=cmd_demo)
    fit = sub.add_parser("fit", help="estimate the ATT on a long-format CSV file")
    fit.add_argument("file", help="CSV file, one row per unit-period")
    fit.add_argument("--unit", required=True, help="unit column")
    fit.add_argument("--time", required=True, help="time column")
    fit.add_argument("--outcome", required=True, help="outcome column")
    fit.add_argument("--treatment", required=True, help="0/1 treatment column")
    fit.add_argument("--method", default="did", help="estimator (default: did)")
    fit.add_argument(
        "--sep", default=None, help="field separator (default: detected from the file)"
    )
    fit.add_argument(
        "--variance",
        default=None,
        help="variance method: bootstrap, jackknife, placebo, time_placebo, regression, "
        "conditional, conformal",
    )
    fit.add_argument("--reps", type=int, default=None, help="replicates (default 200)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.set_defaults(func=cmd_fit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _set_dtype(args.dtype)
    try:
        return args.func(args)
    except (_CLIError, ValueError) as exc:
        print(f"jaxpanel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
