"""Synthetic difference in differences (Arkhangelsky, Athey, Hirshberg, Imbens, Wager 2021).

Unit weights with an intercept and ridge zeta_omega = (N_tr T_post)^(1/4) x noise level,
time weights with an intercept and zeta_lambda = 1e-6 x noise level, then the weighted
two-way fit (Algorithm 1): R synthdid's ``synthdid_estimate`` defaults.
"""

from ._core import att_or_nan
from ._synth import SDID, member

fit, estimate = member("sdid", SDID, __doc__.splitlines()[0])


def att(*args, **kwargs):
    """SDID estimate of the ATT (a scalar): ``fit(...).att``, NaN where the fit
    failed (status non-finite or unidentified; :func:`fit` has the status)."""
    return att_or_nan(fit(*args, **kwargs))
