"""Estimate: the user-level result of an estimator, with the recipe to re-run it."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jaxpanel.kernels._loop import (
    CONVERGED,
    MAX_STEPS,
    NONFINITE,
    UNIDENTIFIED,
    status_name,
)

from . import _timeaxis
from .panel import Panel


class ConvergenceWarning(RuntimeWarning):
    """A solver stopped at its iteration cap; the estimate may be inaccurate."""


@dataclass(frozen=True)
class Recipe:
    """Which estimator, with which options: enough to re-run the same estimator.

    Variance methods call ``recipe.run(panel)`` on resampled or placebo panels (the analogue
    of R synthdid's ``attr(estimate, 'opts')``).
    """

    estimator: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, panel: Panel) -> Estimate:
        from .estimators import REGISTRY

        return REGISTRY[self.estimator](panel, **dict(self.options))


@dataclass(frozen=True, eq=False)
class Estimate:
    """An estimate of the ATT on a panel.

    Attributes
    ----------
    method : estimator name ('did', ...).
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
    # The trajectory's counterfactual line: None (the fit's Y(0)), a (T,) array, or a
    # function computing it on first use.
    counterfactual: Any = field(default=None, repr=False)

    @functools.cached_property
    def trajectory(self) -> pd.DataFrame:
        """Per period: treated mean, counterfactual mean, effect, treated units."""
        cf = (
            self.counterfactual()
            if callable(self.counterfactual)
            else self.counterfactual
        )
        return _trajectory(self.panel, np.asarray(self.fit.y0), cf)

    def variance(self, method: str = "placebo", **kwargs: Any) -> Estimate:
        """Standard error, CI and p-value by a variance method (see jaxpanel.inference).

        Returns a new Estimate with ``se``, ``ci``, ``p_value`` and ``inference`` filled,
        e.g. ``jaxpanel.sdid(panel).variance("placebo", reps=1000, seed=0)``.
        """
        from .inference import variance

        return variance(self, method, **kwargs)

    @property
    def converged(self) -> bool:
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
        return dataclasses.replace(self, **changes)

    def to_frame(self) -> pd.DataFrame:
        """One row: method, att, se, ci_low, ci_high, p_value, variance method, level,
        status, dtype and design sizes."""
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
        """Everything a report needs, as JSON-serialisable values: the row of
        :meth:`to_frame`, the unit and time weights (label -> weight) and the trajectory
        (one record per period). Time labels are written as text (dates as
        YYYY-MM-DD)."""

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
        return {
            **row,
            "unit_weights": weights(self.unit_weights),
            "time_weights": weights(self.time_weights),
            "trajectory": traj,
        }

    def to_long(self) -> pd.DataFrame:
        """The estimate, its weights and its trajectory as one tidy frame with columns
        ``section`` ('estimate', 'unit_weight', 'time_weight', 'trajectory'), ``label``
        (unit or period; empty for the estimate), ``name`` and ``value``."""
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
        def num(x):
            return "    -" if x is None else f"{x:.4f}"

        lines = [
            f"{self.method.upper()} estimate of the ATT on {self.panel.outcome_name!r}",
            f"  ATT      {self.att:.4f}",
            f"  SE       {num(self.se)}"
            + (f"   ({self.variance_method})" if self.se is not None else ""),
        ]
        if self.ci is not None:
            ci = f"{100 * (self.level or 0.95):g}% CI"
            lines.append(f"  {ci:<9}[{self.ci[0]:.4f}, {self.ci[1]:.4f}]")
        if self.p_value is not None:
            kind = getattr(self.inference, "p_kind", "normal")
            lines.append(f"  p-value  {self.p_value:.4f}   ({kind})")
        lines.append(f"  status   {self.status}")
        lines.append(f"  dtype    {self.dtype}")
        lines.append("  " + self.panel.summary().replace("\n", "\n  "))
        for name, w in (("unit", self.unit_weights), ("time", self.time_weights)):
            if w is not None:
                top = w[w.abs() > 0].abs().sort_values(ascending=False).head(5)
                shown = ", ".join(
                    f"{_timeaxis.format_label(k)}: {w[k]:.3f}" for k in top.index
                )
                lines.append(f"  top {name} weights: {shown}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _trajectory(
    panel: Panel, y0: np.ndarray, counterfactual: np.ndarray | None = None
) -> pd.DataFrame:
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


# Quantities of a fit in the order they are computed, for naming the first non-finite one.
_QUANTITIES = (
    ("noise_level", "the noise level (sd of control first differences)"),
    ("unit_weights", "the unit weights (omega)"),
    ("time_weights", "the time weights (lambda)"),
    ("mu", "the fitted two-way model (mu)"),
    ("alpha", "the fitted unit effects (alpha)"),
    ("beta", "the fitted time effects (beta)"),
    ("L", "the low-rank term L"),
    ("y0", "the imputed untreated outcomes Y(0)"),
    ("cell_tau", "the per-cell effects"),
    ("tau", "the cell effects"),
    ("att", "the ATT"),
)


def nonfinite_quantity(fit: Any) -> str:
    """The first quantity of ``fit`` (in computation order) holding a NaN or inf."""
    info = getattr(fit, "info", None) or {}
    for name, label in _QUANTITIES:
        value = info.get(name) if name in info else getattr(fit, name, None)
        if value is not None and not np.all(np.isfinite(np.asarray(value))):
            return label
    return "the solver's objective or another intermediate quantity"


def check_status(method: str, status: str, fit: Any = None) -> None:
    """Turn a fit's status into an exception or a warning at the user level."""
    if status == status_name(NONFINITE):
        what = "its values" if fit is None else nonfinite_quantity(fit)
        dtype = None if fit is None else np.asarray(fit.att).dtype
        hint = (
            "enable float64 (jax.config.update('jax_enable_x64', True)) or rescale the "
            "outcome"
            if dtype == np.float32
            else "check the outcome for extreme values (the fit ran in "
            f"{dtype or 'float64'}; rescaling the outcome changes no estimate)"
        )
        raise FloatingPointError(
            f"{method}: the fit produced non-finite values in {what}. Fix: {hint}."
        )
    if status == status_name(UNIDENTIFIED):
        raise ValueError(
            f"{method}: the counterfactual is not identified for some treated cells (a "
            "treated unit or period has no weighted untreated cell, or the untreated cells "
            "split into disconnected groups). Fix: add untreated periods or control units "
            "observed in those periods."
        )
    if status == status_name(MAX_STEPS):
        warnings.warn(
            f"{method}: a solver stopped at its iteration cap; raise max_iter or loosen "
            "the tolerance.",
            ConvergenceWarning,
            stacklevel=3,
        )


def make_estimate(
    panel: Panel,
    method: str,
    fit: Any,
    options: Mapping[str, Any] | None = None,
    unit_weights: np.ndarray | None = None,
    time_weights: np.ndarray | None = None,
    info: Mapping[str, Any] | None = None,
    counterfactual: np.ndarray | None = None,
) -> Estimate:
    """Wrap an array-level ``Fit`` into an :class:`Estimate` (and check its status).

    ``counterfactual`` (T,), or a function returning it on first use, overrides the
    trajectory's counterfactual line (the synthetic control of the SC family, defined on
    every period; TROP's leave-one-out pre-period fit).
    """
    import jax

    fit = jax.tree_util.tree_map(np.asarray, fit)
    status = status_name(int(fit.status))
    check_status(method, status, fit)
    uw = (
        None
        if unit_weights is None
        else pd.Series(np.asarray(unit_weights), index=panel.units, name="omega")
    )
    tw = (
        None
        if time_weights is None
        else pd.Series(np.asarray(time_weights), index=panel.times, name="lambda")
    )
    return Estimate(
        method=method,
        att=float(fit.att),
        status=status,
        recipe=Recipe(method, dict(options or {})),
        panel=panel,
        fit=fit,
        counterfactual=counterfactual,
        unit_weights=uw,
        time_weights=tw,
        info=dict(info or {}),
    )


def with_variance(
    est: Estimate, variance: str | None, reps: int | None, seed: Any
) -> Estimate:
    """User-level helper: run ``variance`` on ``est`` when one is asked for."""
    if variance is None:
        if reps is not None:
            raise ValueError("reps= needs variance= (e.g. variance='placebo')")
        return est
    return est.variance(variance, reps=reps, seed=seed)
