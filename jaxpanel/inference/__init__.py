"""Variance methods.

Bootstrap, jackknife, unit and time placebo, regression-based, conditional and conformal
inference, each one batched computation over replicates.

``variance(est, method, ...)`` returns a copy of the Estimate with ``se``, ``ci`` and
``p_value`` filled and the full :class:`VarianceResult` in ``est.inference``; the same is
``est.variance(method, ...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._options import check_choice
from . import _calibration
from ._conditional import conditional
from ._conformal import conformal
from ._regression import regression
from ._requirements import methods_for
from ._result import METHOD_REFERENCES, REFERENCES, InferenceWarning, VarianceResult
from .resampling import bootstrap, jackknife, placebo, time_placebo

METHODS = {
    "bootstrap": bootstrap,
    "jackknife": jackknife,
    "placebo": placebo,
    "time_placebo": time_placebo,
    "regression": regression,
    "conditional": conditional,
    "conformal": conformal,
}


def variance(
    est, method: str = "placebo", *, reps: int | None = None, seed: Any = 0, **options
):
    """Run a variance method on an Estimate.

    Parameters
    ----------
    method : one of ``METHODS``.
    reps : replicates (bootstrap, placebo; default 200 as R synthdid).
    seed : int or PRNG key; replicate b uses ``fold_in(key, b)``, so results do not depend
        on chunk size or device count.
    options : ``level`` (0.95), ``reference`` (the distribution the interval and the
        p-value both come from; None for the method's default: 'permutation' for the unit
        and time placebo, 'normal' for the bootstrap, jackknife and regression, 't' for
        the conditional variance, the conformal set for 'conformal'; 'normal' gives every
        method with an SE R synthdid's ``att -/+ z se``; 'percentile' the bootstrap's
        order statistics), ``chunk`` (replicates per batch), ``progress`` (None: a bar
        for long runs; False: none), ``return_draws`` (keep the replicate estimates), and
        method-specific options.

    Returns
    -------
    A copy of the Estimate with ``se``, ``ci``, ``p_value`` and ``inference`` (the
    VarianceResult) filled.

    Raises
    ------
    ValueError
        An unknown method, bad ``reps`` or ``level``, or a method that does not apply to
        the estimate (the message names those that do; ``methods_for(est)``).
    FloatingPointError
        The standard error or interval came out non-finite (extreme outcomes).

    References
    ----------
    Arkhangelsky et al. (2021), Algorithms 2-4; Chernozhukov, Wuthrich and Zhu (2021);
    Almeida, Olaizola, Lestant, Imbens and Athey (2025).
    """
    check_choice("method", method, METHODS)
    level = options.get("level", 0.95)
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    fn = METHODS[method]
    if options.get("cluster") is not None and method not in (
        "bootstrap",
        "jackknife",
        "placebo",
    ):
        raise ValueError(
            f"cluster= applies to the bootstrap, jackknife and placebo, not {method!r}"
        )
    if "allow_sc" in options:
        raise ValueError(
            "allow_sc= is now allow= (e.g. variance('jackknife', allow=True))"
        )
    kwargs = dict(options)
    counted = isinstance(reps, (int, np.integer)) and not isinstance(reps, bool)
    if reps is not None and not (counted and reps >= 2):
        raise ValueError(f"reps must be an integer >= 2, got {reps!r}")
    if method in ("bootstrap", "placebo", "conditional"):
        kwargs["reps"] = 200 if reps is None else int(reps)
        kwargs["seed"] = seed
    elif method == "conformal":
        kwargs["seed"] = seed
        if reps is not None:
            kwargs["reps"] = int(reps)
    elif reps is not None:
        raise ValueError(
            f"reps does not apply to method={method!r} (it is deterministic)"
        )
    reference = kwargs.get("reference")
    allowed = METHOD_REFERENCES[method]
    if reference is not None and reference not in allowed:
        raise ValueError(
            f"reference={reference!r} does not apply to {method}; it allows "
            + ", ".join(map(repr, allowed))
            + " (permutation references come with method='placebo' or "
            "'time_placebo', percentile with 'bootstrap', conformal sets with "
            "'conformal')"
        )
    if len(allowed) == 1:  # nothing to choose
        kwargs.pop("reference", None)
    res = fn(est, **kwargs)
    bounds = np.asarray(res.ci_set, float)
    if (
        (res.se is not None and not np.isfinite(res.se))
        or np.isnan(bounds).any()
        or (res.reference in ("normal", "t") and not np.isfinite(bounds).all())
    ):
        raise FloatingPointError(
            f"{method}: the standard error or confidence interval is not finite (se "
            f"{res.se}, ci {res.ci}). Fix: check the outcome for extreme values, or use "
            "another method that applies (jaxpanel.inference.methods_for(est))"
        )
    _calibration.warn(est, method, res)
    cohorts = est.cohorts
    if cohorts is not None:
        cohorts = cohorts.assign(se=res.info.get("cohort_se", np.nan))
    return est.replace(
        se=res.se,
        ci=res.ci,
        p_value=res.p_value,
        variance_method=method,
        inference=res,
        cohorts=cohorts,
    )


__all__ = [
    "METHODS",
    "REFERENCES",
    "InferenceWarning",
    "VarianceResult",
    "bootstrap",
    "conditional",
    "conformal",
    "jackknife",
    "methods_for",
    "placebo",
    "regression",
    "time_placebo",
    "variance",
]
