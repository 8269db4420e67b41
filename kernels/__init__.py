"""Numerical kernels with no causal meaning (shipped as ``jaxpanel.kernels``).

- ``twfe``: weighted two-way fixed-effects solve on masked cells.
- ``lowrank``: the same fit with a nuclear-norm-penalised low-rank term (FISTA).
- ``mcpanel``: R MCPanel's iteration and stopping rule, to reproduce its numbers.
- ``_loop``: the shared loop driver and the status codes every fit carries.
"""

from . import lowrank, mcpanel, twfe
from ._loop import CONVERGED, MAX_STEPS, NONFINITE, UNIDENTIFIED, status_name

__all__ = [
    "CONVERGED",
    "MAX_STEPS",
    "NONFINITE",
    "UNIDENTIFIED",
    "lowrank",
    "mcpanel",
    "status_name",
    "twfe",
]
