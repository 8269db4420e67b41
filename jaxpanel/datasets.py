"""Bundled panels.

``prop99``: California Proposition 99 (Abadie, Diamond and Hainmueller 2010), cigarette packs
sold per capita in 39 US states, 1970-2000; California is treated from 1989. The file is the
one shipped in the causalpy 0.9.0 wheel (Apache-2.0), see ``data/PROVENANCE.md``.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .panel import Panel

PROP99_SHA256 = "50d36488a8ef17251e2897ddc46df7c7476b6727cfeb96770c7f5e7422a69f5b"
PROP99_TREATED_UNIT = "California"
PROP99_FIRST_TREATED_YEAR = 1989


def _read(name: str) -> pd.DataFrame:
    with resources.files("jaxpanel.data").joinpath(name).open("r") as fh:
        return pd.read_csv(fh)


def prop99() -> pd.DataFrame:
    """California Prop 99 as a long frame.

    Returns
    -------
    DataFrame with columns ``State`` (str), ``Year`` (int), ``PacksPerCapita`` (float) and
    ``treated`` (int, 1 for California from 1989 on), 1,209 rows = 39 states x 31 years,
    sorted by year then state (the row order of R synthdid's ``california_prop99``).
    """
    wide = _read("california_prop99.csv")
    long = wide.melt(id_vars="Year", var_name="State", value_name="PacksPerCapita")
    long["Year"] = long["Year"].astype(int)
    long["treated"] = (
        (long["State"] == PROP99_TREATED_UNIT)
        & (long["Year"] >= PROP99_FIRST_TREATED_YEAR)
    ).astype(int)
    long = long.sort_values(["Year", "State"], kind="stable").reset_index(drop=True)
    return long[["State", "Year", "PacksPerCapita", "treated"]]


def prop99_panel() -> Panel:
    """The Prop 99 data as a :class:`jaxpanel.Panel` (units State, periods Year).

    Returns
    -------
    Panel: 39 states x 31 years, California treated from 1989.
    """
    return Panel.from_long(
        prop99(),
        unit="State",
        time="Year",
        outcome="PacksPerCapita",
        treatment="treated",
    )


__all__ = [
    "PROP99_FIRST_TREATED_YEAR",
    "PROP99_SHA256",
    "PROP99_TREATED_UNIT",
    "prop99",
    "prop99_panel",
]
