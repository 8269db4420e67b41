"""Every estimator as one batched function of arrays and a key (simulation studies).

A study fits the same estimator to thousands of simulated panels of one shape. Each
estimator here is a pure function ``fit(params, Y, W, mask, key) -> Fit`` that ``jax.vmap``
batches over panels, plus the :class:`~jaxpanel.fit.Replicator` builder that variance
methods refit it with. Only choices that keep the shapes static are offered: MC's penalty
is fixed or cross-validated on folds drawn from the key; TROP runs at fixed lambdas
(tuning it per simulated panel is a search over grids per replication, which the user
level :func:`jaxpanel.trop` does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..fit import Fit, Replicator
from . import did, mc, sdid, trop
from ._staggered import replicator as staggered_replicator
from ._staggered import staggered_fit
from ._synth import OPTIONS as SYNTH_OPTIONS
from ._synth import replicator as synth_replicator
from ._synth import synth_fit


class Batched(NamedTuple):
    """One estimator, ready to batch.

    Attributes
    ----------
    name : the estimator's name. options : the options it was built with.
    params : the numeric options (TROP's lambdas, MC's fixed penalty) as a dict of
        floats, passed to ``fit`` and ``replicator`` as traced arguments so that one
        compiled function serves every value.
    fit : ``(params, Y, W, mask, key, X=None) -> Fit``, pure; ``key`` draws what the
        estimator draws (MC's cross-validation folds), unused otherwise; ``X`` (K, N, T)
        covariates, used as the ``covariates`` option says.
    replicator : ``(params, Y, W, mask, fit, X=None) -> Replicator`` for variance
        methods.
    static : hashable summary of everything but ``params`` (a compilation cache key).
    leads : whether the fit has a counterfactual surface on the treated units'
        pre-periods (event-study leads; False for per-cell TROP).
    """

    name: str
    options: Mapping[str, Any]
    params: Mapping[str, float]
    fit: Callable[..., Fit]
    replicator: Callable[..., Replicator]
    static: tuple
    leads: bool = True


# the options each estimator takes in a study, with their defaults
# (``covariates``: how a design's covariates enter, as the user-level functions take it;
# for the SC family 'optimized', 'projected' or False)
ALLOWED: dict[str, dict[str, Any]] = {
    "did": {"covariates": True},
    "sc": {"solver": "fw", "covariates": "optimized"},
    "difp": {"solver": "fw", "covariates": "optimized"},
    "sdid": {"solver": "fw", "form": "synthdid", "covariates": "optimized"},
    "mc": {
        "covariates": True,
        "lam": None,
        "solver": "mcpanel",
        "num_lambda": 100,
        "num_folds": 5,
        "cv_ratio": 0.8,
        "max_iter": 400,
        "rel_tol": 1e-5,
    },
    "trop": {
        "covariates": True,
        "variant": "paper",
        "lambda_unit": None,
        "lambda_time": None,
        "lambda_nn": None,
        "squared_weights": False,
        "tol": None,
        "max_steps": 10_000,
    },
}


def _options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    if name not in ALLOWED:
        raise ValueError(
            f"unknown estimator {name!r}; choose one of {', '.join(ALLOWED)}"
        )
    unknown = sorted(set(options) - set(ALLOWED[name]))
    if unknown:
        allowed = ", ".join(ALLOWED[name]) or "none"
        raise ValueError(
            f"{name} in a study takes no option {', '.join(unknown)} "
            f"(its options: {allowed})"
        )
    o = {**ALLOWED[name], **options}
    v = o["covariates"]
    if name in SYNTH_OPTIONS:
        ok = v is False or (isinstance(v, str) and v in ("optimized", "projected"))
        forms = "'optimized', 'projected' or false"
    else:
        ok = v is True or v is False
        forms = "true or false"
    if not ok:
        raise ValueError(f"{name}: covariates must be {forms}, got {v!r}")
    return o


def _synth(
    name: str, o: dict, adoptions: tuple[int, ...] | None, uses_x: bool
) -> Batched:
    if o["solver"] not in ("fw", "exact"):
        raise ValueError(f"{name}: solver must be 'fw' or 'exact', got {o['solver']!r}")
    form_x = o["covariates"] or None
    opts = SYNTH_OPTIONS[name].replace(solver=o["solver"], covariates=form_x)
    if uses_x and form_x == "optimized" and o["solver"] != "fw":
        raise ValueError(
            f"{name}: covariates='optimized' is R synthdid's Frank-Wolfe fit of the "
            "weights and coefficients; use solver='fw', or covariates='projected'"
        )
    form = o.get("form", "synthdid")
    if form not in ("synthdid", "trop_authors"):
        raise ValueError(
            f"{name}: form must be 'synthdid' or 'trop_authors', got {form!r}"
        )
    if form == "trop_authors" and uses_x:
        raise ValueError(
            "sdid form='trop_authors' has no covariates; use form='synthdid', or "
            "covariates=false"
        )
    if form == "trop_authors":
        # the TROP authors' SDID (sdid.fit_trop_authors), for their tables' point estimates
        # (on PWT's panels XLA's CPU concurrency-optimised scheduler deadlocked its chunk
        # program; `jaxpanel study` turns that scheduler off, see cli.py)

        def fit(params, Y, W, mask, key, X=None):
            return sdid.fit_trop_authors(Y, W, mask)

        def replicator(params, Y, W, mask, f, X=None):
            raise ValueError(
                "sdid form='trop_authors' reproduces the TROP authors' point estimates; "
                "its variance is not defined here (use form='synthdid')"
            )

        return Batched(name, o, {}, fit, replicator, (name, form))

    if adoptions is not None:  # staggered: one block fit per possible adoption period
        cohorts = jnp.asarray(adoptions, jnp.int32)

        def fit(params, Y, W, mask, key, X=None):
            return staggered_fit(Y, W, cohorts, mask, X=X, options=opts)

        def replicator(params, Y, W, mask, f, X=None):
            return staggered_replicator(Y, W, mask, f, opts, name, X)

        static = (name, opts, tuple(adoptions), uses_x)
        return Batched(name, o, {}, fit, replicator, static)

    def fit(params, Y, W, mask, key, X=None):
        return synth_fit(
            Y, W, mask, None, None, None, None, None, None, X, options=opts
        )

    def replicator(params, Y, W, mask, f, X=None):
        return synth_replicator(Y, W, mask, f, opts, name, X)

    return Batched(name, o, {}, fit, replicator, (name, opts, uses_x))


def _mc(o: dict, uses_x: bool) -> Batched:
    opts = mc.MCOptions(o["solver"], o["num_lambda"], o["max_iter"], o["rel_tol"])
    if uses_x and o["solver"] != "exact":
        raise ValueError(
            "mc with covariates needs solver='exact' (the converged fit with "
            "unpenalised coefficients; MCPanel's own iteration is reproduced without "
            "covariates); or covariates=false"
        )
    if not 0.0 < o["cv_ratio"] < 1.0 or o["num_folds"] < 2:
        raise ValueError("mc: cv_ratio must be in (0, 1) and num_folds at least 2")

    fixed = o["lam"] is not None
    if fixed and not (isinstance(o["lam"], (int, float)) and o["lam"] >= 0):
        raise ValueError(f"mc: lam must be a number >= 0 or absent, got {o['lam']!r}")
    params = {"lam": float(o["lam"])} if fixed else {}

    def fit(params, Y, W, mask, key, X=None):
        if fixed:
            lam = jnp.asarray(params["lam"], Y.dtype)
            f = mc.fit(Y, W, mask, lam, opts, X)
        else:
            shape = (o["num_folds"],) + Y.shape
            folds = jax.random.bernoulli(key, o["cv_ratio"], shape).astype(Y.dtype)
            f, cv = mc.fit_cv(Y, W, mask, folds, opts, X)
            lam = cv.best_lambda
        return f._replace(info={**(f.info or {}), "lam": lam})

    def replicator(params, Y, W, mask, f, X=None):
        return mc.replicator(Y, W, mask, f.info["lam"], opts, X)

    static = ("mc", opts, fixed, o["num_folds"], o["cv_ratio"], uses_x)
    return Batched("mc", o, params, fit, replicator, static)


def _trop(o: dict, max_cells: int, uses_x: bool) -> Batched:
    lams = (o["lambda_unit"], o["lambda_time"], o["lambda_nn"])
    if any(x is None for x in lams):
        raise ValueError(
            "trop in a study runs at fixed lambdas: give lambda_unit, lambda_time and "
            "lambda_nn (tune them once with jaxpanel.trop on a calibration panel)"
        )
    lams = tuple(float(x) for x in lams)
    if o["variant"] not in trop.VARIANTS:
        raise ValueError(f"trop: variant must be one of {trop.VARIANTS}")
    if o["squared_weights"] and o["variant"] != "global":
        raise ValueError(
            "trop: squared_weights applies to variant='global' only (the 'simulation' "
            "variant always puts the weights inside the square)"
        )
    opts = trop.TROPOptions(o["tol"], o["max_steps"], None, o["squared_weights"])
    variant = o["variant"]
    if uses_x and variant != "paper":
        raise ValueError(
            f"trop(variant={variant!r}) takes no covariates (the paper's Eq. 14 is the "
            "per-cell fit); use variant='paper', or covariates=false"
        )

    names = ("lambda_unit", "lambda_time", "lambda_nn")
    params = dict(zip(names, lams))

    def fit(params, Y, W, mask, key, X=None):
        lams = tuple(jnp.asarray(params[k], Y.dtype) for k in names)
        if variant in ("global", "simulation"):
            return trop.one_fit(variant)(Y, W, mask, *lams, opts)
        return trop._fit(Y, W, mask, *lams, max_cells, opts, X=X)

    def replicator(params, Y, W, mask, f, X=None):
        lams = tuple(params[k] for k in names)
        return trop.replicator(Y, W, mask, lams, opts, variant, max_cells, X)

    static = ("trop", opts, variant, max_cells, uses_x)
    leads = variant != "paper"  # per-cell TROP fits no surface off the treated cells
    return Batched("trop", o, params, fit, replicator, static, leads)


def batched(
    name: str,
    options: Mapping[str, Any] | None = None,
    max_cells: int = 1,
    adoptions: tuple[int, ...] | None = None,
    covariates: bool = False,
):
    """The estimator ``name`` with ``options`` as a batched array function.

    Parameters
    ----------
    name : 'did', 'sc', 'difp', 'sdid', 'mc' or 'trop'.
    options : the estimator's options (``ALLOWED[name]`` lists them and their defaults).
    max_cells : the most treated cells a panel of the batch has (per-cell TROP sizes its
        batch of cell fits by it).
    adoptions : the possible first treated columns of a staggered design (the SC family
        then fits one block per adoption cohort, :mod:`jaxpanel.estimators._staggered`);
        None for block designs.
    covariates : whether the panels have covariates (``X`` passed to ``fit`` and
        ``replicator``); the estimator's ``covariates`` option says how they enter.

    Returns
    -------
    Batched.

    Raises
    ------
    ValueError
        An unknown estimator or option, TROP without fixed lambdas, bad MC CV settings,
        covariates where the configuration takes none (MC's own iteration, global TROP,
        R synthdid's optimized form with exact weights).
    """
    o = _options(name, dict(options or {}))
    # the panels' covariates enter where the option asks for them; the estimators below
    # see X = None otherwise
    uses_x = covariates and o["covariates"] is not False
    if name == "did":

        def fit(params, Y, W, mask, key, X=None):
            return did.fit(Y, W, mask, None, X)

        def replicator(params, Y, W, mask, f, X=None):
            return did.replicator(Y, W, mask, X)

        b = Batched(name, o, {}, fit, replicator, ("did", uses_x))
    elif name in SYNTH_OPTIONS:
        b = _synth(name, o, adoptions, uses_x)
    elif name == "mc":
        b = _mc(o, uses_x)
    else:
        b = _trop(o, max_cells, uses_x)
    if uses_x:
        return b

    def fit_without(params, Y, W, mask, key, X=None, fit=b.fit):
        return fit(params, Y, W, mask, key, None)

    def replicator_without(params, Y, W, mask, f, X=None, rep=b.replicator):
        return rep(params, Y, W, mask, f, None)

    return b._replace(fit=fit_without, replicator=replicator_without)


__all__ = ["ALLOWED", "Batched", "batched"]
