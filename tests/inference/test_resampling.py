"""Bootstrap, jackknife, unit and time placebo: R fidelity, explicit refits, refusals,
batching (jaxpanel.inference.resampling)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.estimators import sdid
from jaxpanel.inference import resampling

from ..reference import did_att

# Small panels: too few placebos for a bounded permutation interval is expected here
# (InferenceWarning); these tests check the SEs and draws.
pytestmark = pytest.mark.filterwarnings("ignore::jaxpanel.inference.InferenceWarning")


# ------------------------------------------------------------------ fidelity to R
@pytest.mark.parametrize("method", ["sdid", "did", "difp", "sc"])
def test_jackknife_equals_r(estimates, r_reference, method):
    est = estimates[("prop99_multi", method)]
    kw = {"allow": True} if method == "sc" else {}
    se = est.variance("jackknife", **kw).se
    # Fixed-weight jackknife: deterministic. Issue 5 asks for 4 decimals; measured ~1e-14.
    np.testing.assert_allclose(
        se, r_reference["prop99_multi"][method]["se_jackknife"], rtol=1e-9
    )


def r_spread(r, method, key):
    """Mean and sd of R's SEs over seeds (SDID's relative sd where R gives one seed)."""
    by_seed = r[method].get(f"{key}_by_seed") or {"12345": r[method][key]}
    vals = np.array(list(by_seed.values()))
    sd = vals.std(ddof=1) if len(vals) > 2 else None
    return vals.mean(), sd


@pytest.mark.parametrize("method", ["sdid", "sc", "did", "difp"])
def test_unit_placebo_within_monte_carlo_error_of_r(estimates, r_reference, method):
    r = r_reference["prop99"]
    mean, sd = r_spread(r, method, "se_placebo_200")
    sdid_mean, sdid_sd = r_spread(r, "sdid", "se_placebo_200")
    sd = sd if sd is not None else mean * sdid_sd / sdid_mean
    se = (
        estimates[("prop99", method)]
        .variance("placebo", reps=200, seed=0, progress=False)
        .se
    )
    assert abs(se - mean) <= 3 * sd, (se, mean, sd)


@pytest.mark.parametrize("method", ["sdid", "did"])
def test_bootstrap_within_monte_carlo_error_of_r(estimates, r_reference, method):
    r = r_reference["prop99_multi"]
    mean, sd = r_spread(r, method, "se_bootstrap_200")
    if sd is None:  # DID: R gives 200 and 1000 replicates; use SDID's relative spread
        s_mean, s_sd = r_spread(r, "sdid", "se_bootstrap_200")
        sd = mean * s_sd / s_mean
    se = (
        estimates[("prop99_multi", method)]
        .variance("bootstrap", reps=200, seed=0, progress=False)
        .se
    )
    assert abs(se - mean) <= 3 * sd, (se, mean, sd)


# ------------------------------------------------------------------ construction checks
def test_placebo_draws_are_explicit_refits(estimates, prop99_panel):
    est = estimates[("prop99", "sdid")]
    res = est.variance(
        "placebo", reps=3, seed=5, return_draws=True, progress=False
    ).inference
    idx, _ = resampling.placebo_draws(
        5, np.flatnonzero(~prop99_panel.ever_treated), 1, 3
    )
    Y, W, M = prop99_panel.arrays()
    freq = jnp.asarray(~prop99_panel.ever_treated, Y.dtype)
    info = est.info
    for b in range(2):
        Wb = jnp.zeros_like(W).at[idx[b, 0], prop99_panel.n_pre :].set(1.0)
        fit = sdid.fit(
            Y,
            Wb,
            M,
            freq,
            est.fit.unit_weights,
            est.fit.time_weights,
            info["zeta_omega"],
            info["zeta_lambda"],
            info["min_decrease"],
        )
        np.testing.assert_allclose(res.draws[b], float(fit.att), rtol=1e-12)


def test_refit_jackknife_is_a_loop_of_warm_started_fits_on_smaller_panels(
    estimates, multi
):
    # R synthdid 2408a924's jackknife_se (the SDID paper's simulations): each unit
    # deleted, the weights re-solved from the full-sample weights (omega renormalised),
    # penalties and stopping rule fixed. Reference: rows deleted, not zero frequencies.
    est = estimates[("prop99_multi", "sdid")]
    res = est.variance("jackknife", refit=True, return_draws=True).inference
    fixed = est.variance("jackknife").se
    Y, W, M = multi.arrays()
    omega, lam, info = est.fit.unit_weights, est.fit.time_weights, est.info
    u = []
    for i in range(multi.N):
        keep = np.arange(multi.N) != i
        w0 = omega[keep] / omega[keep].sum()
        fit = sdid.fit(
            Y[keep],
            W[keep],
            M[keep],
            None,
            w0,
            lam,
            info["zeta_omega"],
            info["zeta_lambda"],
            info["min_decrease"],
        )
        u.append(float(fit.att))
    u = np.array(u)
    np.testing.assert_allclose(res.draws, u, rtol=1e-9, atol=1e-12)
    se = np.sqrt((multi.N - 1) / multi.N * np.sum((u - u.mean()) ** 2))
    np.testing.assert_allclose(res.se, se, rtol=1e-9)
    assert abs(res.se - fixed) > 1e-3 * fixed  # a different estimator of the variance
    assert res.info["weights"] == "re-estimated"
    with pytest.raises(ValueError, match="refit must be True or False"):
        est.variance("jackknife", refit="no")


def test_refit_jackknife_applies_where_the_fixed_weight_one_refuses(estimates):
    sc = estimates[("prop99_multi", "sc")]
    with pytest.raises(ValueError, match="refit=True"):
        sc.variance("jackknife")
    assert np.isfinite(sc.variance("jackknife", refit=True).se)


def test_did_bootstrap_draws_match_reference_on_duplicated_panels(estimates, multi):
    est = estimates[("prop99_multi", "did")]
    res = est.variance(
        "bootstrap", reps=4, seed=3, return_draws=True, progress=False
    ).inference
    counts, _ = resampling.bootstrap_draws(
        3, multi.N, np.flatnonzero(multi.ever_treated), 4
    )
    for b in range(4):
        rows = np.repeat(np.arange(multi.N), counts[b])
        ref = did_att(
            multi.Y[rows], multi.W[rows].astype(float), multi.mask[rows].astype(float)
        )
        np.testing.assert_allclose(res.draws[b], ref, rtol=1e-9)


def test_bootstrap_redraws_samples_without_treated_or_controls():
    # Two treated units among 3: many resamples have no treated or no control unit.
    counts, _candidates = resampling.bootstrap_draws(0, 3, np.array([0, 1]), 50)
    assert counts.shape == (50, 3) and np.all(counts.sum(axis=1) == 3)
    assert np.all(counts[:, :2].sum(axis=1) > 0) and np.all(counts[:, 2] > 0)
    # Keys are per candidate index: asking for fewer gives a prefix.
    fewer, _ = resampling.bootstrap_draws(0, 3, np.array([0, 1]), 20)
    np.testing.assert_array_equal(fewer, counts[:20])


def test_time_placebo_windows_match_reference(estimates, prop99_panel):
    est = estimates[("prop99", "did")]
    res = est.variance("time_placebo", return_draws=True).inference
    t0, L = prop99_panel.n_pre, prop99_panel.n_post
    y = prop99_panel.Y
    for k, s in enumerate(range(2, t0 - L + 1)):
        cols = np.arange(s + L)
        d = np.zeros((prop99_panel.N, len(cols)))
        d[prop99_panel.ever_treated, s:] = 1
        ref = did_att(y[:, cols], d, np.ones_like(d))
        np.testing.assert_allclose(res.draws[k], ref, rtol=1e-10)
    np.testing.assert_allclose(res.se, np.sqrt(np.mean(res.draws**2)), rtol=1e-12)


# ------------------------------------------------------------------ refusals
def test_methods_undefined_for_the_design_refuse(estimates):
    one = estimates[("prop99", "sdid")]
    with pytest.raises(
        ValueError,
        match="bootstrap is undefined with one treated unit.*method='placebo'",
    ):
        one.variance("bootstrap")
    with pytest.raises(
        ValueError,
        match="jackknife is undefined with one treated unit.*method='placebo'",
    ):
        one.variance("jackknife")
    with pytest.raises(
        ValueError, match="jackknife is not recommended for SC.*method='placebo'"
    ):
        estimates[("prop99_multi", "sc")].variance("jackknife")
    with pytest.raises(ValueError, match="reps does not apply"):
        one.variance("jackknife", reps=10)
    with pytest.raises(ValueError, match="method='nope' is not supported"):
        one.variance("nope")


def test_placebo_needs_more_controls_than_treated():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(6, 8))
    d = np.zeros((6, 8))
    d[:3, 5:] = 1
    est = jaxpanel.did(Panel.from_arrays(y, d))
    with pytest.raises(
        ValueError, match="more controls than treated units.*'bootstrap'"
    ):
        est.variance("placebo", reps=10)


def test_time_placebo_needs_pre_periods():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(8, 10))
    d = np.zeros((8, 10))
    d[0, 5:] = 1
    with pytest.raises(
        ValueError, match="time placebo needs at least two windows.*'placebo'"
    ):
        jaxpanel.did(Panel.from_arrays(y, d)).variance("time_placebo")


# ------------------------------------------------------------------ API and batching
def test_one_call_equals_two_calls(prop99_panel, estimates):
    a = jaxpanel.did(prop99_panel, variance="placebo", reps=50, seed=2)
    b = estimates[("prop99", "did")].variance("placebo", reps=50, seed=2)
    assert a.se == b.se and a.ci == b.ci and a.variance_method == "placebo"
    assert "SE       " in a.summary() and "(permutation)" in a.summary()
    with pytest.raises(ValueError, match="reps= needs variance="):
        jaxpanel.did(prop99_panel, reps=10)


def test_results_do_not_depend_on_chunk_size(estimates):
    est = estimates[("prop99_multi", "sdid")]
    draws = [
        est.variance(
            "placebo", reps=24, seed=1, chunk=c, return_draws=True, progress=False
        ).inference.draws
        for c in (5, 24)
    ]
    np.testing.assert_array_equal(draws[0], draws[1])
    fewer = est.variance(
        "placebo", reps=10, seed=1, return_draws=True, progress=False
    ).inference.draws
    np.testing.assert_array_equal(fewer, draws[0][:10])


def test_progress_bar(estimates, capsys):
    est = estimates[("prop99", "did")]
    est.variance("placebo", reps=30, seed=0, chunk=10, progress=True)
    assert "placebo" in capsys.readouterr().err
    est.variance("placebo", reps=30, seed=0, chunk=10, progress=False)
    assert capsys.readouterr().err == ""


SCRIPT = """
import jax, json
jax.config.update("jax_enable_x64", True)
import jaxpanel

panel = jaxpanel.datasets.prop99_panel()
out = {"devices": jax.device_count()}
for m in ("did", "sdid"):
    v = getattr(jaxpanel, m)(panel).variance("placebo", reps=18, seed=4, return_draws=True, progress=False)
    out[m] = [v.se] + v.inference.draws.tolist()
print(json.dumps(out))
"""


def test_same_se_on_four_devices(estimates):
    env = {
        **os.environ,
        # added to the suite's own flags (conftest), so both sides compile alike
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["devices"] == 4
    for m in ("did", "sdid"):
        v = estimates[("prop99", m)].variance(
            "placebo", reps=18, seed=4, return_draws=True, progress=False
        )
        np.testing.assert_allclose(
            got[m], [v.se] + v.inference.draws.tolist(), rtol=1e-13
        )


def test_the_old_jackknife_option_name_says_the_new_one(prop99_panel):
    with pytest.raises(ValueError, match="allow_sc= is now allow="):
        jaxpanel.sc(prop99_panel).variance("jackknife", allow_sc=True)


DEADLOCK_SCRIPT = """
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
import jaxpanel

rng = np.random.default_rng(0)
N, T = 1000, 50
Y = rng.normal(size=(N, 1)) * 3 + rng.normal(size=(N, T)).cumsum(axis=1) / 3
W = np.zeros((N, T))
W[:50, 40:] = 1.0
est = jaxpanel.sdid(jaxpanel.Panel.from_arrays(Y, W), solver="exact")
for _ in range(4):
    print(est.variance("placebo", reps=1000, seed=0, progress=False).se, flush=True)
"""


@pytest.mark.slow
def test_exact_placebo_batches_repeat_without_deadlock():
    # LAPACK's Cholesky inside the factored active set's loop, vmapped over 147-lane
    # chunks, deadlocked XLA's CPU runtime on the second or third call (jaxlib 0.10.2);
    # the scheduler flag the CLI sets for studies is not set here, as a library user's
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", DEADLOCK_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
        check=True,
    )
    ses = [float(x) for x in out.stdout.split()]
    assert len(ses) == 4 and len(set(ses)) == 1 and np.isfinite(ses[0])
