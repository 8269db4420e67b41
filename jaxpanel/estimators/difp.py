"""DIFP: synthetic control with an intercept (Doudchenko and Imbens 2016), as in R synthdid.

Unit weights with an intercept and a ridge zeta_omega = 1e-6 x noise level, uniform time
weights over the pre-periods: ``synthdid_estimate(weights = list(lambda = rep(1 / T0, T0)),
eta.omega = 1e-6)``.
"""

from ._core import att_or_nan
from ._synth import DIFP, member

fit, estimate = member("difp", DIFP, __doc__.splitlines()[0])


def att(*args, **kwargs):
    """DIFP estimate of the ATT (a scalar): ``fit(...).att``, NaN where the fit
    failed (status non-finite or unidentified; :func:`fit` has the status)."""
    return att_or_nan(fit(*args, **kwargs))
