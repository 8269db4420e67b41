"""Estimators: one module per estimator, each a choice of weights over one shared fit.

Each has an array-level ``fit(Y, W, mask, ...) -> Fit`` (pure, jitted, vmappable), a
user-level ``estimate(panel, ...) -> Estimate``, and builds its own ``Replicator`` (the
refits variance methods batch), which the Estimate carries.
"""

from ..results import ENTRIES
from . import _staggered as staggered
from . import did, difp, mc, sc, sdid, trop
from ._core import impute

# name -> user-level function (the command line and the demo list the estimators here)
REGISTRY = {
    "did": did.estimate,
    "sc": sc.estimate,
    "difp": difp.estimate,
    "sdid": sdid.estimate,
    "mc": mc.estimate,
    "trop": trop.estimate,
}
ENTRIES.update(REGISTRY)  # Recipe("trop", options).run(panel) finds them by name

__all__ = [
    "REGISTRY",
    "did",
    "difp",
    "impute",
    "mc",
    "sc",
    "sdid",
    "staggered",
    "trop",
]
