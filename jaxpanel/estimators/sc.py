"""Synthetic control (Abadie, Diamond and Hainmueller 2010), as R synthdid's ``sc_estimate``.

Unit weights without an intercept and a ridge zeta_omega = 1e-6 x noise level, no time
weights and no unit effect: Y0_it = omega'Y_co,t. The exact minimiser of the weight problem
(solver="exact") gives -19.5136 on Prop 99; R's Frank-Wolfe stops at -19.6197.
"""

from ._core import att_or_nan
from ._synth import SC, member

fit, estimate = member("sc", SC, __doc__.splitlines()[0])


def att(*args, **kwargs):
    """SC estimate of the ATT (a scalar): ``fit(...).att``, NaN where the fit
    failed (status non-finite or unidentified; :func:`fit` has the status)."""
    return att_or_nan(fit(*args, **kwargs))
