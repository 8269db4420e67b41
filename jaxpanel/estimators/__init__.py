"""Estimators: one module per estimator, each a choice of weights over one shared fit.

Each module has an array-level ``fit(Y, W, mask, ...) -> Fit`` (pure, jitted, vmappable) and a
user-level ``estimate(panel, ...) -> Estimate``.
"""

from . import did, difp, mc, sc, sdid, trop
from ._core import Fit, impute
from ._lowrank import LowRankFit

# name -> user-level function; Recipe.run looks estimators up here.
REGISTRY = {
    "did": did.estimate,
    "sc": sc.estimate,
    "difp": difp.estimate,
    "sdid": sdid.estimate,
    "mc": mc.estimate,
    "trop": trop.estimate,
}

__all__ = [
    "REGISTRY",
    "Fit",
    "LowRankFit",
    "did",
    "difp",
    "impute",
    "mc",
    "sc",
    "sdid",
    "trop",
]
