"""What each estimator needs of a panel, checked before any numerics.

Every estimator states its design requirements as a :class:`Requirements` value (minimum
pre- and post-periods, treated and never-treated units, balance, design type). They are
checked from the primitive to the derived, so a message names the real problem: missing
cells first, then the design type (absorbing or not), then the adoption pattern (one
adoption period), then counts of units and periods, then identification of the untreated
outcome on every treated cell. A failure raises a ``ValueError`` that names the
requirement, the units or periods concerned, a fix, and the estimators whose requirements
this panel does meet (checked, not a fixed list).

``estimators_for(panel)`` lists the estimators that apply to a panel with their default
options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _timeaxis
from ._parse import _listing
from .panel import Panel


@dataclass(frozen=True)
class Requirements:
    """Design requirements of an estimator (defaults: what every estimator needs).

    Attributes
    ----------
    balanced : every unit observed in every period.
    absorbing : treatment never switches off.
    block : every treated unit adopts in the same period.
    min_treated : treated units.
    min_controls : never-treated units.
    min_pre, min_post : pre- and post-treatment periods (block designs: T_pre, T_post).
    noise_level : R synthdid's noise level (sd of the first differences of the control
        outcomes over the pre-periods) needs at least two such differences.
    identified : the two-way model fitted on the untreated observed cells determines
        Y(0) on every treated cell: every treated unit has an untreated observed cell,
        every period with a treated cell has an untreated observed unit, and the
        untreated cells are connected (no separate groups of units and periods).
    """

    balanced: bool = False
    absorbing: bool = False
    block: bool = False
    min_treated: int = 1
    min_controls: int = 0
    min_pre: int = 0
    min_post: int = 0
    noise_level: bool = False
    identified: bool = True


# R synthdid's SC, DIFP and SDID: one block of treated units against never-treated ones,
# or (staggered adoption) one such block per adoption cohort, as Stata sdid.
SYNTH = Requirements(
    balanced=True,
    absorbing=True,
    min_controls=1,
    min_pre=2,
    min_post=1,
    noise_level=True,
)
ANY = Requirements()

# Default options of every estimator (jaxpanel.estimators.REGISTRY's names).
ESTIMATORS = {
    "did": ANY,
    "sc": SYNTH,
    "difp": SYNTH,
    "sdid": SYNTH,
    "mc": ANY,
    "trop": ANY,
}


class Unmet(NamedTuple):
    """An unmet requirement: what is needed (and what the panel has), and a fix.

    Attributes
    ----------
    need : what is needed and what the panel has, as a phrase after "<estimator> needs".
    fix : a fix feasible for this panel.
    """

    need: str
    fix: str


def _times(panel: Panel, idx) -> str:
    labels = [_timeaxis.format_label(panel.times[k]) for k in idx]
    shown = ", ".join(labels[:5])
    return shown + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")


def _components(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Connected components of the bipartite unit-period graph of the cells ``c``.

    Returns unit and period labels (-1 where a unit or period has no cell) and the number
    of components (label propagation: each pass takes the smallest label across cells).
    """
    n, t = c.shape
    big = n + t
    unit = np.where(c.any(axis=1), np.arange(n), big)
    period = np.where(c.any(axis=0), n + np.arange(t), big)
    while True:
        new_unit = np.minimum(unit, np.where(c, period[None, :], big).min(axis=1))
        new_period = np.minimum(period, np.where(c, new_unit[:, None], big).min(axis=0))
        if np.array_equal(new_unit, unit) and np.array_equal(new_period, period):
            break
        unit, period = new_unit, new_period
    unit = np.where(unit < big, unit, -1)
    period = np.where(period < big, period, -1)
    labels = np.unique(np.concatenate([unit[unit >= 0], period[period >= 0]]))
    return unit, period, int(labels.size)


def problems(panel: Panel, req: Requirements) -> list[Unmet]:
    """Unmet requirements of ``req`` on ``panel``, primitive first.

    Ordered from the primitive (missing cells) to the derived (identification).

    Parameters
    ----------
    panel : a Panel.
    req : the requirements.

    Returns
    -------
    List of :class:`Unmet` (empty when every requirement holds); checking stops at the
    first failed structural requirement (balance, design type, adoption pattern).
    """
    out: list[Unmet] = []
    if req.balanced and not panel.is_balanced:
        rows = np.flatnonzero((~panel.mask).any(axis=1))
        cols = np.flatnonzero((~panel.mask).any(axis=0))
        out.append(
            Unmet(
                f"a balanced panel; {int((~panel.mask).sum())} unit-periods are missing "
                f"(units {_listing(panel.units[rows])}; periods {_times(panel, cols)})",
                "drop or fill those unit-periods",
            )
        )
        return out  # the design type and adoption pattern below read missing cells
    if req.absorbing and not panel.is_absorbing:
        out.append(
            Unmet(
                "an absorbing treatment (once on, it stays on); it switches off for "
                f"units {_listing(panel.switching_units)}",
                "recode the treatment so it stays on once started",
            )
        )
        return out
    if req.block and panel.is_absorbing and panel.design != "block":
        adopt = sorted(set(panel.adoption_index[panel.ever_treated]))
        out.append(
            Unmet(
                "a block design (every treated unit adopts in the same period); treated "
                f"units adopt at {len(adopt)} different periods ({_times(panel, adopt)})",
                "estimate each adoption cohort separately",
            )
        )
        return out
    if panel.n_treated < req.min_treated:
        out.append(
            Unmet(
                f"at least {req.min_treated} treated units; the panel has "
                f"{panel.n_treated}",
                "add treated units",
            )
        )
    if panel.n_control < req.min_controls:
        out.append(
            Unmet(
                f"at least {req.min_controls} never-treated (control) units; the panel "
                + (
                    "has none (every unit is treated at some period)"
                    if panel.n_control == 0
                    else f"has {panel.n_control}"
                ),
                "add never-treated units",
            )
        )
    if panel.n_pre < req.min_pre:
        out.append(
            Unmet(
                f"at least {req.min_pre} pre-treatment periods; the panel has "
                f"{panel.n_pre} ({_times(panel, range(panel.n_pre)) or 'none'}) before "
                f"treatment starts in {_timeaxis.format_label(panel.times[panel.n_pre])}",
                "add earlier periods",
            )
        )
    if panel.n_post < req.min_post:
        out.append(
            Unmet(
                f"at least {req.min_post} post-treatment periods; the panel has "
                f"{panel.n_post}",
                "add later periods",
            )
        )
    if req.noise_level and panel.n_control * (panel.n_pre - 1) < 2 and not out:
        out.append(
            Unmet(
                "at least two first differences of control outcomes over the "
                "pre-periods (the noise level that scales the weights' ridge); the "
                f"panel has {panel.n_control} control units and {panel.n_pre} "
                "pre-periods",
                "add control units or pre-periods",
            )
        )
    if req.identified and not out:
        out += _identification(panel)
    return out


def _identification(panel: Panel) -> list[Unmet]:
    c = panel.mask & ~panel.W
    treated = panel.W & panel.mask
    never = panel.ever_treated & ~c.any(axis=1)
    if never.any():
        return [
            Unmet(
                "an untreated observed period for every treated unit (its unit effect); "
                f"units {_listing(panel.units[never])} are treated in every period they "
                "are observed",
                "drop those units, or add their untreated periods",
            )
        ]
    empty = treated.any(axis=0) & ~c.any(axis=0)
    if empty.any():
        cols = np.flatnonzero(empty)
        if cols[0] + len(cols) == panel.T:  # the last periods: keep those before them
            keep = f"panel.select(times=panel.times[:{cols[0]}])"
        else:
            keep = f"panel.select(times=np.delete(panel.times, {cols.tolist()}))"
        return [
            Unmet(
                "an untreated observed unit in every period with a treated cell (its "
                "time effect); in periods "
                f"{_times(panel, cols)} every observed unit is treated",
                f"drop those periods ({keep}), or add units untreated then",
            )
        ]
    unit, _, n_comp = _components(c)
    if n_comp > 1:
        groups = [panel.units[unit == g] for g in np.unique(unit[unit >= 0])]
        small = min(groups, key=len)
        return [
            Unmet(
                "untreated cells that connect every unit and period (a two-way fit "
                f"compares units only through shared periods); they form {n_comp} "
                f"separate groups, e.g. units {_listing(small)} share no untreated "
                "period with the others",
                "drop the units of the smaller groups, or add observations linking them",
            )
        ]
    return []


def estimators_for(panel: Panel) -> list[str]:
    """The estimators (with their default options) whose requirements ``panel`` meets.

    Parameters
    ----------
    panel : a Panel.

    Returns
    -------
    Names among 'did', 'sc', 'difp', 'sdid', 'mc', 'trop', in that order.
    """
    return [name for name, req in ESTIMATORS.items() if not problems(panel, req)]


def alternatives(names: list[str], kind: str) -> str:
    """The sentence naming what applies ('Estimators that apply to this panel: ...').

    Parameters
    ----------
    names : the estimators (or methods) that apply.
    kind : 'estimator' or 'method'.

    Returns
    -------
    The sentence, or one saying that none applies.
    """
    if not names:
        return f"No {kind} applies to this panel as it is."
    return f"{kind.capitalize()}s that apply to this panel: {', '.join(names)}."


def require(panel: Panel, who: str, req: Requirements) -> None:
    """Raise ``ValueError`` for the first unmet requirement of ``who`` on ``panel``.

    Parameters
    ----------
    panel : a Panel.
    who : the estimator's name, for the message.
    req : its requirements.

    Returns
    -------
    None when every requirement holds.

    Raises
    ------
    ValueError
        Naming the requirement, what the panel has, a fix, and the estimators whose
        requirements this panel meets.
    """
    found = problems(panel, req)
    if not found:
        return
    need, fix = found[0]
    others = [e for e in estimators_for(panel) if e != who]
    raise ValueError(
        f"{who} needs {need}. Fix: {fix}, or use another estimator. "
        + alternatives(others, "estimator")
    )


__all__ = [
    "ANY",
    "ESTIMATORS",
    "SYNTH",
    "Requirements",
    "Unmet",
    "alternatives",
    "estimators_for",
    "problems",
    "require",
]
