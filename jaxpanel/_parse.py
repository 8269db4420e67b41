"""Reading panels: long frames and (N, T) arrays into checked fields of a Panel.

Every problem that makes the input not a panel is refused here with a ``ValueError``
naming the problem, the offending rows, cells or labels and a fix (designs are judged by
each estimator's requirements, :mod:`jaxpanel.requirements`, not here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import _timeaxis

_SHOW = 5  # offending rows/units listed in an error message


def _fail(problem: str, detail: str, fix: str) -> ValueError:
    return ValueError(f"{problem}: {detail}. Fix: {fix}")


def _listing(items: Sequence[Any]) -> str:
    items = [x.item() if isinstance(x, np.generic) else x for x in items]
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:_SHOW])
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"{shown}{more}"


def _sorted_labels(values: pd.Series | np.ndarray) -> pd.Index:
    uniq = pd.unique(pd.Series(values))
    try:
        return pd.Index(sorted(uniq))
    except TypeError:  # mixed, unorderable unit labels: keep order of appearance
        return pd.Index(uniq)


def _numeric_outcome(values: pd.Series, column: str, locate) -> np.ndarray:
    """The outcome column as float64, or raise naming non-numeric entries."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float)
    y = pd.to_numeric(values, errors="coerce")
    text = y.isna().to_numpy() & values.notna().to_numpy()
    if text.any():
        sample = list(pd.unique(values[text].astype(str))[:3])
        raise _fail(
            f"outcome column {column!r} is not numeric",
            f"{int(text.sum())} rows hold text such as {sample} at {locate(text)}",
            "convert the column to numbers (pd.to_numeric; for decimal commas read the "
            "file with decimal=',') or drop those rows",
        )
    return y.to_numpy(dtype=float)


def _check_binary(values: np.ndarray, where: str, locate) -> np.ndarray:
    """Return ``values`` as bool, or raise naming the non-0/1 entries."""
    if values.dtype == bool:
        return values
    try:
        v = values.astype(float)
    except (TypeError, ValueError):
        v = None
    bad = np.ones(values.shape, bool) if v is None else ~(np.isin(v, (0.0, 1.0)))
    if bad.any():
        offenders = np.unique(values[bad].astype(str))
        raise _fail(
            f"treatment {where} is not binary",
            f"values {_listing(offenders)} at {locate(bad)}",
            "recode the treatment as 0 (untreated) / 1 (treated) for every unit-period",
        )
    return v.astype(bool)


def long_frame(
    df: pd.DataFrame,
    unit: str,
    time: str,
    outcome: str,
    treatment: str,
    time_order: Sequence[Any] | None = None,
    covariates: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The fields of a Panel from a long frame (see ``Panel.from_long``)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    covariates = _covariate_names(covariates, (unit, time, outcome, treatment))
    names = {"unit": unit, "time": time, "outcome": outcome, "treatment": treatment}
    names.update({f"covariates[{k}]": c for k, c in enumerate(covariates)})
    missing = [
        f"{role}={col!r}" for role, col in names.items() if col not in df.columns
    ]
    if missing:
        raise _fail(
            "missing columns",
            f"{', '.join(missing)} not in the frame (columns: {_listing(df.columns)})",
            "pass the names of existing columns as unit=, time=, outcome=, treatment="
            + (" and covariates=" if covariates else ""),
        )
    for role in ("unit", "time"):
        col = names[role]
        na = df[col].isna().to_numpy()
        if na.any():
            raise _fail(
                f"missing {role} labels",
                f"column {col!r} is empty in rows {_listing(df.index[na])}",
                f"drop those rows or fill in the {role}",
            )
    # Periods are compared as times, so 1970 and "1970" are one period.
    typed, times, note = _timeaxis.parse(df[time], time, time_order)
    keys = pd.DataFrame({"u": df[unit].to_numpy(), "t": typed.to_numpy()})
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        pairs = df.loc[dup, [unit, time]].drop_duplicates()
        raise _fail(
            "duplicate (unit, time) rows",
            f"{int(dup.sum())} rows share a ({unit}, {time}) pair, e.g. "
            f"{_listing(list(pairs.itertuples(index=False, name=None)))}",
            "keep one row per unit and period (aggregate or drop the duplicates)",
        )

    def locate_rows(b):
        rows = df.loc[b, [unit, time]].itertuples(index=False, name=None)
        return f"({unit}, {time}) = {_listing(list(rows))}"

    y = _numeric_outcome(df[outcome], outcome, locate_rows)
    bad = ~np.isfinite(y)
    if bad.any():
        rows = df.loc[bad, [unit, time]].itertuples(index=False, name=None)
        raise _fail(
            f"NaN or infinite outcome in column {outcome!r}",
            f"{int(bad.sum())} rows, e.g. ({unit}, {time}) = {_listing(list(rows))}",
            "drop those rows (unbalanced panels are allowed: a missing row becomes a "
            "masked cell) or fill them in",
        )
    d_raw = df[treatment].to_numpy()
    d = _check_binary(d_raw, f"column {treatment!r}", locate_rows)
    xs = [_covariate_column(df, c, unit, time, locate_rows) for c in covariates]

    units = _sorted_labels(df[unit])
    i = units.get_indexer(df[unit])
    t = times.get_indexer(typed)
    Y = np.full((len(units), len(times)), np.nan)
    W = np.zeros((len(units), len(times)), bool)
    mask = np.zeros((len(units), len(times)), bool)
    Y[i, t] = y
    W[i, t] = d
    mask[i, t] = True
    X = np.full((len(covariates), len(units), len(times)), np.nan)
    for k, x in enumerate(xs):
        X[k, i, t] = x
    return {
        "Y": Y,
        "W": W,
        "mask": mask,
        "units": units,
        "times": times,
        "unit_name": unit,
        "time_name": time,
        "outcome_name": outcome,
        "treatment_name": treatment,
        "time_note": note,
        "X": X if covariates else None,
        "covariate_names": tuple(covariates),
    }


def _covariate_names(covariates, taken) -> list[str]:
    """The covariate column names as a list, refusing repeats and the panel's columns."""
    if covariates is None:
        return []
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    repeated = sorted({c for c in covariates if covariates.count(c) > 1})
    if repeated:
        raise _fail(
            "repeated covariates",
            _listing(repeated),
            "name each covariate column once",
        )
    clash = [c for c in covariates if c in taken]
    if clash:
        raise _fail(
            "a covariate is also the unit, time, outcome or treatment column",
            _listing(clash),
            "pass other columns as covariates",
        )
    return covariates


def _covariate_column(df, column: str, unit: str, time: str, locate) -> np.ndarray:
    """One covariate column as float64, or raise naming text, NaN or inf entries.

    A missing covariate value is refused as a missing outcome is: the row is dropped
    (the cell becomes unobserved) or the value filled in; the message names the units
    whose value is missing in every row (dropping them keeps the panel balanced).
    """
    x = _numeric_outcome(df[column], column, locate).copy()
    bad = ~np.isfinite(x)
    if bad.any():
        rows = df.loc[bad, [unit, time]].itertuples(index=False, name=None)
        per_unit = pd.Series(bad).groupby(df[unit].to_numpy()).all()
        whole = list(per_unit.index[per_unit.to_numpy()])
        hint = (
            f"; units {_listing(whole)} have it missing in every row: drop those units "
            f"(df[~df[{unit!r}].isin([...])]) to keep the panel balanced"
            if whole
            else ""
        )
        raise _fail(
            f"NaN or infinite covariate in column {column!r}",
            f"{int(bad.sum())} rows, e.g. ({unit}, {time}) = {_listing(list(rows))}"
            + hint,
            "drop those rows (a missing row becomes a masked cell, which did, mc and "
            "trop take; sc, difp and sdid need whole units dropped) or fill them in",
        )
    return x


def arrays(
    Y: Any,
    W: Any,
    mask: Any = None,
    units: Sequence[Any] | None = None,
    times: Sequence[Any] | None = None,
    unit_name: str = "unit",
    time_name: str = "time",
    outcome_name: str = "outcome",
    treatment_name: str = "treatment",
    X: Any = None,
    covariate_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The fields of a Panel from (N, T) arrays (see ``Panel.from_arrays``)."""
    try:
        Y = np.array(Y, dtype=float)
    except (TypeError, ValueError):
        raw = np.asarray(Y, dtype=object)
        num = pd.to_numeric(pd.Series(raw.ravel()), errors="coerce").to_numpy()
        text = np.isnan(num) & pd.notna(pd.Series(raw.ravel())).to_numpy()
        sample = list(pd.unique(pd.Series(raw.ravel()[text]).astype(str))[:3])
        raise _fail(
            "outcome is not numeric",
            f"{int(text.sum())} entries hold text such as {sample}",
            "convert the outcomes to numbers (pd.to_numeric) or mark those cells "
            "unobserved",
        ) from None
    W_raw = np.asarray(W)
    if Y.ndim != 2:
        raise _fail(
            "outcome is not a matrix",
            f"Y has shape {Y.shape}",
            "pass Y as (N units, T periods)",
        )
    if W_raw.shape != Y.shape:
        raise _fail(
            "shape mismatch",
            f"W has shape {W_raw.shape}, Y has shape {Y.shape}",
            "pass W with one entry per unit-period, shaped like Y",
        )
    if mask is None:
        mask = np.ones(Y.shape, bool)
    mask = np.asarray(mask)
    if mask.shape != Y.shape:
        raise _fail(
            "shape mismatch",
            f"mask has shape {mask.shape}, Y has shape {Y.shape}",
            "pass mask shaped like Y",
        )
    mask = mask.astype(bool)
    if X is not None:
        X = np.array(X, dtype=float)
        if X.ndim == 2:
            X = X[None]
        if X.ndim != 3 or X.shape[1:] != Y.shape:
            raise _fail(
                "shape mismatch",
                f"X has shape {X.shape}, Y has shape {Y.shape}",
                "pass X as (K covariates, N units, T periods) or (N, T) for one",
            )
        names = (
            [f"x{k}" for k in range(X.shape[0])]
            if covariate_names is None
            else _covariate_names(covariate_names, ())
        )
        if len(names) != X.shape[0]:
            raise _fail(
                "label mismatch",
                f"{len(names)} covariate names for {X.shape[0]} covariates",
                "pass one name per covariate",
            )
        covariate_names = names
    units = pd.Index(range(Y.shape[0]) if units is None else list(units))
    times = pd.Index(range(Y.shape[1]) if times is None else list(times))
    time_note = None
    if len(units) != Y.shape[0] or len(times) != Y.shape[1]:
        raise _fail(
            "label mismatch",
            f"{len(units)} unit labels and {len(times)} time labels for Y of shape {Y.shape}",
            "pass one label per row (units) and per column (times)",
        )
    try:
        typed, _, time_note = _timeaxis.parse(times, time_name)
        times = pd.Index(typed)
    except ValueError:
        # Text labels with no order of their own: the columns' order is the time
        # order (it is given explicitly by the arrays).
        time_note = "column order"
    # after parsing: "2000" and 2000.0 are one period
    for what, idx in (("unit", units), ("time", times)):
        if idx.has_duplicates:
            raise _fail(
                f"duplicate {what} labels",
                _listing(idx[idx.duplicated()]),
                f"give every {what} a distinct label",
            )
    if time_note != "column order" and not times.is_monotonic_increasing:
        order = np.argsort(np.asarray(times), kind="stable")
        times, Y, W_raw, mask = (
            times[order],
            Y[:, order],
            W_raw[:, order],
            mask[:, order],
        )
        if X is not None:
            X = X[:, :, order]

    def locate_cells(b):
        ii, tt = np.nonzero(b)
        return (
            f"(unit, time) = {_listing([(units[a], times[c]) for a, c in zip(ii, tt)])}"
        )

    bad = mask & ~np.isfinite(Y)
    if bad.any():
        raise _fail(
            "NaN or infinite outcome in observed cells",
            f"{int(bad.sum())} cells, e.g. {locate_cells(bad)}",
            "mark them unobserved (mask=False, e.g. mask=~np.isnan(Y)) or fill them in",
        )
    W_obs = np.where(mask, W_raw, 0)
    W = _check_binary(np.asarray(W_obs), "matrix W", locate_cells) & mask
    Y = np.where(mask, Y, np.nan)
    if X is not None:
        for k, name in enumerate(covariate_names):
            bad = mask & ~np.isfinite(X[k])
            if bad.any():
                raise _fail(
                    f"NaN or infinite covariate {name!r} in observed cells",
                    f"{int(bad.sum())} cells, e.g. {locate_cells(bad)}",
                    "mark them unobserved (mask=False) or fill them in",
                )
    return {
        "Y": Y,
        "W": W,
        "mask": mask,
        "units": units,
        "times": times,
        "unit_name": unit_name,
        "time_name": time_name,
        "outcome_name": outcome_name,
        "treatment_name": treatment_name,
        "time_note": time_note,
        "X": X,
        "covariate_names": tuple(covariate_names or ()),
    }
