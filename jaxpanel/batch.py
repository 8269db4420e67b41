"""Batches of independent fits: keys, one memory model, chunking and sharding.

Every batched computation of jaxpanel goes through here: tuning criteria (every (cell or
placebo set, grid point) fit) and variance methods (every replicate).

- Keys: ``key(seed)`` turns an int seed into a PRNG key (a key passes through), in this
  one place; replicate b gets ``fold_in(key(seed), b)``, so a draw does not depend on how
  many replicates were asked for, on the chunk size or on the number of devices.
- Memory model: :func:`lane_bytes` estimates the working memory of one fit (one lane)
  from the panel's shape; a chunk holds as many lanes as a budget allows.
- Inside a jitted function, :func:`lane_map` runs lanes ``chunk`` at a time
  (``jax.lax.map``); the budget (:func:`default_memory_bytes`, :func:`lanes_per_chunk`) is
  small on CPU, where lanes run their solver loops in lockstep.
- From the host, :func:`run` cuts a replicate axis into equal chunks
  (:func:`chunk_size`: a quarter of device memory, at least ``MIN_LANES`` lanes per
  device), lays each chunk along a one-axis ``Mesh`` of every visible device
  (``NamedSharding(mesh, P("rep"))``; across hosts when ``jax.distributed`` is
  initialised, each host building the same inputs), and shows a tqdm bar for long runs.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def key(seed: int | jax.Array) -> jax.Array:
    """A PRNG key from an int seed (a key is returned as it is).

    Parameters
    ----------
    seed : int, NumPy integer, or a JAX PRNG key.

    Returns
    -------
    The key.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return jax.random.PRNGKey(int(seed))
    return seed


def lane_bytes(n: int, t: int, itemsize: int, args_bytes: int = 0) -> int:
    """Working memory of one fit on an (n, t) panel.

    24 (N, T) buffers (the outcome, weights, iterate, momentum point, gradient step,
    fixed effects and the batched copies inside a solver loop), Gram and Cholesky
    factors (N, N) and (T, T) four times over, plus the lane's own arguments.

    Parameters
    ----------
    n, t : the panel's shape (units, periods).
    itemsize : bytes per number (8 for float64).
    args_bytes : bytes of the lane's own arguments.

    Returns
    -------
    Bytes.
    """
    return int(itemsize * (24 * n * t + 4 * (n * n + t * t)) + args_bytes)


# Working memory one chunk of a batch of fits may use, by backend. Lanes of a chunk run
# their solver loops in lockstep (the chunk takes as many steps as its slowest lane), and
# on CPU the batched LAPACK calls gain nothing from widths beyond a few dozen matrices, so
# small chunks win there: 64 Prop 99-sized lanes took 69 s where one 7,182-lane batch
# took 175 s (LOOCV, 6 weight pairs). Accelerators want wide batches.
DEFAULT_MEMORY_BYTES = {"cpu": 16 << 20}
ACCELERATOR_MEMORY_BYTES = 1 << 30


def default_memory_bytes() -> int:
    """The working-memory budget of one chunk on the default backend.

    Returns
    -------
    Bytes: 16 MiB on CPU (lanes run their loops in lockstep), 1 GiB on accelerators.
    """
    return DEFAULT_MEMORY_BYTES.get(jax.default_backend(), ACCELERATOR_MEMORY_BYTES)


def lanes_per_chunk(
    n_lanes: int, per_lane: int, memory_bytes: int | None = None
) -> int:
    """Lanes per chunk.

    As many as fit in ``memory_bytes`` (at least 1, at most all); None takes
    :func:`default_memory_bytes`.

    Parameters
    ----------
    n_lanes : lanes in all.
    per_lane : bytes per lane (:func:`lane_bytes`).
    memory_bytes : the budget; None takes :func:`default_memory_bytes`.

    Returns
    -------
    Lanes per chunk.
    """
    budget = default_memory_bytes() if memory_bytes is None else memory_bytes
    return int(max(1, min(n_lanes, budget // max(per_lane, 1))))


def lane_map(fn: Callable, xs, chunk: int):
    """``jax.vmap(fn)(xs)`` computed ``chunk`` lanes at a time (``jax.lax.map``).

    Results do not depend on ``chunk``: lanes are independent and each runs its own loop
    to its own stopping point (a chunk's loop runs until its slowest lane stops). The
    lanes are padded (with copies of the first) to a multiple of ``chunk``, so every
    chunk has the same shape: ``lax.map``'s separate remainder batch, which XLA may run
    concurrently with the chunks, hung indefinitely on CPU for batches of these solvers
    (jax 0.10.2).

    Parameters
    ----------
    fn : one lane, ``fn(x) -> pytree``.
    xs : pytree of arrays with a leading lane axis.
    chunk : lanes per chunk (static).

    Returns
    -------
    The outputs with the leading lane axis, in order.
    """
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    if chunk >= n:
        return jax.vmap(fn)(xs)
    pad = -n % chunk
    if pad:
        xs = jax.tree_util.tree_map(
            lambda x: jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]), xs
        )
    out = jax.lax.map(fn, xs, batch_size=chunk)
    return jax.tree_util.tree_map(lambda x: x[:n], out)


_AXIS = "rep"
PROGRESS_AFTER_S = 3.0  # show a bar when the whole run is expected to take longer


def replicate_keys(seed: int | jax.Array, start: int, stop: int) -> jax.Array:
    """Keys of replicates ``start .. stop - 1`` (independent of any batch size).

    Parameters
    ----------
    seed : int or PRNG key (:func:`key`).
    start, stop : the replicates' indices.

    Returns
    -------
    (stop - start,) keys, ``fold_in(key(seed), b)``.
    """
    return _fold(key(seed), jnp.arange(start, stop, dtype=jnp.uint32))


@jax.jit
def _fold(base, idx):
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(idx)


def _memory_budget(device) -> int:
    """Bytes one chunk may use on ``device`` (a quarter of its memory)."""
    try:
        stats = device.memory_stats() or {}
    except (RuntimeError, NotImplementedError, AttributeError):  # CPU may not report
        stats = {}
    total = stats.get("bytes_limit")
    if not total:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = 8 << 30
    return int(total) // 4


def bytes_per_replicate(per_rep_args: Any, n: int, t: int, itemsize: int) -> int:
    """:func:`lane_bytes` of one replicate, its own arguments included.

    Parameters
    ----------
    per_rep_args : pytree of arrays with a leading replicate axis.
    n, t : the panel's shape. itemsize : bytes per number.

    Returns
    -------
    Bytes of working memory per replicate (an overestimate).
    """
    leaves = jax.tree_util.tree_leaves(per_rep_args)
    args = sum(int(np.prod(x.shape[1:])) * x.dtype.itemsize for x in leaves)
    return lane_bytes(n, t, itemsize, args)


# Lanes per device below which a chunk's while loops are dominated by per-iteration
# overhead rather than work (Frank-Wolfe, 1,000 SDID placebo fits on a 2-core CPU: chunks
# of 50 / 100 / 200 / 500 / 1000 lanes took 3.86 / 3.19 / 3.03 / 2.83 / 2.18 s).
MIN_LANES = {"cpu": 1024}
MIN_LANES_ACCELERATOR = 4096


def chunk_size(
    n_total: int, per_rep_bytes: int, n_devices: int, min_chunks: int = 10
) -> int:
    """Replicates per chunk.

    As large as the memory budget allows, but cut so that a long run has about
    ``min_chunks`` chunks (for the progress bar) as long as each device keeps at least
    ``MIN_LANES`` lanes; always a multiple of the device count.

    Parameters
    ----------
    n_total : replicates in all.
    per_rep_bytes : :func:`bytes_per_replicate`.
    n_devices : devices the chunk is sharded over.
    min_chunks : chunks wanted for the progress bar of a long run.

    Returns
    -------
    Replicates per chunk, a multiple of ``n_devices``, :func:`bucket`-ed (below the
    memory bound), so that nearby replicate counts share a compiled batch.
    """
    budget = _memory_budget(jax.devices()[0]) * n_devices
    by_memory = max(1, budget // max(per_rep_bytes, 1))
    platform = jax.devices()[0].platform
    floor = MIN_LANES.get(platform, MIN_LANES_ACCELERATOR) * n_devices
    by_count = max(math.ceil(n_total / max(min_chunks, 1)), floor)
    size = min(bucket(max(1, min(by_count, n_total))), max(1, by_memory))
    size = math.ceil(size / n_devices) * n_devices
    if size > by_memory:  # rounding up to the devices must not pass the memory bound
        size = (by_memory // n_devices) * n_devices
    return max(n_devices, size)


def bucket(n: int) -> int:
    """``n`` rounded up to one of four sizes per doubling (8, 10, 12, 14, 16, 20, ...).

    Chunks take bucketed sizes, the last lanes padded: a compiled batch serves every
    replicate count in its bucket (``reps=200`` and ``reps=220`` share one program), at
    most 25 % of the lanes wasted.
    """
    if n <= 8:
        return n
    step = 2 ** (n.bit_length() - 3)  # a quarter of the power of two below n
    return -(-n // step) * step


def _mesh() -> Mesh:
    return Mesh(np.array(jax.devices()), (_AXIS,))


def _put(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    # make_array_from_callback works on one host and across hosts alike: each process
    # supplies the shards its devices hold.
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _gather(x: jax.Array) -> np.ndarray:
    if jax.process_count() > 1:  # pragma: no cover - needs several hosts
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


@functools.lru_cache(maxsize=64)
def _compiled(
    fn: Callable[..., Any], devices: tuple, n_args: int
) -> Callable[..., Any]:
    # One jitted batched function per (lane function, devices): every call with the same
    # lane function reuses its compilation (jit caches on shapes and dtypes).
    mesh = Mesh(np.array(devices), (_AXIS,))
    lanes = NamedSharding(mesh, PartitionSpec(_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    batched = jax.vmap(fn, in_axes=(None,) + (0,) * n_args)
    return jax.jit(
        batched, in_shardings=(replicated,) + (lanes,) * n_args, out_shardings=lanes
    )


def run(
    fn: Callable[..., Any],
    args: tuple,
    *,
    shared: Any = None,
    n_cells: tuple[int, int],
    itemsize: int = 8,
    chunk: int | None = None,
    progress: bool | None = None,
    desc: str = "replicates",
) -> Any:
    """Apply ``fn`` to every replicate of ``args`` (a pytree with a leading axis).

    Parameters
    ----------
    fn : per-replicate function ``fn(shared, *args_b)`` (pure; vmapped here). Give it a
        stable identity (module-level or cached) to compile it once across calls.
    args : tuple of arrays (or pytrees) sharing the leading replicate axis.
    shared : pytree of arrays common to every replicate (not batched; replicated on every
        device).
    n_cells : (N, T) of the panel, for the memory estimate.
    chunk : replicates per chunk (default: from the memory estimate, at least ten chunks
        for runs long enough to want a progress bar).
    progress : True / False, or None for a bar only when the run takes more than
        ``PROGRESS_AFTER_S`` seconds.

    Returns
    -------
    The outputs of ``fn`` as NumPy arrays with the leading replicate axis, in order.
    """
    leaves = jax.tree_util.tree_leaves(args)
    n_total = int(leaves[0].shape[0])
    n_dev = jax.device_count()
    if chunk is None:
        per_rep = bytes_per_replicate(args, *n_cells, itemsize)
        chunk = chunk_size(n_total, per_rep, n_dev)
    else:
        chunk = max(n_dev, math.ceil(chunk / n_dev) * n_dev)
    mesh = _mesh()
    sharding = NamedSharding(mesh, PartitionSpec(_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    batched = _compiled(fn, tuple(jax.devices()), len(args))
    shared = jax.tree_util.tree_map(lambda x: _put(np.asarray(x), replicated), shared)

    host = jax.tree_util.tree_map(np.asarray, args)
    starts = list(range(0, n_total, chunk))
    outputs = []
    bar = None
    t0 = time.perf_counter()
    for k, start in enumerate(starts):
        stop = min(start + chunk, n_total)
        pad = chunk - (stop - start)

        def take(x, start=start, stop=stop, pad=pad):
            part = x[start:stop]
            if pad:
                part = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)])
            return part

        part = jax.tree_util.tree_map(lambda x: _put(take(x), sharding), host)
        out = jax.tree_util.tree_map(_gather, batched(shared, *part))
        outputs.append(jax.tree_util.tree_map(lambda x, n=stop - start: x[:n], out))
        if bar is None and progress is not False and len(starts) > 1:
            expected = (time.perf_counter() - t0) * len(starts) / (k + 1)
            if progress or expected > PROGRESS_AFTER_S:
                from tqdm.auto import tqdm

                bar = tqdm(total=n_total, desc=desc, initial=stop, leave=False)
        elif bar is not None:
            bar.update(stop - start)
    if bar is not None:
        bar.close()
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *outputs)


__all__ = [
    "ACCELERATOR_MEMORY_BYTES",
    "DEFAULT_MEMORY_BYTES",
    "MIN_LANES",
    "MIN_LANES_ACCELERATOR",
    "PROGRESS_AFTER_S",
    "bucket",
    "bytes_per_replicate",
    "chunk_size",
    "default_memory_bytes",
    "key",
    "lane_bytes",
    "lane_map",
    "lanes_per_chunk",
    "replicate_keys",
    "run",
]
