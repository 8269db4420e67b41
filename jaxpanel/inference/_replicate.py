"""How each estimator is re-run inside a variance method (the estimator's recipe, as arrays).

A :class:`Replicator` closes over the original estimate's data, tuning constants and weights
and exposes pure, vmappable functions of the quantities that change across replicates:

- ``refit(W, freq, mask)``: re-optimise the weights on a placebo mask / bootstrap draw,
  warm-started from the original weights with the original tuning constants (R synthdid's
  ``opts``); ``refit_cold`` starts from scratch (R's ``synthdid_placebo``).
- ``fixed(freq)``: the estimate with the original weights held fixed (jackknife, Alg. 3).
- ``linear(Y)``: the estimate as a function of the outcomes with all weights fixed; linear
  in Y for DID and the SC family, so its gradient gives the coefficients of the
  regression-based variance.

Estimators register a builder with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

_BUILDERS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Replicator:
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


def arrays(est):
    Y, W, M = est.panel.arrays()
    return Y, W, M


@register("did")
def _did(est) -> Replicator:
    from ..estimators import did

    Y, W0, M0 = arrays(est)

    def refit(W, freq, mask):
        return did.fit(Y, W, mask, freq).att

    return Replicator(
        refit=refit,
        refit_cold=refit,
        fixed=lambda freq: did.fit(Y, W0, M0, freq).att,
        linear=lambda Yv: did.fit(Yv, W0, M0).att,
    )


def _synth_builder(est) -> Replicator:
    from ..estimators import _synth

    Y, W0, M0 = arrays(est)
    opts = _synth.OPTIONS[est.method].replace(**est.recipe.options)
    info = est.info
    consts = tuple(
        jnp.asarray(info[k], Y.dtype)
        for k in ("zeta_omega", "zeta_lambda", "min_decrease")
    )
    omega0 = jnp.asarray(est.fit.unit_weights, Y.dtype)
    lam0 = jnp.asarray(est.fit.time_weights, Y.dtype)
    fixed_opts = opts.replace(
        omega="given", lam="zero" if opts.lam == "zero" else "given"
    )

    def refit(W, freq, mask):
        return _synth.synth_fit(
            Y, W, mask, freq, omega0, lam0, *consts, options=opts
        ).att

    def refit_cold(W, freq, mask):
        return _synth.synth_fit(Y, W, mask, freq, None, None, *consts, options=opts).att

    def fixed(freq):
        return _synth.synth_fit(
            Y, W0, M0, freq, omega0, lam0, *consts, options=fixed_opts
        ).att

    def linear(Yv):
        return _synth.synth_fit(
            Yv, W0, M0, None, omega0, lam0, *consts, options=fixed_opts
        ).att

    return Replicator(refit, refit_cold, fixed, linear)


for _name in ("sc", "difp", "sdid"):
    register(_name)(_synth_builder)
