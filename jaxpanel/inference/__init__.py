"""Variance methods: bootstrap, jackknife, unit and time placebo, regression-based,
conditional and conformal inference, each one batched computation over replicates.

``variance(est, method, ...)`` returns a copy of the Estimate with ``se``, ``ci`` and
``p_value`` filled and the full :class:`VarianceResult` in ``est.inference``; the same is
``est.variance(method, ...)``.
"""

from __future__ import annotations

from typing import Any

from .._options import check_choice
from ._conditional import conditional
from ._conformal import conformal
from ._regression import regression
from ._requirements import methods_for
from ._result import VarianceResult
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
    options : ``level`` (0.95), ``chunk`` (replicates per batch), ``progress`` (None: a bar
        for long runs; False: none), ``return_draws`` (keep the replicate estimates), and
        method-specific options.
    """
    check_choice("method", method, METHODS)
    fn = METHODS[method]
    kwargs = dict(options)
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
    res = fn(est, **kwargs)
    return est.replace(
        se=res.se, ci=res.ci, p_value=res.p_value, variance_method=method, inference=res
    )


__all__ = [
    "METHODS",
    "VarianceResult",
    "bootstrap",
    "jackknife",
    "methods_for",
    "placebo",
    "regression",
    "time_placebo",
    "variance",
]
