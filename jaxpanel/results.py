"""The user-level result of an estimator: :class:`Estimate`, and its :class:`Recipe`.

An Estimate carries what re-running the estimator needs: its :class:`Recipe` (the
estimator's entry point and options) and its :class:`~jaxpanel.fit.Replicator` (the
array-level refit that variance methods batch), so inference knows no estimator.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jaxpanel.kernels import CONVERGED, status_name

from . import _timeaxis
from .fit import Replicator, event_effects
from .panel import Panel
from .requirements import Requirements


class ConvergenceWarning(RuntimeWarning):
    """A solver stopped at its iteration cap; the estimate may be inaccurate."""


# name -> user-level entry point; filled by jaxpanel.estimators when it is imported (the
# estimators sit above this module, so they register themselves here)
ENTRIES: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class Recipe:
    """Which estimator, with which options: enough to re-run the same estimator.

    The analogue of R synthdid's ``attr(estimate, 'opts')``: ``recipe.run(panel)``
    re-runs the estimator that made the estimate, with the same options.

    Attributes
    ----------
    estimator : its name ('did', 'sc', 'difp', 'sdid', 'mc', 'trop').
    options : the keyword options it was called with.
    entry : the estimator's user-level function, ``entry(panel, **options)``; None looks
        the name up among the registered estimators.
    """

    estimator: str
    options: Mapping[str, Any] = field(default_factory=dict)
    entry: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def run(self, panel: Panel) -> Estimate:
        """Re-run the estimator on ``panel`` with the same options.

        Parameters
        ----------
        panel : a :class:`~jaxpanel.Panel`.

        Returns
        -------
        Estimate.
        """
        entry = self.entry or ENTRIES.get(self.estimator)
        if entry is None:
            raise ValueError(
                f"unknown estimator {self.estimator!r}; choose one of "
                + ", ".join(map(repr, ENTRIES))
            )
        return entry(panel, **dict(self.options))


@dataclass(frozen=True, eq=False)
class Estimate:
    """An estimate of the ATT on a panel.

    Attributes
    ----------
    method : estimator name ('did', 'sc', 'difp', 'sdid', 'mc', 'trop').
    att : the point estimate.
    se, ci, p_value : None until a variance method has run.
    unit_weights, time_weights : the weights the estimator fitted (Series keyed by unit /
        period label), or None where the estimator has none of its own.
    trajectory : per period: mean observed outcome of the treated units ('treated'), their
        mean imputed untreated outcome ('counterfactual'), the difference ('effect') and the
        number of treated units observed ('n_treated'). Computed on first use (TROP's
        pre-period line needs a batch of leave-one-out fits).
    status : 'converged', 'max_steps', 'nonfinite' or 'unidentified'.
    recipe : estimator and options, to re-run the same estimator.
    panel : the panel it was fitted on.
    fit : the array-level result (NumPy arrays).
    info : solver diagnostics (iteration counts, tuning constants).
    inference : the VarianceResult of the last variance method, or None.
    replicator : the estimator's :class:`~jaxpanel.fit.Replicator` (variance methods).
    requirements : the estimator's design requirements with these options.
    counterfactual : the trajectory's counterfactual line: None (the fit's Y(0)), a
        (T,) array, or a function computing it on first use.
    cohorts : staggered designs of the SC family: one row per adoption cohort (indexed
        by its first treated period): ``n_treated``, ``n_post``, ``weight`` (its share
        of the treated cells, the cohort's weight in ``att``), ``att``, and its weights
        ``omega`` and ``lambda``; None otherwise.
    event_leads : whether :meth:`event_study` has leads (False for per-cell TROP, which
        fits no surface off the treated cells).
    """

    method: str
    att: float
    status: str
    recipe: Recipe
    panel: Panel
    fit: Any
    unit_weights: pd.Series | None = None
    time_weights: pd.Series | None = None
    se: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    variance_method: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    inference: Any = None
    replicator: Replicator | None = field(default=None, repr=False)
    requirements: Requirements = field(default_factory=Requirements, repr=False)
    counterfactual: Any = field(default=None, repr=False)
    cohorts: pd.DataFrame | None = field(default=None, repr=False)
    event_leads: bool = field(default=True, repr=False)

    @functools.cached_property
    def trajectory(self) -> pd.DataFrame:
        """Per period: treated mean, counterfactual mean, effect, treated units."""
        cf = (
            self.counterfactual()
            if callable(self.counterfactual)
            else self.counterfactual
        )
        return _trajectory(self.panel, np.asarray(self.fit.y0), cf)

    def event_study(self, window: tuple[int, int] | None = None) -> pd.DataFrame:
        """Effects by event time (period minus each unit's first treated period).

        Event time ``e >= 0``: the mean cell effect ``tau`` over the treated units
        observed ``e`` periods after their adoption; ``e < 0`` (leads): the mean gap
        ``Y - Y(0)-hat`` of the treated units ``-e`` periods before it (the estimator's
        in-sample fit on the pre-periods: Stata ``sdid_event``'s placebo effects for the
        SC family; none for per-cell TROP). Units count equally, so a staggered design's
        cohorts are weighted by their size at each event time, as ``sdid_event``. In a
        block design event time ``e`` is period ``T_pre + e``.

        With a bootstrap, placebo or jackknife result (``variance``), each effect gets
        its SE from the same replicates and formula as the ATT's, and a normal interval
        at the result's level; ``event_covariance`` has their covariance.

        Parameters
        ----------
        window : (first, last) event times to keep (inclusive); None keeps every event
            time with a treated unit.

        Returns
        -------
        DataFrame indexed by ``event_time`` (int): ``effect``, ``n_units`` (treated
        units observed then), and ``se``, ``ci_low``, ``ci_high`` (NaN until a
        variance method has run).

        Raises
        ------
        ValueError
            The treatment is not absorbing (no single adoption period per unit).
        """
        table = _event_table(self.panel, self.fit, self.event_leads)
        cov = getattr(self.inference, "event_cov", None)
        T = self.panel.T
        if cov is not None:
            k = table.index.to_numpy() + T - 1
            se = np.sqrt(np.diag(cov)[k])
            z = _z(self.level or 0.95)
            table["se"] = se
            table["ci_low"] = table["effect"] - z * se
            table["ci_high"] = table["effect"] + z * se
        else:
            table["se"] = table["ci_low"] = table["ci_high"] = np.nan
        if window is not None:
            lo, hi = window
            table = table.loc[(table.index >= lo) & (table.index <= hi)]
        return table

    def event_covariance(self) -> pd.DataFrame | None:
        """Covariance of the effects by event time (rows and columns: event times).

        From the last bootstrap, placebo or jackknife result; None before one has run.
        """
        cov = getattr(self.inference, "event_cov", None)
        if cov is None:
            return None
        idx = self.event_study().index
        k = idx.to_numpy() + self.panel.T - 1
        return pd.DataFrame(cov[np.ix_(k, k)], index=idx, columns=idx)

    def event_average(self, first: int, last: int) -> dict[str, float]:
        """The mean of the effects at event times ``first..last`` (each counted once).

        As Stata ``sdid_event``'s averages over post-treatment periods: its SE is
        ``sqrt(a' V a)`` with ``V`` the event-time covariance of the last bootstrap,
        placebo or jackknife result and ``a`` uniform over the window.

        Returns
        -------
        dict: ``effect``, ``se``, ``ci_low``, ``ci_high`` (NaN without a variance
        result), ``n_event_times``.

        Raises
        ------
        ValueError
            An event time in the window has no effect (no treated unit observed then,
            or a lead of an estimator without leads).
        """
        full = self.event_study()
        table = full.loc[(full.index >= first) & (full.index <= last)]
        want = np.arange(first, last + 1)
        have = {int(e) for e in table.index[np.isfinite(table["effect"])]}
        missing = sorted({int(e) for e in want} - have)
        if missing:
            raise ValueError(
                f"event times {missing[:5]} have no effect (event times with one: "
                f"{int(full.index.min())}..{int(full.index.max())}). Fix: a window "
                "inside the event times listed by event_study()"
            )
        a = np.full(len(want), 1.0 / len(want))
        effect = float(a @ table.loc[want, "effect"].to_numpy())
        cov = self.event_covariance()
        se = np.nan if cov is None else float(np.sqrt(a @ cov.loc[want, want] @ a))
        z = _z(self.level or 0.95)
        return {
            "effect": effect,
            "se": se,
            "ci_low": effect - z * se,
            "ci_high": effect + z * se,
            "n_event_times": len(want),
        }

    def variance(self, method: str = "placebo", **kwargs: Any) -> Estimate:
        """Standard error, CI and p-value by a variance method.

        Parameters
        ----------
        method : 'placebo', 'bootstrap', 'jackknife', 'time_placebo', 'regression',
            'conditional' or 'conformal' (:func:`jaxpanel.inference.variance`).
        **kwargs : ``reps``, ``seed``, ``level`` and the method's options.

        Returns
        -------
        A new Estimate with ``se``, ``ci``, ``p_value`` and ``inference`` filled, e.g.
        ``jaxpanel.sdid(panel).variance("placebo", reps=1000, seed=0)``.

        Raises
        ------
        ValueError
            The method does not apply to this estimate (the message names those that
            do), or bad options.
        """
        # Deferred import: inference sits above results in the layers (it refits the
        # estimates this module defines); this method is the one way down to up.
        from .inference import variance

        return variance(self, method, **kwargs)

    @property
    def converged(self) -> bool:
        """True when every solver of the fit converged."""
        return self.status == status_name(CONVERGED)

    @property
    def dtype(self) -> str:
        """The floating-point precision of the fit ('float64' or 'float32')."""
        return np.asarray(self.fit.att).dtype.name

    @property
    def level(self) -> float | None:
        """Confidence level of ``ci`` (None until a variance method has run)."""
        return None if self.inference is None else self.inference.level

    def replace(self, **changes: Any) -> Estimate:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_frame(self) -> pd.DataFrame:
        """The estimate as one row.

        Columns: method, att, se, ci_low, ci_high, p_value, variance method, level,
        status, dtype and design sizes.
        """
        lo, hi = self.ci if self.ci is not None else (None, None)
        return pd.DataFrame(
            [
                {
                    "method": self.method,
                    "att": self.att,
                    "se": self.se,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p_value": self.p_value,
                    "variance": self.variance_method,
                    "reference": getattr(self.inference, "reference", None),
                    "level": self.level,
                    "status": self.status,
                    "dtype": self.dtype,
                    "n_units": self.panel.N,
                    "n_periods": self.panel.T,
                    "n_treated_units": self.panel.n_treated,
                    "n_treated_cells": int((self.panel.W & self.panel.mask).sum()),
                }
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything a report needs, as JSON-serialisable values.

        The row of :meth:`to_frame`, the unit and time weights (label -> weight) and the
        trajectory (one record per period). Time labels are written as text (dates as
        YYYY-MM-DD).
        """

        def plain(x):
            if isinstance(x, (np.generic,)):
                x = x.item()
            if isinstance(x, float) and not np.isfinite(x):
                return None
            return x

        row = {k: plain(v) for k, v in self.to_frame().iloc[0].items()}

        def weights(w):
            if w is None:
                return None
            return {_timeaxis.format_label(k): plain(v) for k, v in w.items()}

        traj = [
            {
                self.panel.time_name: _timeaxis.format_label(t),
                **{k: plain(v) for k, v in r.items()},
            }
            for t, r in self.trajectory.iterrows()
        ]
        sets = getattr(self.inference, "ci_set", None)
        out = {
            **row,
            "ci_set": None if sets is None else [[plain(a), plain(b)] for a, b in sets],
            "unit_weights": weights(self.unit_weights),
            "time_weights": weights(self.time_weights),
            "trajectory": traj,
        }
        if "beta" in self.info:
            out["covariates"] = {
                "names": list(self.panel.covariate_names),
                "beta": self.info["beta"],
            }
        if self.cohorts is not None:
            out["cohorts"] = [
                {
                    "adoption": _timeaxis.format_label(a),
                    **{
                        k: plain(r[k])
                        for k in ("n_treated", "n_post", "weight", "att", "se")
                        if k in r
                    },
                    "omega": weights(r["omega"]),
                    "lambda": weights(r["lambda"]),
                }
                for a, r in self.cohorts.iterrows()
            ]
        if self.panel.is_absorbing:
            out["event_study"] = [
                {"event_time": int(e), **{k: plain(v) for k, v in r.items()}}
                for e, r in self.event_study().iterrows()
            ]
        return out

    def to_long(self) -> pd.DataFrame:
        """The estimate, its weights and its trajectory as one tidy frame.

        Columns ``section``
        ('estimate', 'unit_weight', 'time_weight', 'trajectory'), ``label`` (unit or
        period; empty for the estimate), ``name`` and ``value``.
        """
        rows = [("estimate", "", k, v) for k, v in self.to_frame().iloc[0].items()]
        for section, w in (
            ("unit_weight", self.unit_weights),
            ("time_weight", self.time_weights),
        ):
            if w is not None:
                rows += [
                    (section, _timeaxis.format_label(k), w.name, v)
                    for k, v in w.items()
                ]
        for t, r in self.trajectory.iterrows():
            rows += [
                ("trajectory", _timeaxis.format_label(t), k, v) for k, v in r.items()
            ]
        return pd.DataFrame(rows, columns=["section", "label", "name", "value"])

    def summary(self) -> str:
        """A printable report.

        ATT, SE, CI at its level, p-value, status, dtype, the panel and the heaviest
        weights.
        """

        def num(x):
            return "    -" if x is None else f"{x:.4f}"

        lines = [
            f"{self.method.upper()} estimate of the ATT on {self.panel.outcome_name!r}",
            f"  ATT      {self.att:.4f}",
            f"  SE       {num(self.se)}"
            + (f"   ({self.variance_method})" if self.se is not None else ""),
        ]
        if self.inference is not None:
            inf = self.inference
            name = "CI" if len(inf.ci_set) <= 1 else "set"
            ci = f"{100 * (self.level or 0.95):g}% {name}"
            lines.append(f"  {ci:<9}{inf.describe_set()}   ({inf.reference})")
        if self.p_value is not None:
            kind = getattr(self.inference, "reference", "normal")
            lines.append(f"  p-value  {self.p_value:.4f}   ({kind})")
        lines.append(f"  status   {self.status}")
        lines.append(f"  dtype    {self.dtype}")
        lines.append("  " + self.panel.summary().replace("\n", "\n  "))
        if self.cohorts is not None:
            lines.append(
                f"  cohorts  {len(self.cohorts)} adoption periods (ATT weighted by "
                "treated cells):"
            )
            for a, r in self.cohorts.iterrows():
                lines.append(
                    f"    {_timeaxis.format_label(a)}: {r['n_treated']} "
                    f"unit{'s' if r['n_treated'] != 1 else ''}, "
                    f"weight {r['weight']:.3f}, ATT {r['att']:.4f}"
                    + (
                        f" (SE {r['se']:.4f})"
                        if np.isfinite(r.get("se", np.nan))
                        else ""
                    )
                )
        if "beta" in self.info:
            beta = np.asarray(self.info["beta"], float)
            names = ", ".join(self.panel.covariate_names)
            shown = (
                ", ".join(f"{b:.4g}" for b in beta.ravel())
                if beta.ndim == 1
                else f"{beta.shape[0]} cohorts x {beta.shape[1]} (info['beta'])"
            )
            lines.append(f"  covariates {names}: coefficients {shown}")
        for name, w in (("unit", self.unit_weights), ("time", self.time_weights)):
            if w is not None:
                top = w[w.abs() > 0].abs().sort_values(ascending=False).head(5)
                shown = ", ".join(
                    f"{_timeaxis.format_label(k)}: {w[k]:.3f}" for k in top.index
                )
                lines.append(f"  top {name} weights: {shown}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """The summary."""
        return self.summary()


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _event_table(panel: Panel, fit: Any, leads: bool = True) -> pd.DataFrame:
    """Mean ``Y - y0`` by event time over the treated units, and their number.

    :func:`jaxpanel.fit.event_effects` on the panel's arrays (the definition the
    variance replicates use), the event times with a treated unit kept.
    """
    if not panel.is_absorbing:
        raise ValueError(
            "an event study needs an absorbing treatment (one adoption period per "
            f"unit); it switches off for units {list(panel.switching_units[:5])}. "
            "Fix: recode the treatment so it stays on once started"
        )
    y0 = np.asarray(fit.y0)
    Y, W, mask = panel.arrays(y0.dtype)
    effects, units = event_effects(fit, Y, W, mask, leads=leads)
    effects, units = np.asarray(effects, float), np.asarray(units)
    keep = np.flatnonzero(units > 0)
    return pd.DataFrame(
        {"effect": effects[keep], "n_units": units[keep].astype(int)},
        index=pd.Index(keep - (panel.T - 1), name="event_time"),
    )


def _trajectory(
    panel: Panel, y0: np.ndarray, counterfactual: np.ndarray | None = None
) -> pd.DataFrame:
    """Per period: treated units' mean outcome and mean Y(0), their difference, count."""
    rows = panel.ever_treated
    obs = panel.mask[rows]
    n = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        treated = np.where(obs, panel.Y[rows], 0.0).sum(axis=0) / n
        cf = np.where(obs, y0[rows], 0.0).sum(axis=0) / n
    if counterfactual is not None:
        cf = np.asarray(counterfactual, float)
    return pd.DataFrame(
        {
            "treated": treated,
            "counterfactual": cf,
            "effect": treated - cf,
            "n_treated": n,
        },
        index=pd.Index(panel.times, name=panel.time_name),
    )


__all__ = [
    "ENTRIES",
    "ConvergenceWarning",
    "Estimate",
    "Recipe",
]
