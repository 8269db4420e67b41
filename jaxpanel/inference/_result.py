"""VarianceResult and the summaries every variance method reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VarianceResult:
    """Outcome of a variance method.

    Attributes
    ----------
    method : 'bootstrap', 'jackknife', 'placebo', 'time_placebo', 'regression',
        'conditional' or 'conformal'.
    se : standard error. ci : normal confidence interval ``att -/+ z se``.
    ci_percentile : percentile interval from the replicate draws where it applies
        (bootstrap: quantiles of the draws; placebo: ``att`` minus the quantiles of the
        placebo distribution), else None.
    p_value : two-sided p-value for a zero effect (normal; placebo methods use the
        permutation p-value ``(1 + #{|tau_b| >= |att|}) / (B + 1)``), or None.
    n_valid, n_requested : replicates used / asked for.
    level : confidence level.
    draws : the replicate estimates (on request), else None.
    info : method-specific extras.
    """

    method: str
    se: float
    ci: tuple[float, float]
    ci_percentile: tuple[float, float] | None = None
    p_value: float | None = None
    n_valid: int = 0
    n_requested: int = 0
    level: float = 0.95
    draws: np.ndarray | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    p_kind: str = "normal"  # 'normal' or 'permutation'


def z_value(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def normal_ci(att: float, se: float, level: float) -> tuple[float, float]:
    z = z_value(level)
    return (att - z * se, att + z * se)


def normal_p(att: float, se: float) -> float:
    if se <= 0 or not np.isfinite(se):
        return float("nan")
    return 2 * (1 - NormalDist().cdf(abs(att) / se))


def _valid(method: str, draws: np.ndarray) -> np.ndarray:
    """The finite replicate estimates (a failed refit is NaN); too few is an error."""
    ok = np.isfinite(draws)
    if ok.sum() < 2:
        raise ValueError(
            f"{method}: only {int(ok.sum())} of {draws.size} replicate fits succeeded "
            "(the others were unidentified or non-finite). Fix: check the design "
            "(est.summary()), or use another variance method"
        )
    return draws[ok]


def from_draws(
    method: str,
    att: float,
    draws: np.ndarray,
    n_requested: int,
    level: float,
    kind: str,
    keep_draws: bool,
    info: Mapping[str, Any] | None = None,
    centred: bool = True,
) -> VarianceResult:
    """Summaries of replicate estimates.

    kind : 'bootstrap' (draws of the estimator around att), 'placebo' (draws of the
        estimator under the null), or 'plain' (no percentile interval).
    centred : variance around the draws' mean (R synthdid) or around zero (draws that are
        estimation errors under the null, as the overlapping time-placebo windows).
    """
    draws = np.asarray(draws, float)
    draws = _valid(method, draws)
    centre = draws.mean() if centred else 0.0
    with np.errstate(
        over="ignore", invalid="ignore"
    ):  # extreme outcomes: caller raises
        se = float(np.sqrt(np.mean((draws - centre) ** 2)))
    a = (1 - level) / 2
    pct = None
    p = normal_p(att, se)
    if kind == "bootstrap":
        q = np.quantile(draws, [a, 1 - a])
        pct = (float(q[0]), float(q[1]))
    elif kind == "placebo":
        q = np.quantile(draws, [a, 1 - a])
        pct = (float(att - q[1]), float(att - q[0]))
        p = float((1 + np.sum(np.abs(draws) >= abs(att))) / (draws.size + 1))
    return VarianceResult(
        method,
        se,
        normal_ci(att, se, level),
        pct,
        p,
        int(draws.size),
        int(n_requested),
        level,
        draws if keep_draws else None,
        dict(info or {}),
        "permutation" if kind == "placebo" else "normal",
    )
