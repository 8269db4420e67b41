"""A typed time axis: the order of periods comes from their values, never from text order.

Accepted time labels: numbers (integer-valued floats become integers), datetimes, pandas
Periods, timedeltas and ordered Categoricals (their category order). Text is parsed when it
parses completely: first as numbers, then as dates with one format for the whole column
(guessed from the first value, month-first before day-first, as pandas does; the format
used is recorded). Any other text raises a ``ValueError`` naming the column and the fix.
An explicit order (``time_order``) overrides all of this.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

_NUMERIC = ("integer", "floating", "mixed-integer-float", "decimal")
_DATES = ("datetime64", "datetime", "date")
_TEXT = ("string", "mixed-integer", "mixed", "bytes", "empty")


def _fix(column: str) -> str:
    return (
        f"convert column {column!r} to numbers or dates (e.g. "
        f"df[{column!r}] = pd.to_datetime(df[{column!r}], format=...)), make it an "
        "ordered pandas Categorical, or pass time_order=[...] with every period in "
        "time order"
    )


def _integers(values: pd.Series) -> pd.Series:
    """Integer-valued floats as int64 (so labels print as 1955, not 1955.0)."""
    v = pd.to_numeric(values)
    whole = v.dtype.kind == "f" and np.all(np.isfinite(v)) and np.all(v == np.round(v))
    return v.astype(np.int64) if whole and np.all(np.abs(v) < 2**53) else v


def _guess(text: pd.Series) -> list[str]:
    """Date formats that fit the first value, month-first before day-first."""
    from pandas.tseries.api import guess_datetime_format

    first = str(text.iloc[0])
    formats = []
    for dayfirst in (False, True):
        with warnings.catch_warnings():  # pandas warns when a day-first guess wins
            warnings.simplefilter("ignore")
            fmt = guess_datetime_format(first, dayfirst=dayfirst)
        if fmt is not None and fmt not in formats:
            formats.append(fmt)
    return formats


def _dates(text: pd.Series) -> tuple[pd.Series, str] | None:
    """``text`` parsed as dates with one format for every value, or None."""
    for fmt in _guess(text):
        try:
            # utc=True for formats with an offset: mixed offsets are one instant each
            return pd.to_datetime(text, format=fmt, utc="%z" in fmt), fmt
        except (ValueError, TypeError):
            continue
    return None


def _periods(text: pd.Series) -> pd.Series | None:
    """``text`` as pandas Periods of one frequency ('2020Q1', '2020Q2', ...), or None.

    Every value must hold a four-digit year: pandas would read 'Jan' as January of year 1.
    """
    uniq = pd.unique(text)
    if not all(re.search(r"\d{4}", u) for u in uniq):
        return None
    try:
        parsed = {u: pd.Period(u) for u in uniq}
    except (ValueError, TypeError):
        return None
    if len({p.freqstr for p in parsed.values()}) != 1:
        return None
    return text.map(parsed).astype(pd.PeriodDtype(next(iter(parsed.values())).freq))


def parse(
    values: Any, column: str, time_order: Sequence[Any] | None = None
) -> tuple[pd.Series, pd.Index, str | None]:
    """Typed time values and the sorted axis of their distinct values.

    Parameters
    ----------
    values : the time column (one entry per row), without missing values.
    column : its name, for messages.
    time_order : optional, every period in time order (overrides parsing).

    Returns
    -------
    ``(typed values, axis, note)``: ``axis`` holds the distinct periods in time order;
    ``note`` says how text was read (e.g. "dates, format %m/%d/%Y"), else None.

    Raises
    ------
    ValueError
        Boolean time labels; text that is neither numbers nor dates (with no
        ``time_order``); values missing from ``time_order`` or repeated in it.
    """
    s = pd.Series(values).reset_index(drop=True)
    if time_order is not None:
        order = pd.Index(list(time_order))
        if order.has_duplicates:
            dup = list(order[order.duplicated()].unique()[:5])
            raise ValueError(
                f"time_order repeats periods {dup}. Fix: list every period once, in "
                "time order"
            )
        missing = pd.Index(pd.unique(s)).difference(order, sort=False)
        if len(missing):
            raise ValueError(
                f"time column {column!r} has values not in time_order: "
                f"{list(missing[:5])}. Fix: add them to time_order, in time order"
            )
        present = order[order.isin(pd.unique(s))]
        return s, present, "given order"
    if isinstance(s.dtype, pd.CategoricalDtype):
        if s.dtype.ordered:
            cats = s.dtype.categories
            return s, cats[cats.isin(pd.unique(s))], "categorical order"
        s = s.astype(s.dtype.categories.dtype)
    kind = infer_dtype(s, skipna=False)
    note = None
    if kind == "boolean":
        raise ValueError(
            f"time column {column!r} is boolean, not a time. Fix: pass the period "
            "column as time= (and the 0/1 treatment as treatment=)"
        )
    if kind in _NUMERIC:
        s = _integers(s)
    elif kind in _DATES:
        s = pd.to_datetime(s)
    elif kind in ("period", "timedelta", "timedelta64"):
        pass
    elif kind in _TEXT:
        text = s.astype(str).str.strip()
        try:
            s = _integers(pd.to_numeric(text))
            note = "numbers"
        except (ValueError, TypeError):
            parsed = _dates(text)
            if parsed is not None:
                s, fmt = parsed
                note = f"dates, format {fmt}"
            else:
                # Periods ('2020Q1', 'Jan 2020') only where no date format fits the
                # first value: a column of dates in mixed formats is refused.
                periods = None if _guess(text) else _periods(text)
                if periods is None:
                    sample = list(pd.unique(text)[:3])
                    raise ValueError(
                        f"time column {column!r} holds text that is neither numbers nor "
                        f"dates in one format (e.g. {sample}), so its order is unknown "
                        f"(text order is never used). Fix: {_fix(column)}"
                    ) from None
                s = periods
                note = f"periods ({s.iloc[0].freqstr})"
    else:
        raise ValueError(
            f"time column {column!r} holds values of type {kind!r} with no time order. "
            f"Fix: {_fix(column)}"
        )
    try:
        axis = pd.Index(pd.unique(s)).sort_values()
    except TypeError as exc:
        raise ValueError(
            f"time column {column!r} mixes values that cannot be ordered ({exc}). "
            f"Fix: {_fix(column)}"
        ) from None
    return s, axis, note


def format_label(x: Any) -> str:
    """A time label for display: dates without a time of day as YYYY-MM-DD."""
    if isinstance(x, pd.Timestamp):
        if x == x.normalize():
            return x.strftime("%Y-%m-%d")
        return str(x)
    if isinstance(x, (np.integer, np.floating)):
        x = x.item()
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def plot_coordinates(index: pd.Index) -> tuple[np.ndarray | pd.Index, list | None]:
    """X coordinates for time labels.

    Numbers and datetimes as they are, Periods as timestamps, anything else (an explicit
    order) as positions with tick labels.
    """
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp(), None
    if isinstance(index, pd.DatetimeIndex):
        return index, None
    if pd.api.types.is_numeric_dtype(index.dtype) and not pd.api.types.is_bool_dtype(
        index.dtype
    ):
        return np.asarray(index, dtype=float), None
    return np.arange(len(index), dtype=float), [format_label(x) for x in index]
