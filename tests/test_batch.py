"""Batching: one key per replicate, the memory model, chunked lanes (jaxpanel.batch)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpanel import batch


def test_chunk_size_rule():
    cpu = batch.MIN_LANES["cpu"]
    assert batch.chunk_size(100 * cpu, 10_000, 1) == 10 * cpu  # ~10 chunks
    assert batch.chunk_size(3 * cpu, 10_000, 1) == cpu  # at least MIN_LANES lanes
    assert batch.chunk_size(300, 10_000, 1) == 320  # one chunk, bucketed
    assert batch.chunk_size(100, 10_000, 4) == 112
    assert batch.chunk_size(10_000, 10**15, 4) == 4  # memory-bound: one lane per device
    # rounded to the devices without passing the memory bound (3 devices, 3,001 lanes)
    budget = batch._memory_budget(jax.devices()[0]) * 3
    assert batch.chunk_size(3_000, budget // 3_001, 3) <= 3_001


def test_lane_map_chunks_give_the_batch_result():
    xs = (jnp.arange(10.0), jnp.arange(10.0) ** 2)
    full = batch.lane_map(lambda x: x[0] + x[1], xs, 100)
    for chunk in (1, 3, 4, 10):
        np.testing.assert_array_equal(
            batch.lane_map(lambda x: x[0] + x[1], xs, chunk), full
        )
    assert (
        batch.lanes_per_chunk(50, 10, 35) == 3 and batch.lanes_per_chunk(50, 10, 1) == 1
    )


def test_keys_come_from_one_place_and_do_not_depend_on_the_count():
    k = batch.key(7)
    assert np.array_equal(np.asarray(k), np.asarray(jax.random.PRNGKey(7)))
    assert batch.key(k) is k
    few = np.asarray(batch.replicate_keys(7, 0, 5))
    many = np.asarray(batch.replicate_keys(7, 0, 50))
    np.testing.assert_array_equal(few, many[:5])
    np.testing.assert_array_equal(np.asarray(batch.replicate_keys(7, 3, 5)), many[3:5])


def test_memory_model_counts_the_panel_and_the_lane_arguments():
    small, big = batch.lane_bytes(10, 8, 8), batch.lane_bytes(100, 8, 8)
    assert big > 10 * small  # grows with N^2 (Gram and Cholesky factors)
    args = (jnp.zeros((4, 3, 2)),)
    assert batch.bytes_per_replicate(args, 10, 8, 8) == small + 3 * 2 * 8


def test_buckets_waste_under_a_quarter_and_keep_nearby_counts_together():
    sizes = [batch.bucket(n) for n in range(1, 5000)]
    assert all(b >= n and (b - n) < 0.25 * n for n, b in zip(range(1, 5000), sizes))
    assert len(set(sizes)) < 50  # few programs for every count up to 5,000
    assert batch.bucket(200) == batch.bucket(220) == 224


def _square(shared, x):
    return {"y": x * x + shared}


def test_nearby_replicate_counts_reuse_one_compiled_batch():
    # `.variance(reps=200)` then `reps=220`: one compilation (the chunk is bucketed)
    one = jnp.asarray(1.0)
    for n in (200, 220, 210):
        x = jnp.arange(float(n))
        out = batch.run(_square, (x,), shared=one, n_cells=(5, 5))["y"]
        np.testing.assert_array_equal(out, np.arange(float(n)) ** 2 + 1)
    fn = batch._compiled(_square, tuple(jax.devices()), 1)
    assert fn._cache_size() == 1
