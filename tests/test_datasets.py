"""The bundled Prop 99 panel: shape, provenance hash, equality with R synthdid's file."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pandas as pd

from jaxpanel import datasets

from .conftest import shared_path


def test_prop99_long_frame():
    df = datasets.prop99()
    assert list(df.columns) == ["State", "Year", "PacksPerCapita", "treated"]
    assert df.shape == (1209, 4)
    assert df.State.nunique() == 39 and df.Year.min() == 1970 and df.Year.max() == 2000
    treated = df[df.treated == 1]
    assert set(treated.State) == {"California"} and treated.Year.min() == 1989
    assert len(treated) == 12


def test_bundled_file_is_the_causalpy_file():
    data = (
        resources.files("jaxpanel.data").joinpath("california_prop99.csv").read_bytes()
    )
    assert hashlib.sha256(data).hexdigest() == datasets.PROP99_SHA256


def test_same_numbers_as_r_synthdid_file():
    r = pd.read_csv(shared_path("data", "california_prop99.csv"), sep=";")
    ours = datasets.prop99()
    merged = ours.merge(
        r, on=["State", "Year"], suffixes=("", "_r"), validate="one_to_one"
    )
    assert len(merged) == 1209
    np.testing.assert_array_equal(merged.PacksPerCapita, merged.PacksPerCapita_r)
    np.testing.assert_array_equal(merged.treated, merged.treated_r)
