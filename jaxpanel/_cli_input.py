"""The command line's input.

Reading the CSV, deriving the treatment, the estimator's options and the output file
(faces layer, used by :mod:`jaxpanel.cli`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import _timeaxis

SOLVERS = {"sc": ("fw", "exact"), "difp": ("fw", "exact"), "sdid": ("fw", "exact")}
SOLVERS["mc"] = ("mcpanel", "exact")
LAMBDAS = ("lambda_unit", "lambda_time", "lambda_nn")


class CLIError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def read_csv(args):
    try:
        return pd.read_csv(
            args.file, sep=args.sep, engine="python" if args.sep is None else "c"
        )
    except FileNotFoundError:
        raise CLIError(f"no such file: {args.file}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CLIError(
            f"cannot read {args.file} as CSV: {str(exc).splitlines()[0]}"
        ) from None


def treatment_column(df, args) -> str:
    """The name of the 0/1 treatment column.

    Derived from --treated-unit/--treated-from or --adoption when no --treatment column
    is given.
    """
    given = [
        args.treatment is not None,
        bool(args.treated_unit),
        args.adoption is not None,
    ]
    if sum(given) != 1 or (bool(args.treated_unit) != (args.treated_from is not None)):
        raise CLIError(
            "give the treatment one way: --treatment COLUMN (0/1), or --treated-unit U "
            "(repeatable) with --treated-from PERIOD, or --adoption COLUMN (each unit's "
            "first treated period, empty for never-treated units)"
        )
    if args.treatment is not None:
        return args.treatment
    for col in (args.unit, args.time):
        if col not in df.columns:
            raise CLIError(f"no column {col!r} in {args.file}")
    try:
        typed, axis, _ = _timeaxis.parse(df[args.time], args.time, time_order(args))
    except ValueError as exc:
        raise CLIError(str(exc).replace("time_order=[...]", "--time-order")) from None
    typed.index = df.index

    def as_time(values, what):
        """Periods given on the command line, read as the time column is read."""
        if time_order(args) is not None:
            bad = [v for v in values if v not in set(axis)]
            if bad:
                raise CLIError(f"{what} {bad[:3]} not in --time-order")
            pos = {v: k for k, v in enumerate(axis)}
            return pd.Series([pos[v] for v in values]), typed.map(pos)
        try:
            start, _, _ = _timeaxis.parse(pd.Series(values), what)
        except ValueError:
            raise CLIError(
                f"{what} {list(values)[:3]} is not a period of column {args.time!r} "
                f"(its periods run {_timeaxis.format_label(axis[0])}.."
                f"{_timeaxis.format_label(axis[-1])})"
            ) from None
        return start, typed

    if args.treated_unit:
        units = unit_matches(df[args.unit], args.treated_unit)
        missing = [u for u, hit in units.items() if not hit.any()]
        if missing:
            raise CLIError(f"--treated-unit {missing} not in column {args.unit!r}")
        start, times = as_time([args.treated_from], "--treated-from")
        try:
            on = np.logical_or.reduce(list(units.values())) & (times >= start.iloc[0])
        except TypeError:
            raise CLIError(
                f"--treated-from {args.treated_from!r} is not comparable with the "
                f"values of {args.time!r}"
            ) from None
        if not on.any():
            raise CLIError(
                f"--treated-from {args.treated_from} is after the last period of "
                f"{args.time!r} ({_timeaxis.format_label(axis[-1])}): no cell is treated"
            )
    else:
        if args.adoption not in df.columns:
            raise CLIError(f"no column {args.adoption!r} in {args.file}")
        col = df[args.adoption]
        per_unit = col.groupby(df[args.unit]).nunique(dropna=False)
        if (per_unit > 1).any():
            bad = list(per_unit.index[per_unit > 1][:5])
            raise CLIError(
                f"adoption column {args.adoption!r} varies within units {bad}: give "
                "each unit one adoption period (empty if never treated)"
            )
        has = col.notna().to_numpy()
        start = pd.Series(np.full(len(df), np.nan), index=df.index, dtype=object)
        times = typed
        if has.any():
            first, times = as_time(list(col[has]), f"adoption column {args.adoption!r}")
            start[has] = first.to_numpy()
        try:
            on = pd.Series(
                [bool(h) and t >= s for h, t, s in zip(has, times, start)],
                index=df.index,
            )
        except TypeError:
            raise CLIError(
                f"adoption column {args.adoption!r} is not comparable with the values "
                f"of {args.time!r}"
            ) from None
        if not on.any():
            raise CLIError(
                f"adoption column {args.adoption!r} treats no observed cell (every "
                "adoption period is empty or after the last period)"
            )
    name = "treated"
    while name in df.columns:
        name = "_" + name
    df[name] = on.astype(int).to_numpy()
    return name


def unit_matches(column, wanted: list[str]) -> dict:
    """Rows of each unit given on the command line.

    Equal as text, or as numbers when the unit column is numeric (so 17 matches 17.0).
    """
    text = column.astype(str)
    numeric = pd.api.types.is_numeric_dtype(column.dtype)
    out = {}
    for u in wanted:
        hit = (text == u).to_numpy()
        if numeric and not hit.any():
            try:
                hit = (column == float(u)).to_numpy()
            except ValueError:
                pass
        out[u] = hit
    return out


def estimator_options(args) -> dict:
    options: dict = {}
    if args.solver is not None:
        allowed = SOLVERS.get(args.method)
        if allowed is None:
            raise CLIError(f"--solver does not apply to --method {args.method}")
        if args.solver not in allowed:
            raise CLIError(
                f"--solver for {args.method} is one of {', '.join(allowed)}, not "
                f"{args.solver!r}"
            )
        options["solver"] = args.solver
    if args.cv_seed is not None:
        if args.method not in ("mc", "trop"):
            raise CLIError("--cv-seed applies to mc and trop (their tuning draws)")
        options["cv_seed"] = args.cv_seed
    if args.loocv_cells is not None:
        if args.method != "trop":
            raise CLIError("--loocv-cells applies to trop (its LOOCV criterion)")
        if args.loocv_cells == "all":
            options["loocv_cells"] = None
        else:
            try:
                options["loocv_cells"] = int(args.loocv_cells)
            except ValueError:
                raise CLIError(
                    f"--loocv-cells is a positive integer or 'all', got "
                    f"{args.loocv_cells!r}"
                ) from None
    if args.seed is not None and args.variance is None:
        raise CLIError(
            "--seed draws variance replicates and needs --variance; the draws of "
            "tuning (mc's folds, trop's placebo sets) take --cv-seed"
        )
    if args.covariate_form is not None:
        if args.method not in ("sc", "difp", "sdid"):
            raise CLIError("--covariate-form applies to sc, difp and sdid")
        if args.covariates is None:
            raise CLIError("--covariate-form needs --covariates")
        options["covariates"] = args.covariate_form
    lambdas = {k: getattr(args, k) for k in LAMBDAS if getattr(args, k) is not None}
    if lambdas:
        if args.method != "trop":
            raise CLIError("--lambda-unit/--lambda-time/--lambda-nn apply to trop only")
        options.update(lambdas)
    return options


def covariate_columns(args) -> list[str] | None:
    """The --covariates columns as a list (None without the option)."""
    if args.covariates is None:
        return None
    cols = [c.strip() for c in args.covariates.split(",") if c.strip()]
    if not cols:
        raise CLIError("--covariates needs column names, e.g. --covariates lngdp")
    return cols


def cluster_labels(df, args) -> dict | None:
    """Unit -> cluster from the --cluster column (constant within each unit)."""
    if args.cluster is None:
        return None
    if args.variance not in ("bootstrap", "jackknife", "placebo"):
        raise CLIError("--cluster needs --variance bootstrap, jackknife or placebo")
    if args.cluster not in df.columns:
        raise CLIError(f"--cluster {args.cluster!r} is not a column of the file")
    per_unit = df.groupby(args.unit)[args.cluster].nunique(dropna=False)
    mixed = list(per_unit.index[per_unit > 1])
    if mixed:
        raise CLIError(
            f"--cluster {args.cluster!r} changes within units {mixed[:5]}: a unit "
            "belongs to one cluster"
        )
    return df.groupby(args.unit)[args.cluster].first().to_dict()


def write_estimate(est, path: str) -> None:
    if Path(path).suffix.lower() == ".json":
        Path(path).write_text(json.dumps(est.to_dict(), indent=2) + "\n")
    else:
        est.to_long().to_csv(path, index=False)


def time_order(args):
    if args.time_order is None:
        return None
    return [t.strip() for t in args.time_order.split(",")]


def check_out(path: str | None) -> None:
    """Refuse a bad --out before the (possibly long) fit."""
    if path is None:
        return
    if Path(path).suffix.lower() not in (".json", ".csv"):
        raise CLIError(f"--out must end in .json or .csv, not {path!r}")
    if not Path(path).resolve().parent.is_dir():
        raise CLIError(f"--out {path!r}: no such directory")
