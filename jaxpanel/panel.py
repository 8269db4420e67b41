"""Panel: pandas long or wide data -> dense outcome, treatment and observed-cell mask.

Every estimator works on three dense (N units x T periods) arrays: outcomes ``Y``, a binary
treatment ``W`` and an observed-cell mask. Unbalanced panels (unit-periods without a row)
become ``mask == False`` cells, never an error. Everything else that would make an estimate
meaningless is refused here with a ``ValueError`` that names the problem, the offending rows
or units and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
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


@dataclass(frozen=True, eq=False)
class Panel:
    """A balanced-or-masked panel of N units by T periods.

    Attributes
    ----------
    Y : (N, T) float64 outcomes; NaN on unobserved cells.
    W : (N, T) bool treatment; False on unobserved cells.
    mask : (N, T) bool, True where the unit-period is observed.
    units, times : labels of the rows and columns (times in time order: numbers,
        datetimes, Periods, or the order given explicitly).
    unit_name, time_name, outcome_name, treatment_name : column names, for display.
    time_note : how the time labels were read when they were not typed already
        (e.g. "dates, format %m/%d/%Y", "numbers", "given order"), else None.

    Build with :meth:`from_long`, :meth:`from_wide` or :meth:`from_arrays`.
    """

    Y: np.ndarray
    W: np.ndarray
    mask: np.ndarray
    units: pd.Index
    times: pd.Index
    unit_name: str = "unit"
    time_name: str = "time"
    outcome_name: str = "outcome"
    treatment_name: str = "treatment"
    time_note: str | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_long(
        cls,
        df: pd.DataFrame,
        unit: str,
        time: str,
        outcome: str,
        treatment: str,
        *,
        time_order: Sequence[Any] | None = None,
    ) -> Panel:
        """Build a panel from a long frame with one row per observed unit-period.

        Missing unit-periods are allowed and become unobserved cells. The order of the
        periods comes from the time values, never from text order: numbers, datetimes,
        pandas Periods and ordered Categoricals are ordered as such; text that parses
        completely as numbers or dates is parsed (``Panel.time_note`` says how); other
        text needs ``time_order`` (every period, in time order).

        Raises
        ------
        ValueError
            Missing columns, missing unit or time labels, duplicate (unit, time) rows, a
            non-numeric or NaN/inf outcome, a non-binary treatment, a time column whose
            order is unknown, and the design problems listed in :meth:`from_arrays`.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        names = {"unit": unit, "time": time, "outcome": outcome, "treatment": treatment}
        missing = [
            f"{role}={col!r}" for role, col in names.items() if col not in df.columns
        ]
        if missing:
            raise _fail(
                "missing columns",
                f"{', '.join(missing)} not in the frame (columns: {_listing(df.columns)})",
                "pass the names of existing columns as unit=, time=, outcome=, treatment=",
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

        units = _sorted_labels(df[unit])
        i = units.get_indexer(df[unit])
        t = times.get_indexer(typed)
        Y = np.full((len(units), len(times)), np.nan)
        W = np.zeros((len(units), len(times)), bool)
        mask = np.zeros((len(units), len(times)), bool)
        Y[i, t] = y
        W[i, t] = d
        mask[i, t] = True
        return cls._build(
            Y, W, mask, units, times, unit, time, outcome, treatment, time_note=note
        )

    @classmethod
    def from_wide(
        cls,
        outcome: pd.DataFrame,
        treatment: pd.DataFrame | np.ndarray,
        mask: pd.DataFrame | np.ndarray | None = None,
    ) -> Panel:
        """Build a panel from wide frames: rows are units (index), columns are periods.

        ``treatment`` has the same shape (a frame is aligned on ``outcome``'s labels).
        ``mask`` marks observed cells; by default every cell is observed, and a NaN outcome
        raises (pass ``mask=outcome.notna()`` to treat NaN cells as missing).
        """
        if not isinstance(outcome, pd.DataFrame):
            raise TypeError("outcome must be a DataFrame (units x periods)")
        if isinstance(treatment, pd.DataFrame):
            treatment = treatment.reindex(index=outcome.index, columns=outcome.columns)
        if isinstance(mask, pd.DataFrame):
            mask = mask.reindex(index=outcome.index, columns=outcome.columns).fillna(
                False
            )
        return cls.from_arrays(
            outcome.to_numpy(dtype=float),
            np.asarray(treatment),
            None if mask is None else np.asarray(mask, bool),
            units=outcome.index,
            times=outcome.columns,
            unit_name=outcome.index.name or "unit",
            time_name=outcome.columns.name or "time",
        )

    @classmethod
    def from_arrays(
        cls,
        Y: Any,
        W: Any,
        mask: Any = None,
        units: Sequence[Any] | None = None,
        times: Sequence[Any] | None = None,
        unit_name: str = "unit",
        time_name: str = "time",
        outcome_name: str = "outcome",
        treatment_name: str = "treatment",
    ) -> Panel:
        """Build a panel from (N, T) arrays.

        ``times`` are the column labels; numbers, datetimes and Periods (or text that
        parses as them) are sorted, other labels keep the columns' order.

        Raises ``ValueError`` on shape mismatches, a non-numeric outcome, NaN/inf
        outcomes in observed cells, a non-binary treatment and no treated unit. Designs
        are not judged here: a treatment that switches off, a panel in which every unit
        is treated at some period, or too few pre-periods are panels; each estimator
        states and checks its own requirements (:mod:`jaxpanel.requirements`).
        """
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

        def locate_cells(b):
            ii, tt = np.nonzero(b)
            return f"(unit, time) = {_listing([(units[a], times[c]) for a, c in zip(ii, tt)])}"

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
        return cls._build(
            Y,
            W,
            mask,
            units,
            times,
            unit_name,
            time_name,
            outcome_name,
            treatment_name,
            time_note=time_note,
        )

    @classmethod
    def _build(
        cls,
        Y,
        W,
        mask,
        units,
        times,
        unit_name,
        time_name,
        outcome_name,
        treatment_name,
        time_note=None,
    ):
        panel = cls(
            Y,
            W,
            mask,
            pd.Index(units),
            pd.Index(times),
            unit_name,
            time_name,
            outcome_name,
            treatment_name,
            time_note,
        )
        panel._validate()
        return panel

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        ever = self.W.any(axis=1)
        if not ever.any():
            raise _fail(
                "no treated unit",
                f"treatment column {self.treatment_name!r} is 0 in every observed cell",
                "check the treatment column: at least one unit-period must be treated (1)",
            )

    # ------------------------------------------------------------------ summaries
    @property
    def N(self) -> int:
        return self.Y.shape[0]

    @property
    def T(self) -> int:
        return self.Y.shape[1]

    @property
    def ever_treated(self) -> np.ndarray:
        """(N,) bool: units treated in at least one period."""
        return self.W.any(axis=1)

    @property
    def treated_units(self) -> pd.Index:
        return self.units[self.ever_treated]

    @property
    def control_units(self) -> pd.Index:
        """Never-treated units."""
        return self.units[~self.ever_treated]

    @property
    def n_treated(self) -> int:
        return int(self.ever_treated.sum())

    @property
    def n_control(self) -> int:
        return self.N - self.n_treated

    @property
    def adoption_index(self) -> np.ndarray:
        """(N,) int: column of each unit's first treated period, -1 if never treated."""
        return np.where(self.ever_treated, np.argmax(self.W, axis=1), -1)

    @property
    def adoption(self) -> pd.Series:
        """First treated period per unit (None for never-treated units)."""
        idx = self.adoption_index
        vals = [self.times[k] if k >= 0 else None for k in idx]
        return pd.Series(vals, index=self.units, name="adoption", dtype=object)

    @property
    def switching_units(self) -> pd.Index:
        """Units whose treatment switches off after it started (non-absorbing)."""
        # Along each unit's observed periods, treatment must never go from 1 back to 0.
        out = []
        for i in range(self.N):
            d = self.W[i, self.mask[i]]
            if np.any(np.diff(d.astype(np.int8)) < 0):
                out.append(i)
        return self.units[out]

    @property
    def is_absorbing(self) -> bool:
        return len(self.switching_units) == 0

    @property
    def design(self) -> str:
        """'block' (one adoption period, absorbing), 'staggered' or 'nonabsorbing'."""
        if not self.is_absorbing:
            return "nonabsorbing"
        adopt = self.adoption_index[self.ever_treated]
        return "block" if np.unique(adopt).size == 1 else "staggered"

    @property
    def n_pre(self) -> int:
        """Periods before the earliest adoption (T_pre in a block design)."""
        return int(self.adoption_index[self.ever_treated].min())

    @property
    def n_post(self) -> int:
        """Periods from the earliest adoption on (T_post in a block design)."""
        return self.T - self.n_pre

    @property
    def is_balanced(self) -> bool:
        return bool(self.mask.all())

    # ------------------------------------------------------------------ conversions
    def select(self, units: Any = None, times: Any = None) -> Panel:
        """The sub-panel of the given unit and time labels (None keeps all).

        ``units`` / ``times`` are labels (any iterable) or a boolean mask over
        ``self.units`` / ``self.times``; the panel's order is kept.
        """

        def positions(labels, index, what):
            if labels is None:
                return np.arange(len(index))
            arr = np.asarray(labels)
            if arr.dtype == bool and arr.shape == (len(index),):
                return np.flatnonzero(arr)
            pos = index.get_indexer(pd.Index(list(labels)))
            if (pos < 0).any():
                absent = [x for x, k in zip(labels, pos) if k < 0]
                raise _fail(
                    f"unknown {what} labels",
                    _listing(absent),
                    f"pass labels from panel.{what}s",
                )
            return np.sort(pos)

        r = positions(units, self.units, "unit")
        c = positions(times, self.times, "time")
        return Panel._build(
            self.Y[np.ix_(r, c)],
            self.W[np.ix_(r, c)],
            self.mask[np.ix_(r, c)],
            self.units[r],
            self.times[c],
            self.unit_name,
            self.time_name,
            self.outcome_name,
            self.treatment_name,
            time_note=self.time_note,
        )

    def arrays(self, dtype: Any = None):
        """``(Y, W, mask)`` as JAX arrays for the array-level estimators.

        ``Y`` holds 0 on unobserved cells; ``W`` and ``mask`` are 0/1 in ``dtype``. The default
        dtype is JAX's default float (float64 only when the user enabled ``jax_enable_x64``).
        """
        dtype = jnp.zeros(()).dtype if dtype is None else dtype
        Y = jnp.asarray(np.where(self.mask, self.Y, 0.0), dtype)
        return Y, jnp.asarray(self.W, dtype), jnp.asarray(self.mask, dtype)

    def to_long(self) -> pd.DataFrame:
        """Observed cells as a long frame with the panel's column names."""
        ii, tt = np.nonzero(self.mask)
        return pd.DataFrame(
            {
                self.unit_name: self.units[ii],
                self.time_name: self.times[tt],
                self.outcome_name: self.Y[ii, tt],
                self.treatment_name: self.W[ii, tt].astype(int),
            }
        )

    def summary(self) -> str:
        first, last = (
            _timeaxis.format_label(x) for x in (self.times[0], self.times[-1])
        )
        controls = (
            f"controls: {self.n_control}"
            if self.n_control
            else "controls: none (every unit is treated at some period)"
        )
        lines = [
            f"Panel: {self.N} units x {self.T} periods ({first}..{last}), "
            f"{int(self.mask.sum())} observed cells"
            + ("" if self.is_balanced else f" ({int((~self.mask).sum())} missing)"),
            f"  treated units: {self.n_treated} ({_listing(self.treated_units)}), "
            + controls,
            f"  design: {self.design}; pre-periods: {self.n_pre}, post-periods: {self.n_post}",
        ]
        if self.time_note is not None:
            lines.append(f"  {self.time_name}: read as {self.time_note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
