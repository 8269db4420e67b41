"""Simulation studies (jaxpanel.study): spec, runner, resume, kill -9, two processes, report."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import cli, simulate, study

TINY = {
    "seed": 1,
    "reps": 10,
    "chunk": 4,
    "designs": [{"preset": "prop99", "assignment": "random", "n_treated": 3}],
    "estimators": [{"name": "did"}],
    "variance": [{"method": "placebo", "reps": 10}, {"method": "jackknife"}],
}


def tiny(**changes):
    return study.from_dict({**TINY, **changes})


def toml(d: dict) -> str:
    """A small TOML writer for the test studies (tables and arrays of tables)."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in d.items() if not isinstance(v, list)]
    for k, v in d.items():
        if isinstance(v, list):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{a} = {json.dumps(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    res = study.run(tiny(), out, progress=False)
    return out, res


def test_spec_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown study key"):
        study.from_dict({**TINY, "repz": 3})
    with pytest.raises(ValueError, match="takes no option lam"):
        tiny(estimators=[{"name": "did", "lam": 1}])
    with pytest.raises(ValueError, match="fixed lambdas"):
        tiny(estimators=[{"name": "trop"}])
    with pytest.raises(ValueError, match="exactly one of preset= or data="):
        tiny(designs=[{"outcome": "x"}])
    with pytest.raises(ValueError, match="labels repeat"):
        tiny(estimators=[{"name": "did"}, {"name": "did"}])
    with pytest.raises(ValueError, match="no estimator labelled sdid"):
        tiny(designs=[{**TINY["designs"][0], "options": {"sdid": {}}}])
    with pytest.raises(ValueError, match="method must be one of"):
        tiny(variance=[{"method": "bogus"}])
    with pytest.raises(ValueError, match="runs in mode='library' only"):
        tiny(variance=[{"method": "regression", "mode": "batched"}])
    with pytest.raises(ValueError, match="reference= needs mode='library'"):
        tiny(variance=[{"method": "placebo", "reference": "normal"}])
    with pytest.raises(ValueError, match="conditional takes reference 't' or 'normal'"):
        tiny(variance=[{"method": "conditional", "reference": "percentile"}])
    with pytest.raises(ValueError, match="reps does not apply to regression"):
        tiny(variance=[{"method": "regression", "reps": 10}])
    with pytest.raises(ValueError, match="give mc a fixed lam="):
        tiny(estimators=[{"name": "mc"}], variance=[{"method": "conditional"}])
    with pytest.raises(ValueError, match="process_id must be in 0..1"):
        study.run(tiny(), "unused", process_id=2, num_processes=2)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        tiny(seed=1.5)
    with pytest.raises(ValueError, match="reps must be an integer >= 2"):
        tiny(variance=[{"method": "placebo", "reps": 0}])
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        tiny(variance=[{"method": "placebo", "level": 95}])
    with pytest.raises(ValueError, match="effect_sd must be >= 0"):
        tiny(designs=[{**TINY["designs"][0], "effect_sd": -1.0}])
    with pytest.raises(ValueError, match="mc: lam must be a number >= 0"):
        tiny(estimators=[{"name": "mc", "lam": -1.0}])
    with pytest.raises(ValueError, match="solver must be 'fw' or 'exact'"):
        tiny(estimators=[{"name": "sdid", "solver": "bogus"}])
    with pytest.raises(ValueError, match="refit= is true or false, for the jackknife"):
        tiny(variance=[{"method": "placebo", "refit": True}])
    with pytest.raises(ValueError, match="preset 'germany' has one outcome"):
        study.build_design({"preset": "germany", "outcome": "gdp", "path": "x.csv"})
    with pytest.raises(ValueError, match="germany needs path= to germany.csv"):
        study.build_design({"preset": "germany", "assignment": "random"})


def test_a_folder_of_other_files_or_a_failed_start_is_handled(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="is not empty and holds no study"):
        study.run(tiny(), tmp_path / "other", progress=False)
    bad = tiny(designs=[{**TINY["designs"][0], "n_treated": 39}])
    with pytest.raises(ValueError, match="n_treated must be in"):
        study.run(bad, tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()  # nothing written: the fixed study may run
    # a manifest without results takes the new study (nothing to mix)
    small = {**TINY, "reps": 2, "variance": []}
    study.run(study.from_dict({**small, "chunk": 1}), tmp_path / "new", progress=False)
    for f in (tmp_path / "new").glob("*.parquet"):
        f.unlink()
    res = study.run(
        study.from_dict({**small, "chunk": 2}), tmp_path / "new", progress=False
    )
    assert res["chunks"] == 1 and len(study.read(tmp_path / "new")) == 2


def test_rows_are_the_batched_estimators_on_the_designs_draws(tiny_run):
    out, res = tiny_run
    assert res["chunks"] == 3 and res["skipped"] == 0
    df = pd.read_parquet(out)  # a Parquet dataset: plain pandas reads it
    assert len(df) == 10 and sorted(df["rep"]) == list(range(10))
    manifest = json.loads((out / study.MANIFEST).read_text())
    assert manifest["hash"] == tiny().hash() and manifest["dtype"] == "float64"
    # replication 7 rebuilt by hand: its key, the design's draw, DID at the user level
    design = simulate.prop99("random", n_treated=3)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(1), 0), 7)
    Y, W, _truth = study.replication(design, TINY["designs"][0], np.float64)(
        jax.random.fold_in(key, 0)
    )
    est = jaxpanel.did(jaxpanel.Panel.from_arrays(np.asarray(Y), np.asarray(W)))
    row = df.set_index("rep").loc[7]
    np.testing.assert_allclose(row["estimate"], est.att, rtol=1e-10)
    # the jackknife is deterministic: the study's equals the user-level method's
    with pytest.warns(jaxpanel.inference.InferenceWarning, match="jackknife with DID"):
        jk = est.variance("jackknife", progress=False)
    np.testing.assert_allclose(row["jackknife_se"], jk.se, rtol=1e-10)
    assert row["truth"] == 0.0 and row["status"] == "converged"
    assert row["placebo_ci_lo"] < row["estimate"] < row["placebo_ci_hi"]


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_the_refit_jackknife_is_the_users_refit_jackknife(tmp_path):
    # the SDID paper's simulations ran R synthdid 2408a924, whose jackknife re-solved
    # the weights: a study reproduces it with refit = true, in-jit
    spec = tiny(
        reps=2,
        chunk=2,
        estimators=[{"name": "sdid"}],
        variance=[{"method": "jackknife", "refit": True}],
    )
    study.run(spec, tmp_path, progress=False)
    row = study.read(tmp_path).set_index("rep").loc[1]
    design = simulate.prop99("random", n_treated=3)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(1), 0), 1)
    Y, W, _ = study.replication(design, TINY["designs"][0], np.float64)(
        jax.random.fold_in(key, 0)
    )
    est = jaxpanel.sdid(jaxpanel.Panel.from_arrays(np.asarray(Y), np.asarray(W)))
    refit = est.variance("jackknife", refit=True).se
    np.testing.assert_allclose(row["jackknife_se"], refit, rtol=1e-8)
    assert abs(refit - est.variance("jackknife").se) > 1e-4 * refit


LIBRARY = [
    {"method": "placebo", "mode": "library", "reps": 20},
    {"method": "regression"},
    {"method": "conditional"},
    {"method": "time_placebo"},
]


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_library_mode_is_the_librarys_own_method_and_shift_equivariant(tmp_path):
    # library mode: the user-level estimator and jaxpanel.inference.variance per
    # replication; with the same seed, an effect delta shifts every interval by delta
    # (what bench/bench_variance_study.py's power by inversion relies on)
    null = tiny(reps=3, chunk=3, variance=LIBRARY)
    delta = 7.0
    shifted = tiny(
        reps=3,
        chunk=3,
        variance=LIBRARY,
        designs=[{**TINY["designs"][0], "effect": delta}],
    )
    study.run(null, tmp_path / "a", progress=False)
    study.run(shifted, tmp_path / "b", progress=False)
    a, b = study.read(tmp_path / "a"), study.read(tmp_path / "b")
    design = simulate.prop99("random", n_treated=3)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(1), 0), 2)
    Y, W, _ = study.replication(design, TINY["designs"][0], np.float64)(
        jax.random.fold_in(key, 0)
    )
    est = jaxpanel.did(jaxpanel.Panel.from_arrays(np.asarray(Y), np.asarray(W)))
    k_var = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, 1), 0), 2)
    row = a.set_index("rep").loc[2]
    pl = est.variance("placebo", reps=20, seed=jax.random.fold_in(k_var, 0))
    assert row["placebo_p"] == pytest.approx(pl.p_value, rel=1e-12)
    assert row["placebo_reference"] == "permutation"
    np.testing.assert_allclose(json.loads(row["placebo_set"]), pl.inference.ci_set)
    np.testing.assert_allclose(row["regression_se"], est.variance("regression").se)
    cond = est.variance("conditional", seed=jax.random.fold_in(k_var, 2))
    np.testing.assert_allclose(row["conditional_se"], cond.se, rtol=1e-10)
    assert row["time_placebo_warned"]  # Prop 99: T_post 12 of T_pre 19
    for m in ("placebo", "regression", "conditional", "time_placebo"):
        np.testing.assert_allclose(b[f"{m}_se"], a[f"{m}_se"], rtol=1e-9, err_msg=m)
        for x, y in zip(a[f"{m}_set"], b[f"{m}_set"]):
            np.testing.assert_allclose(
                np.asarray(json.loads(y)), np.asarray(json.loads(x)) + delta, rtol=1e-9
            )
    np.testing.assert_allclose(b["estimate"], a["estimate"] + delta, rtol=1e-10)


def test_rows_do_not_depend_on_the_chunk_size(tiny_run, tmp_path):
    out, _ = tiny_run
    study.run(tiny(chunk=3), tmp_path, progress=False)
    a, b = study.read(out), study.read(tmp_path)
    pd.testing.assert_frame_equal(a, b)  # identical, not close


def test_resume_skips_finished_chunks_and_refuses_another_study(tiny_run):
    out, _ = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    res = study.run(tiny(), out, progress=False)
    assert res == {**res, "chunks": 0, "skipped": 3}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")} == before
    with pytest.raises(ValueError, match="holds results of another study"):
        study.run(tiny(seed=2), out, progress=False)
    with pytest.raises(ValueError, match="same chunk"):
        study.run(tiny(chunk=5), out, progress=False)


def test_summary_numbers_and_report_files(tiny_run):
    out, _ = tiny_run
    df = study.read(out)
    s = study.summarize(out)
    e = df["error"].to_numpy()
    row = s.iloc[0]
    np.testing.assert_allclose(row["rmse"], np.sqrt(np.mean(e**2)), rtol=1e-12)
    np.testing.assert_allclose(row["bias"], e.mean(), rtol=1e-12)
    np.testing.assert_allclose(row["bias_mcse"], e.std(ddof=1) / np.sqrt(10))
    np.testing.assert_allclose(
        row["rmse_mcse"],
        (e**2).std(ddof=1) / (2 * np.sqrt(np.mean(e**2)) * np.sqrt(10)),
    )
    covered = (df["placebo_ci_lo"] <= 0) & (0 <= df["placebo_ci_hi"])
    assert row["placebo_coverage"] == covered.mean()
    assert row["placebo_reject_05"] == (df["placebo_p"] < 0.05).mean()
    files = study.report(out)
    assert "RMSE" in files["md"].read_text()
    assert files["png"].stat().st_size > 1000 and files["svg"].exists()
    assert len(pd.read_parquet(out)) == 10  # the report folder does not break readers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "jaxpanel", "study", "run", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_two_processes_write_exactly_the_rows_of_one(tiny_run, tmp_path):
    out, _ = tiny_run
    spec = tmp_path / "tiny.toml"
    spec.write_text(toml(TINY))
    port = str(_free_port())
    procs = [
        _cli(str(spec), "--out", str(tmp_path / "two"), "--coordinator",
             f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i))
        for i in (0, 1)
    ]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    files = sorted(p.name for p in (tmp_path / "two").glob("*.parquet"))
    assert files == sorted(p.name for p in out.glob("*.parquet"))
    pd.testing.assert_frame_equal(study.read(tmp_path / "two"), study.read(out))


def test_kill_9_mid_run_loses_and_duplicates_nothing(tmp_path):
    d = {**TINY, "reps": 400, "chunk": 8, "variance": []}
    spec = tmp_path / "long.toml"
    spec.write_text(toml(d))
    out = tmp_path / "killed"
    p = _cli(str(spec), "--out", str(out))
    deadline = time.time() + 240
    while len(list(out.glob("*.parquet"))) < 3:
        assert p.poll() is None, p.communicate()[1]
        assert time.time() < deadline, "no chunk written in time"
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()  # reap it and close its pipes
    done = len(list(out.glob("*.parquet")))
    assert done < 50, "the run finished before it was killed"
    resumed = _cli(str(spec), "--out", str(out))
    stdout, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    assert f"{done} already done" in stdout
    df = study.read(out)
    assert len(df) == 400 and df["rep"].is_unique
    # a chunk killed mid-write leaves at most a '.'-prefixed temporary file: not data
    assert len(pd.read_parquet(out)) == 400
    clean = tmp_path / "clean"
    study.run(study.from_dict(d), clean, progress=False)
    pd.testing.assert_frame_equal(df, study.read(clean))


def test_cli_report(tiny_run, capsys):
    out, _ = tiny_run
    assert cli.main(["study", "report", str(out)]) == 0
    assert "RMSE (Monte Carlo SE)" in capsys.readouterr().out


@pytest.mark.slow
def test_the_cli_study_of_the_authors_sdid_on_pwt_finishes(tmp_path):
    # XLA's CPU concurrency-optimised scheduler deadlocked this program on its second
    # call (two batches of 8): the CLI turns it off for `jaxpanel study` (cli.py)
    from .conftest import shared_path

    penn = shared_path("data", "PENN.csv")
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name = "q"\nseed = 0\nreps = 20\nchunk = 10\n[[designs]]\npreset = "pwt"\n'
        f'path = "{penn}"\nassignment = "dem"\n[[estimators]]\nlabel = "a"\n'
        'name = "sdid"\nform = "trop_authors"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [sys.executable, "-m", "jaxpanel", "study", "run", str(spec), "--quiet"]
    subprocess.run(
        [*cmd, "--out", str(tmp_path / "out")], env=env, timeout=300, check=True
    )
    rows = study.read(tmp_path / "out")
    assert len(rows) == 20 and np.isfinite(rows["estimate"]).all()


@pytest.mark.slow
def test_a_staggered_design_runs_the_staggered_estimators(tmp_path):
    """n_post as a list: each treated unit adopts with one of the post lengths."""
    d = {
        "seed": 3,
        "reps": 4,
        "chunk": 4,
        "designs": [
            {"preset": "prop99", "assignment": "random", "n_treated": 4,
             "n_post": [8, 4], "effect": 1.0}
        ],
        "estimators": [{"name": "sdid"}, {"name": "did"}],
        "variance": [{"method": "placebo", "reps": 5}, {"method": "jackknife"}],
    }  # fmt: skip
    study.run(study.from_dict(d), tmp_path, progress=False)
    df = pd.read_parquet(tmp_path).set_index(["estimator", "rep"]).sort_index()
    design = simulate.prop99("random", n_treated=4, n_post=(8, 4))
    assert design.adoptions == (23, 27)
    seen = set()
    for r in range(4):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(3), 0), r)
        Y, W, truth = study.replication(design, d["designs"][0], np.float64)(
            jax.random.fold_in(key, 0)
        )
        W = np.asarray(W)
        starts = {int(W[i].argmax()) for i in np.flatnonzero(W.any(axis=1))}
        assert starts <= {23, 27} and float(truth) == 1.0
        seen |= starts
        p = jaxpanel.Panel.from_arrays(np.asarray(Y), W)
        for name in ("sdid", "did"):
            est = getattr(jaxpanel, name)(p)
            got = df.loc[(name, r), "estimate"]
            np.testing.assert_allclose(got, est.att, rtol=1e-9)
        assert np.isfinite(df.loc[("sdid", r), "placebo_se"])
        sizes = np.bincount([int(W[i].argmax()) for i in np.flatnonzero(W.any(axis=1))])
        est = jaxpanel.sdid(p)
        if (sizes == 1).any():  # a single-unit cohort: refused, NaN in the study
            assert np.isnan(df.loc[("sdid", r), "jackknife_se"])
            with pytest.raises(ValueError, match="two treated units in every adoption"):
                est.variance("jackknife")
        else:
            jk = est.variance("jackknife").se
            np.testing.assert_allclose(
                df.loc[("sdid", r), "jackknife_se"], jk, rtol=1e-9
            )
    assert seen == {23, 27}  # both cohorts occur
    with pytest.raises(ValueError, match="n_post must be a positive integer or a list"):
        study.from_dict({**d, "designs": [{**d["designs"][0], "n_post": [0, 3]}]})
