"""Degenerate designs fail early and clearly, from the primitive cause.

Each estimator and variance method checks its design requirements before any numerics and
names the requirement that fails and the estimators or methods that do apply; the ones
named are run here to show they really apply.
"""

from __future__ import annotations

import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference import methods_for
from jaxpanel.requirements import estimators_for

from .reference import did_att

# Small panels: too few placebos for a bounded permutation interval is expected here
# (InferenceWarning); these tests check the SEs and draws.
pytestmark = pytest.mark.filterwarnings("ignore::jaxpanel.inference.InferenceWarning")


def one_pre_period_panel():
    """12 x 4, two units treated from period 1: one pre-treatment period."""
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(12, 4)) + np.arange(4)
    W = np.zeros((12, 4))
    W[:2, 1:] = 1
    return Panel.from_arrays(Y, W)


@pytest.mark.parametrize("method", ["sc", "difp", "sdid"])
def test_one_pre_period_is_refused_before_numerics(method):
    p = one_pre_period_panel()
    with pytest.raises(
        ValueError,
        match=rf"^{method} needs at least 2 pre-treatment periods; the panel has 1 "
        r"\(0\) before treatment starts in 1\. Fix: add earlier periods, or use another "
        r"estimator\. Estimators that apply to this panel: did, mc, trop\.$",
    ):
        getattr(jaxpanel, method)(p)


def test_the_estimators_named_do_apply():
    p = one_pre_period_panel()
    assert estimators_for(p) == ["did", "mc", "trop"]
    ref = did_att(p.Y, p.W.astype(float), p.mask.astype(float))
    assert jaxpanel.did(p).att == pytest.approx(ref, rel=1e-10)
    assert jaxpanel.mc(p).converged
    assert jaxpanel.trop(p, lambda_unit=0.0, lambda_time=0.0, lambda_nn=np.inf).att == (
        pytest.approx(ref, rel=1e-10)
    )


def test_missing_cells_are_named_before_the_adoption_pattern():
    """A treated unit missing its first post-period looks like a later adopter: the
    message must name the missing cell, not the 'staggered' design it produces."""
    df = jaxpanel.datasets.prop99()
    df = df.drop(df.index[(df.State == "California") & (df.Year == 1989)])
    p = Panel.from_long(df, "State", "Year", "PacksPerCapita", "treated")
    assert p.design == "block"  # adoption is by the first treated period observed
    df2 = jaxpanel.datasets.prop99()
    df2.loc[(df2.State == "Nevada") & (df2.Year >= 1995), "treated"] = 1
    df2 = df2.drop(df2.index[(df2.State == "Ohio") & (df2.Year == 1980)])
    q = Panel.from_long(df2, "State", "Year", "PacksPerCapita", "treated")
    assert q.design == "staggered" and not q.is_balanced
    with pytest.raises(
        ValueError,
        match=r"sdid needs a balanced panel; 1 unit-periods are missing \(units 'Ohio'; "
        r"periods 1980\)",
    ):
        jaxpanel.sdid(q)
    with pytest.raises(ValueError, match="sdid needs a balanced panel"):
        jaxpanel.sdid(p)


def test_disconnected_untreated_cells_are_named():
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(6, 6))
    W = np.zeros((6, 6))
    W[0, 3:] = 1
    mask = np.ones((6, 6), bool)
    mask[4:, :3] = False  # units 4, 5 observed only in periods 3-5 ...
    mask[:4, 3:] = False  # ... and the others only in periods 0-2
    mask[0, 3:] = True  # the treated unit's post-periods
    p = Panel.from_arrays(Y, W, mask)
    with pytest.raises(
        ValueError,
        match=r"did needs untreated cells that connect every unit and period.*2 separate "
        r"groups, e.g. units 4, 5 share no untreated period",
    ):
        jaxpanel.did(p)


def test_variance_refusal_names_methods_that_apply():
    p = one_pre_period_panel().select(units=list(range(1, 12)))  # one treated unit
    est = jaxpanel.did(p)
    names = methods_for(est)
    assert names == ["placebo", "regression", "conformal"]
    with pytest.raises(
        ValueError,
        match=r"bootstrap is undefined with one treated unit \(1\).*Fix: use "
        r"method='placebo', 'regression', 'conformal' \(the methods that apply",
    ):
        est.variance("bootstrap")
    with pytest.raises(ValueError, match=r"time placebo needs at least two windows"):
        est.variance("time_placebo")
    for name in names:
        out = est.variance(name, progress=False)
        assert np.isfinite(out.p_value), name
        assert out.se is None if name == "conformal" else np.isfinite(out.se), name


def test_every_method_refused_when_none_applies():
    rng = np.random.default_rng(3)
    W = np.zeros((2, 5))
    W[0, 3:] = 1
    est = jaxpanel.mc(Panel.from_arrays(rng.normal(size=(2, 5)), W), lam=0.1)
    assert methods_for(est) == []
    with pytest.raises(ValueError, match="no variance method applies to this estimate"):
        est.variance("placebo")


def test_nonfinite_fit_names_the_quantity():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(8, 6)) * 1e160  # squares overflow float64
    W = np.zeros((8, 6))
    W[0, 4:] = 1
    with pytest.raises(
        FloatingPointError,
        match=r"sdid: the fit produced non-finite values in the noise level.*"
        r"ran in float64",
    ):
        jaxpanel.sdid(Panel.from_arrays(Y, W))


# ---------------------------------------------------------------- found by a fresh user
def _two_treated_one_control():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(3, 8)) + np.arange(8)
    W = np.zeros((3, 8))
    W[:2, 4:] = 1
    return Panel.from_arrays(Y, W)


def test_methods_named_as_applying_do_run():
    """methods_for lists exactly the methods that run; an unidentified replicate is
    never counted as valid (DID's jackknife once silently included one)."""
    p = _two_treated_one_control()
    trop = jaxpanel.trop(p, lambda_unit=0.1, lambda_time=0.1, lambda_nn=np.inf)
    assert methods_for(trop) == methods_for(jaxpanel.mc(p, lam=0.1)) == ["bootstrap"]
    est = jaxpanel.did(p)
    names = methods_for(est)
    assert names == ["bootstrap", "regression", "conformal"]
    for name in names:
        out = est.variance(name, progress=False)
        assert np.isfinite(out.p_value), name
        assert out.se is None if name == "conformal" else np.isfinite(out.se), name
    with pytest.raises(
        ValueError, match=r"periods 4, 5, 6, 7 a single unit is untreated"
    ):
        jaxpanel.did(p).variance("jackknife")


def test_bare_att_of_a_failed_fit_is_nan_not_a_number():
    from jaxpanel.estimators import did

    p = _two_treated_one_control()
    Y, W, M = p.arrays()
    fit = did.fit(Y, W, M.at[2].set(0.0))  # the only control left out: unidentified
    assert jaxpanel.kernels.status_name(int(fit.status)) == "unidentified"
    assert np.isnan(float(did.att(Y, W, M.at[2].set(0.0))))


def test_replicates_that_only_fail_in_numerics_are_refused_before_them():
    """Controls linked only through the treated unit: every unit placebo and every
    time-placebo window is unidentified, which the requirements see up front."""
    rng = np.random.default_rng(0)
    mask = np.zeros((8, 8), bool)
    mask[0:4, 0:4] = mask[4:8, 4:8] = mask[0, 4:8] = True
    W = np.zeros((8, 8))
    W[0, 6:] = 1
    est = jaxpanel.did(Panel.from_arrays(rng.normal(size=(8, 8)), W, mask))
    assert methods_for(est) == ["regression"]
    with pytest.raises(
        ValueError, match="never-treated units alone.*2 separate groups"
    ):
        est.variance("placebo")
    with pytest.raises(ValueError, match="on the window starting in 3 it would need"):
        est.variance("time_placebo")


def test_conditional_variance_refuses_instead_of_nan():
    rng = np.random.default_rng(0)
    W = np.zeros((3, 3))
    W[0, 1:] = 1
    est = jaxpanel.mc(Panel.from_arrays(rng.normal(size=(3, 3)), W), lam=0.1)
    with pytest.raises(ValueError, match="at least 2 of them; units \\[0\\]"):
        est.variance("conditional")
    Y = np.add.outer(np.arange(6.0), 2 * np.arange(6.0))  # exactly two-way additive
    W = np.zeros((6, 6))
    W[0, 3:] = 1
    with pytest.raises(ValueError, match="conditional variance: .*degenerate"):
        jaxpanel.did(Panel.from_arrays(Y, W)).variance("conditional")


def test_bad_reps_level_and_empty_conformal_set():
    est = jaxpanel.did(jaxpanel.datasets.prop99_panel())
    for kw, msg in [
        ({"reps": 0}, "reps must be an integer >= 2, got 0"),
        ({"reps": 2.5}, "reps must be an integer >= 2"),
        ({"level": 1.0}, r"level must be a number in \(0, 1\)"),
        ({"level": 0}, r"level must be a number in \(0, 1\)"),
    ]:
        with pytest.raises(ValueError, match=msg):
            est.variance("placebo", **kw)
    with pytest.raises(ValueError, match="conformal: no effect value is accepted"):
        est.variance("conformal", level=0.5)


def test_extreme_outcomes_give_an_error_not_an_infinite_se():
    rng = np.random.default_rng(0)
    W = np.zeros((8, 6))
    W[0, 4:] = 1
    est = jaxpanel.did(Panel.from_arrays(rng.normal(size=(8, 6)) * 1e300, W))
    with pytest.raises(FloatingPointError, match="placebo: the standard error"):
        est.variance("placebo", reps=20)
