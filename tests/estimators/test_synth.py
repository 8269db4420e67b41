"""SC, DIFP and SDID: R synthdid's numbers and weights, a NumPy reference, batching,
unit frequencies, invariances and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel, datasets
from jaxpanel.estimators import _synth, did, difp, sc, sdid

from .. import reference_synth as ref

ESTIMATORS = {"sdid": sdid, "sc": sc, "difp": difp}
# Issue 3: R's Prop 99 numbers to 5 decimals (Frank-Wolfe solver, float64).
PROP99 = {"sdid": -15.60383, "sc": -19.61966, "difp": -11.10464, "did": -27.34911}
EXTRA_TREATED = ["Kentucky", "Nevada", "New Hampshire", "North Carolina"]


def multi_panel() -> Panel:
    """Prop 99 with four more states treated from 1989, outcomes unchanged (R's variant)."""
    df = datasets.prop99()
    df.loc[df.State.isin(EXTRA_TREATED) & (df.Year >= 1989), "treated"] = 1
    return Panel.from_long(
        df, unit="State", time="Year", outcome="PacksPerCapita", treatment="treated"
    )


@pytest.fixture(scope="module")
def multi():
    return multi_panel()


@pytest.mark.parametrize("method", ["sdid", "sc", "difp", "did"])
def test_prop99_five_decimals(prop99_panel, method):
    est = getattr(jaxpanel, method)(prop99_panel)
    assert est.status == "converged"
    assert round(est.att, 5) == PROP99[method]


@pytest.mark.parametrize("key", ["prop99", "prop99_multi"])
@pytest.mark.parametrize("method", ["sdid", "sc", "difp", "did"])
def test_matches_r_estimates_and_weights(r_reference, prop99_panel, multi, key, method):
    panel = prop99_panel if key == "prop99" else multi
    r = r_reference[key]
    est = getattr(jaxpanel, method)(panel)
    # Frank-Wolfe with R's semantics: agreement to rounding (measured: < 1e-10 relative).
    np.testing.assert_allclose(est.att, r[method]["att"], rtol=1e-9)
    for name, series in (("omega", est.unit_weights), ("lambda", est.time_weights)):
        k = f"{name}_{method}_full"
        if k not in r:
            continue
        labels = list(r[k])
        ours = np.array([series[u if name == "omega" else int(u)] for u in labels])
        # Issue 3 asks for 1e-4 in every entry; measured agreement is ~1e-11.
        np.testing.assert_allclose(ours, np.array(list(r[k].values())), atol=1e-9)


def test_prop99_multi_sdid_tuning_constants(r_reference, multi):
    est = jaxpanel.sdid(multi)
    t = r_reference["prop99_multi"]["tuning_sdid"]
    np.testing.assert_allclose(est.info["noise_level"], t["noise_level"], rtol=1e-12)
    np.testing.assert_allclose(est.info["zeta_omega"], t["zeta_omega"], rtol=1e-12)
    np.testing.assert_allclose(est.info["zeta_lambda"], t["zeta_lambda"], rtol=1e-12)


def reorder_controls_first(panel: Panel):
    tr = panel.ever_treated
    order = np.concatenate([np.flatnonzero(~tr), np.flatnonzero(tr)])
    return panel.Y[order], int((~tr).sum()), panel.n_pre


@pytest.mark.parametrize("kind", ["sdid", "sc", "difp"])
def test_matches_numpy_reference(multi, kind):
    Y, n0, t0 = reorder_controls_first(multi)
    tau, omega, lam = ref.synthdid(Y, n0, t0, kind)
    est = getattr(jaxpanel, kind)(multi)
    np.testing.assert_allclose(est.att, tau, rtol=1e-10)
    np.testing.assert_allclose(est.unit_weights.to_numpy(), omega, atol=1e-10)
    if kind != "sc":
        np.testing.assert_allclose(est.time_weights.to_numpy(), lam, atol=1e-10)


def test_matches_numpy_reference_on_random_panel(rng):
    n, t, n1, t1 = 25, 16, 3, 4
    Y = rng.normal(size=(n, t)).cumsum(axis=1) + rng.normal(size=(n, 1)) * 4
    tau, omega, lam = ref.synthdid(Y, n - n1, t - t1, "sdid")
    W = np.zeros((n, t))
    W[n - n1 :, t - t1 :] = 1
    fit = sdid.fit(jnp.asarray(Y), jnp.asarray(W))
    np.testing.assert_allclose(float(fit.att), tau, rtol=1e-10)
    np.testing.assert_allclose(
        np.asarray(fit.unit_weights)[: n - n1], omega, atol=1e-10
    )
    np.testing.assert_allclose(np.asarray(fit.time_weights)[: t - t1], lam, atol=1e-10)


def test_exact_solver(prop99_panel):
    """Exact minimisers: SC = -19.5136 (METHODS.md; the optimum of the SC problem)."""
    est = jaxpanel.sc(prop99_panel, solver="exact")
    assert round(est.att, 4) == -19.5136
    assert est.info["omega_gap"] < 1e-9 and est.info["omega_steps"] < 50
    for method in ("sdid", "difp"):
        fw = getattr(jaxpanel, method)(prop99_panel)
        exact = getattr(jaxpanel, method)(prop99_panel, solver="exact")
        assert exact.info["omega_gap"] < 1e-9 <= fw.info["omega_gap"]
        assert abs(exact.att - fw.att) < 0.01  # FW stops near, not at, the optimum


def test_frank_wolfe_diagnostics_on_prop99(prop99_panel):
    info = jaxpanel.sdid(prop99_panel).info
    # R's unit-weight Frank-Wolfe runs to its 10,000-iteration cap on Prop 99 (so does ours:
    # the weights agree to 1e-14); it is R's stopping rule, reported, not a failure.
    assert (info["omega_steps_pre"], info["omega_steps"], info["omega_capped"]) == (
        100,
        10_000,
        True,
    )
    assert (info["lambda_steps_pre"], info["lambda_steps"], info["lambda_capped"]) == (
        100,
        5,
        False,
    )


def test_sc_family_weights_on_simplex(prop99_panel):
    for method in ("sdid", "sc", "difp"):
        est = getattr(jaxpanel, method)(prop99_panel)
        w = est.unit_weights
        assert "California" not in w.index and len(w) == 38
        assert (w >= 0).all() and abs(w.sum() - 1) < 1e-12
    lam = jaxpanel.sdid(prop99_panel).time_weights
    assert list(lam.index) == list(range(1970, 1989)) and abs(lam.sum() - 1) < 1e-12
    assert jaxpanel.sc(prop99_panel).time_weights is None


def test_synth_did_equals_did(prop99_panel, multi):
    for panel in (prop99_panel, multi):
        Y, W, M = panel.arrays()
        a = _synth.synth_fit_jit(Y, W, M, options=_synth.DID)
        np.testing.assert_allclose(float(a.att), float(did.att(Y, W, M)), rtol=1e-12)


def test_trajectory_is_synthetic_control(prop99_panel):
    est = jaxpanel.sdid(prop99_panel)
    traj = est.trajectory
    np.testing.assert_allclose(traj.loc[1989:, "effect"].mean(), est.att, rtol=1e-10)
    sc_est = jaxpanel.sc(prop99_panel)
    controls = prop99_panel.Y[~prop99_panel.ever_treated]
    np.testing.assert_allclose(
        sc_est.trajectory["counterfactual"].to_numpy(),
        sc_est.unit_weights.to_numpy() @ controls,
    )


def placebo_masks(panel: Panel, k: int, rng) -> np.ndarray:
    controls = np.flatnonzero(~panel.ever_treated)
    W = np.zeros((k, panel.N, panel.T))
    for b in range(k):
        W[b, rng.choice(controls), panel.n_pre :] = 1
    return W


def test_loop_vmap_jit_agree_and_no_retrace(prop99_panel, rng):
    Y, _, M = prop99_panel.arrays()
    masks = jnp.asarray(placebo_masks(prop99_panel, 4, rng))
    before = sdid.fit._cache_size()
    looped = np.array([float(sdid.fit(Y, masks[k], M).att) for k in range(4)])
    assert sdid.fit._cache_size() - before <= 1
    batched = jax.jit(jax.vmap(lambda w: sdid.fit(Y, w, M).att))(masks)
    np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-10)
    for k in range(2):
        # The mask makes one control the treated unit; California is untreated in it.
        unit = int(np.flatnonzero(np.asarray(masks[k]).max(axis=1))[0])
        order = np.concatenate(
            [np.setdiff1d(np.arange(prop99_panel.N), [unit]), [unit]]
        )
        tau, _, _ = ref.synthdid(
            np.asarray(Y)[order], prop99_panel.N - 1, prop99_panel.n_pre
        )
        np.testing.assert_allclose(looped[k], tau, rtol=1e-9)


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_zero_frequency_equals_dropping_the_unit(multi):
    Y, W, M = multi.arrays()
    drop = [list(multi.units).index(u) for u in ("Utah", "Kentucky")]
    freq = np.ones(multi.N)
    freq[drop] = 0
    keep = np.setdiff1d(np.arange(multi.N), drop)
    for mod in (sdid, sc, difp):
        a = mod.fit(Y, W, M, freq=jnp.asarray(freq))
        b = mod.fit(Y[keep], W[keep], M[keep])
        np.testing.assert_allclose(float(a.att), float(b.att), rtol=1e-10)


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_frequencies_equal_duplicated_units_with_exact_solver(multi):
    Y, W, M = multi.arrays()
    freq = np.ones(multi.N)
    units = list(multi.units)
    freq[units.index("Idaho")] = 3  # a control drawn three times
    freq[units.index("Nevada")] = 2  # a treated unit drawn twice
    rows = np.repeat(np.arange(multi.N), freq.astype(int))
    a = sdid.fit(Y, W, M, freq=jnp.asarray(freq), solver="exact")
    b = sdid.fit(Y[rows], W[rows], M[rows], solver="exact")
    np.testing.assert_allclose(float(a.att), float(b.att), rtol=1e-9)


def test_given_weights_are_held_fixed(multi):
    Y, W, M = multi.arrays()
    base = sdid.fit(Y, W, M)
    opts = _synth.SDID.replace(omega_mode="given", lambda_mode="given")
    again = _synth.synth_fit_jit(
        Y,
        W,
        M,
        omega_init=base.unit_weights,
        lambda_init=base.time_weights,
        options=opts,
    )
    np.testing.assert_allclose(float(again.att), float(base.att), rtol=1e-12)
    freq = (
        jnp.ones(multi.N).at[3].set(0.0)
    )  # jackknife: drop a control, renormalise omega
    jk = _synth.synth_fit_jit(
        Y, W, M, freq, base.unit_weights, base.time_weights, options=opts
    )
    omega = np.asarray(base.unit_weights).copy()
    omega[3] = 0
    np.testing.assert_allclose(
        np.asarray(jk.unit_weights), omega / omega.sum(), atol=1e-15
    )


def fixed_constants(fit):
    return {k: fit.info[k] for k in ("zeta_omega", "zeta_lambda", "min_decrease")}


@pytest.mark.parametrize("method", ["sdid", "difp", "sc"])
def test_invariances(multi, rng, method):
    mod = ESTIMATORS[method]
    Y, W, M = multi.arrays()
    base = mod.fit(Y, W, M)
    consts = fixed_constants(base)
    unit_fx = jnp.asarray(rng.normal(size=(multi.N, 1)) * 20)
    time_fx = jnp.asarray(rng.normal(size=(1, multi.T)) * 20)
    shifted = [time_fx] if method == "sc" else [unit_fx, time_fx, unit_fx + time_fx]
    for fx in shifted:
        # With the tuning constants held fixed the estimate is exactly invariant. (The
        # data-driven noise level uses first differences, which time effects change.)
        moved = mod.fit(Y + fx, W, M, **consts)
        np.testing.assert_allclose(float(moved.att), float(base.att), rtol=1e-7)
    if method != "sc":
        np.testing.assert_allclose(
            float(mod.fit(Y + unit_fx, W, M).att), float(base.att), rtol=1e-7
        )
    np.testing.assert_allclose(
        float(mod.fit(2.5 * Y, W, M).att), 2.5 * float(base.att), rtol=1e-9
    )
    perm = jnp.asarray(rng.permutation(multi.N))
    np.testing.assert_allclose(
        float(mod.fit(Y[perm], W[perm], M[perm]).att), float(base.att), rtol=1e-9
    )


def test_bad_input(prop99_panel):
    df = datasets.prop99()
    onoff = df.copy()
    onoff.loc[(onoff.State == "Utah") & (onoff.Year.between(1995, 1997)), "treated"] = 1
    p = Panel.from_long(
        onoff, unit="State", time="Year", outcome="PacksPerCapita", treatment="treated"
    )
    with pytest.raises(
        ValueError,
        match="sdid needs an absorbing treatment.*apply to this panel: did, mc, trop",
    ):
        jaxpanel.sdid(p)
    unbal = df.drop(index=df.index[(df.State == "Ohio") & (df.Year == 1980)])
    p = Panel.from_long(
        unbal, unit="State", time="Year", outcome="PacksPerCapita", treatment="treated"
    )
    with pytest.raises(
        ValueError, match="sc needs a balanced panel.*units 'Ohio'; periods 1980"
    ):
        jaxpanel.sc(p)
    with pytest.raises(
        ValueError,
        match="solver='newton' is not supported; choose one of 'fw', 'exact'",
    ):
        jaxpanel.sdid(prop99_panel, solver="newton")
    with pytest.raises(TypeError, match="expected a jaxpanel.Panel"):
        jaxpanel.sdid(pd.DataFrame())


def test_missing_cell_at_array_level_is_reported(prop99_panel):
    Y, W, M = prop99_panel.arrays()
    fit = sdid.fit(Y, W, M.at[0, 0].set(0.0))
    assert jaxpanel.kernels.status_name(int(fit.status)) == "unidentified"


@pytest.mark.parametrize(
    "mod, solver", [(sdid, "fw"), (sdid, "exact"), (sc, "fw"), (difp, "exact")]
)
def test_outcomes_on_absent_cells_are_ignored(prop99_panel, mod, solver):
    """An absent unit or period: NaN, a huge value or 0 there give the same fit."""
    Y, W, M = prop99_panel.arrays()
    # a control unit, a pre-period, a post-period
    for cut in (np.s_[3, :], np.s_[:, 5], np.s_[:, 30]):
        M_cut = M.at[cut].set(0.0)
        fits = [
            mod.fit(Y.at[cut].set(v), W, M_cut, solver=solver)
            for v in (0.0, np.nan, 1e30)
        ]
        assert [int(f.status) for f in fits] == [0, 0, 0]
        for f in fits[1:]:
            assert float(f.att) == float(fits[0].att)
            np.testing.assert_array_equal(f.unit_weights, fits[0].unit_weights)


@pytest.mark.parametrize("covariates", ["optimized", "projected"])
def test_covariates_on_absent_cells_are_ignored(prop99_panel, covariates):
    """NaN in X on an absent unit: the same fit as 0 there (X is standardised over the
    observed cells only)."""
    Y, W, M = prop99_panel.arrays()
    X = jnp.asarray(np.random.default_rng(0).normal(size=(1, *Y.shape)))
    M_cut = M.at[3].set(0.0)
    a, b = (
        sdid.fit(Y, W, M_cut, X=X.at[:, 3].set(v), covariates=covariates)
        for v in (0.0, np.nan)
    )
    assert int(a.status) == int(b.status) == 0
    assert float(a.att) == float(b.att)


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_absent_periods_equal_a_sliced_panel(multi):
    """Whole masked-out columns: the same fit as on the panel without those periods."""
    Y, W, M = multi.arrays()
    keep = np.r_[0:25]  # drop the last six post-periods
    M_cut = M.at[:, 25:].set(0.0)
    for mod in (sdid, sc, difp):
        a = mod.fit(Y, W, M_cut)
        b = mod.fit(Y[:, keep], W[:, keep], M[:, keep])
        np.testing.assert_allclose(float(a.att), float(b.att), rtol=1e-10)
        assert int(a.status) == 0


@pytest.mark.parametrize("method", ["sdid", "sc", "difp"])
def test_given_weights_closed_form_equals_the_weighted_two_way_fit(method, monkeypatch):
    """Replicates with given weights (jackknife, fixed-weight bootstrap) impute by the
    synthetic control's formula; the weighted two-way fit it replaces gives the same
    ATTs and event effects, and fails on the same lanes."""
    rng = np.random.default_rng(7)
    N, T = 12, 8
    Y = rng.normal(size=(N, 1)) * 3 + rng.normal(size=(N, T)) + np.arange(T) / 2
    W = np.zeros((N, T))
    W[:3, 6:] = 1.0
    est = getattr(jaxpanel, method)(Panel.from_arrays(Y, W))
    rep = est.replicator
    assert _synth._closed_form(_synth.SDID.fixed().replace(formula_imputation=True))
    # the point estimates (a covariate fit's refit with its weights) keep the two-way fit
    assert not _synth._closed_form(_synth.SDID.fixed())
    unidentified = _synth.SynthOptions(omega_mode="given", lambda_mode="zero")
    assert not _synth._closed_form(unidentified.replace(formula_imputation=True))
    freqs = [np.ones(N) - np.eye(N)[i] for i in range(N)]
    freqs += [rng.multinomial(N, np.ones(N) / N).astype(float) for _ in range(8)]
    # every control with positive weight left out: the renormalised omega is 0 / 0
    omega = np.asarray(rep.data["omega"])
    freqs.append(np.where(omega > 0, 0.0, 1.0))
    fr = jnp.asarray(np.stack(freqs))

    # a non-finite outcome on a control without weight must not enter (0 * inf)
    spoiled = dict(rep.data)
    zero = np.flatnonzero((omega == 0) & (W.max(axis=1) == 0))
    spoiled["Y"] = rep.data["Y"].at[zero, 2].set(jnp.inf)

    def run(data):
        f = jax.jit(jax.vmap(lambda q: rep.fixed(data, q)))
        return jax.tree_util.tree_map(np.asarray, f(fr))

    closed = [run(rep.data), run(spoiled)]
    monkeypatch.setattr(_synth, "_closed_form", lambda options: False)
    generic = [run(rep.data), run(spoiled)]
    for c, g in zip(closed, generic):
        for key in ("att", "event"):
            a, b = c[key], g[key]
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            atol = 1e-12 * np.nanmax(abs(b))
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=atol)
    assert np.isnan(closed[0]["att"][-1])  # the lane with no weighted control fails
    assert np.isfinite(closed[0]["att"]).sum() >= N  # most lanes are compared
    if len(zero):
        assert np.isfinite(closed[1]["att"]).sum() >= N


@pytest.mark.parametrize("method", ["sdid", "sc", "difp"])
def test_shared_unit_gram_gives_the_replicates_own_problems(method):
    """Placebo and bootstrap refits share one unit-weight Gram matrix (``prepare``);
    each replicate's own problem, built from its data, gives the same ATTs and event
    effects, fails on the same lanes, and a refit on other periods is refused."""
    rng = np.random.default_rng(11)
    N, T = 14, 9
    Y = rng.normal(size=(N, 1)) * 3 + rng.normal(size=(N, T)) + np.arange(T) * 5.0
    Y += 1e4  # a level far above the spread: the Gram form must not depend on it
    W = np.zeros((N, T))
    W[:2, 7:] = 1.0
    est = getattr(jaxpanel, method)(Panel.from_arrays(Y, W))
    rep = est.replicator
    shared = rep.refit_data()
    assert shared["omega_gram"].G.shape == (N, N)
    pattern = jnp.asarray(W[:2])
    stays = jnp.asarray(1.0 - W.max(axis=1))
    Ws = [jnp.zeros((N, T)).at[jnp.asarray(u)].set(pattern) for u in ([2, 3], [9, 4])]
    Ws += [jnp.asarray(W)] * 4
    freqs = [stays, stays]
    freqs += [jnp.asarray(rng.multinomial(N, np.ones(N) / N), float) for _ in range(3)]
    freqs.append(jnp.asarray(np.r_[0.0, 0.0, np.full(N - 2, 14 / 12)]))  # no treated
    Wb, fb = jnp.stack(Ws), jnp.stack(freqs)
    mask = rep.data["mask"]

    def run(data, W_, f_):
        f = jax.jit(jax.vmap(lambda w, q: rep.refit(data, w, q, mask)))
        return jax.tree_util.tree_map(np.asarray, f(W_, f_))

    own, gram = run(rep.data, Wb, fb), run(shared, Wb, fb)
    for key in ("att", "event"):
        a, b = gram[key], own[key]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.nanmax(abs(b)))
    assert np.isnan(gram["att"][-1]) and np.isfinite(gram["att"][:-1]).all()
    # a replicate on other pre-periods (a time placebo's) may not use the estimate's
    early = jnp.zeros((1, N, T)).at[0, :2, 5:].set(1.0)
    ones = jnp.ones((1, N))
    assert np.isfinite(run(rep.data, early, ones)["att"]).all()
    assert np.isnan(run(shared, early, ones)["att"]).all()


def test_exact_sdid_in_float32_converges_with_a_volatile_control():
    """In float32 the factored exact steps are not used: one control far more variable
    than the noise puts SDID's ridge below their rounding floor (reported MAX_STEPS);
    the dense steps converge to the float64 weights' ATT."""
    rng = np.random.default_rng(1)
    N, T = 201, 101
    W = np.zeros((N, T))
    W[-1, 100:] = 1.0
    Y = rng.normal(size=(N, 1)) + 0.01 * rng.normal(size=(N, T)) + 2 * W
    Y[0] += 100.0 * (np.arange(T) >= 50)
    opts = _synth.SDID.replace(solver="exact", covariates=None)
    fits = {
        dt: _synth.synth_fit_jit(
            jnp.asarray(Y, dt), jnp.asarray(W, dt), jnp.ones((N, T), dt), options=opts
        )
        for dt in (jnp.float32, jnp.float64)
    }
    assert int(fits[jnp.float32].status) == 0 == int(fits[jnp.float64].status)
    np.testing.assert_allclose(
        float(fits[jnp.float32].att), float(fits[jnp.float64].att), rtol=1e-4
    )
