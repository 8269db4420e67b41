"""Estimate: summary, frame, trajectory and the recipe that re-runs the estimator."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxpanel
from jaxpanel._make import check_status
from jaxpanel.results import ConvergenceWarning


def test_estimate_contents(prop99_panel):
    est = jaxpanel.did(prop99_panel)
    assert est.se is None and est.ci is None and est.p_value is None
    assert est.recipe.estimator == "did"
    text = est.summary()
    assert "ATT      -27.3491" in text and "converged" in text
    frame = est.to_frame()
    assert frame.loc[0, "method"] == "did" and frame.loc[0, "n_treated_cells"] == 12
    np.testing.assert_allclose(frame.loc[0, "att"], est.att)
    traj = est.trajectory
    assert list(traj.columns) == ["treated", "counterfactual", "effect", "n_treated"]
    post = traj.loc[1989:]
    np.testing.assert_allclose(post["effect"].mean(), est.att, rtol=1e-12)
    cal = prop99_panel.Y[list(prop99_panel.units).index("California")]
    np.testing.assert_allclose(traj["treated"].to_numpy(), cal)


def test_recipe_reruns_the_same_estimator(prop99_panel):
    est = jaxpanel.did(prop99_panel)
    again = est.recipe.run(prop99_panel)
    assert again.att == est.att


def test_status_becomes_error_or_warning():
    with pytest.raises(ValueError, match="not identified"):
        check_status("did", "unidentified")
    with pytest.raises(FloatingPointError, match="non-finite"):
        check_status("did", "nonfinite")
    with pytest.warns(ConvergenceWarning, match="iteration cap"):
        check_status("did", "max_steps")
    check_status("did", "converged")


def test_public_api_is_listed():
    for name in jaxpanel.__all__:
        assert hasattr(jaxpanel, name), name
    assert jaxpanel.__version__ != "0+unknown"


def test_summary_shows_level_and_dtype(prop99_panel):
    est = jaxpanel.did(prop99_panel).variance(
        "placebo", reps=40, seed=1, level=0.9, reference="normal"
    )
    text = est.summary()
    assert "90% CI   [" in text and "95% CI" not in text
    assert "(normal)" in text
    assert "dtype    float64" in text
    frame = est.to_frame()
    assert frame.loc[0, "level"] == 0.9 and frame.loc[0, "dtype"] == "float64"
    z90 = 1.6448536269514722
    np.testing.assert_allclose(est.ci, (est.att - z90 * est.se, est.att + z90 * est.se))
    with jax.enable_x64(False):  # what a user without float64 gets
        est32 = jaxpanel.did(prop99_panel)
    assert est32.dtype == "float32" and "dtype    float32" in est32.summary()
    assert est32.to_frame().loc[0, "dtype"] == "float32"
