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

MC and TROP re-fit with their penalties held at the values the estimate chose (the TROP
paper's bootstrap; tuning inside every replicate would multiply the cost by the grid size).
Their bootstrap and jackknife: MC and global TROP (one fit each) re-fit on the resampled
rows themselves (``_resample_rows``: a draw's units, duplicates included, with static shape
N), which is exactly the bootstrap on duplicated units; per-cell TROP multiplies each unit's
weights by its count (and each treated cell's weight in the ATT), which equals the
duplicated-rows fit except that the nuclear norm sees ``diag(sqrt(count)) L`` rather than
``L``. "Fixed" for them means the penalties fixed, the weights recomputed (TROP's weights
are functions of the data, not optimised).

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

from ..estimators._core import att_or_nan

_BUILDERS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Replicator:
    data: Any
    refit: Callable
    refit_cold: Callable
    fixed: Callable | None = None
    linear: Callable | None = None


def register(name: str):
    """Register ``builder(est, max_cells=None) -> Replicator`` for estimator ``name``;
    ``max_cells`` matters to estimators whose cost grows with the treated cells."""

    def deco(builder):
        _BUILDERS[name] = builder
        return builder

    return deco


def replicator(est, max_cells: int | None = None) -> Replicator:
    """The estimate's Replicator. ``max_cells``: the most treated cells any replicate has,
    when fewer than the estimate's (the single-cell placebo: 1); per-cell TROP sizes its
    batch of cell fits by it."""
    try:
        builder = _BUILDERS[est.method]
    except KeyError:
        raise ValueError(
            f"no variance methods are available for {est.method!r}"
        ) from None
    return builder(est, max_cells=max_cells)


def _resample_rows(freq):
    """Rows ``idx`` (N,) holding unit j ``freq_j`` times and a 0/1 row mask ``valid``.

    With counts summing to N (a bootstrap draw) every row is used; with 0/1 frequencies
    (units left out) the kept units come first and the rest of the rows are masked out.
    """
    n = freq.shape[0]
    counts = jnp.round(freq).astype(jnp.int32)
    idx = jnp.repeat(jnp.arange(n), counts, total_repeat_length=n)
    valid = (jnp.arange(n) < counts.sum()).astype(freq.dtype)
    return idx, valid


# ------------------------------------------------------------------------------ DID
def _did_refit(data, W, freq, mask):
    from ..estimators import did

    return att_or_nan(did.fit(data["Y"], W, mask, freq))


def _did_fixed(data, freq):
    from ..estimators import did

    return att_or_nan(did.fit(data["Y"], data["W"], data["M"], freq))


def _did_linear(data, Y):
    from ..estimators import did

    return did.fit(Y, data["W"], data["M"]).att


@register("did")
def _did(est, max_cells: int | None = None) -> Replicator:
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
        return att_or_nan(
            _synth.synth_fit(
                data["Y"],
                W,
                mask,
                freq,
                data["omega"],
                data["lambda"],
                *consts(data),
                options=opts,
            )
        )

    def refit_cold(data, W, freq, mask):
        return att_or_nan(
            _synth.synth_fit(
                data["Y"], W, mask, freq, None, None, *consts(data), options=opts
            )
        )

    def fixed(data, freq):
        return att_or_nan(
            _synth.synth_fit(
                data["Y"],
                data["W"],
                data["M"],
                freq,
                data["omega"],
                data["lambda"],
                *consts(data),
                options=fixed_opts,
            )
        )

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


def _synth_builder(est, max_cells: int | None = None) -> Replicator:
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


# ------------------------------------------------------------------------------ MC
def _on_rows(fit_fn, data, W, freq, mask, *args):
    """ATT of ``fit_fn(Y, W, mask, *args)`` on the rows ``freq`` selects (NaN if failed)."""
    idx, valid = _resample_rows(freq)
    fit = fit_fn(data["Y"][idx], W[idx], mask[idx] * valid[:, None], *args)
    return att_or_nan(fit)


@functools.cache
def _mc_fns(options):
    from ..estimators import mc

    def refit(data, W, freq, mask):
        return _on_rows(mc.fit, data, W, freq, mask, data["lam"], options)

    def fixed(data, freq):
        return refit(data, data["W"], freq, data["M"])

    return refit, refit, fixed


@register("mc")
def _mc(est, max_cells: int | None = None) -> Replicator:
    from ..estimators import mc

    Y, W, M = est.panel.arrays()
    o = est.info["fixed_options"]
    options = mc.MCOptions(
        o["solver"],
        o["num_lambda"],
        o["max_iter"],
        o["rel_tol"],
        o["tol"],
        o["max_steps"],
    )
    data = {"Y": Y, "W": W, "M": M, "lam": jnp.asarray(est.info["lambda"], Y.dtype)}
    return Replicator(data, *_mc_fns(options))


# ------------------------------------------------------------------------------ TROP
@functools.cache
def _trop_fns(options, variant: str, n_cells: int):
    from ..estimators import trop

    def lams(data):
        return data["lambda_unit"], data["lambda_time"], data["lambda_nn"]

    if variant == "global":

        def refit(data, W, freq, mask):
            return _on_rows(trop.fit_global, data, W, freq, mask, *lams(data), options)

    else:

        def refit(data, W, freq, mask):
            fit = trop._fit(data["Y"], W, mask, *lams(data), n_cells, options, freq)
            return att_or_nan(fit)

    def fixed(data, freq):
        return refit(data, data["W"], freq, data["M"])

    return refit, refit, fixed


@register("trop")
def _trop(est, max_cells: int | None = None) -> Replicator:
    from ..estimators import trop

    Y, W, M = est.panel.arrays()
    o = est.info["fixed_options"]
    options = trop.TROPOptions(
        o["tol"], o["max_steps"], o["memory_bytes"], o["squared_weights"]
    )
    n_cells = trop.count_cells(W, M) if max_cells is None else int(max_cells)
    data = {
        "Y": Y,
        "W": W,
        "M": M,
        **{
            k: jnp.asarray(o[k], Y.dtype)
            for k in ("lambda_unit", "lambda_time", "lambda_nn")
        },
    }
    return Replicator(data, *_trop_fns(options, o["variant"], n_cells))
