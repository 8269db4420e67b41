"""DID (imputation form): R's Prop 99 number, a NumPy reference, batching, no retracing."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.estimators import did
from jaxpanel.kernels import CONVERGED

from ..reference import did_att

RTOL = 1e-8


def random_panel(rng, n=14, t=9, design="block", p_missing=0.1):
    y = rng.normal(size=(n, t)) + rng.normal(size=(n, 1)) * 3 + np.linspace(0, 2, t)
    d = np.zeros((n, t))
    n_tr = 4
    if design == "block":
        d[:n_tr, 5:] = 1
    elif design == "staggered":
        for i, start in enumerate([3, 4, 6, 8]):
            d[i, start:] = 1
    elif design == "onoff":
        d[0, 3:6] = 1
        d[1, 5:] = 1
        d[2, 2:4] = 1
        d[2, 6:8] = 1
        d[3, 7:] = 1
    mask = (rng.random((n, t)) > p_missing).astype(float)
    mask[:, 0] = 1  # keep a pre-period for every unit
    y = y + 2.5 * d  # a true effect of 2.5
    return y, d, mask


def test_prop99_matches_r(prop99_panel):
    est = jaxpanel.did(prop99_panel)
    assert est.status == "converged" and est.converged
    assert round(est.att, 4) == -27.3491


def test_prop99_full_precision(prop99_panel, r_reference):
    est = jaxpanel.did(prop99_panel)
    np.testing.assert_allclose(est.att, r_reference["prop99"]["did"]["att"], rtol=1e-10)


@pytest.mark.parametrize("design", ["block", "staggered", "onoff"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numpy_reference_on_unbalanced_panels(design, seed):
    rng = np.random.default_rng(seed)
    y, d, mask = random_panel(rng, design=design)
    fit = did.fit(jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask))
    assert int(fit.status) == CONVERGED
    np.testing.assert_allclose(float(fit.att), did_att(y, d, mask), rtol=RTOL)
    # Cell effects live on treated observed cells only.
    treated = (d * mask) > 0
    assert np.all(np.asarray(fit.tau)[~treated] == 0)


def test_user_level_equals_array_level_on_staggered_panel(rng):
    y, d, mask = random_panel(rng, design="staggered")
    panel = Panel.from_arrays(y, d, mask.astype(bool))
    est = jaxpanel.did(panel)
    assert panel.design == "staggered"
    np.testing.assert_allclose(est.att, did_att(y, d, mask), rtol=RTOL)


def test_loop_vmap_jit_agree(rng):
    y, _, mask = random_panel(rng)
    masks = []
    for k in range(6):
        d = np.zeros_like(y)
        d[k : k + 2, 4 + k % 3 :] = 1
        masks.append(d)
    ds = jnp.asarray(np.stack(masks))
    Y, M = jnp.asarray(y), jnp.asarray(mask)
    looped = np.array([float(did.att(Y, ds[k], M)) for k in range(6)])
    vmapped = np.asarray(jax.vmap(did.att, in_axes=(None, 0, None))(Y, ds, M))
    jitted = np.asarray(jax.jit(jax.vmap(did.att, in_axes=(None, 0, None)))(Y, ds, M))
    eager = np.array([float(did.fit.__wrapped__(Y, ds[k], M).att) for k in range(6)])
    np.testing.assert_allclose(vmapped, looped, rtol=1e-12)
    np.testing.assert_allclose(jitted, looped, rtol=1e-12)
    np.testing.assert_allclose(eager, looped, rtol=1e-12)
    ref = np.array([did_att(y, masks[k], mask) for k in range(6)])
    np.testing.assert_allclose(looped, ref, rtol=RTOL)


def test_no_retrace_across_masks(rng):
    y, _, mask = random_panel(rng)
    traced = jax.jit(chex.assert_max_traces(did.fit.__wrapped__, n=1))
    before = did.fit._cache_size()
    for k in range(5):
        d = np.zeros_like(y)
        d[k, 3 + k :] = 1
        traced(jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask))
        did.fit(jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask))
    assert did.fit._cache_size() - before <= 1


def test_invariances(rng):
    y, d, mask = random_panel(rng, design="staggered")
    Y, D, M = map(jnp.asarray, (y, d, mask))
    base = float(did.att(Y, D, M))
    shifted = (
        y + rng.normal(size=(y.shape[0], 1)) * 7 + rng.normal(size=(1, y.shape[1])) * 5
    )
    np.testing.assert_allclose(
        float(did.att(jnp.asarray(shifted), D, M)), base, rtol=1e-9
    )
    np.testing.assert_allclose(float(did.att(3.5 * Y, D, M)), 3.5 * base, rtol=1e-10)
    perm = rng.permutation(y.shape[0])
    np.testing.assert_allclose(
        float(did.att(Y[perm], D[perm], M[perm])), base, rtol=1e-10
    )


def test_recovers_a_constant_effect_without_noise(rng):
    n, t = 10, 8
    y0 = rng.normal(size=(n, 1)) + rng.normal(size=(1, t))
    d = np.zeros((n, t))
    d[:3, 5:] = 1
    fit = did.fit(jnp.asarray(y0 + 4.0 * d), jnp.asarray(d))
    np.testing.assert_allclose(float(fit.att), 4.0, rtol=1e-12)


def test_unidentified_is_reported_not_nan():
    # The treated unit is observed only in treated periods: no pre-period to anchor it.
    y = np.arange(12.0).reshape(3, 4)
    d = np.zeros((3, 4))
    d[0, 2:] = 1
    mask = np.ones((3, 4))
    mask[0, :2] = 0
    fit = did.fit(jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask))
    assert jaxpanel.kernels.status_name(int(fit.status)) == "unidentified"


def test_frequencies_equal_duplicated_units(rng):
    y, d, mask = random_panel(rng, design="staggered")
    freq = rng.integers(0, 3, size=y.shape[0]).astype(float)
    freq[0] = freq[-1] = 1  # keep a treated and a control unit
    rows = np.repeat(np.arange(y.shape[0]), freq.astype(int))
    a = did.att(jnp.asarray(y), jnp.asarray(d), jnp.asarray(mask), jnp.asarray(freq))
    np.testing.assert_allclose(
        float(a), did_att(y[rows], d[rows], mask[rows]), rtol=RTOL
    )
