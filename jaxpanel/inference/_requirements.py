"""What each variance method needs of an estimate, checked before any replicate is fit.

A method that does not apply raises a ``ValueError`` naming the requirement that fails and
the methods whose requirements this estimate meets (checked, not a fixed list).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..panel import Panel
from ..requirements import Unmet, _components, _times, problems


def _split(cells: np.ndarray) -> int:
    """Number of separate groups (connected components) of the cells ``cells``."""
    return _components(cells)[2] if cells.any() else 0


def _controls_connected(est, who: str) -> list[Unmet]:
    """Methods that fit the never-treated units alone need their cells connected."""
    p = est.panel
    groups = _split(p.mask[~p.ever_treated])
    if groups > 1:
        return [
            Unmet(
                f"{who} fits the never-treated units alone, and their observed cells "
                f"form {groups} separate groups (they are linked only through treated "
                "units), so no such fit is identified",
                "",
            )
        ]
    return []


def _treated_clusters(est, clusters) -> np.ndarray:
    return np.unique(clusters[est.panel.ever_treated])


def _bootstrap(est, clusters=None, **_) -> list[Unmet]:
    p = est.panel
    if clusters is not None and len(_treated_clusters(est, clusters)) < 2:
        return [
            Unmet(
                "the clustered bootstrap needs treated units in at least two clusters "
                "(a resample without the only one has no treated unit)",
                "",
            )
        ]
    if p.n_treated < 2:
        return [
            Unmet(
                "the bootstrap is undefined with one treated unit "
                f"({p.treated_units[0]!r}): a resample without it has no treated unit, "
                "and R synthdid returns NA",
                "",
            )
        ]
    if p.n_control < 1:
        return [
            Unmet(
                "the bootstrap resamples treated and never-treated units, and this panel "
                "has no never-treated unit",
                "",
            )
        ]
    return []


def _jackknife(
    est, allow: bool = False, refit: bool = False, clusters=None, **_
) -> list[Unmet]:
    p = est.panel
    if clusters is not None:
        if len(_treated_clusters(est, clusters)) < 2:
            return [
                Unmet(
                    "the clustered jackknife needs treated units in at least two "
                    "clusters (leaving out the only one leaves no treated unit)",
                    "",
                )
            ]
        cohorts = np.unique(p.adoption_index[p.ever_treated])
        thin = [
            c for c in cohorts if len(np.unique(clusters[p.adoption_index == c])) < 2
        ]
        if thin and getattr(est, "cohorts", None) is not None:
            return [
                Unmet(
                    "the clustered jackknife of a staggered fit needs the treated units "
                    "of every adoption period in at least two clusters (leaving out "
                    "the only one removes the cohort; Stata sdid refuses too); those "
                    f"adopting in {_times(p, thin)} are in one",
                    "",
                )
            ]
    if p.n_treated < 2:
        return [
            Unmet(
                "the jackknife is undefined with one treated unit (leaving it out leaves "
                "no treated unit; R synthdid returns NA)",
                "",
            )
        ]
    cohorts = getattr(est, "cohorts", None)
    if cohorts is not None and (cohorts["n_treated"] < 2).any():
        single = [str(a) for a in cohorts.index[cohorts["n_treated"] < 2]]
        return [
            Unmet(
                "the jackknife needs at least two treated units in every adoption cohort "
                "(leaving out a cohort's only unit removes the cohort; Stata sdid "
                f"refuses too); the cohorts adopting in {', '.join(single[:5])} have one",
                "",
            )
        ]
    untreated = (p.mask & ~p.W).sum(axis=0)
    thin = np.flatnonzero((p.W & p.mask).any(axis=0) & (untreated < 2))
    if len(thin):
        return [
            Unmet(
                "the jackknife leaves each unit out in turn, and in periods "
                f"{_times(p, thin)} a single unit is untreated: without it those "
                "periods' effects are not identified",
                "",
            )
        ]
    reason = est.replicator.refuses.get("jackknife")
    if reason and not (allow or refit):
        return [Unmet(reason, "pass refit=True (weights re-estimated) or allow=True")]
    if est.replicator.fixed is None and not refit:
        return [
            Unmet(
                f"the jackknife needs fixed-weight refits, which {est.method} has not",
                "",
            )
        ]
    single = est.unit_weights is not None and int((est.unit_weights != 0).sum()) == 1
    if single and not refit:
        return [
            Unmet(
                "the fixed-weight jackknife is undefined with a single control of "
                "non-zero weight (leaving it out leaves no control)",
                "pass refit=True (the weights re-estimated on each leave-one-out panel)",
            )
        ]
    return []


def _placebo(est, clusters=None, **_) -> list[Unmet]:
    p = est.panel
    if clusters is not None:
        sizes = np.bincount(clusters)
        n_tr = len(_treated_clusters(est, clusters))
        if len(np.unique(sizes)) > 1:
            return [
                Unmet(
                    "the clustered placebo assigns whole clusters, unit by unit, and "
                    "needs clusters of one size (sizes here: "
                    f"{sorted({int(x) for x in sizes})})",
                    "",
                )
            ]
        if len(sizes) - n_tr <= n_tr:
            return [
                Unmet(
                    "the clustered placebo needs more clusters without treated units "
                    f"than with ({len(sizes) - n_tr} and {n_tr})",
                    "",
                )
            ]
        return _controls_connected(est, "the unit placebo")
    if p.n_control <= p.n_treated:
        return [
            Unmet(
                "the unit placebo needs more controls than treated units "
                f"({p.n_control} never-treated, {p.n_treated} treated): N_tr controls "
                "play the treated units and the rest stay controls",
                "",
            )
        ]
    return _controls_connected(est, "the unit placebo")


def time_placebo_lead(est, min_pre: int = 2) -> int:
    """Pre-periods kept before the first window.

    ``min_pre``, or more where the estimator needs more pre-periods than that (its own
    requirement).
    """
    return max(min_pre, est.requirements.min_pre)


def _time_placebo(est, min_pre: int = 2, **_) -> list[Unmet]:
    p = est.panel
    if not p.is_absorbing or p.design != "block":
        return [
            Unmet(
                "the time placebo needs a block design (one adoption period); this "
                f"panel's design is {p.design}",
                "",
            )
        ]
    lead = time_placebo_lead(est, min_pre)
    t0, length = p.n_pre, p.n_post
    groups = _split((p.mask & ~p.W)[:, :t0])
    if groups > 1:
        return [
            Unmet(
                "the time placebo fits the pre-periods alone, and their cells form "
                f"{groups} separate groups",
                "",
            )
        ]
    if t0 - length + 1 - lead >= 2:
        window = _failing_window(est, lead)
        if window is not None:
            return [window]
    if t0 - length + 1 - lead < 2:
        return [
            Unmet(
                f"the time placebo needs at least two windows of {length} post-periods "
                f"inside the {t0} pre-periods after {lead} leading ones (T_pre >= "
                f"T_post + {lead + 1}; here T_pre = {t0}, T_post = {length})",
                "",
            )
        ]
    return []


def _failing_window(est, lead: int) -> Unmet | None:
    """The first time-placebo window whose panel the estimator cannot fit.

    The real post-periods and the periods after the window dropped, the treated units
    treated in the window.
    """
    p = est.panel
    req = est.requirements
    length = p.n_post
    for s in range(lead, p.n_pre - length + 1):
        keep = np.arange(s + length)
        W = np.zeros((p.N, len(keep)), bool)
        W[p.ever_treated, s:] = True
        window = Panel._build(
            p.Y[:, keep],
            W & p.mask[:, keep],
            p.mask[:, keep],
            p.units,
            p.times[keep],
            p.unit_name,
            p.time_name,
            p.outcome_name,
            p.treatment_name,
        )
        unmet = problems(window, req)
        if unmet:
            first = _times(p, [s])
            return Unmet(
                f"the time placebo refits {est.method} on windows of the pre-period; "
                f"on the window starting in {first} it would need " + unmet[0].need,
                "",
            )
    return None


def _staggered(est, who: str) -> list[Unmet]:
    """Methods defined for block designs only, asked of a staggered SC-family fit."""
    if getattr(est, "cohorts", None) is None:
        return []
    return [
        Unmet(
            f"{who} is defined for block designs; this estimate aggregates "
            f"{len(est.cohorts)} adoption cohorts (run it on one cohort's block panel, "
            "or use a method below for the aggregate)",
            "",
        )
    ]


def _regression(est, **_) -> list[Unmet]:
    staggered = _staggered(est, "the regression-based variance")
    if staggered:
        return staggered
    if est.replicator.linear is None:
        return [
            Unmet(
                "the regression-based variance needs an estimator linear in Y given its "
                f"weights (DID and the SC family); {est.method} is not",
                "",
            )
        ]
    p = est.panel
    cells = int((p.mask & ~p.W).sum())
    if cells - (p.N + p.T - 1) < 1:
        return [
            Unmet(
                "the regression-based variance needs more untreated cells than two-way "
                f"parameters to estimate the residual variance ({cells} cells, "
                f"{p.N + p.T - 1} parameters)",
                "",
            )
        ]
    return []


def _conditional(est, **_) -> list[Unmet]:
    p = est.panel
    untreated = p.mask & ~p.W
    n_full = int((~p.ever_treated & untreated.all(axis=1)).sum())
    if n_full < 2:
        return [
            Unmet(
                "the conditional variance measures noise levels against never-treated "
                "units observed in every period and needs at least 2 "
                f"({n_full} here)",
                "",
            )
        ]
    unmet = _placebo(est)
    if unmet:
        return [
            Unmet(
                "the conditional variance rescales the unit placebo, which "
                + unmet[0].need.removeprefix("the unit placebo "),
                "",
            )
        ]
    few = [
        p.units[i] for i in np.flatnonzero(p.ever_treated & (untreated.sum(axis=1) < 2))
    ]
    if few:
        return [
            Unmet(
                "the conditional variance measures each treated unit's noise level on "
                f"its untreated cells and needs at least 2 of them; units {few[:5]} "
                "have fewer",
                "",
            )
        ]
    return []


def _conformal(est, **_) -> list[Unmet]:
    p = est.panel
    staggered = _staggered(est, "conformal inference")
    if staggered:
        return staggered
    if est.replicator.residuals is None:
        return [
            Unmet(
                "conformal inference refits the estimator's counterfactual model on "
                f"every period (DID and the SC family); {est.method} has none to refit",
                "",
            )
        ]
    if not p.is_balanced or not p.is_absorbing or p.design != "block":
        return [Unmet("conformal inference needs a balanced block design", "")]
    if p.n_control < 1:
        return [Unmet("conformal inference needs never-treated units", "")]
    return []


# In the order alternatives are suggested.
CHECKS: dict[str, Callable[..., list[Unmet]]] = {
    "placebo": _placebo,
    "bootstrap": _bootstrap,
    "jackknife": _jackknife,
    "time_placebo": _time_placebo,
    "conditional": _conditional,
    "regression": _regression,
    "conformal": _conformal,
}


CLUSTERED = ("placebo", "bootstrap", "jackknife")


def methods_for(est, clusters=None) -> list[str]:
    """The variance methods (default options) whose requirements ``est`` meets.

    Parameters
    ----------
    est : an Estimate.
    clusters : (N,) cluster codes, or None; with clusters only the methods that
        resample clusters (placebo, bootstrap, jackknife) are considered.

    Returns
    -------
    Names in the order alternatives are suggested: 'placebo', 'bootstrap', 'jackknife',
    'time_placebo', 'conditional', 'regression', 'conformal'.
    """
    if clusters is None:
        return [name for name, check in CHECKS.items() if not check(est)]
    return [m for m in CLUSTERED if not CHECKS[m](est, clusters=clusters)]


def require(method: str, est, **options) -> None:
    """Raise ``ValueError`` if ``method`` does not apply to ``est``."""
    found = CHECKS[method](est, **options)
    if not found:
        return
    problem, hint = found[0]
    others = [m for m in methods_for(est, options.get("clusters")) if m != method]
    if others:
        listed = ", ".join(repr(m) for m in others)
        fix = f"use method={listed} (the methods that apply to this estimate)"
    else:
        fix = "no variance method applies to this estimate as it is"
    if hint:
        fix = f"{hint}, or {fix}"
    raise ValueError(f"{problem}. Fix: {fix}")
