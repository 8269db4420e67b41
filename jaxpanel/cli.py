"""Command line: ``jaxpanel demo`` and ``jaxpanel fit FILE.csv ...``.

The command line is an application, not the library: it runs in float64 unless
``--dtype float32`` is given (the library itself never sets ``jax_enable_x64``). Every
error of the library or of the input becomes one line on stderr and a non-zero exit
status (2 for bad input, 1 for a failed computation); ``--traceback`` shows the Python
traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence

import jax

from . import _cli_study, datasets
from ._cli_input import (
    LAMBDAS,
    CLIError,
    check_out,
    cluster_labels,
    covariate_columns,
    estimator_options,
    read_csv,
    time_order,
    treatment_column,
    write_estimate,
)
from .estimators import REGISTRY
from .panel import Panel

DTYPES = ("float64", "float32")
METHODS = ("did", "sc", "difp", "sdid", "mc", "trop")
VARIANCES = (
    "placebo",
    "bootstrap",
    "jackknife",
    "time_placebo",
    "regression",
    "conditional",
    "conformal",
)
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


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line too (argparse prints the usage and exits)."""

    def error(self, message: str):
        raise CLIError(f"{self.prog}: {message} (see {self.prog} --help)")


def _set_dtype(dtype: str) -> None:
    jax.config.update("jax_enable_x64", dtype == "float64")


def _run(panel, method: str, **options):
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
    """``jaxpanel demo``: every estimator on the bundled Prop 99 panel, as a table.

    Parameters
    ----------
    args : the parsed arguments (``tune``, ``dtype``).

    Returns
    -------
    0.
    """
    panel = datasets.prop99_panel()
    print("California Proposition 99 (Abadie, Diamond and Hainmueller 2010)")
    print(panel.summary())
    print(f"dtype: {args.dtype}; seconds include compilation on first use\n")
    rows = []
    notes = []
    for method in METHODS:
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
    """``jaxpanel fit FILE.csv ...``: one estimator (and a variance) on a long CSV.

    Parameters
    ----------
    args : the parsed arguments.

    Returns
    -------
    0 (errors are raised and reported by :func:`main`).
    """
    check_out(args.out)
    options = estimator_options(args)
    if args.reference is not None and args.variance is None:
        raise CLIError("--reference needs --variance (e.g. --variance placebo)")
    if args.reps is not None and args.variance is None:
        raise CLIError("--reps needs --variance (e.g. --variance placebo)")
    df = read_csv(args)
    treatment = treatment_column(df, args)
    covariates = covariate_columns(args)
    cluster = cluster_labels(df, args)
    panel = Panel.from_long(
        df,
        unit=args.unit,
        time=args.time,
        outcome=args.outcome,
        treatment=treatment,
        time_order=time_order(args),
        covariates=covariates,
    )
    t0 = time.perf_counter()
    est = _run(panel, args.method, **options)
    if args.variance is not None:
        est = est.variance(
            args.variance,
            reps=args.reps,
            seed=0 if args.seed is None else args.seed,
            level=args.level,
            **({} if args.reference is None else {"reference": args.reference}),
            **({} if cluster is None else {"cluster": cluster}),
        )
    seconds = time.perf_counter() - t0
    print(est.summary())
    print(f"  seconds  {seconds:.3f}")
    if args.event_study:
        print("\nEffects by event time (periods since adoption):")
        print(est.event_study().to_string(float_format=lambda x: f"{x:.4f}"))
    if args.out is not None:
        write_estimate(est, args.out)
        print(f"  written  {args.out}")
    return 0


def _lambda(text: str) -> float:
    value = float(text)
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0 or inf, not {text!r}")
    return value


def _reps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, not {text!r}")
    return value


def _level(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jaxpanel`` command (usage errors as one line).

    Returns
    -------
    argparse.ArgumentParser.
    """
    # --dtype and --traceback are accepted before or after the command.
    common = _Parser(add_help=False)
    common.add_argument(
        "--dtype",
        choices=DTYPES,
        default=argparse.SUPPRESS,
        help="floating point precision (default float64)",
    )
    common.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the Python traceback of an error instead of one line",
    )
    parser = _Parser(
        prog="jaxpanel",
        description="Causal panel-data estimators in JAX.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="run every estimator on the bundled Prop 99 panel",
        parents=[common],
    )
    demo.add_argument(
        "--tune",
        action="store_true",
        help="tune every estimator as its defaults do (TROP's LOOCV takes minutes)",
    )
    demo.set_defaults(func=cmd_demo)
    fit = sub.add_parser(
        "fit", help="estimate the ATT on a long-format CSV file", parents=[common]
    )
    fit.add_argument("file", help="CSV file, one row per unit-period")
    fit.add_argument("--unit", required=True, help="unit column")
    fit.add_argument(
        "--time",
        required=True,
        help="time column (numbers or dates; text is parsed, never ordered as text)",
    )
    fit.add_argument(
        "--time-order",
        default=None,
        metavar="T1,T2,...",
        help="every period of the time column in time order, comma-separated, for "
        "text labels that are neither numbers nor dates (e.g. Jan,Feb,Mar)",
    )
    fit.add_argument("--outcome", required=True, help="outcome column")
    fit.add_argument("--treatment", default=None, help="0/1 treatment column")
    fit.add_argument(
        "--treated-unit",
        action="append",
        default=[],
        metavar="U",
        help="a treated unit (repeatable), with --treated-from, instead of --treatment",
    )
    fit.add_argument(
        "--treated-from",
        default=None,
        metavar="T",
        help="first treated period of the --treated-unit units",
    )
    fit.add_argument(
        "--adoption",
        default=None,
        metavar="COLUMN",
        help="column of each unit's first treated period (empty: never treated), "
        "instead of --treatment",
    )
    fit.add_argument("--method", default="did", choices=METHODS, help="estimator")
    fit.add_argument(
        "--solver",
        default=None,
        help="weight solver: fw or exact (sc, difp, sdid); mcpanel or exact (mc)",
    )
    for name in LAMBDAS:
        fit.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_lambda,
            default=None,
            help=f"trop: fix {name} (all three fixed: no tuning; 'inf' allowed for nn)",
        )
    fit.add_argument(
        "--covariates",
        default=None,
        metavar="C1,C2,...",
        help="time-varying covariate columns, comma-separated (did, sc, difp, sdid; "
        "mc with --solver exact; trop)",
    )
    fit.add_argument(
        "--covariate-form",
        default=None,
        choices=["optimized", "projected"],
        help="how sc, difp and sdid use the covariates (default optimized, as Stata "
        "sdid)",
    )
    fit.add_argument(
        "--cluster",
        default=None,
        metavar="COLUMN",
        help="cluster column (constant within a unit) for the bootstrap, jackknife "
        "and placebo",
    )
    fit.add_argument(
        "--event-study",
        action="store_true",
        help="also print the effects by event time (with SEs after --variance)",
    )
    fit.add_argument(
        "--sep", default=None, help="field separator (default: detected from the file)"
    )
    fit.add_argument(
        "--variance", default=None, choices=VARIANCES, help="variance method"
    )
    fit.add_argument(
        "--reps", type=_reps, default=None, help="replicates (default 200)"
    )
    fit.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the variance replicates (default 0; needs --variance)",
    )
    fit.add_argument(
        "--cv-seed",
        type=int,
        default=None,
        help="seed of mc's CV folds (default: MCPanel's own) or trop's placebo sets",
    )
    fit.add_argument(
        "--loocv-cells",
        default=None,
        help="trop: the most control cells its LOOCV criterion holds out (default "
        "2500; larger panels use a random subset drawn from --cv-seed), or 'all'",
    )
    fit.add_argument(
        "--level", type=_level, default=0.95, help="confidence level (default 0.95)"
    )
    fit.add_argument(
        "--reference",
        default=None,
        choices=["normal", "t", "permutation", "percentile"],
        help="distribution of the CI and p-value (default: the method's own; needs "
        "--variance)",
    )
    fit.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="also write the estimate: .json (one object) or .csv (a tidy table of "
        "the estimate, weights and trajectory)",
    )
    fit.set_defaults(func=cmd_fit)
    _cli_study.add_parser(sub)
    return parser


# XLA's CPU concurrency-optimised scheduler was seen to deadlock a compiled program that
# runs several while loops side by side: a study of the TROP authors' SDID on the PWT
# panels (111 x 48) idles forever on the second call of its chunk program (jaxlib 0.10.2,
# CPU). The CLI owns its process, so for ``jaxpanel study`` it turns that scheduler off
# unless the user's XLA_FLAGS sets it; library users can set the same flag themselves.
_XLA_CPU_SCHEDULER = "--xla_cpu_enable_concurrency_optimized_scheduler"


def _xla_cpu_workaround() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if _XLA_CPU_SCHEDULER not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_XLA_CPU_SCHEDULER}=false".strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every error is one line on stderr.

    Parameters
    ----------
    argv : the arguments (default ``sys.argv[1:]``).

    Returns
    -------
    The exit status: 0, 2 for bad input, 1 for a failed computation.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["study"]:
        _xla_cpu_workaround()  # before JAX's backend starts (it starts on first use)
    show_traceback = "--traceback" in argv
    try:
        args = build_parser().parse_args(argv)
        args.dtype = getattr(args, "dtype", "float64")
        _set_dtype(args.dtype)
        return args.func(args)
    except Exception as exc:
        if show_traceback:
            raise
        bad_input = isinstance(exc, (CLIError, ValueError, TypeError, KeyError))
        kind = "" if bad_input else f"{type(exc).__name__}: "
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"jaxpanel: error: {kind}{message}", file=sys.stderr)
        return 2 if bad_input else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = [
    "DEMO_OPTIONS",
    "DTYPES",
    "METHODS",
    "VARIANCES",
    "build_parser",
    "cmd_demo",
    "cmd_fit",
    "main",
]
