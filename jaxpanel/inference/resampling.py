"""Bootstrap, jackknife, unit placebo and time placebo (Arkhangelsky et al. 2021, Alg. 2-4).

Every method is one batch of refits with static shapes:

- bootstrap: units resampled with replacement, as unit frequencies (counts); a draw with no
  treated or no control unit is replaced by the next valid candidate (candidates are
  numbered, each with its own key, and the first ``reps`` valid ones are kept);
- jackknife: each unit left out in turn (frequency zero), weights held fixed;
- unit placebo: the real treated units dropped, ``N_tr`` random controls take over their
  treatment pattern;
- time placebo: the real post-periods dropped, the treated units' treatment moved to a
  window of the same length inside the pre-period, one fit per feasible window.

The replicate estimates are summarised as in R synthdid: ``V = (1/B) sum (tau_b - mean)^2``
(bootstrap, placebo), ``V = ((n - 1)/n) sum (tau_(-i) - mean)^2`` (jackknife). The time
placebo uses ``V = (1/K) sum tau_k^2``: its windows overlap, so their estimates share a
systematic error that centring would remove.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import batch
from .._options import check_choice
from .._parse import _listing
from ._requirements import methods_for, require, time_placebo_lead
from ._result import cohort_se, event_covariance, from_draws, result


def _design(est):
    panel = est.panel
    treated = np.flatnonzero(panel.ever_treated)
    controls = np.flatnonzero(~panel.ever_treated)
    return panel, treated, controls


def cluster_codes(panel, cluster) -> np.ndarray | None:
    """(N,) int cluster of each unit (0..G-1, in order of first appearance), or None.

    ``cluster`` maps units to clusters: a Series or dict keyed by unit label, or a
    sequence aligned with ``panel.units``; None means every unit is its own cluster.

    Raises
    ------
    ValueError
        A unit without a cluster, or a sequence of the wrong length.
    """
    if cluster is None:
        return None
    if isinstance(cluster, (pd.Series, dict)):
        series = pd.Series(cluster)
        if series.index.has_duplicates:  # e.g. a long frame's column by unit
            per_unit = series.groupby(level=0).nunique(dropna=False)
            mixed = list(per_unit.index[per_unit > 1])
            if mixed:
                raise ValueError(
                    f"cluster: units {_listing(mixed)} have several clusters. Fix: one "
                    "cluster per unit"
                )
            series = series[~series.index.duplicated()]
        missing = [u for u in panel.units if u not in series.index]
        if missing:
            raise ValueError(
                f"cluster: units {_listing(missing)} have no cluster. Fix: map every "
                "unit of the panel to a cluster"
            )
        values = series.loc[list(panel.units)].to_numpy()
    else:
        values = np.asarray(cluster, dtype=object)
        if values.shape != (panel.N,):
            raise ValueError(
                f"cluster: {values.shape[0] if values.ndim else 0} labels for "
                f"{panel.N} units. Fix: one cluster label per unit (aligned with "
                "panel.units), or a Series indexed by unit"
            )
    if pd.isna(pd.Series(values)).any():
        raise ValueError("cluster: a unit's cluster is missing. Fix: label every unit")
    return pd.factorize(pd.Series(values))[0].astype(np.int64)


def _run(est, fn, shared, args, chunk, progress, desc):
    panel = est.panel
    dtype = np.dtype(est.fit.att.dtype)
    return batch.run(
        fn,
        args,
        shared=shared,
        n_cells=(panel.N, panel.T),
        itemsize=dtype.itemsize,
        chunk=chunk,
        progress=progress,
        desc=desc,
    )


# Lane functions, one per replicator function (cached, so compiled once per estimator
# configuration): ``lane(shared, per_replicate_args) -> {"att", "event"}``.
@functools.cache
def _bootstrap_lane(refit):
    def lane(shared, count):
        data = shared["data"]
        return refit(data, data["W"], count.astype(data["Y"].dtype), data["mask"])

    return lane


@functools.cache
def _jackknife_lane(fixed):
    def lane(shared, i):
        Y = shared["data"]["Y"]
        return fixed(shared["data"], jnp.ones(Y.shape[0], Y.dtype).at[i].set(0.0))

    return lane


@functools.cache
def _fixed_lane(fixed):
    def lane(shared, freq):
        return fixed(shared["data"], freq.astype(shared["data"]["Y"].dtype))

    return lane


@functools.cache
def _placebo_lane(refit):
    def lane(shared, units):
        data = shared["data"]
        W = jnp.zeros_like(data["W"]).at[units].set(shared["patterns"])
        return refit(data, W, shared["freq"], data["mask"])

    return lane


@functools.cache
def _time_placebo_lane(refit_cold, length: int):
    def lane(shared, s):
        data = shared["data"]
        dtype = data["Y"].dtype
        cols = jnp.arange(data["Y"].shape[1])
        window = ((cols >= s) & (cols < s + length)).astype(dtype)
        keep = (cols < s + length).astype(dtype)
        W = shared["treated"][:, None] * window[None, :]
        ones = jnp.ones(data["Y"].shape[0], dtype)
        return refit_cold(data, W, ones, data["mask"] * keep[None, :])["att"]

    return lane


# ------------------------------------------------------------------------------ bootstrap
def bootstrap_draws(
    seed,
    n_units: int,
    treated: np.ndarray,
    reps: int,
    stratified: bool = False,
    clusters: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Unit counts of the first ``reps`` valid bootstrap samples, and candidates drawn.

    ``stratified``: the TROP paper's Algorithm 3, N_co draws with replacement among the
    controls and N_tr among the treated units (every sample valid; replicate b uses
    ``fold_in(key(seed), b)``). ``clusters`` (N,) cluster codes: whole clusters are
    drawn (Stata ``sdid``'s ``cluster()``; stratified: among clusters with a treated
    unit and among the others), each unit counted as often as its cluster.
    """
    is_tr = np.zeros(n_units, bool)
    is_tr[treated] = True
    codes = np.arange(n_units) if clusters is None else np.asarray(clusters)
    n_clusters = int(codes.max()) + 1
    if stratified:
        keys = batch.replicate_keys(seed, 0, reps)
        cl_tr = np.zeros(n_clusters, bool)
        cl_tr[codes[is_tr]] = True
        counts = np.asarray(_stratified_counts(keys, jnp.asarray(cl_tr)))
        return counts[:, codes], reps
    kept, start, block = [], 0, max(64, 2 * reps)
    while sum(len(k) for k in kept) < reps:
        c = np.asarray(
            _counts(batch.replicate_keys(seed, start, start + block), n_clusters)
        )[:, codes]
        ok = (c[:, is_tr].sum(axis=1) > 0) & (c[:, ~is_tr].sum(axis=1) > 0)
        kept.append(c[ok])
        start += block
    draws = np.concatenate(kept)[:reps]
    # candidates actually consumed up to the reps-th valid one
    return draws, start


def bootstrap(
    est,
    reps=200,
    seed=0,
    level=0.95,
    chunk=None,
    progress=None,
    return_draws=False,
    reference=None,
    scheme=None,
    cluster=None,
):
    """Bootstrap variance: units resampled with replacement, the estimator refitted.

    Each replicate draws N units with replacement (as unit frequencies, so shapes stay
    static) and refits the estimator from warm starts with its tuning constants held;
    a draw with no treated or no control unit is replaced by the next candidate (each
    with its own key). ``V = (1/B) sum (tau_b - mean)^2``; the percentile interval is
    in ``ci_percentile``.

    Parameters
    ----------
    est : an Estimate (its ``replicator`` refits the estimator).
    reps : replicates B (default 200). seed : int or PRNG key; replicate b uses
        ``fold_in(key(seed), b)``.
    level : confidence level of ``ci`` (default 0.95).
    chunk : replicates per batch (default: from the memory model, ``jaxpanel.batch``).
    progress : True / False, or None for a bar only for long runs.
    return_draws : keep the replicate estimates in the result.
    reference : 'normal' (default) or 'percentile'.
    scheme : 'units' (N units with replacement; SDID's Algorithm 2) or 'stratified'
        (N_co controls and N_tr treated units, each with replacement; the TROP paper's
        Algorithm 3, the default for TROP: every sample has both). None: the
        estimator's default. Penalties stay fixed in both; ``V = (1/B) sum (tau_b -
        mean)^2``.
    cluster : units' clusters (a Series or dict keyed by unit, or labels aligned with
        ``panel.units``); None: each unit its own cluster. Whole clusters are drawn
        with replacement (Stata ``sdid``'s ``cluster()``; stratified: among clusters
        with a treated unit and among the others).

    Returns
    -------
    VarianceResult: ``se``; ``ci`` and ``p_value`` from ``reference`` ('normal',
    default, as R synthdid; or 'percentile': the draws' order statistics and the test
    they invert); ``n_valid`` (replicates whose fit succeeded) of ``n_requested``.

    Raises
    ------
    ValueError
        The method does not apply to this estimate (undefined with one treated unit; the message names the
        methods that do), or fewer than 2 replicate fits succeeded.

    References
    ----------
    Arkhangelsky et al. (2021), Algorithm 2; R synthdid's ``bootstrap_se``; Athey,
    Imbens, Qu and Viviano (2025), Algorithm 3 (stratified).
    """
    panel, treated, _controls = _design(est)
    codes = cluster_codes(panel, cluster)
    require("bootstrap", est, clusters=codes)
    rep = est.replicator
    if scheme is None:
        scheme = "stratified" if est.method == "trop" else "units"
    check_choice("scheme", scheme, ("units", "stratified"))
    counts, _ = bootstrap_draws(
        seed, panel.N, treated, reps, stratified=scheme == "stratified", clusters=codes
    )
    lane = _bootstrap_lane(rep.refit)
    shared = {"data": rep.refit_data()}
    out = _run(est, lane, shared, (counts,), chunk, progress, "bootstrap")
    return from_draws(
        "bootstrap",
        est.att,
        out["att"],
        reps,
        level,
        return_draws,
        reference=reference,
        event=out["event"],
        cohort=out.get("cohort"),
    )


# ------------------------------------------------------------------------------ jackknife
def jackknife(
    est,
    level=0.95,
    chunk=None,
    progress=None,
    return_draws=False,
    allow=False,
    refit=False,
    cluster=None,
):
    """Jackknife variance: each unit left out in turn, weights fixed or re-estimated.

    ``V = ((N - 1) / N) sum (tau_(-i) - mean)^2`` over the N leave-one-out estimates
    (default: unit weights renormalised over the units left, time weights unchanged;
    ``refit``: both re-solved on the panel left; MC and TROP hold their penalties, and
    their weights are functions of the data, so the two forms agree for them and DID).

    Parameters
    ----------
    est : an Estimate (its ``replicator`` refits the estimator).
    allow : compute it where the estimator advises against it (SC: its weights are
        not stable enough for a fixed-weight jackknife).
    refit : re-estimate the weights on each leave-one-out panel (started from the
        full-sample weights, renormalised, as the bootstrap's refits; penalties
        fixed) instead of holding them fixed. This is what R synthdid computed as
        ``jackknife_se`` before July 2021 (commit 2408a924, the version the SDID
        paper's simulations ran: its estimate's ``opts`` carried ``update.omega =
        TRUE``), so the paper's jackknife coverage (Table 4) is this variant's;
        Algorithm 3 and R synthdid since a05029b hold the weights fixed (default).
    level : confidence level of ``ci`` (default 0.95).
    chunk : replicates per batch (default: from the memory model, ``jaxpanel.batch``).
    progress : True / False, or None for a bar only for long runs.
    return_draws : keep the replicate estimates in the result.
    cluster : units' clusters (a Series or dict keyed by unit, or labels aligned with
        ``panel.units``); None: each unit its own cluster. Each cluster is left out in
        turn and ``V = ((G - 1)/G) sum (tau_(-g) - mean)^2`` over the G clusters
        (Stata ``sdid``'s ``cluster()``).

    Returns
    -------
    VarianceResult: ``se``, normal ``ci`` and ``p_value``, ``n_valid`` (replicates
    whose fit succeeded) of ``n_requested``; ``info['weights']`` 'fixed' or
    're-estimated'.

    Raises
    ------
    ValueError
        ``refit`` is not a bool; the method does not apply to this estimate (one
        treated unit; without ``refit``: a single control of non-zero weight, SC without ``allow``; a
        period with one untreated unit; the message names the methods that do), or
        fewer than 2 replicate fits succeeded.

    References
    ----------
    Arkhangelsky et al. (2021), Algorithm 3; R synthdid's ``jackknife_se`` (``refit``:
    its version 2408a924).
    """
    if refit is not True and refit is not False:
        raise ValueError(f"refit must be True or False, got {refit!r}")
    panel, _treated, _controls = _design(est)
    codes = cluster_codes(panel, cluster)
    require("jackknife", est, allow=allow, refit=refit, clusters=codes)
    rep = est.replicator
    n = panel.N
    if codes is not None:  # cluster g left out: its units' counts 0
        n = int(codes.max()) + 1
        left = 1.0 - (codes[None, :] == np.arange(n)[:, None])
        lane = _bootstrap_lane(rep.refit) if refit else _fixed_lane(rep.fixed)
        draws = left
    elif refit:  # the bootstrap's refit with unit i's count 0
        lane, draws = _bootstrap_lane(rep.refit), 1.0 - np.eye(n)
    else:
        lane, draws = _jackknife_lane(rep.fixed), np.arange(n)
    shared = {"data": rep.refit_data() if refit else rep.data}
    out = _run(est, lane, shared, (draws,), chunk, progress, "jackknife")
    u = np.asarray(out["att"], float)
    extra = {}
    if "cohort" in out:
        extra["cohort_se"] = cohort_se(out["cohort"], np.ones(n, bool), jackknife=True)
    if not np.isfinite(u).all():
        bad = [
            panel.units[i] if codes is None else f"cluster {i}"
            for i in np.flatnonzero(~np.isfinite(u))
        ]
        others = [m for m in methods_for(est, codes) if m != "jackknife"]
        fix = (
            "use method=" + ", ".join(map(repr, others))
            if others
            else "no variance method applies to this estimate as it is"
        )
        raise ValueError(
            f"jackknife: the estimate is unidentified without unit(s) {bad[:5]}. "
            f"Fix: {fix}"
        )
    se = float(np.sqrt((n - 1) / n * np.sum((u - u.mean()) ** 2)))
    return result(
        "jackknife",
        est.att,
        se,
        level,
        n_valid=n,
        n_requested=n,
        draws=u if return_draws else None,
        info={"weights": "re-estimated" if refit else "fixed", **extra},
        event_cov=event_covariance(out["event"], np.ones(n, bool), jackknife=True),
    )


# ------------------------------------------------------------------------------ placebo
def placebo_draws(
    seed, controls: np.ndarray, n_treated: int, reps: int, ordered: bool = False
) -> tuple[np.ndarray, bool]:
    """Distinct placebo assignments: (B, n_treated) control indices, and whether exact.

    An assignment is the set of controls that play the treated units (a sequence when
    the treated units' rows differ, ``ordered``). When there are at most ``reps`` of
    them (``C(N_co, N_tr)``, or ``N_co! / (N_co - N_tr)!`` ordered) every one is
    enumerated (B = their number); otherwise ``reps`` distinct ones are sampled: candidate
    b is the first ``n_treated`` of a permutation drawn with ``fold_in(key(seed), b)``,
    and a candidate equal to an earlier one is skipped.
    """
    controls = np.asarray(controls)
    n_co = len(controls)
    total = (math.perm if ordered else math.comb)(n_co, n_treated)
    if total <= reps:
        make = itertools.permutations if ordered else itertools.combinations
        idx = np.asarray(list(make(range(n_co), n_treated)), dtype=np.int64)
        return controls[idx].reshape(total, n_treated), True
    kept: dict[tuple, np.ndarray] = {}
    start, block = 0, max(64, 2 * reps)
    while len(kept) < reps:
        keys = batch.replicate_keys(seed, start, start + block)
        cand = np.asarray(_first_of_permutation(keys, jnp.asarray(controls), n_treated))
        for row in cand:
            k = tuple(row) if ordered else tuple(sorted(row))
            if k not in kept:
                kept[k] = row
                if len(kept) == reps:
                    break
        start += block
    return np.stack(list(kept.values())), False


@functools.partial(jax.jit, static_argnames="n_units")
def _counts(keys, n_units: int):
    idx = jax.vmap(lambda k: jax.random.randint(k, (n_units,), 0, n_units))(keys)
    return jax.vmap(lambda i: jnp.zeros(n_units, jnp.int32).at[i].add(1))(idx)


@jax.jit
def _stratified_counts(keys, is_tr):
    n = is_tr.shape[0]
    n_tr = is_tr.sum()
    # units ordered treated first; draw positions within each stratum
    order = jnp.argsort(~is_tr, stable=True)

    def one(k):
        k1, k2 = jax.random.split(k)
        u_tr = jax.random.randint(k1, (n,), 0, jnp.maximum(n_tr, 1))
        u_co = n_tr + jax.random.randint(k2, (n,), 0, jnp.maximum(n - n_tr, 1))
        pos = jnp.where(jnp.arange(n) < n_tr, u_tr, u_co)
        return jnp.zeros(n, jnp.int32).at[order[pos]].add(1)

    return jax.vmap(one)(keys)


@functools.partial(jax.jit, static_argnames="n_treated")
def _first_of_permutation(keys, controls, n_treated: int):
    return jax.vmap(lambda k: jax.random.permutation(k, controls)[:n_treated])(keys)


def placebo(
    est,
    reps=200,
    seed=0,
    level=0.95,
    chunk=None,
    progress=None,
    return_draws=False,
    reference=None,
    cluster=None,
):
    """Unit placebo variance: controls declared treated in the treated units' pattern.

    The real treated units are dropped; each replicate draws N_tr controls that take
    over the treated units' treatment rows, and the estimator is refitted. The
    assignments are distinct: all of them when there are at most ``reps``
    (``placebo_draws``), so B is at most C(N_co, N_tr). ``V = (1/B) sum (tau_b -
    mean)^2``; the p-value is the permutation p-value ``(1 + #{|tau_b| >= |att|}) / (B +
    1)``.

    Parameters
    ----------
    est : an Estimate (its ``replicator`` refits the estimator).
    reps : replicates B (default 200). seed : int or PRNG key; replicate b uses
        ``fold_in(key(seed), b)``.
    level : confidence level of ``ci`` (default 0.95).
    chunk : replicates per batch (default: from the memory model, ``jaxpanel.batch``).
    progress : True / False, or None for a bar only for long runs.
    return_draws : keep the replicate estimates in the result.
    reference : 'permutation' (default) or 'normal'.
    cluster : units' clusters (a Series or dict keyed by unit, or labels aligned with
        ``panel.units``); None: each unit its own cluster. Whole clusters play the
        clusters with a treated unit (those are dropped), unit by unit in order, as
        Stata ``sdid``'s ``cluster()``: every cluster must have as many units.

    Returns
    -------
    VarianceResult: ``se``; ``ci`` and ``p_value`` from ``reference``: 'permutation'
    (default; ``p = (1 + #{|tau_b| >= |att|}) / (1 + B)`` over the B placebo estimates
    and the interval that inverts it, unbounded with an ``InferenceWarning`` when
    ``B + 1 < 1 / (1 - level)``) or 'normal' (``att -/+ z se``); ``n_valid`` (B, the
    fits that succeeded) of ``n_requested``.

    Raises
    ------
    ValueError
        The method does not apply to this estimate (no more controls than treated units, or controls not connected on their own; the message names the
        methods that do), or fewer than 2 replicate fits succeeded.

    References
    ----------
    Arkhangelsky et al. (2021), Algorithm 4; R synthdid's ``placebo_se``.
    """
    codes = cluster_codes(est.panel, cluster)
    require("placebo", est, clusters=codes)
    idx, draws, exact, event, cohort = placebo_run(
        est, reps, seed, chunk, progress, codes
    )
    return from_draws(
        "placebo",
        est.att,
        draws,
        len(idx),
        level,
        return_draws,
        info={"exact": exact, "n_assignments": len(idx)},
        reference=reference,
        event=event,
        cohort=cohort,
    )


def placebo_run(est, reps, seed, chunk=None, progress=None, clusters=None):
    """The unit placebo's draws: assignments, estimates, exact, event effects, cohorts.

    The assignments (B, N_tr) are control indices; the estimates (B,) the replicates'
    ATTs, NaN where a refit failed (``placebo`` leaves it out and counts it); the event
    effects (B, 2T - 1) each replicate's effects by event time; the cohort ATTs (B, C),
    or None (block designs).
    """
    panel, treated, controls = _design(est)
    rep = est.replicator
    W0 = rep.data["W"]
    stays = ~panel.ever_treated
    if clusters is not None:  # whole clusters, unit by unit in order (equal sizes)
        members = np.argsort(clusters, kind="stable").reshape(clusters.max() + 1, -1)
        tr_cl = np.unique(clusters[treated])
        co_cl = np.setdiff1d(np.arange(len(members)), tr_cl)
        treated = members[tr_cl].ravel()
        stays = np.isin(clusters, co_cl)
    shared = {
        "data": rep.refit_data(),
        "freq": jnp.asarray(stays, W0.dtype),  # the real treated units leave
        "patterns": W0[jnp.asarray(treated)],  # placebo units take over these rows
    }
    rows = np.asarray(panel.W & panel.mask)[treated]
    if clusters is None:
        ordered = bool((rows != rows[:1]).any())
        idx, exact = placebo_draws(seed, controls, len(treated), reps, ordered)
    else:
        blocks = rows.reshape(len(tr_cl), -1, rows.shape[1])
        ordered = bool((blocks != blocks[:1]).any())
        picks, exact = placebo_draws(seed, co_cl, len(tr_cl), reps, ordered)
        idx = members[picks].reshape(len(picks), -1)
    out = _run(
        est, _placebo_lane(rep.refit), shared, (idx,), chunk, progress, "placebo"
    )
    cohort = out.get("cohort")
    return (
        idx,
        np.asarray(out["att"], float),
        exact,
        np.asarray(out["event"], float),
        None if cohort is None else np.asarray(cohort, float),
    )


# ------------------------------------------------------------------------------ time placebo
def time_placebo(
    est,
    level=0.95,
    chunk=None,
    progress=None,
    return_draws=False,
    min_pre=2,
    reference=None,
):
    """Time placebo variance: the treatment window moved into the pre-period.

    The real post-periods are dropped; a window of T_post periods starting at pre-period
    s (after ``min_pre`` leading pre-periods, or the estimator's own minimum) becomes the
    treated periods of the treated units, and the periods after the window are dropped
    too, so each fit sees only data from before its window's end (R's
    ``synthdid_placebo`` is the window that ends at the last pre-period). The windows
    overlap and share one systematic error, and each estimate is an error under the
    null, so ``V = (1/K) sum tau_k^2`` over the K windows (not centred).

    Parameters
    ----------
    est : an Estimate (its ``replicator`` refits the estimator).
    min_pre : leading pre-periods kept before the first window (default 2).
    level : confidence level of ``ci`` (default 0.95).
    chunk : replicates per batch (default: from the memory model, ``jaxpanel.batch``).
    progress : True / False, or None for a bar only for long runs.
    return_draws : keep the replicate estimates in the result.
    reference : 'permutation' (default) or 'normal'.

    Returns
    -------
    VarianceResult: ``se``; ``ci`` and ``p_value`` from ``reference``: 'permutation'
    (default; ``p = (1 + #{|tau_b| >= |att|}) / (1 + B)`` over the B placebo estimates
    and the interval that inverts it, unbounded with an ``InferenceWarning`` when
    ``B + 1 < 1 / (1 - level)``) or 'normal' (``att -/+ z se``); ``n_valid`` (B, the
    fits that succeeded) of ``n_requested``.

    Raises
    ------
    ValueError
        The method does not apply to this estimate (not a block design, fewer than two windows, or a window the estimator cannot fit; the message names the
        methods that do), or fewer than 2 replicate fits succeeded.

    References
    ----------
    Arkhangelsky et al. (2021), Sec. 5 (placebo in time); R synthdid's
    ``synthdid_placebo``; Almeida et al. (2025), the time-placebo variance.
    """
    require("time_placebo", est, min_pre=min_pre)
    panel = est.panel
    t0, length = panel.n_pre, panel.n_post
    starts = np.arange(time_placebo_lead(est, min_pre), t0 - length + 1)
    rep = est.replicator
    treated_units = jnp.asarray(panel.ever_treated, rep.data["Y"].dtype)
    shared = {"data": rep.data, "treated": treated_units}
    lane = _time_placebo_lane(rep.refit_cold, int(length))
    draws = _run(est, lane, shared, (starts,), chunk, progress, "time placebo")
    # Windows overlap and share one systematic error; each estimate is an error under the
    # null, so the variance is their mean square (centring would remove that shared part).
    return from_draws(
        "time_placebo",
        est.att,
        draws,
        len(starts),
        level,
        return_draws,
        info={
            "window_starts": [panel.times[int(s)] for s in starts],
            "lead": int(starts[0]),  # pre-periods before the first window
            "exact": True,
        },
        centred=False,
        reference=reference,
    )
