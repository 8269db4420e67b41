"""Numerical kernels with no causal meaning (shipped as ``jaxpanel.kernels``).

- ``twfe``: weighted two-way fixed-effects solve on masked cells.
- ``_loop``: the shared loop driver and the status codes every fit carries.
"""

from . import twfe
from ._loop import CONVERGED, MAX_STEPS, NONFINITE, UNIDENTIFIED, status_name

__all__ = ["CONVERGED", "MAX_STEPS", "NONFINITE", "UNIDENTIFIED", "status_name", "twfe"]
