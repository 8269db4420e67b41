"""Issue 12, findings 2 and 3: one reference distribution per result; exact placebo sets."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference import InferenceWarning
from jaxpanel.inference._result import percentile, permutation
from tests.conftest import shared_path


def _coherent(res, alpha):
    """Zero is in the confidence set exactly when the p-value exceeds alpha."""
    alpha = round(alpha, 12)
    in_set = any(lo <= 0 <= hi for lo, hi in res.ci_set)
    assert in_set == (res.p_value > alpha), (res.ci_set, res.p_value)


@pytest.mark.parametrize(
    "method,kw,reference",
    [
        ("placebo", {"reps": 100, "seed": 2}, "permutation"),
        ("placebo", {"reps": 100, "seed": 2, "reference": "normal"}, "normal"),
        ("time_placebo", {"level": 0.8}, "permutation"),
        ("jackknife", {}, "normal"),
        ("regression", {}, "normal"),
    ],
)
def test_ci_and_p_value_come_from_one_distribution(estimates, method, kw, reference):
    est = (
        estimates["prop99_multi", "sdid"]
        if method == "jackknife"
        else estimates["prop99", "sdid"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferenceWarning)
        out = est.variance(method, progress=False, return_draws=True, **kw)
    res = out.inference
    assert res.reference == reference and f"({reference})" in out.summary()
    _coherent(res, 1 - res.level)
    if reference == "permutation":  # p-value and interval from the placebo draws
        d = np.abs(res.draws)
        assert res.p_value == (1 + np.sum(d >= abs(est.att))) / (1 + d.size)
        assert res.ci_normal != res.ci


def test_prop99_sdid_placebo_is_coherent_at_every_level(prop99_panel):
    """Finding 2: Prop 99 SDID placebo printed a normal CI next to a permutation p."""
    est = jaxpanel.sdid(prop99_panel)
    for level in (0.8, 0.9, 0.95):
        res = est.variance("placebo", level=level, progress=False).inference
        assert res.reference == "permutation"
        _coherent(res, 1 - level)


def test_permutation_and_percentile_inversions_are_exact():
    rng = np.random.default_rng(0)
    for B in (19, 20, 39, 40, 199):
        draws = rng.normal(size=B)
        for att in np.linspace(-3, 3, 61):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InferenceWarning)
                (lo, hi), p = permutation(att, draws, 0.95)
            # the interval is the set of effects the permutation test accepts
            for x in np.linspace(-4, 4, 33):
                px = (1 + np.sum(np.abs(draws) >= abs(att - x))) / (B + 1)
                assert (lo <= x <= hi) == (px > 0.05)
            assert (lo <= 0 <= hi) == (p > 0.05)
            (lo, hi), p = percentile(draws + att, 0.95)
            assert (lo <= 0 <= hi) == (p > 0.05)


def test_bootstrap_percentile_reference(estimates):
    est = estimates["prop99_multi", "sdid"]
    res = est.variance(
        "bootstrap", reps=60, seed=1, reference="percentile", progress=False
    ).inference
    assert res.reference == "percentile" and res.ci == res.ci_percentile
    _coherent(res, 0.05)
    with pytest.raises(ValueError, match="reference='permutation' does not apply"):
        est.variance("bootstrap", reps=10, reference="permutation", progress=False)
    with pytest.raises(ValueError, match="does not apply to jackknife"):
        est.variance("jackknife", reference="percentile")


def _basque() -> Panel:
    path = shared_path("data", "basque.csv")
    df = pd.read_csv(path)
    df = df[df.regionname != "Spain (Espana)"].copy()
    df["treated"] = (df.regionname == "Basque Country (Pais Vasco)") & (df.year >= 1970)
    return Panel.from_long(
        df, unit="regionname", time="year", outcome="gdpcap", treatment="treated"
    )


@pytest.mark.parametrize("estimator", ["sdid", "trop"])
def test_placebo_p_value_counts_distinct_placebos(estimator):
    """Finding 3: Basque (1 treated, 16 controls), 200 draws gave p = 1/201."""
    panel = _basque()
    assert panel.n_control == 16 and panel.n_treated == 1
    est = getattr(jaxpanel, estimator)(panel)
    with pytest.warns(InferenceWarning, match="only 16 distinct placebo"):
        res = est.variance("placebo", reps=200, progress=False, return_draws=True)
    inf = res.inference
    assert inf.n_valid == 16 and inf.info["exact"] and inf.info["n_assignments"] == 16
    assert res.p_value >= 1 / 17 and res.ci == (-math.inf, math.inf)
    assert len(np.unique(inf.draws)) == 16


def test_placebo_assignments_are_distinct_and_enumerated_when_few():
    from jaxpanel.inference.resampling import placebo_draws

    controls = np.arange(3, 13)
    idx, exact = placebo_draws(0, controls, 2, 200)
    assert exact and len(idx) == math.comb(10, 2)
    assert len({tuple(sorted(r)) for r in idx}) == len(idx)
    idx, exact = placebo_draws(0, controls, 3, 50)
    assert not exact and len(idx) == 50
    assert len({tuple(sorted(r)) for r in idx}) == 50
    again, _ = placebo_draws(0, controls, 3, 60)
    np.testing.assert_array_equal(again[:50], idx)  # a prefix: reps do not reshuffle
    idx, exact = placebo_draws(0, controls, 2, 200, ordered=True)
    assert exact and len(idx) == 90


def test_b_plus_one_equal_to_one_over_alpha_can_reject():
    """9 assignments at level 0.9: the smallest p-value, 0.1, rejects (1 - 0.9 != 0.1)."""
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(10, 10))
    Y[9, 7:] += 20.0
    W = np.zeros((10, 10))
    W[9, 7:] = 1
    est = jaxpanel.did(Panel.from_arrays(Y, W))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferenceWarning)
        res = est.variance("placebo", reps=100, level=0.9, progress=False)
    assert res.inference.n_valid == 9 and res.p_value == 0.1
    assert np.isfinite(res.ci).all() and not res.ci[0] <= 0 <= res.ci[1]
    row = res.to_frame().iloc[0]
    assert row["reference"] == "permutation"
    assert res.to_dict()["ci_set"] == [list(res.ci)]
