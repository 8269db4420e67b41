"""The one status vocabulary: names, messages and the priority rule (kernels._status)."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

from jaxpanel.kernels import (
    CONVERGED,
    MAX_STEPS,
    MESSAGES,
    NONFINITE,
    UNIDENTIFIED,
    combine,
    combine_all,
    failed,
    status_name,
)

PRIORITY = [NONFINITE, UNIDENTIFIED, MAX_STEPS, CONVERGED]  # most severe first


def test_combine_keeps_the_most_severe_of_any_codes():
    for a, b, c in itertools.product(PRIORITY, repeat=3):
        expected = min((a, b, c), key=PRIORITY.index)
        assert int(combine(a, b, c)) == expected, (a, b, c)
    # elementwise, and a cap (MAX_STEPS) never hides a failure
    got = combine(jnp.array([MAX_STEPS, CONVERGED]), jnp.array([NONFINITE, MAX_STEPS]))
    np.testing.assert_array_equal(got, [NONFINITE, MAX_STEPS])


def test_combine_all_reduces_over_an_axis_and_ignores_padding():
    codes = jnp.array([[CONVERGED, MAX_STEPS], [UNIDENTIFIED, NONFINITE]])
    np.testing.assert_array_equal(combine_all(codes, axis=1), [MAX_STEPS, NONFINITE])
    where = jnp.array([[True, True], [True, False]])
    np.testing.assert_array_equal(
        combine_all(codes, where, axis=1), [MAX_STEPS, UNIDENTIFIED]
    )
    assert int(combine_all(codes)) == NONFINITE


def test_names_messages_and_failures():
    assert [status_name(c) for c in PRIORITY] == [
        "nonfinite",
        "unidentified",
        "max_steps",
        "converged",
    ]
    assert status_name(9) == "unknown(9)"
    assert all(MESSAGES[c] for c in (MAX_STEPS, NONFINITE, UNIDENTIFIED))
    np.testing.assert_array_equal(
        failed(jnp.array(PRIORITY)), [True, True, False, False]
    )
