"""One loop driver for every iterative solver: max_steps, tolerance, status, NaN check.

Solvers supply ``step(state) -> state`` and ``done(old, new) -> bool``; the driver owns the
iteration count and the status code. Under ``jax.vmap`` a ``lax.while_loop`` runs until the
slowest lane stops, and JAX's batching rule freezes lanes whose predicate is already false,
so each lane keeps the iterate (and the step count) at which it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._status import CONVERGED, MAX_STEPS, NONFINITE


def all_finite(tree: Any) -> jax.Array:
    """True where every leaf of ``tree`` is finite (a scalar boolean)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


class LoopResult(NamedTuple):
    state: Any
    steps: jax.Array  # int32 scalar: iterations taken
    status: jax.Array  # int32 scalar: CONVERGED, MAX_STEPS or NONFINITE


def run(
    step: Callable[[Any], Any],
    done: Callable[[Any, Any], jax.Array],
    init: Any,
    max_steps: int,
    min_steps: int = 0,
    check_every_step: bool = True,
    skip: jax.Array | bool = False,
) -> LoopResult:
    """Iterate ``state = step(state)`` until ``done(old, new)`` or ``max_steps``.

    Parameters
    ----------
    step : state -> state, pure.
    done : (previous state, new state) -> boolean scalar; checked after every step.
    init : initial state (a pytree).
    max_steps : Python int, the iteration cap.
    min_steps : Python int; ``done`` is ignored for the first ``min_steps`` steps.
    check_every_step : static. False checks finiteness once, on the final state: for
        solvers whose non-finite values propagate (and whose ``done`` is then never true)
        that loses nothing but saves a reduction per step in the hot loop.
    skip : boolean scalar (traced allowed): ``init`` is already the answer (a closed
        form); no step is taken, and the result is ``init`` with 0 steps and status
        CONVERGED. Under ``jax.vmap`` a batch whose lanes all skip runs no step at all.

    Returns
    -------
    LoopResult with the final state, the number of steps and a status code. A non-finite
    iterate stops the loop at once with status NONFINITE.
    """

    def cond(carry):
        _, k, stop, _ = carry
        return jnp.logical_and(k < max_steps, jnp.logical_not(stop))

    def body(carry):
        state, k, _, _ = carry
        new = step(state)
        k = k + 1
        finite = all_finite(new) if check_every_step else jnp.asarray(True)
        stop = jnp.logical_or(
            jnp.logical_and(done(state, new), k >= min_steps), ~finite
        )
        return new, k, stop, finite

    carry = (init, jnp.asarray(0, jnp.int32), jnp.asarray(skip), jnp.asarray(True))
    state, k, stop, finite = jax.lax.while_loop(cond, body, carry)
    if not check_every_step:
        finite = all_finite(state)
    status = jnp.where(
        ~finite,
        NONFINITE,
        jnp.where(stop, CONVERGED, MAX_STEPS),
    ).astype(jnp.int32)
    return LoopResult(state, k, status)
