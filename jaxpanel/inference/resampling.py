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

import jax
import jax.numpy as jnp
import numpy as np

from . import _batch
from ._replicate import replicator
from ._result import VarianceResult, from_draws, normal_ci, normal_p


def _fail(problem: str, fix: str) -> ValueError:
    return ValueError(f"{problem}. Fix: {fix}")


def _design(est):
    panel = est.panel
    treated = np.flatnonzero(panel.ever_treated)
    controls = np.flatnonzero(~panel.ever_treated)
    return panel, treated, controls


def _run(est, fn, args, chunk, progress, desc):
    panel = est.panel
    dtype = np.dtype(est.fit.att.dtype)
    return _batch.run(
        fn,
        args,
        n_cells=(panel.N, panel.T),
        itemsize=dtype.itemsize,
        chunk=chunk,
        progress=progress,
        desc=desc,
    )


# ------------------------------------------------------------------------------ bootstrap
def bootstrap_draws(
    seed, n_units: int, treated: np.ndarray, reps: int
) -> tuple[np.ndarray, int]:
    """Unit counts of the first ``reps`` valid bootstrap samples, and candidates drawn."""
    is_tr = np.zeros(n_units, bool)
    is_tr[treated] = True

    @jax.jit
    def counts(keys):
        idx = jax.vmap(lambda k: jax.random.randint(k, (n_units,), 0, n_units))(keys)
        return jax.vmap(lambda i: jnp.zeros(n_units, jnp.int32).at[i].add(1))(idx)

    kept, start, block = [], 0, max(64, 2 * reps)
    while sum(len(k) for k in kept) < reps:
        c = np.asarray(counts(_batch.replicate_keys(seed, start, start + block)))
        ok = (c[:, is_tr].sum(axis=1) > 0) & (c[:, ~is_tr].sum(axis=1) > 0)
        kept.append(c[ok])
        start += block
    draws = np.concatenate(kept)[:reps]
    # candidates actually consumed up to the reps-th valid one
    return draws, start


def bootstrap(
    est, reps=200, seed=0, level=0.95, chunk=None, progress=None, return_draws=False
):
    panel, treated, _controls = _design(est)
    if len(treated) < 2:
        raise _fail(
            f"the bootstrap is undefined with one treated unit ({panel.units[treated[0]]!r}): "
            "a resample without it has no treated unit, and R synthdid returns NA",
            "use method='placebo' (unit placebo), 'time_placebo' or 'conditional'",
        )
    rep = replicator(est)
    Y, W0, M0 = est.panel.arrays()
    dtype = Y.dtype
    counts, _ = bootstrap_draws(seed, panel.N, treated, reps)

    def one(count):
        return rep.refit(W0, count.astype(dtype), M0)

    draws = _run(est, one, (counts,), chunk, progress, "bootstrap")
    return from_draws(
        "bootstrap", est.att, draws, reps, level, "bootstrap", return_draws
    )


# ------------------------------------------------------------------------------ jackknife
def jackknife(
    est, level=0.95, chunk=None, progress=None, return_draws=False, allow_sc=False
):
    panel, treated, _controls = _design(est)
    if len(treated) < 2:
        raise _fail(
            "the jackknife is undefined with one treated unit (leaving it out leaves no "
            "treated unit; R synthdid returns NA)",
            "use method='placebo' (unit placebo), 'time_placebo' or 'conditional'",
        )
    if est.method == "sc" and not allow_sc:
        raise _fail(
            "the jackknife is not recommended for SC (Arkhangelsky et al. 2021, Sec. 5: its "
            "weights are not stable enough for the fixed-weight jackknife)",
            "use method='placebo' or 'bootstrap' (or pass allow_sc=True to compute it anyway)",
        )
    rep = replicator(est)
    if est.unit_weights is not None and int((est.unit_weights != 0).sum()) == 1:
        raise _fail(
            "the fixed-weight jackknife is undefined with a single control of non-zero weight",
            "use method='placebo' or 'bootstrap'",
        )
    Y = est.panel.arrays()[0]
    n = panel.N
    leave_out = np.arange(n)

    def one(i):
        return rep.fixed(jnp.ones(n, Y.dtype).at[i].set(0.0))

    u = np.asarray(_run(est, one, (leave_out,), chunk, progress, "jackknife"), float)
    se = float(np.sqrt((n - 1) / n * np.sum((u - u.mean()) ** 2)))
    return VarianceResult(
        "jackknife",
        se,
        normal_ci(est.att, se, level),
        None,
        normal_p(est.att, se),
        n,
        n,
        level,
        u if return_draws else None,
    )


# ------------------------------------------------------------------------------ placebo
def placebo_draws(seed, controls: np.ndarray, n_treated: int, reps: int) -> np.ndarray:
    """(reps, n_treated) control indices that play the treated units in each replicate."""
    ctrl = jnp.asarray(controls)

    @jax.jit
    def draw(keys):
        return jax.vmap(lambda k: jax.random.permutation(k, ctrl)[:n_treated])(keys)

    return np.asarray(draw(_batch.replicate_keys(seed, 0, reps)))


def placebo(
    est, reps=200, seed=0, level=0.95, chunk=None, progress=None, return_draws=False
):
    panel, treated, controls = _design(est)
    if len(controls) <= len(treated):
        raise _fail(
            f"the unit placebo needs more controls than treated units ({len(controls)} "
            f"controls, {len(treated)} treated)",
            "use method='bootstrap', 'jackknife' or 'time_placebo'",
        )
    rep = replicator(est)
    Y, W0, M0 = est.panel.arrays()
    base_freq = jnp.asarray(
        ~panel.ever_treated, Y.dtype
    )  # the real treated units leave
    patterns = W0[jnp.asarray(treated)]  # placebo units take over these treatment rows
    idx = placebo_draws(seed, controls, len(treated), reps)

    def one(units):
        W = jnp.zeros_like(W0).at[units].set(patterns)
        return rep.refit(W, base_freq, M0)

    draws = _run(est, one, (idx,), chunk, progress, "placebo")
    return from_draws("placebo", est.att, draws, reps, level, "placebo", return_draws)


# ------------------------------------------------------------------------------ time placebo
def time_placebo(
    est, level=0.95, chunk=None, progress=None, return_draws=False, min_pre=2
):
    """One fit per window of length T_post that ends before treatment starts.

    The real post-periods are dropped; a window starting at pre-period s (s >= ``min_pre``
    earlier pre-periods) becomes the treated periods of the treated units, and the periods
    after the window are dropped too, so each fit sees only data from before its window's
    end (R's ``synthdid_placebo`` is the window that ends at the last pre-period).
    """
    panel, _treated, _ = _design(est)
    if panel.design != "block":
        raise _fail(
            "the time placebo needs a block design (one adoption period)",
            "use method='placebo' or 'bootstrap'",
        )
    t0, length = panel.n_pre, panel.n_post
    starts = np.arange(min_pre, t0 - length + 1)
    if len(starts) < 2:
        raise _fail(
            f"the time placebo needs at least two windows of {length} post-periods inside "
            f"the {t0} pre-periods after {min_pre} leading ones (T_pre >= T_post + "
            f"{min_pre + 1})",
            "use method='placebo' (unit placebo) or 'bootstrap'",
        )
    rep = replicator(est)
    Y, _W0, M0 = est.panel.arrays()
    tr = jnp.asarray(panel.ever_treated, Y.dtype)
    cols = jnp.arange(panel.T)
    ones = jnp.ones(panel.N, Y.dtype)

    def one(s):
        window = ((cols >= s) & (cols < s + length)).astype(Y.dtype)
        keep = (cols < s + length).astype(Y.dtype)
        W = tr[:, None] * window[None, :]
        return rep.refit_cold(W, ones, M0 * keep[None, :])

    draws = _run(est, one, (starts,), chunk, progress, "time placebo")
    # Windows overlap and share one systematic error; each estimate is an error under the
    # null, so the variance is their mean square (centring would remove that shared part).
    return from_draws(
        "time_placebo",
        est.att,
        draws,
        len(starts),
        level,
        "placebo",
        return_draws,
        info={"window_starts": [panel.times[int(s)] for s in starts]},
        centred=False,
    )
