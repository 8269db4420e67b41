"""jaxpanel: causal panel-data estimators as batched, jittable JAX functions.

User level (a :class:`Panel` in, an :class:`Estimate` out): :func:`did`, :func:`sc`,
:func:`difp`, :func:`sdid`, :func:`mc`, :func:`trop`, and ``Estimate.variance`` for
standard errors (:mod:`jaxpanel.inference`). Array level (pure functions of ``Y``, ``W``,
``mask`` returning a :class:`Fit`, composable with ``jax.vmap`` / ``jax.jit``):
``jaxpanel.estimators.<name>.fit``. Numerics with no causal meaning: :mod:`jaxpanel.kernels`.

Importing jaxpanel turns on JAX's persistent compilation cache in a per-user folder
(:func:`compilation_cache`; ``JAXPANEL_COMPILATION_CACHE=0`` leaves it off).
"""

from importlib.metadata import PackageNotFoundError, version

from . import (
    batch,
    datasets,
    estimators,
    inference,
    kernels,
    plot,
    requirements,
    simulate,
    tuning,
)
from ._compilation_cache import compilation_cache, enable_default
from .estimators.did import estimate as did
from .estimators.difp import estimate as difp
from .estimators.mc import estimate as mc
from .estimators.sc import estimate as sc
from .estimators.sdid import estimate as sdid
from .estimators.trop import estimate as trop
from .fit import Fit, Replicator
from .panel import Panel
from .requirements import Requirements
from .results import ConvergenceWarning, Estimate, Recipe
from .tuning import TuningWarning

enable_default()  # JAX's persistent compilation cache, per user (JAXPANEL_COMPILATION_CACHE)

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
    "Replicator",
    "Requirements",
    "TuningWarning",
    "__version__",
    "batch",
    "compilation_cache",
    "datasets",
    "did",
    "difp",
    "estimators",
    "inference",
    "kernels",
    "mc",
    "plot",
    "requirements",
    "sc",
    "sdid",
    "simulate",
    "trop",
    "tuning",
]
