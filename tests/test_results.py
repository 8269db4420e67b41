"""Estimate: summary, frame, trajectory and the recipe that re-runs the estimator."""

from __future__ import annotations

import numpy as np
import pytest

import jaxpanel
from jaxpanel.results import ConvergenceWarning, check_status


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
