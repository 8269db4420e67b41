"""Plots render to PNG (needs the plot extra)."""

from __future__ import annotations

import pytest

import jaxpanel

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
