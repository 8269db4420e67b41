"""Test configuration: float64, strict rank promotion, PRNG keys, shared data."""

from __future__ import annotations

import json
import os
from pathlib import Path

# The suite is compile-bound: XLA's CPU backend at optimisation level 0 compiles about a
# quarter faster (two compile-heavy test files, cold: 71 -> 53 s) and runs the tests'
# small problems about as fast. Set before JAX starts its backend, so subprocesses that
# tests start inherit it; a level the user set stands. The library never sets it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The suite is compile-bound: a persistent compilation cache lets the two xdist workers
# (and later runs) reuse each other's XLA executables (a cold run of the fast set: 299 s
# -> 248 s on 2 cores). Keys hash the program, so a code change never reuses a stale one.
jax.config.update("jax_compilation_cache_dir", str(REPO / ".pytest_cache" / "jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Drop the in-memory compiled programs after each test file.

    Each compiled kernel holds about three memory mappings and a process may hold
    65,530 (``vm.max_map_count``): a worker that kept every program of the suite
    reached 65,434, XLA's next compile failed and the worker crashed while raising the
    error. Later files reload what they share from the persistent cache.
    """
    yield
    jax.clear_caches()


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with a clear message."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"needs {path} (the shared data/references folder beside the checkout)"
        )
    return path


@pytest.fixture(scope="session")
def r_reference() -> dict:
    """R synthdid / MCPanel reference numbers (../shared/references/prop99_synthdid_R.json)."""
    return json.loads(shared_path("references", "prop99_synthdid_R.json").read_text())


@pytest.fixture(scope="session")
def prop99_panel():
    from jaxpanel import datasets

    return datasets.prop99_panel()
