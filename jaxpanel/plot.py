"""Figures (needs the ``plot`` extra: ``pip install "jaxpanel[plot]"``).

- :func:`trajectory_plot`: R synthdid's ``synthdid_plot``: the treated units' mean and the
  synthetic control over time, the time weights as a ribbon along the bottom, the start of
  treatment and the effect as an arrow at the post-period mean.
- :func:`unit_weights_plot`: R synthdid's ``synthdid_units_plot``: per control unit, the
  difference-in-differences estimate that uses that unit alone as the control, drawn with an
  area proportional to its weight, and the estimate as a horizontal line.
- :func:`event_study_plot`: effects by event time with their confidence band (Stata
  ``sdid_event``'s graph).
"""

from __future__ import annotations

import numpy as np

from . import _timeaxis


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'plots need matplotlib: pip install "jaxpanel[plot]"'
        ) from exc
    return plt


def _axes(ax, figsize=(8, 5)):
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    return plt.subplots(figsize=figsize)


def trajectory_plot(est, ax=None, title: str | None = None):
    """Treated vs synthetic control trajectory with time weights and the effect marked.

    Parameters
    ----------
    est : an Estimate (any estimator; the time-weight ribbon needs time weights). Time
        labels may be numbers, datetimes, Periods or an explicit order (drawn as
        positions with the labels as ticks).
    ax : matplotlib Axes to draw on (a new figure if None).

    Returns
    -------
    The matplotlib Figure.
    """
    fig, ax = _axes(ax)
    traj = est.trajectory
    panel = est.panel
    # numbers and dates as they are, Periods as timestamps, an explicit order as positions
    x, ticks = _timeaxis.plot_coordinates(panel.times)
    treated = traj["treated"].to_numpy()
    cf = traj["counterfactual"].to_numpy()
    label = {
        "did": "control mean (fitted)",
        "mc": "fitted Y(0)",
        "trop": "imputed Y(0) (pre-period: leave-one-out)",
    }.get(est.method, "synthetic control")
    ax.plot(x, treated, color="black", lw=2, label="treated")
    ax.plot(x, cf, color="tab:red", lw=2, ls="--", label=label)

    start = x[panel.n_pre]
    ax.axvline(start, color="grey", lw=1, ls=":")
    post = np.arange(panel.T) >= panel.n_pre
    x_post = x[post]
    t_mid = x_post.mean()
    y_cf, y_tr = np.nanmean(cf[post]), np.nanmean(treated[post])
    ax.annotate(
        "",
        xy=(t_mid, y_tr),
        xytext=(t_mid, y_cf),
        arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 2},
    )
    ax.text(
        t_mid, (y_tr + y_cf) / 2, f"  ATT {est.att:.2f}", color="tab:blue", va="center"
    )

    if est.time_weights is not None and est.time_weights.sum() > 0:
        lam = est.time_weights
        lo, hi = ax.get_ylim()
        height = 0.15 * (hi - lo)
        ax.fill_between(
            x[panel.times.get_indexer(lam.index)],
            lo,
            lo + height * lam.to_numpy() / lam.max(),
            step="mid",
            color="tab:red",
            alpha=0.3,
            label="time weights",
        )
        ax.set_ylim(lo, hi)
    if ticks is not None:
        ax.set_xticks(x, ticks, rotation=90 if len(ticks) > 12 else 0)
    ax.set_xlabel(panel.time_name)
    ax.set_ylabel(panel.outcome_name)
    ax.set_title(title or f"{est.method.upper()}: ATT = {est.att:.3f}")
    ax.legend(loc="best", frameon=False)
    return fig


def unit_weights_plot(est, ax=None, top: int | None = None, title: str | None = None):
    """Per-control-unit DID estimates, marker area proportional to the unit weight.

    Units with zero weight are drawn as small crosses. ``top`` keeps the ``top`` heaviest
    units (all by default).

    Parameters
    ----------
    est : an Estimate with unit weights (the SC family, TROP global).
    ax : matplotlib Axes (a new figure if None). top : number of units shown.
    title : the title (default the method and 'unit weights').

    Returns
    -------
    The matplotlib Figure.

    Raises
    ------
    ValueError
        The estimate has no unit weights.

    References
    ----------
    R synthdid's ``synthdid_units_plot``.
    """
    if est.unit_weights is None:
        if getattr(est, "cohorts", None) is not None:
            raise ValueError(
                f"{est.method} on a staggered design has unit weights per adoption "
                "cohort (est.cohorts['omega']), not one set to plot. Fix: plot one "
                "cohort's block panel (panel.select(units=...)), or use "
                "event_study_plot(est)"
            )
        raise ValueError(f"{est.method} has no unit weights to plot")
    fig, ax = _axes(ax, figsize=(max(8, 0.25 * len(est.unit_weights)), 5))
    panel = est.panel
    omega = est.unit_weights
    if top is not None:
        omega = omega.sort_values(ascending=False).head(top)
    rows = panel.units.get_indexer(omega.index)
    pre = np.arange(panel.T) < panel.n_pre
    lam = np.full(pre.sum(), 1.0 / pre.sum())
    if est.time_weights is not None and est.time_weights.sum() > 0:
        lam = est.time_weights.to_numpy()
    treated = panel.Y[panel.ever_treated].mean(axis=0)
    tr_diff = treated[~pre].mean() - treated[pre] @ lam
    unit_diff = panel.Y[rows][:, ~pre].mean(axis=1) - panel.Y[rows][:, pre] @ lam
    per_unit = tr_diff - unit_diff
    x = np.arange(len(rows))
    w = omega.to_numpy()
    pos = w > 0
    ax.scatter(x[pos], per_unit[pos], s=2000 * w[pos], alpha=0.6, color="tab:blue")
    ax.scatter(x[~pos], per_unit[~pos], marker="x", color="grey", s=15)
    ax.axhline(
        est.att, color="tab:red", lw=1.5, label=f"{est.method.upper()} {est.att:.2f}"
    )
    ax.set_xticks(x)
    ax.set_xticklabels([str(u) for u in omega.index], rotation=90, fontsize=7)
    ax.set_ylabel("difference-in-differences with this unit alone")
    ax.set_title(title or f"{est.method.upper()} unit weights")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


__all__ = [
    "trajectory_plot",
    "unit_weights_plot",
]


def event_study_plot(
    est,
    window: tuple[int, int] | None = None,
    ax=None,
    title: str | None = None,
):
    """Effects by event time with their confidence band (``Estimate.event_study``).

    Parameters
    ----------
    est : an Estimate; with a bootstrap, placebo or jackknife result the band is the
        normal interval at its level (no band before a variance method has run).
    window : (first, last) event times to draw; None draws every one.
    ax : matplotlib Axes to draw on (a new figure if None).

    Returns
    -------
    The matplotlib Figure.
    """
    fig, ax = _axes(ax)
    table = est.event_study(window=window)
    x = table.index.to_numpy()
    y = table["effect"].to_numpy()
    if np.isfinite(table["se"]).any():
        level = round(100 * (est.level or 0.95))
        ax.fill_between(
            x,
            table["ci_low"].to_numpy(),
            table["ci_high"].to_numpy(),
            color="tab:blue",
            alpha=0.2,
            linewidth=0,
            label=f"{level}% CI ({est.variance_method})",
        )
    ax.plot(x, y, "o-", color="tab:blue", markersize=4, label="effect")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("periods since adoption")
    ax.set_ylabel(f"effect on {est.panel.outcome_name}")
    ax.set_title(title or f"{est.method.upper()} event study")
    ax.legend(frameon=False)
    return fig
