"""Plots render to PNG (needs the plot extra)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel

mpl = pytest.importorskip("matplotlib", reason="plots need the plot extra (matplotlib)")
mpl.use("Agg")
import matplotlib.pyplot as plt

from jaxpanel import plot


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_trajectory_plot_renders(prop99_panel, tmp_path, method):
    est = getattr(jaxpanel, method)(prop99_panel)
    fig = plot.trajectory_plot(est)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "treated" in labels
    assert any("ATT" in t.get_text() for t in ax.texts)
    has_ribbon = any(c.get_label() == "time weights" for c in ax.collections)
    assert has_ribbon == (method == "sdid")
    out = tmp_path / f"{method}.png"
    fig.savefig(out, dpi=60)
    plt.close(fig)
    assert out.stat().st_size > 5_000


def test_unit_weights_plot_renders(prop99_panel, tmp_path):
    est = jaxpanel.sdid(prop99_panel)
    fig = plot.unit_weights_plot(est)
    out = tmp_path / "units.png"
    fig.savefig(out, dpi=60)
    plt.close(fig)
    assert out.stat().st_size > 5_000
    assert len(fig.axes[0].get_xticklabels()) == 38


def test_unit_weights_plot_needs_weights(prop99_panel):
    with pytest.raises(ValueError, match="no unit weights"):
        plot.unit_weights_plot(jaxpanel.did(prop99_panel))


def _monthly_panel(times):
    rng = np.random.default_rng(0)
    y = rng.normal(size=(8, len(times))).cumsum(axis=1)
    w = np.zeros_like(y)
    w[0, -4:] = 1
    return Panel.from_arrays(y, w, times=times)


@pytest.mark.parametrize(
    "times",
    [
        pd.date_range("1924-01-01", periods=14, freq="MS"),
        pd.period_range("2001Q1", periods=14, freq="Q"),
        [f"wave {k}" for k in range(14)],  # an explicit order: positions and ticks
    ],
    ids=["datetime", "period", "given-order"],
)
def test_trajectory_plot_with_time_labels(tmp_path, times):
    panel = _monthly_panel(times)
    est = jaxpanel.sdid(panel)
    fig = plot.trajectory_plot(est)
    ax = fig.axes[0]
    assert any(c.get_label() == "time weights" for c in ax.collections)
    if isinstance(times, list):
        assert [t.get_text() for t in ax.get_xticklabels()] == times
    fig.savefig(tmp_path / "t.png", dpi=50)
    plt.close(fig)


def test_trop_trajectory_pre_period_is_not_the_observed_outcome(prop99_panel):
    lams = {"lambda_unit": 0.0290, "lambda_time": 3.0, "lambda_nn": 2.66}
    est = jaxpanel.trop(prop99_panel, **lams)
    traj = est.trajectory
    pre = traj.index < 1989
    gap = (traj["treated"] - traj["counterfactual"])[pre]
    assert np.isfinite(gap).all() and np.abs(gap).max() > 0.1
    np.testing.assert_allclose(traj["effect"][~pre].mean(), est.att, rtol=1e-12)
    # independently: declare California 1980 treated; its per-cell fit is the
    # leave-one-out fit of that cell
    i, s = list(prop99_panel.units).index("California"), 1980 - 1970
    W = prop99_panel.W.copy()
    W[i, s] = True
    other = Panel.from_arrays(
        prop99_panel.Y, W, units=prop99_panel.units, times=prop99_panel.times
    )
    tau = np.asarray(jaxpanel.trop(other, **lams).fit.tau)[i, s]
    np.testing.assert_allclose(
        traj["counterfactual"][1980], prop99_panel.Y[i, s] - tau, rtol=1e-9
    )


def test_event_study_plot_renders_band(prop99_panel, tmp_path):
    est = jaxpanel.sdid(prop99_panel)
    fig = plot.event_study_plot(est)
    assert not fig.axes[0].collections  # no variance yet: no band
    plt.close(fig)
    est = est.variance("placebo", reps=20, seed=0)
    fig = plot.event_study_plot(est, window=(-5, 11))
    ax = fig.axes[0]
    (band,) = [c for c in ax.collections if "CI" in c.get_label()]
    assert "95% CI (placebo)" == band.get_label()
    x, _ = ax.get_lines()[0].get_data()
    assert list(x) == list(range(-5, 12))
    out = tmp_path / "event.png"
    fig.savefig(out, dpi=60)
    plt.close(fig)
    assert out.stat().st_size > 5_000
