"""Semi-synthetic designs: the SDID paper's CPS calibration numbers and the draw rules."""

from __future__ import annotations

import jax
import numpy as np
import pytest

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
