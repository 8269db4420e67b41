"""How each estimator is re-run inside a variance method (the estimator's recipe, as arrays).

A :class:`Replicator` holds the original estimate's arrays (``data``: outcomes, treatment,
mask, weights, tuning constants) and pure functions of ``data`` plus the quantities that
change across replicates:

- ``refit(data, W, freq, mask)``: re-optimise the weights on a placebo mask / bootstrap
  draw, warm-started from the original weights with the original tuning constants (R
  synthdid's ``opts``); ``refit_cold`` starts from scratch (R's ``synthdid_placebo``).
- ``fixed(data, freq)``: the estimate with the original weights held fixed (jackknife).
- ``linear(data, Y)``: the estimate as a function of the outcomes with all weights fixed;
  linear in Y for DID and the SC family, so its gradient gives the coefficients of the
  regression-based variance.

The functions have stable identities (module-level, or cached per estimator options) and
take the data as an argument, so a variance method compiles once per estimator
configuration and panel shape, however many estimates it is run on (simulation studies).
Estimators register a builder with :func:`register`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

_BUILDERS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Replicator:
    data: Any
    refit: Callable
    refit_cold: Callable
    fixed: Callable | None = None
    linear: Callable | None = None


def register(name: str):
    def deco(builder):
        _BUILDERS[name] = builder
        return builder

    return deco


def replicator(est) -> Replicator:
    try:
        builder = _BUILDERS[est.method]
    except KeyError:
        raise ValueError(
            f"no variance methods are available for {est.method!r}"
        ) from None
    return builder(est)


# ------------------------------------------------------------------------------ DID
def _did_refit(data, W, freq, mask):
    from ..estimators import did

    return did.fit(data["Y"], W, mask, freq).att


def _did_fixed(data, freq):
    from ..estimators import did

    return did.fit(data["Y"], data["W"], data["M"], freq).att


def _did_linear(data, Y):
    from ..estimators import did

    return did.fit(Y, data["W"], data["M"]).att


@register("did")
def _did(est) -> Replicator:
    Y, W, M = est.panel.arrays()
    return Replicator(
        {"Y": Y, "W": W, "M": M}, _did_refit, _did_refit, _did_fixed, _did_linear
    )


# ------------------------------------------------------------------------------ SC family
@functools.cache
def _synth_fns(opts):
    from ..estimators import _synth

    fixed_opts = opts.replace(
        omega="given", lam="zero" if opts.lam == "zero" else "given"
    )

    def consts(data):
        return data["zeta_omega"], data["zeta_lambda"], data["min_decrease"]

    def refit(data, W, freq, mask):
        return _synth.synth_fit(
            data["Y"],
            W,
            mask,
            freq,
            data["omega"],
            data["lambda"],
            *consts(data),
            options=opts,
        ).att

    def refit_cold(data, W, freq, mask):
        return _synth.synth_fit(
            data["Y"], W, mask, freq, None, None, *consts(data), options=opts
        ).att

    def fixed(data, freq):
        return _synth.synth_fit(
            data["Y"],
            data["W"],
            data["M"],
            freq,
            data["omega"],
            data["lambda"],
            *consts(data),
            options=fixed_opts,
        ).att

    def linear(data, Y):
        return _synth.synth_fit(
            Y,
            data["W"],
            data["M"],
            None,
            data["omega"],
            data["lambda"],
            *consts(data),
            options=fixed_opts,
        ).att

    return refit, refit_cold, fixed, linear


def _synth_builder(est) -> Replicator:
    from ..estimators import _synth

    Y, W, M = est.panel.arrays()
    opts = _synth.OPTIONS[est.method].replace(**est.recipe.options)
    data = {
        "Y": Y,
        "W": W,
        "M": M,
        "omega": jnp.asarray(est.fit.unit_weights, Y.dtype),
        "lambda": jnp.asarray(est.fit.time_weights, Y.dtype),
        **{
            k: jnp.asarray(est.info[k], Y.dtype)
            for k in ("zeta_omega", "zeta_lambda", "min_decrease")
        },
    }
    return Replicator(data, *_synth_fns(opts))


for _name in ("sc", "difp", "sdid"):
    register(_name)(_synth_builder)
