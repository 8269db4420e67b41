"""Numerical kernels with no causal meaning (shipped as ``jaxpanel.kernels``).

- ``twfe``: weighted two-way fixed-effects solve on masked cells; ``TwoWayFit``, the one
  result type of the two-way solvers.
- ``lowrank``: the same fit with a nuclear-norm-penalised low-rank term (FISTA).
- ``mcpanel``: R MCPanel's iteration and stopping rule, to reproduce its numbers.
- ``simplex``: simplex-constrained least squares (Frank-Wolfe, exact active set).
- status codes (``CONVERGED``, ``MAX_STEPS``, ``NONFINITE``, ``UNIDENTIFIED``), their
  names and messages, and ``combine``, the one rule for several codes.

Nothing here imports from the rest of ``jaxpanel``.
"""

from . import lowrank, mcpanel, simplex, twfe
from ._status import (
    CONVERGED,
    MAX_STEPS,
    MESSAGES,
    NONFINITE,
    UNIDENTIFIED,
    combine,
    combine_all,
    failed,
    status_name,
)
from .twfe import TwoWayFit

__all__ = [
    "CONVERGED",
    "MAX_STEPS",
    "MESSAGES",
    "NONFINITE",
    "UNIDENTIFIED",
    "TwoWayFit",
    "combine",
    "combine_all",
    "failed",
    "lowrank",
    "mcpanel",
    "simplex",
    "status_name",
    "twfe",
]
