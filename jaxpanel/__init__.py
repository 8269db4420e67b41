"""jaxpanel: causal panel-data estimators as batched, jittable JAX functions."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, estimators, inference, kernels, plot, simulate, tuning
from .estimators import Fit
from .estimators.did import estimate as did
from .estimators.difp import estimate as difp
from .estimators.mc import estimate as mc
from .estimators.sc import estimate as sc
from .estimators.sdid import estimate as sdid
from .estimators.trop import estimate as trop
from .panel import Panel
from .results import ConvergenceWarning, Estimate, Recipe

try:
    __version__ = version("jaxpanel")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

__all__ = [
    "ConvergenceWarning",
    "Estimate",
    "Fit",
    "Panel",
    "Recipe",
    "__version__",
    "datasets",
    "did",
    "difp",
    "estimators",
    "inference",
    "kernels",
    "mc",
    "plot",
    "sc",
    "sdid",
    "simulate",
    "trop",
    "tuning",
]
