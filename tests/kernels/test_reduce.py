"""kernels._reduce.first_argmin against NumPy's argmin (first minimum), ties included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpanel.kernels._reduce import first_argmin


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 31, 38, 64, 99, 1000])
def test_first_argmin_is_numpys_argmin_with_ties(rng, n):
    # few distinct values, so most arrays hold ties of the minimum; lanes under vmap
    x = rng.integers(0, 4, size=(50, n)).astype(float)
    x[:, -1] = np.where(rng.random(50) < 0.3, -1.0, x[:, -1])  # minimum at the end
    got = np.asarray(jax.jit(jax.vmap(first_argmin))(jnp.asarray(x)))
    np.testing.assert_array_equal(got, np.argmin(x, axis=1))
    y = rng.normal(size=n)
    assert int(first_argmin(jnp.asarray(y))) == int(np.argmin(y))


def test_first_argmin_infinities_and_nan_stay_in_range():
    x = jnp.asarray([np.inf, 3.0, -np.inf, -np.inf, 1.0])
    assert int(first_argmin(x)) == 2
    i = int(first_argmin(jnp.asarray([1.0, np.nan, 0.5])))
    assert 0 <= i < 3
