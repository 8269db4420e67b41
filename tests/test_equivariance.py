"""Every default is equivariant to the outcome's level and scale.

For Y -> a + c Y, each estimator's ATT at its default settings becomes c ATT with its
weights unchanged, and each variance method's SE becomes c SE, to 1e-6 relative in
float64, for c from 1e-6 to 1e6 and levels up to a = 1e8. The sweep keeps a / c at most
1e8: beyond that float64 cannot hold a + c Y to 1e-6 of the outcome's spread (its
rounding, about 1e-16 a, is then above 1e-8 c sd(Y)), so no method could pass.

Before the fix SC drifted by 1 / 4 / 150 % when 1e6 / 1e7 / 1e8 was added to this panel
(its simplex problem was built from uncentred levels), and MC moved by 0.8 % at c = 1e-6
(MCPanel's absolute objective floor of 1e-8).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import jaxpanel

# Small panels: too few placebos for a bounded permutation interval is expected here
# (InferenceWarning); these tests check the SEs and draws.
pytestmark = pytest.mark.filterwarnings("ignore::jaxpanel.inference.InferenceWarning")

RTOL = 1e-6
# (a, c) pairs: levels up to 1e8, scales from 1e-6 to 1e6.
SWEEP = [(1e8, 1.0), (1e8, 1e6), (-1e2, 1e-6), (3e4, 1e-3), (0.0, 1e3)]


def _panel_arrays(n=25, t=18, n_tr=3, t0=12, seed=7):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 2)) @ rng.normal(size=(2, t))
    Y = f + rng.normal(size=(n, 1)) + 0.5 * rng.normal(size=(n, t))
    Y = Y + np.linspace(0, 2, t)[None, :]
    Y = (Y - Y.mean()) / Y.std() * 2.2  # outcome sd 2.2, as in the issue
    W = np.zeros((n, t))
    W[:n_tr, t0:] = 1
    return Y + 0.8 * W, W


Y_MAIN, W_MAIN = _panel_arrays()
# TROP's default tunes three penalties by leave-one-out over every control cell (a minute
# on the main panel on 2 cores): a smaller panel keeps the sweep inside the CI budget.
Y_SMALL, W_SMALL = _panel_arrays(n=10, t=8, n_tr=2, t0=5, seed=3)


def _fit(method, Y, W):
    return getattr(jaxpanel, method)(jaxpanel.Panel.from_arrays(Y, W))


def _check(base, moved, c, what):
    np.testing.assert_allclose(moved.att, c * base.att, rtol=RTOL, err_msg=what)
    for name in ("unit_weights", "time_weights"):
        b, m = getattr(base, name), getattr(moved, name)
        if b is not None:
            np.testing.assert_allclose(
                m.to_numpy(), b.to_numpy(), atol=RTOL, err_msg=f"{what} {name}"
            )


@pytest.mark.parametrize("method", ["did", "sc", "difp", "sdid", "mc"])
def test_estimators_are_equivariant(method):
    base = _fit(method, Y_MAIN, W_MAIN)
    for a, c in SWEEP:
        moved = _fit(method, a + c * Y_MAIN, W_MAIN)
        _check(base, moved, c, f"{method} a={a} c={c}")
        if method == "mc":  # the same penalty index and rank
            assert moved.info["best_index"] == base.info["best_index"]
            assert moved.info["rank"] == base.info["rank"]


# One pair moves level and scale together (a / c = 3e7); the full sweeps are `slow`.
BOTH = [(3e4, 1e-3)]
TROP_SWEEP = [(1e8, 1.0), (-5e-4, 1e-6), (5e3, 1e6)]


def _trop_sweep(pairs):
    base = _fit("trop", Y_SMALL, W_SMALL)
    assert base.info["tuned"]
    for a, c in pairs:
        moved = _fit("trop", a + c * Y_SMALL, W_SMALL)
        _check(base, moved, c, f"trop a={a} c={c}")
        # the same grid point is chosen: lambda_unit scales as 1/c, lambda_nn as c
        np.testing.assert_allclose(
            [moved.info["lambda_unit"] * c, moved.info["lambda_time"]],
            [base.info["lambda_unit"], base.info["lambda_time"]],
            rtol=RTOL,
        )
        np.testing.assert_allclose(
            moved.info["lambda_nn"], c * base.info["lambda_nn"], rtol=RTOL
        )


def test_trop_default_tuning_is_equivariant():
    _trop_sweep(BOTH)


@pytest.mark.slow
def test_trop_default_tuning_is_equivariant_full_sweep():
    _trop_sweep(TROP_SWEEP)


VARIANCE = ["placebo", "bootstrap", "jackknife", "time_placebo", "regression"]


def _variance_sweep(method, pairs):
    base = _fit(method, Y_MAIN, W_MAIN)
    for v in VARIANCE:
        ref = base.variance(v, progress=False)
        for a, c in pairs:
            moved = _fit(method, a + c * Y_MAIN, W_MAIN).variance(v, progress=False)
            what = f"{method} {v} a={a} c={c}"
            np.testing.assert_allclose(moved.se, c * ref.se, rtol=RTOL, err_msg=what)
            # interval ends near zero cancel: absolute tolerance on the estimate's scale
            scale = c * (abs(ref.att) + ref.se)
            np.testing.assert_allclose(
                moved.ci,
                np.multiply(c, ref.ci),
                rtol=RTOL,
                atol=RTOL * scale,
                err_msg=what,
            )


def test_variance_methods_are_equivariant():
    _variance_sweep("did", BOTH)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["did", "sdid"])
def test_variance_methods_are_equivariant_full_sweep(method):
    _variance_sweep(method, SWEEP)


CONDITIONAL = [("did", "conditional"), ("did", "conformal")]


@pytest.mark.parametrize("estimator,method", CONDITIONAL)
def test_conditional_and_conformal_are_equivariant(estimator, method):
    _conditional_sweep(estimator, method)


@pytest.mark.slow
@pytest.mark.parametrize(
    "estimator,method", [("sdid", "conditional"), ("sdid", "conformal")]
)
def test_conditional_and_conformal_are_equivariant_sdid(estimator, method):
    _conditional_sweep(estimator, method)


def _conditional_sweep(estimator, method):
    base = _fit(estimator, Y_MAIN, W_MAIN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # conformal: few permutations (issue 12)
        ref = base.variance(method, progress=False)
        for a, c in BOTH + [(1e8, 1.0)]:
            got = _fit(estimator, a + c * Y_MAIN, W_MAIN).variance(
                method, progress=False
            )
            what = f"{estimator} {method} a={a} c={c}"
            if ref.se is None:  # conformal: a set, no SE
                assert got.se is None, what
                want = a + c * np.asarray(ref.inference.ci_set)
                got_set = np.asarray(got.inference.ci_set)
                np.testing.assert_allclose(got_set, want, rtol=RTOL, err_msg=what)
            else:
                np.testing.assert_allclose(got.se, c * ref.se, rtol=RTOL, err_msg=what)
            assert got.p_value == pytest.approx(ref.p_value, rel=RTOL), what
