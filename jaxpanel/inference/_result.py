"""VarianceResult and the reference distributions every variance method reports.

Each result's interval and p-value come from one reference distribution, named in
``reference``:

- ``'normal'``: ``att -/+ z se`` and ``2 (1 - Phi(|att| / se))``;
- ``'t'``: as normal with Student's t on ``df`` degrees of freedom (``info['df']``): an SE
  whose square is a chi-square on df degrees of freedom (the conditional variance);
- ``'permutation'``: placebo estimates as the null distribution of the estimator; the
  p-value is ``(1 + #{|tau_b| >= |att|}) / (1 + B)`` over the B distinct placebo
  assignments and the interval is its inversion, ``att -/+ |tau|_(m)`` with ``|tau|_(m)``
  the m-th largest placebo estimate in absolute value (so zero is in the interval exactly
  when the p-value exceeds 1 - level); with ``B + 1 < 1 / (1 - level)`` no value can be
  rejected and the interval is unbounded;
- ``'percentile'``: bootstrap estimates as the sampling distribution; the interval is
  their order statistics ``(tau_(k+1), tau_(B-k))`` with ``k = floor(B (1 - level) / 2)``
  and the p-value ``min(1, 2 min(#{tau_b <= 0}, #{tau_b >= 0}) / B)``, its inversion;
- ``'conformal'``: the accepted set of a permutation test inverted over hypothesised
  effects (a union of intervals; no standard error).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

REFERENCES = ("normal", "t", "permutation", "percentile", "conformal")
# the references each method offers, its default first
METHOD_REFERENCES = {
    "bootstrap": ("normal", "percentile"),
    "jackknife": ("normal",),
    "placebo": ("permutation", "normal"),
    "time_placebo": ("permutation", "normal"),
    "regression": ("normal",),
    "conditional": ("t", "normal"),
    "conformal": ("conformal",),
}


class InferenceWarning(UserWarning):
    """A variance result that cannot deliver what its level asks (too few placebos)."""


@dataclass(frozen=True)
class VarianceResult:
    """Outcome of a variance method.

    Attributes
    ----------
    method : 'bootstrap', 'jackknife', 'placebo', 'time_placebo', 'regression',
        'conditional' or 'conformal'.
    se : standard error of the ATT, or None (conformal: a set is not an SE).
    ci : the confidence interval at ``level`` from ``reference`` (a side may be
        infinite: unbounded), or None where the confidence set is a union of several
        intervals (then ``ci_set``).
    p_value : two-sided p-value for a zero effect from ``reference``.
    reference : the distribution both ``ci`` and ``p_value`` come from: 'normal',
        'permutation', 'percentile' or 'conformal' (module docstring).
    ci_set : the confidence set as disjoint intervals, in increasing order (every
        method; one interval except for conformal sets).
    ci_normal : ``att -/+ z se`` whatever the reference (R synthdid's interval), or None
        without an SE.
    n_valid, n_requested : replicates used / asked for. For the unit placebo ``n_valid``
        is B, the number of distinct placebo assignments used.
    level : confidence level.
    draws : the replicate estimates (on request), else None.
    info : method-specific extras (e.g. ``exact``: every placebo assignment enumerated).
    event_cov : (2T - 1, 2T - 1) covariance of the effects by event time (event time
        ``k - (T - 1)`` at index ``k``) from the same replicates and by the same formula
        as ``se`` (bootstrap, placebo, jackknife), NaN where an event time has no
        effect; None for the other methods. ``Estimate.event_study`` reads it.
    """

    method: str
    se: float | None
    ci: tuple[float, float] | None
    p_value: float | None = None
    reference: str = "normal"
    ci_set: tuple[tuple[float, float], ...] = ()
    ci_normal: tuple[float, float] | None = None
    n_valid: int = 0
    n_requested: int = 0
    level: float = 0.95
    draws: np.ndarray | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    event_cov: np.ndarray | None = field(default=None, repr=False)

    @property
    def ci_percentile(self) -> tuple[float, float] | None:
        """The interval when the reference is the percentile one (else None)."""
        return self.ci if self.reference == "percentile" else None

    def describe_set(self) -> str:
        """The confidence set as text, e.g. ``[-3.1, 0.2] U [4.0, inf)``."""
        if not self.ci_set:
            return "empty"
        parts = []
        for lo, hi in self.ci_set:
            left = "(-inf" if lo == -math.inf else f"[{lo:.4f}"
            right = "inf)" if hi == math.inf else f"{hi:.4f}]"
            parts.append(f"{left}, {right}")
        return " U ".join(parts)


def alpha_of(level: float) -> float:
    """``1 - level``, rounded: ``1 - 0.9`` is then 0.1.

    Thresholds such as ``B + 1 = 1 / alpha`` are then exact, and a p-value equal to
    alpha rejects.
    """
    return round(1 - level, 12)


def z_value(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def normal_ci(att: float, se: float, level: float) -> tuple[float, float]:
    z = z_value(level)
    return (att - z * se, att + z * se)


def normal_p(att: float, se: float) -> float:
    if se <= 0 or not np.isfinite(se):
        return float("nan")
    return 2 * (1 - NormalDist().cdf(abs(att) / se))


def t_ci_p(att: float, se: float, level: float, df: float):
    """Student-t interval and p-value on ``df`` degrees of freedom."""
    from scipy import stats

    q = float(stats.t.ppf(0.5 + level / 2, df))
    p = (
        float(2 * stats.t.sf(abs(att) / se, df))
        if se > 0 and np.isfinite(se)
        else float("nan")
    )
    return (att - q * se, att + q * se), p


def permutation(
    att: float, draws: np.ndarray, level: float, what: str = "placebo assignments"
) -> tuple[tuple[float, float], float]:
    """Permutation interval and p-value from B placebo estimates (module docstring)."""
    d = np.abs(np.asarray(draws, float))
    B = d.size
    alpha = alpha_of(level)
    p = float((1 + np.sum(d >= abs(att))) / (B + 1))
    m = (
        math.floor(round(alpha * (B + 1), 9) - 1) + 1
    )  # accepted iff #{|tau_b| >= |x|} >= m
    if m <= 0:
        warnings.warn(
            f"only {B} distinct {what}: the smallest attainable p-value is "
            f"1/{B + 1} = {1 / (B + 1):.3g}, above {alpha:g}, so no effect can be "
            f"rejected at level {level:g} and the interval is unbounded. Fix: a lower "
            "level, or reference='normal' (which assumes the estimates are normal)",
            InferenceWarning,
            stacklevel=4,
        )
        return (-math.inf, math.inf), p
    q = float(np.sort(d)[::-1][m - 1])
    return (att - q, att + q), p


def percentile(draws: np.ndarray, level: float) -> tuple[tuple[float, float], float]:
    """Percentile interval and its p-value from B bootstrap estimates."""
    d = np.sort(np.asarray(draws, float))
    B = d.size
    k = math.floor(round(B * alpha_of(level) / 2, 9))
    k = min(k, (B - 1) // 2)
    ci = (float(d[k]), float(d[B - 1 - k]))
    low, high = int(np.sum(d <= 0)), int(np.sum(d >= 0))
    # zero is outside the interval exactly when min(low, high) <= k, i.e. p <= 1 - level
    return ci, min(1.0, 2 * min(low, high) / B)


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


def result(
    method: str,
    att: float,
    se: float | None,
    level: float,
    reference: str = "normal",
    *,
    ci: tuple[float, float] | None = None,
    p: float | None = None,
    ci_set: tuple[tuple[float, float], ...] | None = None,
    n_valid: int = 0,
    n_requested: int = 0,
    draws: np.ndarray | None = None,
    info: Mapping[str, Any] | None = None,
    event_cov: np.ndarray | None = None,
) -> VarianceResult:
    """A VarianceResult whose ``ci`` and ``p_value`` come from ``reference``.

    With the normal reference they are computed from ``se``; otherwise the caller passes
    them (``ci`` and ``p``, or the set ``ci_set`` of a conformal test).
    """
    ci_normal = None if se is None else normal_ci(att, se, level)
    if reference == "normal":
        ci, p = ci_normal, normal_p(att, se)
    elif reference == "t":
        ci, p = t_ci_p(att, se, level, float((info or {})["df"]))
    if ci_set is None:
        ci_set = () if ci is None else (tuple(ci),)
    return VarianceResult(
        method,
        se,
        ci,
        p,
        reference,
        tuple(tuple(float(v) for v in iv) for iv in ci_set),
        ci_normal,
        int(n_valid),
        int(n_requested),
        level,
        draws,
        dict(info or {}),
        event_cov,
    )


def event_covariance(
    event: np.ndarray, ok: np.ndarray, centred: bool = True, jackknife: bool = False
) -> np.ndarray:
    """Covariance of event-time effects over replicates, as the ATT's variance.

    ``event`` (B, K) replicate effects, ``ok`` (B,) the replicates whose ATT counts.
    Each pair of event times uses the replicates where both are finite: ``(1/n) sum
    (x - mean)(y - mean)`` (bootstrap, placebo; ``centred=False``: around zero), or
    ``((n - 1)/n) sum (...)`` (jackknife). NaN where fewer than 2 replicates have both.
    """
    x = np.asarray(event, float)[np.asarray(ok, bool)]
    fin = np.isfinite(x)
    n_e = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(fin, x, 0.0).sum(axis=0) / n_e if centred else 0.0
    d = np.where(fin, x - mean, 0.0)
    n = fin.T.astype(float) @ fin.astype(float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        s = d.T @ d  # extreme outcomes overflow: the ATT's SE check raises
        cov = s * (n - 1) / n if jackknife else s / n
    return np.where(n >= 2, cov, np.nan)


def cohort_se(
    cohort: np.ndarray, ok: np.ndarray, centred: bool = True, jackknife: bool = False
) -> list[float]:
    """SE of each cohort's ATT over the replicates (the diagonal of its covariance)."""
    cov = event_covariance(cohort, ok, centred, jackknife)
    return [float(v) for v in np.sqrt(np.diag(cov))]


def from_draws(
    method: str,
    att: float,
    draws: np.ndarray,
    n_requested: int,
    level: float,
    keep_draws: bool,
    info: Mapping[str, Any] | None = None,
    centred: bool = True,
    reference: str | None = None,
    event: np.ndarray | None = None,
    cohort: np.ndarray | None = None,
) -> VarianceResult:
    """Summaries of replicate estimates.

    centred : variance around the draws' mean (R synthdid) or around zero (draws that are
        estimation errors under the null, as the overlapping time-placebo windows).
    reference : one of ``METHOD_REFERENCES[method]``; None for its default (the first).
    event : (B, 2T - 1) the replicates' effects by event time, or None; their covariance
        (over the replicates whose ATT is finite) becomes ``event_cov``.
    cohort : (B, C) the replicates' cohort ATTs (staggered designs), or None; their SEs
        by the same formula become ``info['cohort_se']`` (each over the replicates
        where the cohort is present, as Stata ``sdid``).
    """
    raw = np.asarray(draws, float)
    allowed = METHOD_REFERENCES[method]
    reference = allowed[0] if reference is None else reference
    if reference not in allowed:
        raise ValueError(
            f"reference={reference!r} does not apply to {method}; it allows "
            + ", ".join(map(repr, allowed))
        )
    draws = _valid(method, np.asarray(draws, float))
    centre = draws.mean() if centred else 0.0
    with np.errstate(
        over="ignore", invalid="ignore"
    ):  # extreme outcomes: caller raises
        se = float(np.sqrt(np.mean((draws - centre) ** 2)))
    ci = p = None
    if reference == "permutation":
        what = (
            "time-placebo windows"
            if method == "time_placebo"
            else ("placebo assignments")
        )
        ci, p = permutation(att, draws, level, what)
    elif reference == "percentile":
        ci, p = percentile(draws, level)
    info = dict(info or {})
    if cohort is not None:
        info["cohort_se"] = cohort_se(cohort, np.isfinite(raw), centred)
    return result(
        method,
        att,
        se,
        level,
        reference,
        ci=ci,
        p=p,
        n_valid=draws.size,
        n_requested=n_requested,
        draws=draws if keep_draws else None,
        info=info,
        event_cov=None
        if event is None
        else event_covariance(event, np.isfinite(raw), centred),
    )
