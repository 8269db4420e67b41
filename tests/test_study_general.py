"""Studies with general assignment: event-study outputs, covariates, clusters.

Each study row is checked against the user-level estimator and variance method on the
same replication's panel (rebuilt from its key), as tests/test_study.py does for the ATT.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import study
from jaxpanel.datasets import prop99

TREATED = ["California", "Nevada", "Utah", "Ohio", "Maine", "Iowa"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("data") / "p99.csv")


def write_data(path):
    """Prop 99 long, six states 'treated', a covariate, pairs of states as clusters."""
    df = prop99().rename(columns={"State": "state", "Year": "year"})
    states = sorted(df["state"].unique())
    rng = np.random.default_rng(5)
    x = rng.normal(size=len(df)) * 10 + df["year"].to_numpy() * 0.3
    # the outcome loads on x: a design calibrated with it gets beta near 2
    df["outcome"] = df["PacksPerCapita"].to_numpy(float) + 2.0 * x
    df["x"] = x
    df["treated"] = df["state"].isin(TREATED).astype(int)
    code = {s: i for i, s in enumerate(states)}
    df["single"] = df["state"]
    df["pair"] = df["state"].map(code) // 2  # 39 states: 19 pairs and one single
    df["triple"] = df["state"].map(code) // 3  # 13 clusters of three states
    df.to_csv(path, index=False)
    return path


def design(path, **extra):
    return {
        "name": "p99",
        "data": str(path),
        "unit": "state",
        "time": "year",
        "outcome": "outcome",
        "assignment": "treated",
        "n_treated": 4,
        "n_post": 6,
        "effect": 3.0,
        **extra,
    }


def panel_of(spec, r: int, names=None):
    """Replication r of the study's first design, as the user level's Panel."""
    d = spec.designs[0]
    built = study.build_design(d, spec.base)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(spec.seed), 0), r)
    Y, W, _ = study.replication(built, d, np.float64)(jax.random.fold_in(key, 0))
    X = None if built.X is None else np.asarray(built.X)
    return jaxpanel.Panel.from_arrays(
        np.asarray(Y), np.asarray(W), X=X, covariate_names=names
    )


def jackknife(est, **kw):
    """The user-level jackknife, or None where it refuses (the study's NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxpanel.inference.InferenceWarning)
        try:
            return est.variance("jackknife", progress=False, **kw)
        except ValueError:
            return None


@pytest.mark.parametrize(
    "name",
    ["did", pytest.param("sdid", marks=pytest.mark.slow)],  # sdid: ~45 s cold
)
def test_event_study_rows_are_the_user_levels_event_study(data, tmp_path, name):
    spec = study.from_dict(
        {
            "seed": 1,  # replication 0: cohorts of 2 and 2; 1: of 3 and 1 (no jackknife)
            "reps": 2,
            "chunk": 2,
            # wide: 45 event times x 4 column kinds, one block (no fragmented frame)
            "event_study": [-33, 11],
            "designs": [design(data, n_post=[6, 3])],  # staggered
            "estimators": [{"name": name}],
            "variance": [{"method": "jackknife"}, {"method": "bootstrap", "reps": 5}],
        }
    )
    study.run(spec, tmp_path, progress=False)
    df = study.read(tmp_path)
    checked = []
    for r in range(2):
        panel = panel_of(spec, r)
        row = df[(df["rep"] == r) & (df["estimator"] == name)].iloc[0]
        est = getattr(jaxpanel, name)(panel)
        np.testing.assert_allclose(row["estimate"], est.att, rtol=1e-9)
        table = est.event_study()
        for e in range(-3, 8):
            got = row[f"event_{e}"]
            if e in table.index:
                np.testing.assert_allclose(got, table.loc[e, "effect"], rtol=1e-8)
                # truth: the constant effect after adoption, none before it
                assert row[f"event_{e}_truth"] == (3.0 if e >= 0 else 0.0)
            else:  # beyond the longest post length: no treated cell
                assert np.isnan(got) and np.isnan(row[f"event_{e}_truth"])
        # the jackknife is deterministic: its event-time SEs are the user level's
        jk = jackknife(est)
        if jk is None:
            assert np.isnan(row["jackknife_se"])
        else:
            np.testing.assert_allclose(row["jackknife_se"], jk.se, rtol=1e-8)
            se = jk.event_study()["se"]
            for e in se.index.intersection(range(-3, 8)):
                np.testing.assert_allclose(
                    row[f"jackknife_event_{e}_se"], se.loc[e], rtol=1e-7
                )
            checked.append(name)
        boot = [row[f"bootstrap_event_{e}_se"] for e in range(3)]
        assert np.all(np.isfinite(boot)) or np.isnan(row["bootstrap_se"])
    # SDID's jackknife refuses in replication 1 (a cohort of one): NaN in the study
    assert checked == ([name, name] if name == "did" else [name])
    # reports read around the event columns; the event summary from the rows
    assert name in set(study.summarize(df)["estimator"])
    ev = study.event_summary(df).set_index(["estimator", "event_time"])
    x = df[df["estimator"] == name]
    err = x["event_2"] - x["event_2_truth"]
    assert ev.loc[(name, 2), "bias"] == pytest.approx(err.mean(), rel=1e-12)
    if name == "did":  # SDID's replication 1 has no jackknife SE
        inside = (err.abs() <= 1.959963984540054 * x["jackknife_event_2_se"]).mean()
        assert ev.loc[(name, 2), "jackknife_coverage"] == pytest.approx(inside)
    times = set(ev.index.get_level_values("event_time"))
    assert times == set(range(-28, 6))  # adoptions at period 25 or 28 of 31
    assert df["event_-33"].isna().all() and df["event_11_truth"].isna().all()
    files = study.report(tmp_path)
    written = pd.read_csv(files["event_csv"])
    assert len(written) == len(ev) and "bootstrap_coverage" in written


COVARIATE_FITS = {
    "sdid": lambda p: jaxpanel.sdid(p),
    "did": lambda p: jaxpanel.did(p),
    "sdid_projected": lambda p: jaxpanel.sdid(p, covariates="projected"),
    "sdid_none": lambda p: jaxpanel.sdid(p, covariates=None),
}


@pytest.mark.parametrize(
    "labels",
    [
        # CI budget: both slower than 10 s on 2 cores (58 s for sdid/did)
        pytest.param(["sdid", "did"], marks=pytest.mark.slow),
        pytest.param(["sdid_projected", "sdid_none"], marks=pytest.mark.slow),
    ],
)
def test_a_designs_covariates_are_calibrated_and_every_estimator_uses_them(
    data, tmp_path, labels
):
    d = design(data, covariates=["x"])
    built = study.build_design(d)
    # the coefficients: an explicit dummy-variable regression on the control states
    df = pd.read_csv(data)
    co = df[df["treated"] == 0]
    dummies = pd.get_dummies(co[["state", "year"]].astype(str), drop_first=True)
    A = np.column_stack([np.ones(len(co)), co["x"], dummies.to_numpy(float)])
    b = np.linalg.lstsq(A, co["outcome"].to_numpy(), rcond=None)[0][1]
    Y = df.pivot(index="state", columns="year", values="outcome").to_numpy()
    sd = (Y - b * df.pivot(index="state", columns="year", values="x").to_numpy()).std()
    np.testing.assert_allclose(built.beta * sd, [b], rtol=1e-9)
    assert abs(b - 2.0) < 0.1
    spec = study.from_dict(
        {
            "seed": 2,
            "reps": 2,
            "chunk": 2,
            "designs": [d],
            "estimators": [
                {
                    "sdid": {"name": "sdid"},
                    "did": {"name": "did"},
                    "sdid_projected": {
                        "name": "sdid",
                        "label": "sdid_projected",
                        "covariates": "projected",
                    },
                    "sdid_none": {
                        "name": "sdid",
                        "label": "sdid_none",
                        "covariates": False,
                    },
                }[label]
                for label in labels
            ],
            "variance": [{"method": "jackknife"}],
        }
    )
    study.run(spec, tmp_path, progress=False)
    rows = study.read(tmp_path).set_index(["rep", "estimator"])
    for r in range(2):
        panel = panel_of(spec, r, ["x"])
        fits = {label: COVARIATE_FITS[label](panel) for label in labels}
        for label, est in fits.items():
            np.testing.assert_allclose(
                rows.loc[(r, label), "estimate"], est.att, rtol=1e-8
            )
        if "sdid_none" in fits:  # the covariate moves the estimate
            assert abs(fits["sdid_projected"].att - fits["sdid_none"].att) > 1e-6
        if "did" in fits:
            jk = jackknife(fits["did"])
            se = np.nan if jk is None else jk.se
            np.testing.assert_allclose(rows.loc[(r, "did"), "jackknife_se"], se, 1e-8)


@pytest.mark.slow  # three studies with three in-batch methods each: ~1 min cold
def test_clusters_of_one_unit_are_the_unit_methods_and_coarse_ones_the_users(
    data, tmp_path
):
    base = {
        "seed": 4,
        "reps": 2,
        "chunk": 2,
        "estimators": [{"name": "did"}],
        "variance": [
            {"method": "jackknife"},
            {"method": "bootstrap", "reps": 8},
            {"method": "placebo", "reps": 8},
        ],
    }
    runs = {}
    for label, extra in (
        ("none", {}),
        ("single", {"cluster": "single"}),
        ("triple", {"cluster": "triple"}),
    ):
        spec = study.from_dict({**base, "designs": [design(data, **extra)]})
        study.run(spec, tmp_path / label, progress=False)
        runs[label] = study.read(tmp_path / label)
    cols = ["estimate", "jackknife_se", "bootstrap_se", "placebo_se"]
    pd.testing.assert_frame_equal(runs["none"][cols], runs["single"][cols])
    assert not np.allclose(runs["none"]["bootstrap_se"], runs["triple"]["bootstrap_se"])
    assert np.isfinite(runs["triple"]["placebo_se"]).all()
    # the cluster jackknife (deterministic) is the user level's on the same panel
    codes = pd.read_csv(data).groupby("state")["triple"].first().sort_index()
    for r in range(2):
        est = jaxpanel.did(panel_of(spec, r))
        jk = jackknife(est, cluster=codes.to_numpy())
        se = np.nan if jk is None else jk.se  # refused: the study's NaN
        np.testing.assert_allclose(runs["triple"]["jackknife_se"].iloc[r], se, 1e-8)


def test_general_study_errors_name_the_fix(data, tmp_path):
    def spec(**changes):
        d = {
            "designs": [design(data)],
            "estimators": [{"name": "did"}],
            **changes,
        }
        return study.from_dict(d)

    with pytest.raises(ValueError, match="covariate 'state' is not numeric"):
        study.build_design(design(data, covariates=["state"]))
    with pytest.raises(ValueError, match="explain the outcome exactly"):
        study.build_design(design(data, covariates=["outcome"]))
    with pytest.raises(ValueError, match="needs a data= design"):
        spec(designs=[{"preset": "prop99", "covariates": ["x"]}])
    with pytest.raises(ValueError, match="one per covariate"):
        spec(designs=[design(data, covariates=["x"], covariate_effect=[1, 2])])
    with pytest.raises(ValueError, match="event_study must be"):
        spec(event_study=[3, -1])
    with pytest.raises(ValueError, match="needs solver='exact'"):
        spec(designs=[design(data, covariates=["x"])], estimators=[{"name": "mc"}])
    with pytest.raises(ValueError, match="takes no covariates"):
        spec(
            designs=[design(data, covariates=["x"])],
            estimators=[
                {
                    "name": "trop",
                    "variant": "global",
                    "lambda_unit": 0.1,
                    "lambda_time": 0.1,
                    "lambda_nn": 0.1,
                }
            ],
        )
    with pytest.raises(ValueError, match="does not resample clusters"):
        spec(
            designs=[design(data, cluster="pair")],
            variance=[{"method": "conformal"}],
        )
    with pytest.raises(ValueError, match="clusters of one size"):
        study.run(
            spec(
                designs=[design(data, cluster="pair")],
                variance=[{"method": "placebo"}],
            ),
            tmp_path / "a",
            progress=False,
        )
    with pytest.raises(ValueError, match="constant within a unit"):
        study.run(
            spec(designs=[design(data, cluster="year")], variance=[]),
            tmp_path / "b",
            progress=False,
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_mc_and_per_cell_trop_take_a_designs_covariates(data, tmp_path):
    lams = {"lambda_unit": 0.2, "lambda_time": 0.1, "lambda_nn": 0.5}
    spec = study.from_dict(
        {
            "seed": 2,
            "reps": 1,
            "chunk": 1,
            "event_study": [-2, 3],
            "designs": [design(data, covariates=["x"], n_treated=2, n_post=2)],
            "estimators": [
                {"name": "mc", "solver": "exact", "lam": 0.3},
                {"name": "trop", **lams},
            ],
            "variance": [{"method": "jackknife"}],
        }
    )
    study.run(spec, tmp_path, progress=False)
    rows = study.read(tmp_path).set_index("estimator")
    panel = panel_of(spec, 0, ["x"])
    fits = {
        "mc": jaxpanel.mc(panel, solver="exact", lam=0.3),
        "trop": jaxpanel.trop(panel, **lams),
    }
    for label, est in fits.items():
        np.testing.assert_allclose(rows.loc[label, "estimate"], est.att, rtol=1e-6)
        jk = jackknife(est)
        se = np.nan if jk is None else jk.se
        np.testing.assert_allclose(rows.loc[label, "jackknife_se"], se, rtol=1e-6)
    # per-cell TROP fits no surface off the treated cells: no leads
    assert np.isnan(rows.loc["trop", "event_-1"]) and np.isfinite(
        rows.loc["mc", "event_-1"]
    )
    np.testing.assert_allclose(
        rows.loc["trop", "event_1"], fits["trop"].event_study().loc[1, "effect"], 1e-6
    )
