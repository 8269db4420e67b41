"""jaxpanel: causal panel-data estimators as batched, jittable JAX functions."""

from importlib.metadata import PackageNotFoundError, version


def _map_source_tree_kernels() -> None:
    """Make ``jaxpanel.kernels`` importable straight from a checkout.

    The repository keeps the solvers in a top-level ``kernels/`` folder and the wheel installs
    them as ``jaxpanel.kernels``. When jaxpanel is imported from the source tree itself
    (``python -m jaxpanel`` in the repository root, ``PYTHONPATH=.``, an editable install, or
    a second worktree beside an editable install of the first), load that checkout's
    ``kernels/`` under that name, so the package and its kernels always come from one tree.
    An installed wheel has ``jaxpanel/kernels/`` and is left alone.
    """
    import importlib.util
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    if (here / "kernels").is_dir() or "jaxpanel.kernels" in sys.modules:
        return
    src = here.parent / "kernels" / "__init__.py"
    if not src.is_file():
        return
    spec = importlib.util.spec_from_file_location(
        "jaxpanel.kernels", src, submodule_search_locations=[str(src.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["jaxpanel.kernels"] = module
    spec.loader.exec_module(module)


_map_source_tree_kernels()

from . import datasets, estimators, inference, kernels, tuning
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
    "sc",
    "sdid",
    "trop",
    "tuning",
]
