"""The one status vocabulary of every kernel, estimator and tuner.

Failure is data: every fit carries an int32 code per lane, and the user-level API turns
it into an exception or a warning with the message below. When several codes describe
one result (the stages of a fit, the cells of a batch), :func:`combine` keeps the most
severe by one documented priority:

    NONFINITE > UNIDENTIFIED > MAX_STEPS > CONVERGED

(non-finite numbers mean nothing; an unidentified counterfactual is a property of the
design; a solver stopped at its cap still gave a usable number).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CONVERGED = 0
MAX_STEPS = 1
NONFINITE = 2
UNIDENTIFIED = 3

NAMES = {
    CONVERGED: "converged",
    MAX_STEPS: "max_steps",
    NONFINITE: "nonfinite",
    UNIDENTIFIED: "unidentified",
}

MESSAGES = {
    CONVERGED: "",
    MAX_STEPS: "a solver stopped at its iteration cap; raise max_iter or max_steps, or "
    "loosen the tolerance",
    NONFINITE: "the fit produced non-finite values",
    UNIDENTIFIED: "the counterfactual is not identified for some treated cells (a "
    "treated unit or period has no weighted untreated cell, or the untreated cells "
    "split into disconnected groups)",
}

# severity of each code (index = code) and back: the permutation is its own inverse
_SEVERITY = (0, 1, 3, 2)


def status_name(code: int) -> str:
    """Name of a status code ('converged', 'max_steps', 'nonfinite', 'unidentified').

    Parameters
    ----------
    code : a status code (Python or NumPy integer, or a 0-d array).

    Returns
    -------
    The name; ``'unknown(<code>)'`` for a code outside the vocabulary.
    """
    return NAMES.get(int(code), f"unknown({int(code)})")


def combine(*codes: jax.Array | int) -> jax.Array:
    """The most severe of several status codes, elementwise (int32).

    Parameters
    ----------
    *codes : status codes, scalars or arrays of one broadcastable shape.

    Returns
    -------
    int32 array: NONFINITE if any is, else UNIDENTIFIED if any is, else MAX_STEPS if
    any is, else CONVERGED.
    """
    severity = jnp.asarray(_SEVERITY, jnp.int32)
    worst = severity[jnp.asarray(codes[0], jnp.int32)]
    for code in codes[1:]:
        worst = jnp.maximum(worst, severity[jnp.asarray(code, jnp.int32)])
    return severity[worst]


def combine_all(
    codes: jax.Array, where: jax.Array | None = None, axis: int | None = None
) -> jax.Array:
    """:func:`combine` over an axis of an array of codes (int32).

    Parameters
    ----------
    codes : array of status codes.
    where : optional boolean mask of the entries that count (padding does not).
    axis : the axis to reduce; None reduces all.

    Returns
    -------
    int32 array of the most severe code per reduced slice (CONVERGED where none counts).
    """
    severity = jnp.asarray(_SEVERITY, jnp.int32)
    ranks = severity[jnp.asarray(codes, jnp.int32)]
    if where is not None:
        ranks = jnp.where(where, ranks, 0)
    return severity[jnp.max(ranks, axis=axis)]


def failed(code: jax.Array) -> jax.Array:
    """True where a code means the number is not usable (non-finite or unidentified).

    Parameters
    ----------
    code : int32 status codes (any shape).

    Returns
    -------
    Boolean array of the same shape.
    """
    return (code == NONFINITE) | (code == UNIDENTIFIED)
