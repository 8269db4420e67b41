"""Fixtures of the inference tests: Prop 99 and its five-treated variant, estimated."""

from __future__ import annotations

import pytest

import jaxpanel

from ..estimators.test_synth import multi_panel


@pytest.fixture(scope="module")
def multi():
    return multi_panel()


@pytest.fixture(scope="module")
def estimates(prop99_panel, multi):
    return {
        (key, m): getattr(jaxpanel, m)(panel)
        for key, panel in (("prop99", prop99_panel), ("prop99_multi", multi))
        for m in ("did", "sc", "difp", "sdid")
    }
