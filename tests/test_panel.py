"""Panel: construction from long/wide/arrays, summaries, and one test per bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel

from .reference import did_att


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
    with pytest.raises(ValueError, match="sdid needs an absorbing treatment.*'u0'"):
        jaxpanel.sdid(q)
    # staggered: one block fit per adoption cohort (2003 and 2004)
    assert list(jaxpanel.sdid(p).cohorts.index) == [2003, 2004]


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


def test_every_unit_treated_is_a_panel():
    """No never-treated unit: DID, MC and TROP use the not-yet-treated cells once the
    periods in which every unit is treated are dropped; the SC family refuses."""
    df = long_frame(n=4, t=8, treated=("u0", "u1", "u2", "u3"), start=3)
    df.loc[df.id.isin(["u2", "u3"]) & (df.yr < 2005), "d"] = 0
    df["y"] = df["y"] + np.sin(np.arange(len(df)))  # not an exact two-way model
    p = build(df)
    assert p.n_control == 0 and p.design == "staggered"
    assert "controls: none" in p.summary()
    with pytest.raises(
        ValueError,
        match=r"did needs an untreated observed unit in every period with a treated "
        r"cell.*periods 2005, 2006, 2007 every observed unit is treated.*"
        r"panel.select\(times=panel.times\[:5\]\)",
    ):
        jaxpanel.did(p)
    with pytest.raises(
        ValueError, match="sdid needs at least 1 never-treated.*No estimator applies"
    ):
        jaxpanel.sdid(p)
    q = p.select(times=p.times[:5])
    assert q.n_control == 2  # u2, u3 are not yet treated before 2005
    ref = did_att(q.Y, q.W.astype(float), q.mask.astype(float))
    # TROP with uniform weights and no L is DID exactly; MC runs on it too
    options = {
        "did": {},
        "trop": {"lambda_unit": 0.0, "lambda_time": 0.0, "lambda_nn": np.inf},
    }
    for method, kw in options.items():
        est = getattr(jaxpanel, method)(q, **kw)
        assert est.att == pytest.approx(ref, rel=1e-9), method
    assert jaxpanel.mc(q, lam=0.5).converged
    with pytest.raises(ValueError, match="sc needs at least 1 never-treated"):
        jaxpanel.sc(p.select(times=p.times[:5]).select(units=["u0", "u1"]))


def test_treated_in_every_observed_period_is_refused_by_estimators():
    p = build(long_frame(start=0))  # u0 treated from its first period: a panel
    with pytest.raises(
        ValueError,
        match=r"did needs an untreated observed period for every treated unit.*"
        r"units 'u0' are treated in every period.*drop those units",
    ):
        jaxpanel.did(p)


def test_treated_in_every_observed_period_counts_observed_cells_only():
    df = long_frame()
    df = df[~((df.id == "u0") & (df.yr < 2003))]
    with pytest.raises(ValueError, match="units 'u0' are treated in every period"):
        jaxpanel.did(build(df))


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


# ---------------------------------------------------------------- the time axis
def monthly_frame(n=6, t=15, start=11, fmt="{m}/1/{y}"):
    """A monthly panel from January 1924 with text dates, e.g. '1/1/1924'."""
    rng = np.random.default_rng(5)
    months = pd.date_range("1924-01-01", periods=t, freq="MS")
    y = rng.normal(size=(n, t)).cumsum(axis=1) + np.arange(t) * 0.3
    rows = [
        {
            "unit": f"u{i}",
            "month": fmt.format(m=d.month, d=d.day, y=d.year),
            "date": d,
            "y": y[i, s] + (2.0 if i == 0 and s >= start else 0.0),
            "d": int(i == 0 and s >= start),
        }
        for i in range(n)
        for s, d in enumerate(months)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0), y


def test_text_dates_are_parsed_not_sorted_as_text():
    df, _ = monthly_frame()
    p = Panel.from_long(df, unit="unit", time="month", outcome="y", treatment="d")
    ref = Panel.from_long(df, unit="unit", time="date", outcome="y", treatment="d")
    # text order would put '10/1/1924' before '2/1/1924' and make the design on/off
    assert p.design == "block" and p.n_pre == 11
    assert list(p.times) == list(pd.date_range("1924-01-01", periods=15, freq="MS"))
    np.testing.assert_array_equal(p.Y, ref.Y)
    np.testing.assert_array_equal(p.W, ref.W)
    assert "read as dates, format %m/%d/%Y" in p.summary()
    assert "(1924-01-01..1925-03-01)" in p.summary()
    kw = {"lambda_unit": 0.5, "lambda_time": 0.3, "lambda_nn": np.inf}
    assert jaxpanel.trop(p, **kw).att == jaxpanel.trop(ref, **kw).att


def test_day_first_text_dates():
    df, _ = monthly_frame(fmt="{d}/{m}/{y}")
    df.loc[df.month == "1/1/1924", "month"] = "01/01/1924"
    df["month"] = df["month"].str.replace("^1/", "13/", regex=True)  # day 13
    p = Panel.from_long(df, unit="unit", time="month", outcome="y", treatment="d")
    assert p.design == "block" and p.times.is_monotonic_increasing
    assert p.times[1] == pd.Timestamp("1924-02-13")


def test_year_column_with_some_text_years():
    df = jaxpanel.datasets.prop99().astype({"Year": object})
    df.loc[df.index[:20], "Year"] = df.loc[df.index[:20], "Year"].astype(str)
    assert {type(x) for x in df.Year} == {int, str}
    p = Panel.from_long(
        df, unit="State", time="Year", outcome="PacksPerCapita", treatment="treated"
    )
    assert p.T == 31 and list(p.times) == list(range(1970, 2001))
    ref = did_att(p.Y, p.W.astype(float), p.mask.astype(float))
    assert jaxpanel.did(p).att == pytest.approx(-27.349111, abs=1e-6)
    assert jaxpanel.did(p).att == pytest.approx(ref, rel=1e-10)


def test_integer_valued_float_years_print_as_integers():
    df = long_frame().astype({"yr": float})
    p = build(df)
    assert list(p.times) == list(range(2000, 2006))
    assert "(2000..2005)" in p.summary() and "2000.0" not in p.summary()
    assert p.times.dtype == np.int64


def test_text_without_an_order_is_refused_with_the_fix():
    df = long_frame()
    names = dict(zip(range(2000, 2006), ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]))
    df["yr"] = df["yr"].map(names)
    with pytest.raises(
        ValueError,
        match=r"time column 'yr' holds text that is neither numbers nor dates.*"
        r"text order is never used.*time_order",
    ):
        build(df)
    order = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    p = build(df, time_order=order)
    assert list(p.times) == order and p.design == "block" and p.n_pre == 3
    q = build(df.astype({"yr": pd.CategoricalDtype(order, ordered=True)}))
    np.testing.assert_array_equal(q.Y, p.Y)
    with pytest.raises(ValueError, match="values not in time_order: \\['Jun'\\]"):
        build(df, time_order=order[:5])


def test_periods_and_unordered_categories():
    df = long_frame()
    quarters = pd.period_range("2000Q3", periods=6, freq="Q")
    df["yr"] = df["yr"].map(dict(zip(range(2000, 2006), quarters)))
    p = build(df.sample(frac=1.0, random_state=2))
    assert list(p.times) == list(quarters)
    text = build(df.assign(yr=df.yr.astype(str)))  # '2000Q3', ...: parsed as Periods
    assert list(text.times) == list(quarters) and text.time_note == "periods (Q-DEC)"
    cats = long_frame().astype({"yr": str}).astype({"yr": "category"})
    assert list(build(cats).times) == list(range(2000, 2006))
    with pytest.raises(ValueError, match="time column 'flag' is boolean"):
        Panel.from_long(
            long_frame().assign(flag=lambda x: x.yr > 2002),
            unit="y",
            time="flag",
            outcome="y",
            treatment="d",
        )


def test_wide_text_columns():
    p = build(long_frame())
    wide = pd.DataFrame(p.Y, index=p.units, columns=[str(t) for t in p.times])
    shuffled = wide[list(reversed(wide.columns))]
    q = Panel.from_wide(
        shuffled, pd.DataFrame(p.W.astype(int), index=p.units, columns=wide.columns)
    )
    assert list(q.times) == list(range(2000, 2006))
    np.testing.assert_array_equal(q.Y, p.Y)
    labels = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]  # no order of their own
    r = Panel.from_arrays(p.Y, p.W, times=labels)
    assert list(r.times) == labels and r.time_note == "column order"


def test_text_outcome_is_not_numeric():
    df = long_frame().astype({"y": object})
    df.loc[7, "y"] = "12,5"
    with pytest.raises(
        ValueError,
        match=r"outcome column 'y' is not numeric: 1 rows hold text such as "
        r"\['12,5'\] at \(id, yr\) = \('u1', 2001\).*decimal=','",
    ):
        build(df)
    with pytest.raises(ValueError, match=r"outcome is not numeric.*\['x'\]"):
        Panel.from_arrays([[1.0, "x"], [2.0, 3.0]], [[0, 1], [0, 0]])


def test_the_same_period_written_two_ways_is_a_duplicate():
    df = long_frame().astype({"yr": object})
    extra = df.iloc[[2]].assign(yr="2002")  # u0 in 2002 again, as text
    with pytest.raises(ValueError, match=r"duplicate \(unit, time\) rows: 2 rows"):
        build(pd.concat([df, extra], ignore_index=True))


def test_labels_equal_after_parsing_are_duplicates_in_arrays():
    with pytest.raises(ValueError, match="duplicate time labels: 2000"):
        Panel.from_arrays(
            np.zeros((2, 4)),
            [[0, 0, 0, 1], [0, 0, 0, 0]],
            times=["2000", "2000.0", "2001", "2002"],
        )


def test_mixed_utc_offsets_are_instants_and_mixed_formats_are_refused():
    stamps = ["2020-01-01T10:00:00+00:00", "2020-01-01T09:00:00-05:00"]
    stamps.append("2020-01-01T12:00:00+00:00")
    df = pd.DataFrame(
        {"u": ["a"] * 3 + ["b"] * 3, "t": stamps * 2, "y": [1.0, 2, 3] * 2}
    ).assign(d=[0, 0, 1, 0, 0, 0])
    p = Panel.from_long(df, "u", "t", "y", "d")
    # 09:00-05:00 is 14:00 UTC: the last period, not the first
    assert list(p.times.hour) == [10, 12, 14] and str(p.times.tz) == "UTC"
    df["t"] = ["2020-02-01", "03/01/2020", "2020-04-01"] * 2
    with pytest.raises(ValueError, match="neither numbers nor dates in one format"):
        Panel.from_long(df, "u", "t", "y", "d")
