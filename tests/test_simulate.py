"""Semi-synthetic designs: the SDID paper's CPS calibration numbers and the draw rules."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import simulate

from .conftest import shared_path


@pytest.fixture(scope="module")
def cps():
    return simulate.cps_design(
        "log_wage", "min_wage", path=shared_path("data", "CPS.csv")
    )


def test_cps_calibration_matches_the_sdid_paper(cps):
    # METHODS.md Sec. 6: F scale 0.992, M scale 0.100, noise 0.098, AR(2) 0.01, -0.06.
    s = cps.scales()
    assert (round(s["F"], 3), round(s["M"], 3), round(s["noise"], 3)) == (
        0.992,
        0.100,
        0.098,
    )
    assert cps.ar == (0.01, -0.06)
    assert cps.shape == (50, 40)
    # logistic fit with an intercept: probabilities sum to the number of treated states
    np.testing.assert_allclose(cps.pi.sum(), 8.0, rtol=1e-8)


def test_ar2_autocorrelation_matches_simulation():
    rho = simulate.ar2_autocorrelation(0.5, -0.3, 5)
    rng = np.random.default_rng(0)
    x = np.zeros(400_000)
    e = rng.normal(size=x.size)
    for t in range(2, x.size):
        x[t] = 0.5 * x[t - 1] - 0.3 * x[t - 2] + e[t]
    emp = [np.corrcoef(x[k:], x[: x.size - k])[0, 1] if k else 1.0 for k in range(5)]
    np.testing.assert_allclose(rho, emp, atol=0.01)


def small_design(n=30, t=20):
    rng = np.random.default_rng(1)
    Y = (
        rng.normal(size=(n, 1))
        + rng.normal(size=(1, t))
        + 0.3 * rng.normal(size=(n, t))
    )
    D = (rng.random(n) < 0.5).astype(float)
    return simulate.calibrate(Y, D, n_treated_max=4, n_post=5)


def test_draw_rules():
    d = small_design()
    keys = jax.random.split(jax.random.PRNGKey(0), 500)
    Y, W = jax.vmap(lambda k: simulate.draw(d, k, effect=0.7))(keys)
    Y, W = np.asarray(Y), np.asarray(W)
    n_tr = W.max(axis=2).sum(axis=1)
    assert n_tr.min() >= 1 and n_tr.max() == 4  # at most n_treated_max, never none
    assert np.all(W[:, :, :15] == 0) and np.all(W[:, :, 15:] == W[:, :, 15:16])
    np.testing.assert_allclose((Y - d.F - d.M)[W > 0].mean(), 0.7, atol=0.03)
    again = np.asarray(simulate.draw(d, keys[3], effect=0.7)[0])
    np.testing.assert_array_equal(again, Y[3])
    noise = (Y - d.F - d.M - 0.7 * W).reshape(-1, d.shape[1])
    np.testing.assert_allclose(
        np.cov(noise.T), d.sigma, atol=0.15 * np.abs(d.sigma).max()
    )


def test_heteroskedastic_scales():
    d = small_design()
    h = simulate.with_heteroskedasticity(
        d, unit=np.linspace(1, 3, 30), time=np.ones(20) * 5
    )
    assert np.isclose(np.mean(h.unit_scale**2), 1) and np.allclose(h.time_scale, 1)
    keys = jax.random.split(jax.random.PRNGKey(1), 400)
    Y = np.asarray(jax.vmap(lambda k: simulate.draw(h, k)[0])(keys)) - h.F - h.M
    sd = Y.std(axis=(0, 2))
    np.testing.assert_allclose(
        sd / sd.mean(), h.unit_scale / h.unit_scale.mean(), rtol=0.08
    )


def test_cps_design_without_a_path_says_where_to_get_the_file(tmp_path):
    with pytest.raises(ValueError, match="cps_design needs path= to R synthdid's CPS"):
        simulate.cps_design()
    with pytest.raises(ValueError, match="no such file"):
        simulate.cps_design(path=tmp_path / "CPS.csv")
    with pytest.raises(ValueError, match="outcome='wage' is not supported"):
        simulate.cps_design("wage", path=tmp_path / "CPS.csv")


# --- the TROP paper's designs (Athey, Imbens, Qu and Viviano 2025, Sec. 3.1, Table 2)


def _stats(design):
    s = design.statistics()
    return tuple(round(s[k], 3) for k in ("F", "M", "noise", "ar1", "ar2"))


def test_cps_log_wage_unrounded_matches_trop_table_2():
    d = simulate.cps("log_wage", "min_wage", path=shared_path("data", "CPS.csv"))
    # Table 2 prints F 0.992, M 0.10, noise 0.098, AR(2) (0.010, -0.057): the authors'
    # copy of CPS.csv (12 log_wage cells differ from R synthdid's by up to 0.0036) gives
    # ar1 0.00966; R synthdid's file, read here, gives 0.00948.
    F, M, noise, _ar1, ar2 = _stats(d)
    assert (F, M, noise, ar2) == (0.992, 0.100, 0.098, -0.057)
    assert abs(d.ar[0] - 0.00966) < 3e-4
    assert d.statistics()["N"] == 50 and d.statistics()["T"] == 40


def test_cps_urate_from_r_synthdid_is_not_the_trop_authors_data():
    # Table 2 prints urate F 0.770, M 0.40, noise 0.604, AR(2) (0.039, 0.011): the
    # authors' copy of CPS.csv (urate rounded to 3 decimals, other values for 1989-1993)
    # gives exactly that (bench/results/trop_tables.md); R synthdid's file gives another
    # design, which is why jaxpanel's urate RMSEs agree with R synthdid's (SDID paper
    # Table 2) and not with the TROP authors' (studies/cps_urate_authors_data.toml)
    d = simulate.cps("urate", "min_wage", path=shared_path("data", "CPS.csv"))
    np.testing.assert_allclose(
        _stats(d), (0.752, 0.441, 0.593, -0.016, -0.009), atol=1e-12
    )
    # rounding urate to 3 decimals alone does not make it the authors' design
    df = pd.read_csv(shared_path("data", "CPS.csv"), sep=";")
    Y = df.pivot(index="state", columns="year", values="urate").to_numpy().round(3)
    D = df.groupby("state")["min_wage"].any().to_numpy(float)
    F, _, _, ar1, _ = _stats(simulate.calibrate(Y, D, round_ar=False))
    assert abs(F - 0.770) > 0.01 and abs(ar1 - 0.039) > 0.02


def test_pwt_and_prop99_match_trop_table_2():
    pwt = simulate.pwt("log_gdp", "dem", path=shared_path("data", "PENN.csv"))
    assert _stats(pwt) == (0.972, 0.229, 0.069, 0.913, -0.221)
    np.testing.assert_allclose(pwt.pi.sum(), 29.0, rtol=1e-8)  # 29 democratisations
    smoking = simulate.prop99()
    assert _stats(smoking) == (0.935, 0.337, 0.166, 0.506, -0.058)


def test_germany_and_basque_match_trop_table_2():
    # Table 2 prints Germany F 0.994, M 0.108, noise 0.032, AR(2) (0.840, -0.200) (log
    # GDP, as the authors' load_Germany_data) and Basque 0.986 / 0.167 / 0.037 /
    # (1.228, -0.577) (Spain's aggregate kept as the 18th unit, as R Synth's data)
    g = simulate.germany(
        "random", path=shared_path("data", "germany.csv"), n_treated=10
    )
    F, M, noise, ar1, ar2 = _stats(g)
    assert (F, M, noise, ar2) == (0.994, 0.108, 0.032, -0.200)
    assert abs(ar1 - 0.8390) < 5e-4  # 0.8390 here, 0.840 printed (the only digit off)
    assert g.shape == (17, 44) and g.assignment == "uniform" and g.n_treated_max == 10
    b = simulate.basque("treated_unit", path=shared_path("data", "basque.csv"))
    assert _stats(b) == (0.986, 0.167, 0.037, 1.228, -0.577)
    assert b.shape == (18, 43) and b.assignment == "fixed"
    assert np.flatnonzero(b.treated).tolist() == [16]  # regionno 17, the Basque Country
    s = simulate.basque("simulated", path=shared_path("data", "basque.csv"))
    assert s.pi[16] == 0 and np.isclose(s.pi.sum(), 1.0)


def test_germany_without_a_path_says_where_to_get_the_file(tmp_path):
    with pytest.raises(ValueError, match="pysyncon"):
        simulate.germany()
    bad = tmp_path / "germany.csv"
    bad.write_text("code,year,gdp\n1,1960,1\n")
    with pytest.raises(ValueError, match="no column 'country'"):
        simulate.germany(path=bad)
    df = pd.read_csv(shared_path("data", "germany.csv"))
    cases = {
        "repeated \\(code, year\\) rows": pd.concat([df, df.iloc[:1]]),
        "must be positive": df.assign(gdp=df["gdp"].where(df.index != 5, 0.0)),
        "17 units named 'West Germany'": df.assign(country="West Germany"),
        "cells are not numbers": df.assign(gdp=df["gdp"].astype(object).where(
            df.index != 5, "abc")),
    }  # fmt: skip
    for match, frame in cases.items():
        frame.to_csv(bad, index=False)
        with pytest.raises(ValueError, match=match):
            simulate.germany("random", path=bad)


def test_sc_probabilities_are_penalised_sc_weights():
    d = simulate.prop99("simulated")
    ca = 2  # California's row (states sorted)
    assert d.pi[ca] == 0 and np.isclose(d.pi.sum(), 1.0) and (d.pi >= 0).all()
    # the weights minimise ||y - X w||^2 + 0.1 ||w||^2 on the simplex: check the KKT
    # conditions with NumPy on the standardised panel (all periods but the last)
    df = jaxpanel.datasets.prop99()
    Y = df.pivot(index="State", columns="Year", values="PacksPerCapita").to_numpy(float)
    Y = (Y - Y.mean()) / Y.std()
    others = np.delete(np.arange(Y.shape[0]), ca)
    X, y = Y[others, :-1].T, Y[ca, :-1]
    w = d.pi[others]
    grad = 2 * X.T @ (X @ w - y) + 2 * 0.1 * w
    active = w > 1e-9
    nu = grad[active].mean()
    np.testing.assert_allclose(grad[active], nu, atol=1e-7)
    assert (grad[~active] >= nu - 1e-7).all()


def test_assignments_uniform_fixed_and_switches():
    keys = jax.random.split(jax.random.PRNGKey(3), 200)
    uni = simulate.prop99("random", n_treated=3, n_post=5)
    W = np.asarray(jax.vmap(lambda k: simulate.draw(uni, k)[1])(keys))
    n_tr = W.any(axis=2).sum(axis=1)
    assert (n_tr == 3).all() and (W.sum(axis=(1, 2)) == 15).all()
    # every unit is drawn with probability 3/39
    share = W.any(axis=2).mean(axis=0)
    assert abs(share.mean() - 3 / 39) < 1e-12 and share.min() > 0
    fixed = simulate.prop99("treated_unit")
    W = np.asarray(jax.vmap(lambda k: simulate.draw(fixed, k)[1])(keys[:5]))
    assert (np.flatnonzero(W[0].any(axis=1)) == [2]).all() and (W == W[0]).all()
    only_noise = simulate.switch(fixed, M=False, F=False)
    assert not only_noise.F.any() and not only_noise.M.any()
    no_ac = simulate.switch(fixed, autocorrelation=False)
    np.testing.assert_array_equal(no_ac.sigma, np.diag(np.diag(fixed.sigma)))
    assert no_ac.ar == (0.0, 0.0)
    Y = np.asarray(simulate.draw(simulate.switch(fixed, noise=False), keys[0])[0])
    np.testing.assert_allclose(Y, fixed.F + fixed.M, atol=1e-12)


def test_cell_effects_add_on_treated_cells_only():
    d = simulate.prop99("random", n_treated=2, n_post=4)
    effect = np.arange(d.F.size, dtype=float).reshape(d.F.shape)
    key = jax.random.PRNGKey(0)
    Y1, W = simulate.draw(d, key, effect)
    Y0, _ = simulate.draw(d, key)
    np.testing.assert_allclose(np.asarray(Y1 - Y0), effect * np.asarray(W), atol=1e-9)
