"""From an array-level :class:`~jaxpanel.fit.Fit` to a user-level Estimate.

Statuses become exceptions or warnings here (failure is data below this line), weights
become labelled Series, and the trajectory table is defined.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
import pandas as pd

from jaxpanel.kernels import (
    MAX_STEPS,
    MESSAGES,
    NONFINITE,
    UNIDENTIFIED,
    status_name,
)

from .fit import Replicator
from .panel import Panel
from .requirements import Requirements
from .results import ConvergenceWarning, Estimate, Recipe

# Quantities of a fit in the order they are computed, for naming the first non-finite one.
_QUANTITIES = (
    ("noise_level", "the noise level (sd of control first differences)"),
    ("unit_weights", "the unit weights (omega)"),
    ("time_weights", "the time weights (lambda)"),
    ("mu", "the fitted two-way model (mu)"),
    ("alpha", "the fitted unit effects (alpha)"),
    ("beta", "the fitted time effects (beta)"),
    ("L", "the low-rank term L"),
    ("y0", "the imputed untreated outcomes Y(0)"),
    ("cell_tau", "the per-cell effects"),
    ("tau", "the cell effects"),
    ("att", "the ATT"),
)


def nonfinite_quantity(fit: Any) -> str:
    """The first quantity of ``fit`` (in computation order) holding a NaN or inf."""
    info = getattr(fit, "info", None) or {}
    for name, label in _QUANTITIES:
        value = info.get(name) if name in info else getattr(fit, name, None)
        if value is not None and not np.all(np.isfinite(np.asarray(value))):
            return label
    return "the solver's objective or another intermediate quantity"


def check_status(method: str, status: str, fit: Any = None) -> None:
    """Turn a fit's status into an exception or a warning at the user level."""
    if status == status_name(NONFINITE):
        what = "its values" if fit is None else nonfinite_quantity(fit)
        dtype = None if fit is None else np.asarray(fit.att).dtype
        hint = (
            "enable float64 (jax.config.update('jax_enable_x64', True)) or rescale the "
            "outcome"
            if dtype == np.float32
            else "check the outcome for extreme values (the fit ran in "
            f"{dtype or 'float64'}; rescaling the outcome changes no estimate)"
        )
        raise FloatingPointError(
            f"{method}: {MESSAGES[NONFINITE]} in {what}. Fix: {hint}."
        )
    if status == status_name(UNIDENTIFIED):
        raise ValueError(
            f"{method}: {MESSAGES[UNIDENTIFIED]}. Fix: add untreated periods or control "
            "units observed in those periods."
        )
    if status == status_name(MAX_STEPS):
        warnings.warn(
            f"{method}: {MESSAGES[MAX_STEPS]}.", ConvergenceWarning, stacklevel=3
        )


def make_estimate(
    panel: Panel,
    method: str,
    fit: Any,
    *,
    entry: Callable[..., Any],
    options: Mapping[str, Any] | None = None,
    replicator: Replicator | None = None,
    requirements: Requirements | None = None,
    unit_weights: np.ndarray | None = None,
    time_weights: np.ndarray | None = None,
    weight_names: tuple[str, str] = ("unit_weights", "time_weights"),
    info: Mapping[str, Any] | None = None,
    counterfactual: Any = None,
) -> Estimate:
    """Wrap an array-level :class:`~jaxpanel.fit.Fit` into an Estimate.

    The status is checked here: an exception for a failed fit, a warning for a solver
    at its cap.

    Parameters
    ----------
    panel, method, fit : the data, the estimator's name and its array-level result.
    entry, options : the estimator's user-level function and options (the recipe).
    replicator, requirements : what variance methods need (see the Estimate).
    unit_weights, time_weights : (N,) / (T,) weights to show, labelled by unit / period.
    weight_names : names of the two weight Series (the SC family: omega, lambda).
    info : diagnostics.
    counterfactual : (T,), or a function returning it on first use, overriding the
        trajectory's counterfactual line (the SC family's synthetic control; TROP's
        leave-one-out pre-period fit).
    """
    fit = jax.tree_util.tree_map(np.asarray, fit)
    status = status_name(int(fit.status))
    check_status(method, status, fit)

    def series(w, index, name):
        return None if w is None else pd.Series(np.asarray(w), index=index, name=name)

    return Estimate(
        method=method,
        att=float(fit.att),
        status=status,
        recipe=Recipe(method, dict(options or {}), entry),
        panel=panel,
        fit=fit,
        counterfactual=counterfactual,
        unit_weights=series(unit_weights, panel.units, weight_names[0]),
        time_weights=series(time_weights, panel.times, weight_names[1]),
        info=dict(info or {}),
        replicator=replicator,
        requirements=requirements if requirements is not None else Requirements(),
    )


def check_variance_args(variance: str | None, reps: int | None, seed: Any) -> None:
    """Refuse ``reps``/``seed`` without ``variance`` (checked before any fit is run).

    ``seed`` draws the variance replicates only (default 0); tuning draws (MC's folds,
    global TROP's placebo sets) take ``cv_seed``, so a ``seed`` without ``variance`` is
    an error rather than an argument silently ignored.

    Raises
    ------
    ValueError
        ``reps`` or ``seed`` given while ``variance`` is None.
    """
    if variance is not None:
        return
    if reps is not None:
        raise ValueError("reps= needs variance= (e.g. variance='placebo')")
    if seed is not None:
        raise ValueError(
            "seed= draws variance replicates and needs variance= (e.g. "
            "variance='placebo'); the draws of cross-validation (MC's folds, "
            "TROP's placebo sets) take cv_seed="
        )


def with_variance(
    est: Estimate, variance: str | None, reps: int | None, seed: Any
) -> Estimate:
    """Run ``variance`` on ``est`` when the user asked for one in the same call."""
    check_variance_args(variance, reps, seed)
    if variance is None:
        return est
    return est.variance(variance, reps=reps, seed=0 if seed is None else seed)
