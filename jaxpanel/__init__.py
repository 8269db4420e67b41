"""jaxpanel: causal panel-data estimators as batched, jittable JAX functions."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, estimators, kernels
from .estimators import Fit
from .estimators.did import estimate as did
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
    "datasets",
    "did",
    "estimators",
    "kernels",
    "__version__",
]
