"""float32: the estimators run in single precision with documented tolerances.

Tests enable x64, so float32 is exercised by passing float32 arrays: every constant is created
in the input dtype, so the computation stays in float32 (checked via the output dtype).

Tolerances (relative to the float64 result), by dtype and quantity:
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpanel.estimators import did, sc, sdid

TOLERANCES = {
    # dtype: {quantity: tolerance vs float64}
    # did_*: relative. sdid/sc_exact_att: relative; *_weights: absolute.
    # Frank-Wolfe's stopping rule (decrease <= (1e-5 sigma)^2) is below float32's
    # resolution of the objective, so float32 SDID stops at a slightly different iterate;
    # the exact (active-set) solver is the one to use in float32.
    jnp.float32: {
        "did_att": 1e-5,
        "did_y0": 1e-5,
        "sdid_att": 2e-4,  # measured 6.7e-5 on Prop 99
        "sdid_exact_att": 1e-5,
        "sc_exact_att": 3e-4,
        "exact_weights": 2e-3,
    },
    jnp.float64: {
        "did_att": 1e-12,
        "did_y0": 1e-12,
        "sdid_att": 1e-12,
        "sdid_exact_att": 1e-12,
        "sc_exact_att": 1e-12,
        "exact_weights": 1e-12,
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
    fw64, fw = sdid.fit(Y64, W64, M64), sdid.fit(Y, W, M)
    assert fw.att.dtype == dtype and fw.unit_weights.dtype == dtype
    np.testing.assert_allclose(float(fw.att), float(fw64.att), rtol=tol["sdid_att"])
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
