"""The time placebo warns where its windows see far fewer pre-periods than the estimate."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference import InferenceWarning


def panel(rng, t, t_post, n=20, n_tr=3):
    y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1))
    d = np.zeros((n, t))
    d[:n_tr, t - t_post :] = 1
    return Panel.from_arrays(y, d)


def test_long_windows_warn_and_short_ones_do_not(rng):
    # T_pre 30, T_post 10: windows see 2-20 pre-periods (the CPS design where the time
    # placebo rejected 0 % at 5 %); T_pre 30, T_post 2: 2-28, no warning
    est = jaxpanel.did(panel(rng, 40, 10))
    with pytest.warns(InferenceWarning, match="see 2 to 20 pre-periods"):
        est.variance("time_placebo")
    est = jaxpanel.did(panel(rng, 32, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferenceWarning)
        est.variance("time_placebo")
