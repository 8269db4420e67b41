"""Panel: construction from long/wide/arrays, summaries, and one test per bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxpanel import Panel


def long_frame(n=5, t=6, treated=("u0",), start=3):
    rows = []
    for i in range(n):
        for s in range(t):
            u = f"u{i}"
            rows.append(
                {
                    "id": u,
                    "yr": 2000 + s,
                    "y": float(i * 10 + s),
                    "d": int(u in treated and s >= start),
                }
            )
    return pd.DataFrame(rows)


def build(df, **kw):
    return Panel.from_long(df, unit="id", time="yr", outcome="y", treatment="d", **kw)


def test_from_long_dense_arrays_and_summaries():
    p = build(long_frame())
    assert (p.N, p.T) == (5, 6)
    assert list(p.units) == ["u0", "u1", "u2", "u3", "u4"]
    assert list(p.times) == list(range(2000, 2006))
    assert p.Y[2, 4] == 24.0
    assert p.W.sum() == 3 and p.W[0, 3:].all()
    assert p.mask.all() and p.is_balanced
    assert list(p.treated_units) == ["u0"] and p.n_control == 4
    assert p.adoption["u0"] == 2003 and p.adoption["u1"] is None
    assert p.design == "block" and (p.n_pre, p.n_post) == (3, 3)
    assert p.is_absorbing


def test_row_order_does_not_matter():
    df = long_frame()
    a = build(df)
    b = build(df.sample(frac=1.0, random_state=1))
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.W, b.W)


def test_unbalanced_becomes_mask():
    df = long_frame().drop(index=[7, 20]).reset_index(drop=True)
    p = build(df)
    assert p.mask.sum() == 28 and not p.is_balanced
    assert np.isnan(p.Y[~p.mask]).all()
    Y, _W, _mask = p.arrays()
    assert float(Y[~np.asarray(p.mask)].sum()) == 0.0


def test_staggered_and_nonabsorbing_designs():
    df = long_frame(treated=("u0", "u1"))
    df.loc[(df.id == "u1") & (df.yr >= 2004), "d"] = 1
    df.loc[(df.id == "u1") & (df.yr < 2004), "d"] = 0
    p = build(df)
    assert p.design == "staggered" and p.n_pre == 3
    df.loc[(df.id == "u0") & (df.yr == 2005), "d"] = 0
    q = build(df)
    assert q.design == "nonabsorbing" and list(q.switching_units) == ["u0"]
    with pytest.raises(ValueError, match="absorbing treatment.*'u0'"):
        q.require_absorbing("sdid")
    with pytest.raises(ValueError, match="block design"):
        p.require_block("sdid")


def test_from_wide_and_arrays_agree():
    p = build(long_frame())
    wide = pd.DataFrame(p.Y, index=p.units, columns=p.times)
    q = Panel.from_wide(wide, p.W.astype(int))
    r = Panel.from_arrays(p.Y, p.W, units=p.units, times=p.times)
    for other in (q, r):
        np.testing.assert_array_equal(other.Y, p.Y)
        np.testing.assert_array_equal(other.W, p.W)
        assert list(other.units) == list(p.units)


def test_from_wide_nan_needs_explicit_mask():
    p = build(long_frame())
    wide = pd.DataFrame(p.Y, index=p.units, columns=p.times)
    wide.iloc[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite outcome.*mask"):
        Panel.from_wide(wide, p.W)
    q = Panel.from_wide(wide, p.W, mask=wide.notna())
    assert not q.mask[2, 1] and q.mask.sum() == 29


def test_to_long_round_trip():
    df = long_frame().drop(index=[4]).reset_index(drop=True)
    p = build(df)
    back = p.to_long()
    q = Panel.from_long(back, unit="id", time="yr", outcome="y", treatment="d")
    np.testing.assert_array_equal(q.mask, p.mask)
    np.testing.assert_array_equal(np.nan_to_num(q.Y), np.nan_to_num(p.Y))


# ---------------------------------------------------------------- bad input, one per case
def test_missing_columns():
    with pytest.raises(
        ValueError, match=r"missing columns: outcome='yy' not in the frame.*Fix"
    ):
        Panel.from_long(long_frame(), unit="id", time="yr", outcome="yy", treatment="d")


def test_nan_outcome():
    df = long_frame()
    df.loc[4, "y"] = np.nan
    with pytest.raises(
        ValueError, match=r"NaN or infinite outcome.*\('u0', 2004\).*drop those rows"
    ):
        build(df)


def test_inf_outcome():
    df = long_frame()
    df.loc[8, "y"] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite outcome.*\('u1', 2002\)"):
        build(df)


def test_duplicate_rows():
    df = long_frame()
    df = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    with pytest.raises(
        ValueError, match=r"duplicate \(unit, time\) rows.*\('u0', 2003\).*one row per"
    ):
        build(df)


def test_treatment_not_binary():
    df = long_frame()
    df.loc[10, "d"] = 2
    with pytest.raises(
        ValueError,
        match=r"treatment column 'd' is not binary: values '2'.*\('u1', 2004\).*recode",
    ):
        build(df)


def test_treatment_nan_is_not_binary():
    df = long_frame().astype({"d": float})
    df.loc[10, "d"] = np.nan
    with pytest.raises(ValueError, match="not binary"):
        build(df)


def test_no_treated_unit():
    with pytest.raises(ValueError, match="no treated unit"):
        build(long_frame(treated=()))


def test_no_control_unit():
    with pytest.raises(ValueError, match="no control unit.*add never-treated units"):
        build(long_frame(n=2, treated=("u0", "u1")))


def test_no_pre_treatment_period():
    with pytest.raises(
        ValueError, match=r"no pre-treatment period: units 'u0'.*drop those units"
    ):
        build(long_frame(start=0))


def test_no_pre_period_counts_observed_cells_only():
    df = long_frame()
    df = df[~((df.id == "u0") & (df.yr < 2003))]
    with pytest.raises(ValueError, match="no pre-treatment period"):
        build(df)


def test_switching_treatment_is_reported_not_refused():
    df = long_frame()
    df.loc[(df.id == "u0") & (df.yr == 2004), "d"] = 0
    p = build(df)
    assert not p.is_absorbing and list(p.switching_units) == ["u0"]


def test_missing_unit_label():
    df = long_frame().astype({"id": object})
    df.loc[3, "id"] = None
    with pytest.raises(ValueError, match="missing unit labels"):
        build(df)


def test_array_shape_mismatch():
    with pytest.raises(ValueError, match="shape mismatch"):
        Panel.from_arrays(np.zeros((3, 4)), np.zeros((3, 5)))


def test_not_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        Panel.from_long({"a": [1]}, unit="a", time="a", outcome="a", treatment="a")
