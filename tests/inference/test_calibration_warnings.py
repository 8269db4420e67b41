"""Warnings where the calibration study measured a method over-rejecting."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference import InferenceWarning


def panel(rng, n=24, t=16, n_tr=3, t_post=2, post_sd=1.0):
    sd = np.where(np.arange(t) >= t - t_post, post_sd, 1.0)
    y = rng.normal(size=(n, t)) * sd + rng.normal(size=(n, 1))
    d = np.zeros((n, t))
    d[:n_tr, t - t_post :] = 1
    return Panel.from_arrays(y, d)


def quiet(est, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferenceWarning)
        return est.variance(method, progress=False, **kw)


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_each_rule_fires_where_the_study_measured_over_rejection(rng):
    p = panel(rng)
    with pytest.warns(InferenceWarning, match="regression with sdid"):
        jaxpanel.sdid(p).variance("regression")
    quiet(jaxpanel.did(p), "regression")  # DID held its size
    with pytest.warns(InferenceWarning, match="bootstrap with DID and 3 treated"):
        jaxpanel.did(p).variance("bootstrap", reps=20, progress=False)
    with pytest.warns(InferenceWarning, match="jackknife with DID"):
        jaxpanel.did(p).variance("jackknife")
    quiet(jaxpanel.sdid(p), "jackknife")
    with pytest.warns(InferenceWarning, match="placebo with SC and 3 treated"):
        jaxpanel.sc(p).variance("placebo", reps=30, progress=False)
    quiet(jaxpanel.sc(panel(rng, n_tr=1)), "placebo", reps=23)
    with pytest.warns(InferenceWarning, match="bootstrap with TROP and 3 treated"):
        jaxpanel.trop(p, 0.3, 0.5, 4.0).variance("bootstrap", reps=10, progress=False)


def test_time_placebo_warns_when_the_post_periods_are_noisier(rng):
    # 26 pre-periods, 1 post-period: 25 windows, no warning about the windows' length
    noisy = jaxpanel.did(panel(rng, n=40, t=27, t_post=1, post_sd=3.0))
    with pytest.warns(InferenceWarning, match=r"post-periods is \d+\.\d times"):
        noisy.variance("time_placebo")
    quiet(jaxpanel.did(panel(rng, n=40, t=27, t_post=1)), "time_placebo")
