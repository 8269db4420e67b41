"""The SDID and TROP papers' designs: CPS, PWT, Germany, Basque (files) and Prop 99.

CPS and PWT are R synthdid's ``data/CPS.csv`` and ``data/PENN.csv``
(github.com/synth-inference/synthdid), Germany and Basque pysyncon's ``data/germany.csv``
and ``data/basque.csv`` (github.com/sdfordham/pysyncon); jaxpanel does not bundle them, so
the presets read them from a path the user gives.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from .. import datasets
from .._options import check_choice
from ._design import Design, calibrate, sc_probabilities

CPS_OUTCOMES = ("log_wage", "hours", "urate")
CPS_ASSIGNMENTS = ("min_wage", "open_carry", "abort_ban", "random")
PWT_OUTCOMES = ("log_gdp",)
PWT_ASSIGNMENTS = ("dem", "educ", "random")
PROP99_ASSIGNMENTS = ("simulated", "treated_unit", "random")


# (how a missing-file message names the file's owner, the repository)
SYNTHDID = ("R synthdid's ", "github.com/synth-inference/synthdid")
PYSYNCON = ("", "github.com/sdfordham/pysyncon")


def _read(path, fn: str, repo_path: str, source: tuple, sep: str) -> pd.DataFrame:
    """The user's copy of ``repo_path`` in ``source``, or a ValueError saying where to get it."""
    owner, repo = source
    file = Path(repo_path).name
    if path is None:
        raise ValueError(
            f"{fn} needs path= to {owner}{file} ({repo_path} in {repo}; jaxpanel does not "
            f"bundle it). Fix: download it and pass {fn}(path='{file}') (in a study: "
            f'path = "{file}" and --data-dir)'
        )
    if not Path(path).is_file():
        raise ValueError(f"{fn}: no such file {str(path)!r}")
    try:
        return pd.read_csv(path, sep=sep)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise ValueError(
            f"{path}: not a CSV file like {repo}'s {file} ({exc})"
        ) from None


def _policy_design(Y, D, assignment, round_ar, n_treated, n_post) -> Design:
    d = calibrate(Y, D, round_ar=round_ar, n_treated_max=n_treated, n_post=n_post)
    if assignment == "random":
        d = dataclasses.replace(d, assignment="uniform")
    return d


def cps(
    outcome: str = "log_wage",
    assignment: str = "min_wage",
    path=None,
    *,
    round_ar: bool = False,
    n_treated: int = 10,
    n_post: int = 10,
) -> Design:
    """The CPS designs (50 states x 40 years) of the SDID and TROP papers.

    Parameters
    ----------
    outcome : 'log_wage', 'hours' or 'urate'.
    assignment : 'min_wage', 'open_carry', 'abort_ban' (logistic pi calibrated to the
        policy) or 'random' (exactly ``n_treated`` units uniformly).
    path : R synthdid's ``CPS.csv`` (``;``-separated).
    round_ar : round the AR(2) coefficients (True: the SDID paper; False: the TROP
        authors, whose Table 2 prints CPS log_wage's as (0.010, -0.057)).
    n_treated, n_post : at most (exactly, for 'random') this many treated units, in the
        last ``n_post`` periods (10 and 10 in both papers).

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        No ``path``, a missing file, an unknown outcome or assignment.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 3.1.1; Athey, Imbens, Qu and Viviano (2025),
    Sec. 3.1 and Table 2.
    """
    return _cps(outcome, assignment, path, "cps", round_ar, n_treated, n_post)


def _cps(outcome, assignment, path, fn, round_ar, n_treated, n_post) -> Design:
    """:func:`cps`; ``fn`` is the public function named in a missing-file message."""
    check_choice("outcome", outcome, CPS_OUTCOMES)
    check_choice("assignment", assignment, CPS_ASSIGNMENTS)
    df = _read(path, fn, "data/CPS.csv", SYNTHDID, ";")
    Y = df.pivot(index="state", columns="year", values=outcome).to_numpy(float)
    policy = "min_wage" if assignment == "random" else assignment
    D = df.groupby("state")[policy].any().to_numpy(float)
    return _policy_design(Y, D, assignment, round_ar, n_treated, n_post)


def pwt(
    outcome: str = "log_gdp",
    assignment: str = "dem",
    path=None,
    *,
    round_ar: bool = False,
    n_treated: int = 10,
    n_post: int = 10,
) -> Design:
    """The Penn World Table designs (111 countries x 48 years) of both papers.

    Parameters
    ----------
    outcome : 'log_gdp'.
    assignment : 'dem' (democracy), 'educ' (education) or 'random'.
    path : R synthdid's ``PENN.csv``.
    round_ar, n_treated, n_post : as :func:`cps`.

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        No ``path``, a missing file, an unknown outcome or assignment.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 3.1.1; Athey, Imbens, Qu and Viviano (2025),
    Sec. 3.1.
    """
    check_choice("outcome", outcome, PWT_OUTCOMES)
    check_choice("assignment", assignment, PWT_ASSIGNMENTS)
    df = _read(path, "pwt", "data/PENN.csv", SYNTHDID, ";")
    Y = df.pivot(index="country", columns="year", values=outcome).to_numpy(float)
    policy = "dem" if assignment == "random" else assignment
    D = df.groupby("country")[policy].any().to_numpy(float)
    return _policy_design(Y, D, assignment, round_ar, n_treated, n_post)


def single_unit(
    Y: np.ndarray,
    treated_unit: int,
    assignment: str = "simulated",
    *,
    round_ar: bool = False,
    n_treated: int = 1,
    n_post: int = 10,
    ridge: float = 0.1,
) -> Design:
    """A design for a panel with one real treated unit (the TROP paper's Table 5 panels).

    Parameters
    ----------
    Y : (N, T) outcomes. treated_unit : row of the real treated unit.
    assignment : 'simulated' (pi from penalised SC weights of the treated unit on the
        others, :func:`~jaxpanel.simulate.sc_probabilities`), 'treated_unit' (the real
        treated unit, always) or 'random' (``n_treated`` units uniformly).
    round_ar, n_treated, n_post : as :func:`cps`. ridge : the SC penalty (0.1).

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        An unknown assignment or a bad ``treated_unit``.

    References
    ----------
    Athey, Imbens, Qu and Viviano (2025), Sec. 3.1 ("four additional datasets").
    """
    check_choice("assignment", assignment, PROP99_ASSIGNMENTS)
    Y = np.asarray(Y, float)
    N = Y.shape[0]
    if not 0 <= treated_unit < N:
        raise ValueError(f"treated_unit must be a row of Y (0..{N - 1})")
    D = np.zeros(N)
    D[treated_unit] = 1.0
    d = calibrate(Y, D, round_ar=round_ar, n_treated_max=n_treated, n_post=n_post)
    if assignment == "simulated":
        return dataclasses.replace(d, pi=sc_probabilities(Y, treated_unit, ridge))
    if assignment == "treated_unit":
        return dataclasses.replace(d, assignment="fixed", treated=D > 0)
    return dataclasses.replace(d, assignment="uniform")


def prop99(assignment: str = "simulated", **kwargs) -> Design:
    """Prop 99 (39 states x 31 years, bundled), California the real treated unit.

    Parameters
    ----------
    assignment : as :func:`single_unit`. **kwargs : :func:`single_unit`'s options.

    Returns
    -------
    Design.

    References
    ----------
    Abadie, Diamond and Hainmueller (2010); Athey, Imbens, Qu and Viviano (2025),
    Table 2 ("Smoking").
    """
    df = datasets.prop99()
    wide = df.pivot(index="State", columns="Year", values="PacksPerCapita")
    treated = df.groupby("State")["treated"].max().reindex(wide.index)
    unit = int(np.flatnonzero(treated.to_numpy() > 0)[0])
    return single_unit(wide.to_numpy(float), unit, assignment, **kwargs)


def _single_unit_file(
    path, fn, file, unit, outcome, name, treated, assignment, kw, log
):
    """A :func:`single_unit` design from pysyncon's CSV ``file`` (long, comma-separated)."""
    df = _read(path, fn, f"data/{file}", PYSYNCON, ",")
    for c in (unit, "year", outcome, name):
        if c not in df.columns:
            raise ValueError(f"{path}: no column {c!r}; is it pysyncon's {file}?")
    dup = df.duplicated([unit, "year"])
    if dup.any():
        raise ValueError(
            f"{path}: {int(dup.sum())} repeated ({unit}, year) rows, e.g. "
            f"{df.loc[dup, [unit, 'year']].iloc[0].tolist()}; keep one row per unit and year"
        )
    values = pd.to_numeric(df[outcome], errors="coerce")
    bad = values.isna() & df[outcome].notna()
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} {outcome} cells are not numbers")
    wide = df.assign(**{outcome: values}).pivot(
        index=unit, columns="year", values=outcome
    )
    if wide.isna().any().any():
        raise ValueError(f"{path}: {outcome} has missing cells")
    names = df.groupby(unit)[name].first().reindex(wide.index).to_numpy()
    rows = np.flatnonzero(names == treated)
    if rows.size != 1:
        raise ValueError(
            f"{path}: {rows.size} units named {treated!r}, need exactly one"
        )
    Y = wide.to_numpy(float)
    if log:
        if (Y <= 0).any():
            raise ValueError(
                f"{path}: {outcome} must be positive (its log is the outcome)"
            )
        Y = np.log(Y)
    return single_unit(Y, int(rows[0]), assignment, **kw)


def germany(assignment: str = "simulated", path=None, **kwargs) -> Design:
    """German reunification (17 OECD countries x 44 years), West Germany treated.

    The outcome is log GDP per capita, as the TROP authors' ``load_Germany_data``.

    Parameters
    ----------
    assignment : as :func:`single_unit`. path : pysyncon's ``germany.csv``
        (github.com/sdfordham/pysyncon, data/; from Abadie, Diamond and Hainmueller's
        replication files). **kwargs : :func:`single_unit`'s options.

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        No ``path``, a missing file or column, missing or non-positive GDP cells, no
        (or several) units named West Germany, an unknown assignment.

    References
    ----------
    Abadie, Diamond and Hainmueller (2015); Athey, Imbens, Qu and Viviano (2025),
    Tables 1 and 2 ("Germany": F 0.994, M 0.108, noise 0.032, AR(2) (0.840, -0.200);
    0.839 here).
    """
    check_choice("assignment", assignment, PROP99_ASSIGNMENTS)
    return _single_unit_file(
        path,
        "germany",
        "germany.csv",
        "code",
        "gdp",
        "country",
        "West Germany",
        assignment,
        kwargs,
        log=True,
    )


def basque(assignment: str = "simulated", path=None, **kwargs) -> Design:
    """The Basque Country (17 Spanish regions and Spain, 43 years), GDP per capita.

    Spain's national aggregate stays a unit, as in R Synth's ``basque`` data the TROP
    authors' ``load_basque_data`` reads (18 rows).

    Parameters
    ----------
    assignment : as :func:`single_unit`. path : pysyncon's ``basque.csv``
        (github.com/sdfordham/pysyncon, data/; R Synth's ``basque``).
        **kwargs : :func:`single_unit`'s options.

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        No ``path``, a missing file or column, missing cells, no (or several) units
        named the Basque Country, an unknown assignment.

    References
    ----------
    Abadie and Gardeazabal (2003); Athey, Imbens, Qu and Viviano (2025), Tables 1 and 2
    ("Basque": F 0.986, M 0.167, noise 0.037, AR(2) (1.228, -0.577)).
    """
    check_choice("assignment", assignment, PROP99_ASSIGNMENTS)
    return _single_unit_file(
        path,
        "basque",
        "basque.csv",
        "regionno",
        "gdpcap",
        "regionname",
        "Basque Country (Pais Vasco)",
        assignment,
        kwargs,
        log=False,
    )


def cps_design(
    outcome: str = "log_wage", assignment: str = "min_wage", path=None
) -> Design:
    """The SDID paper's CPS design (rounded AR(2)): ``cps(..., round_ar=True)``.

    Parameters
    ----------
    outcome, assignment, path : as :func:`cps`.

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        As :func:`cps`.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 3.1.1 and Table 2.
    """
    return _cps(outcome, assignment, path, "cps_design", True, 10, 10)


PRESETS = {
    "cps": cps,
    "pwt": pwt,
    "prop99": prop99,
    "germany": germany,
    "basque": basque,
}

__all__ = [
    "CPS_ASSIGNMENTS",
    "CPS_OUTCOMES",
    "PRESETS",
    "PROP99_ASSIGNMENTS",
    "PWT_ASSIGNMENTS",
    "PWT_OUTCOMES",
    "basque",
    "cps",
    "cps_design",
    "germany",
    "prop99",
    "pwt",
    "single_unit",
]
