"""Resampling over clusters coarser than the unit (Stata sdid's ``cluster()``).

References: the unclustered methods (singleton clusters give the same draws), explicit
leave-one-cluster-out refits on sub-panels, and an explicit cluster placebo assignment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import Panel
from jaxpanel.inference.resampling import bootstrap_draws, placebo_draws


def block_panel(rng, N=16, T=8, treated=(12, 13, 14, 15), t0=5):
    Y = rng.normal(size=(N, 1)) + np.cumsum(rng.normal(size=(N, T)), axis=1)
    W = np.zeros((N, T), bool)
    W[list(treated), t0:] = True
    return Panel.from_arrays(Y, W, units=[f"u{i:02d}" for i in range(N)])


@pytest.mark.slow
def test_singleton_clusters_are_the_unit_methods(rng):
    p = block_panel(rng)
    est = jaxpanel.sdid(p)
    units = pd.Series(list(p.units), index=p.units)
    for method, kw in (
        ("bootstrap", {"reps": 20}),
        ("placebo", {"reps": 20}),
        ("jackknife", {}),
    ):
        a = est.variance(method, **kw).se
        b = est.variance(method, cluster=units, **kw).se
        assert a == b, method


def test_cluster_jackknife_equals_leave_one_cluster_out_refits(rng):
    p = block_panel(rng)
    cluster = {u: f"c{i // 2}" for i, u in enumerate(p.units)}  # 8 pairs
    est = jaxpanel.did(p)
    with pytest.warns(jaxpanel.inference.InferenceWarning):
        res = est.variance("jackknife", cluster=cluster, return_draws=True)
    draws = []
    for g in sorted(set(cluster.values()), key=lambda c: int(c[1:])):
        keep = [u for u in p.units if cluster[u] != g]
        draws.append(jaxpanel.did(p.select(units=keep)).att)
    draws = np.asarray(draws)
    np.testing.assert_allclose(res.inference.draws, draws, atol=1e-10)
    G = len(draws)
    se = np.sqrt((G - 1) / G * ((draws - draws.mean()) ** 2).sum())
    assert abs(res.se - se) < 1e-10


def test_cluster_placebo_moves_whole_clusters(rng):
    p = block_panel(rng)
    cluster = [i // 2 for i in range(p.N)]  # clusters 6, 7 hold the treated units
    est = jaxpanel.did(p)
    res = est.variance(
        "placebo",
        cluster=cluster,
        reps=5,
        seed=3,
        return_draws=True,
        reference="normal",
    )
    picks, _ = placebo_draws(3, np.arange(6), 2, 5, ordered=False)
    for b, pick in enumerate(picks):
        units = [2 * g + k for g in pick for k in (0, 1)]
        W = np.zeros_like(p.W)
        W[units, p.n_pre :] = True
        q = Panel.from_arrays(p.Y[:12], W[:12])
        assert abs(res.inference.draws[b] - jaxpanel.did(q).att) < 1e-10


def test_stratified_cluster_bootstrap_draws_whole_clusters():
    clusters = np.repeat(np.arange(6), 2)
    treated = np.array([10, 11])  # cluster 5
    counts, _ = bootstrap_draws(0, 12, treated, 50, stratified=True, clusters=clusters)
    assert (counts[:, 0::2] == counts[:, 1::2]).all()  # a cluster's units go together
    assert (counts[:, 10] == 1).all()  # the one treated cluster, drawn once
    assert (counts[:, :10].sum(axis=1) == 10).all()  # 5 control clusters of 2


def test_cluster_refusals(rng):
    p = block_panel(rng)
    est = jaxpanel.sdid(p)
    one = [0] * 12 + [1] * 4  # every treated unit in one cluster
    with pytest.raises(ValueError, match="clustered bootstrap needs treated units in"):
        est.variance("bootstrap", cluster=one)
    with pytest.raises(
        ValueError, match="clustered jackknife needs treated units in at least two"
    ):
        est.variance("jackknife", cluster=one)
    uneven = [i // 3 for i in range(16)]
    with pytest.raises(ValueError, match="clusters of one size"):
        est.variance("placebo", cluster=uneven)
    with pytest.raises(ValueError, match="have no cluster"):
        est.variance("bootstrap", cluster={"u00": 1})
    with pytest.raises(ValueError, match="3 labels for 16 units"):
        est.variance("bootstrap", cluster=[1, 2, 3])


def test_cluster_from_a_long_column_and_other_estimators(rng):
    p = block_panel(rng)
    long = pd.Series(np.repeat([f"c{i // 2}" for i in range(p.N)], 3),
                     index=np.repeat(list(p.units), 3))  # fmt: skip
    est = jaxpanel.sdid(p)
    a = est.variance("bootstrap", reps=10, cluster=long).se
    b = est.variance("bootstrap", reps=10, cluster=long[~long.index.duplicated()]).se
    assert a == b
    clash = long.copy()
    clash.iloc[0] = "other"
    with pytest.raises(ValueError, match="units 'u00' have several clusters"):
        est.variance("bootstrap", reps=10, cluster=clash)
    with pytest.raises(ValueError, match="cluster= applies to the bootstrap"):
        est.variance("time_placebo", cluster=long)
    # DID's clustered jackknife needs two treated clusters, not two per cohort
    units = pd.Series(list(p.units), index=p.units)
    d = jaxpanel.did(p)
    with pytest.warns(jaxpanel.inference.InferenceWarning):
        clustered = d.variance("jackknife", cluster=units).se
    with pytest.warns(jaxpanel.inference.InferenceWarning):
        plain = d.variance("jackknife").se
    assert clustered == plain
