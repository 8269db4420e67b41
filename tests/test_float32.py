"""float32: the estimators run in single precision with documented tolerances.

Tests enable x64, so float32 is exercised by passing float32 arrays: every constant is created
in the input dtype, so the computation stays in float32 (checked via the output dtype).

Tolerances (relative to the float64 result), by dtype and quantity:
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpanel.estimators import did, mc, sc, sdid, trop

TOLERANCES = {
    # dtype: {quantity: tolerance vs float64}
    # did_*: relative. sdid/sc_exact_att: relative; *_weights: absolute.
    # Frank-Wolfe's stopping rule (decrease <= (1e-5 sigma)^2) is below float32's
    # resolution of the objective, so float32 SDID stops at a slightly different iterate;
    # the exact (active-set) solver is the one to use in float32. mc/trop: relative.
    jnp.float32: {
        "did_att": 1e-5,
        "did_y0": 1e-5,
        "sdid_att": 2e-4,  # measured 6.7e-5 on Prop 99
        "sdid_exact_att": 1e-5,
        "sc_exact_att": 3e-4,
        "exact_weights": 2e-3,
        # MCPanel's iteration (R's path and stopping rule) in float32 picks the same
        # penalty on Prop 99; its early stops amplify rounding along the warm-started
        # path: 1.6e-7 relative with 20 penalties, 2.5e-4 with 100 (observed).
        "mc_att": 1e-3,
        # The FISTA kernel stops at 100 float32 epsilons of relative change of L (and
        # uses the SVD, not the Gram eigendecomposition, in float32); cell effects are
        # differences of ~100-sized numbers: 1e-7 to 2.3e-4 relative on Prop 99
        # across (lambda_unit, lambda_time, lambda_nn) triples (observed).
        "trop_att": 1e-3,
    },
    jnp.float64: {
        "did_att": 1e-12,
        "did_y0": 1e-12,
        "sdid_att": 1e-12,
        "sdid_exact_att": 1e-12,
        "sc_exact_att": 1e-12,
        "exact_weights": 1e-12,
        "mc_att": 1e-9,  # against R's number
        "trop_att": 1e-12,
    },
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_did_prop99(prop99_panel, dtype):
    Y64, W64, M64 = prop99_panel.arrays(jnp.float64)
    ref = did.fit(Y64, W64, M64)
    Y, W, M = prop99_panel.arrays(dtype)
    fit = did.fit(Y, W, M)
    assert fit.att.dtype == dtype and fit.y0.dtype == dtype
    tol = TOLERANCES[dtype]
    np.testing.assert_allclose(float(fit.att), float(ref.att), rtol=tol["did_att"])
    np.testing.assert_allclose(
        np.asarray(fit.y0), np.asarray(ref.y0), rtol=tol["did_y0"]
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_sc_family_prop99(prop99_panel, dtype):
    Y64, W64, M64 = prop99_panel.arrays(jnp.float64)
    Y, W, M = prop99_panel.arrays(dtype)
    tol = TOLERANCES[dtype]
    for name, mod in (("sdid", sdid), ("sc", sc)):
        ex64 = mod.fit(Y64, W64, M64, solver="exact")
        ex = mod.fit(Y, W, M, solver="exact")
        np.testing.assert_allclose(
            float(ex.att), float(ex64.att), rtol=tol[f"{name}_exact_att"]
        )
        np.testing.assert_allclose(
            np.asarray(ex.unit_weights),
            np.asarray(ex64.unit_weights),
            atol=tol["exact_weights"],
        )


@pytest.mark.slow  # CI budget: float32 Frank-Wolfe runs to R's 10,000-step cap (~20 s)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_sdid_frank_wolfe_prop99(prop99_panel, dtype):
    Y64, W64, M64 = prop99_panel.arrays(jnp.float64)
    Y, W, M = prop99_panel.arrays(dtype)
    fw64, fw = sdid.fit(Y64, W64, M64), sdid.fit(Y, W, M)
    assert fw.att.dtype == dtype and fw.unit_weights.dtype == dtype
    np.testing.assert_allclose(
        float(fw.att), float(fw64.att), rtol=TOLERANCES[dtype]["sdid_att"]
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_mc_prop99(prop99_panel, r_reference, dtype):
    folds = jnp.asarray(mc.panel_fold_draws(prop99_panel), dtype)
    out, res = mc.fit_cv(
        *prop99_panel.arrays(dtype), folds, mc.MCOptions(num_lambda=20)
    )
    assert out.att.dtype == dtype and int(res.best_index) == 9
    ref = r_reference["prop99"]["mc"]["att_num_lam_L_20"]
    np.testing.assert_allclose(float(out.att), ref, rtol=TOLERANCES[dtype]["mc_att"])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_trop_prop99(prop99_panel, dtype):
    lams = (0.03, 0.2, 3.0)
    ref = trop.fit(*prop99_panel.arrays(jnp.float64), *lams)
    out = trop.fit(*prop99_panel.arrays(dtype), *lams)
    assert out.att.dtype == dtype and int(out.status) == 0
    np.testing.assert_allclose(
        float(out.att), float(ref.att), rtol=TOLERANCES[dtype]["trop_att"]
    )
