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

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import _parse, _timeaxis
from ._parse import _fail, _listing


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
    X : (K, N, T) float64 time-varying covariates (NaN on unobserved cells), or None.
    covariate_names : their K names (empty without covariates).

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
    X: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()

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
        covariates: Sequence[str] | None = None,
    ) -> Panel:
        """Build a panel from a long frame with one row per observed unit-period.

        Missing unit-periods are allowed and become unobserved cells. The order of the
        periods comes from the time values, never from text order: numbers, datetimes,
        pandas Periods and ordered Categoricals are ordered as such; text that parses
        completely as numbers or dates is parsed (``Panel.time_note`` says how); other
        text needs ``time_order`` (every period, in time order).

        Parameters
        ----------
        df : long frame, one row per observed unit-period.
        unit, time, outcome, treatment : its column names (treatment 0/1 or bool).
        time_order : every period of the time column, in time order (for text labels
            that are neither numbers nor dates).
        covariates : names of numeric time-varying covariate columns (``Panel.X``).
            Estimators use them by default (SC, DIFP, SDID: ``covariates=
            'optimized'`` or ``'projected'``; DID, MC, TROP: in the two-way fit).

        Returns
        -------
        Panel.

        Raises
        ------
        ValueError
            Missing columns, missing unit or time labels, duplicate (unit, time) rows, a
            non-numeric or NaN/inf outcome or covariate (naming the rows, and the
            units missing a covariate in every row), a non-binary treatment, a time
            column whose order is unknown, and the design problems listed in
            :meth:`from_arrays`.
        """
        fields = _parse.long_frame(
            df, unit, time, outcome, treatment, time_order, covariates
        )
        return cls._build(**fields)

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

        Parameters
        ----------
        outcome : (N, T) frame, units as its index, periods as its columns.
        treatment : (N, T) 0/1, a frame (aligned on ``outcome``'s labels) or an array.
        mask : (N, T) observed cells, a frame or an array; default all observed.

        Returns
        -------
        Panel.

        Raises
        ------
        TypeError
            ``outcome`` is not a DataFrame.
        ValueError
            As :meth:`from_arrays`.
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
        X: Any = None,
        covariate_names: Sequence[str] | None = None,
    ) -> Panel:
        """Build a panel from (N, T) arrays.

        ``times`` are the column labels; numbers, datetimes and Periods (or text that
        parses as them) are sorted, other labels keep the columns' order.

        Raises ``ValueError`` on shape mismatches, a non-numeric outcome, NaN/inf
        outcomes in observed cells, a non-binary treatment and no treated unit. Designs
        are not judged here: a treatment that switches off, a panel in which every unit
        is treated at some period, or too few pre-periods are panels; each estimator
        states and checks its own requirements (:mod:`jaxpanel.requirements`).

        Parameters
        ----------
        Y : (N, T) outcomes. W : (N, T) 0/1 treatment. mask : (N, T) observed cells.
        units, times : row and column labels (default 0..N-1, 0..T-1).
        unit_name, time_name, outcome_name, treatment_name : names, for display.
        X : (K, N, T) covariates, or (N, T) for one; finite on observed cells.
        covariate_names : their K names (default x0, x1, ...).

        Returns
        -------
        Panel.
        """
        fields = _parse.arrays(
            Y,
            W,
            mask,
            units,
            times,
            unit_name,
            time_name,
            outcome_name,
            treatment_name,
            X,
            covariate_names,
        )
        return cls._build(**fields)

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
        X=None,
        covariate_names=(),
    ) -> Panel:
        """The panel of checked fields (refuses a panel with no treated cell)."""
        if X is not None:
            X = np.where(mask[None], np.asarray(X, float), np.nan)
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
            X,
            tuple(covariate_names),
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
        """Number of units (rows)."""
        return self.Y.shape[0]

    @property
    def T(self) -> int:
        """Number of periods (columns)."""
        return self.Y.shape[1]

    @property
    def ever_treated(self) -> np.ndarray:
        """(N,) bool: units treated in at least one period."""
        return self.W.any(axis=1)

    @property
    def treated_units(self) -> pd.Index:
        """Labels of the units treated in at least one period."""
        return self.units[self.ever_treated]

    @property
    def control_units(self) -> pd.Index:
        """Never-treated units."""
        return self.units[~self.ever_treated]

    @property
    def n_treated(self) -> int:
        """Number of units treated in at least one period (N_tr)."""
        return int(self.ever_treated.sum())

    @property
    def n_control(self) -> int:
        """Number of never-treated units (N_co)."""
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
        # Along each unit's observed periods, treatment must never go from 1 back to 0:
        # an observed untreated cell after an observed treated one.
        on = np.asarray(self.W, bool) & np.asarray(self.mask, bool)
        seen = np.maximum.accumulate(on, axis=1)
        off = np.asarray(self.mask, bool) & ~np.asarray(self.W, bool) & seen
        return self.units[np.flatnonzero(off.any(axis=1))]

    @property
    def is_absorbing(self) -> bool:
        """True when no unit's treatment switches off after it started."""
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
        """True when every unit is observed in every period."""
        return bool(self.mask.all())

    # ------------------------------------------------------------------ conversions
    def select(self, units: Any = None, times: Any = None) -> Panel:
        """The sub-panel of the given unit and time labels (None keeps all).

        ``units`` / ``times`` are labels (any iterable) or a boolean mask over
        ``self.units`` / ``self.times``; the panel's order is kept.

        Parameters
        ----------
        units : unit labels or a boolean mask (N,); None keeps all.
        times : time labels or a boolean mask (T,); None keeps all.

        Returns
        -------
        Panel.

        Raises
        ------
        ValueError
            A label not in the panel, or a sub-panel with no treated cell.
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
            X=None if self.X is None else self.X[:, r][:, :, c],
            covariate_names=self.covariate_names,
        )

    def covariate_arrays(self, dtype: Any = None) -> jax.Array | None:
        """The covariates as one JAX array (K, N, T), 0 on unobserved cells; or None.

        Parameters
        ----------
        dtype : float dtype (default JAX's default float).

        Returns
        -------
        (K, N, T) array, or None when the panel has no covariates.
        """
        if self.X is None:
            return None
        dtype = jnp.zeros(()).dtype if dtype is None else dtype
        return jnp.asarray(np.where(self.mask[None], self.X, 0.0), dtype)

    def arrays(self, dtype: Any = None):
        """``(Y, W, mask)`` as JAX arrays for the array-level estimators.

        ``Y`` holds 0 on unobserved cells; ``W`` and ``mask`` are 0/1 in ``dtype``. The default
        dtype is JAX's default float (float64 only when the user enabled ``jax_enable_x64``).

        Parameters
        ----------
        dtype : float dtype (default JAX's default float).

        Returns
        -------
        ``(Y, W, mask)``, each (N, T).
        """
        dtype = jnp.zeros(()).dtype if dtype is None else dtype
        Y = jnp.asarray(np.where(self.mask, self.Y, 0.0), dtype)
        return Y, jnp.asarray(self.W, dtype), jnp.asarray(self.mask, dtype)

    def to_long(self) -> pd.DataFrame:
        """Observed cells as a long frame with the panel's column names.

        Returns
        -------
        DataFrame with the unit, time, outcome and treatment columns.
        """
        ii, tt = np.nonzero(self.mask)
        return pd.DataFrame(
            {
                self.unit_name: self.units[ii],
                self.time_name: self.times[tt],
                self.outcome_name: self.Y[ii, tt],
                self.treatment_name: self.W[ii, tt].astype(int),
                **{
                    name: self.X[k, ii, tt]
                    for k, name in enumerate(self.covariate_names)
                },
            }
        )

    def summary(self) -> str:
        """A printable description: size, periods, treated units, design, time labels."""
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
        if self.covariate_names:
            lines.append(f"  covariates: {', '.join(self.covariate_names)}")
        if self.time_note is not None:
            lines.append(f"  {self.time_name}: read as {self.time_note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """The summary."""
        return self.summary()


__all__ = [
    "Panel",
]
