"""float32: the estimators run in single precision with documented tolerances.

Tests enable x64, so float32 is exercised by passing float32 arrays: every constant is created
in the input dtype, so the computation stays in float32 (checked via the output dtype).

Tolerances (relative to the float64 result), by dtype and quantity:
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpanel.estimators import did

TOLERANCES = {
    # dtype: {quantity: relative tolerance vs float64}
    jnp.float32: {"did_att": 1e-5, "did_y0": 1e-5},
    jnp.float64: {"did_att": 1e-12, "did_y0": 1e-12},
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
