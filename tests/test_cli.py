"""The command line: demo table, fit on a CSV, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import jaxpanel
from jaxpanel import cli, datasets


@pytest.fixture
def prop99_csv(tmp_path):
    path = tmp_path / "prop99.csv"
    datasets.prop99().to_csv(path, sep=";", index=False)
    return path


def test_demo_prints_table(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "did" in out and "-27.3491" in out and "converged" in out
    assert "mc " in out and "-19.9964" in out  # R MCPanel's number
    assert "trop" in out and "--tune re-tunes" in out


def test_fit_prints_estimate(prop99_csv, capsys):
    args = [
        "fit",
        str(prop99_csv),
        "--unit",
        "State",
        "--time",
        "Year",
        "--outcome",
        "PacksPerCapita",
        "--treatment",
        "treated",
        "--method",
        "did",
    ]
    assert cli.main(args) == 0
    assert "ATT      -27.3491" in capsys.readouterr().out
    assert cli.main(args + ["--variance", "placebo", "--reference", "normal"]) == 0
    out = capsys.readouterr().out
    assert "(normal)" in out and "(permutation)" not in out


@pytest.mark.parametrize(
    "change,message",
    [
        ({"--unit": "Stat"}, "missing columns: unit='Stat'"),
        (
            {"--method": "nope"},
            "invalid choice: 'nope' (choose from 'did', 'sc', 'difp'",
        ),
        ({"file": "/no/such/file.csv"}, "no such file"),
        ({"--seed": "3"}, "--seed draws variance replicates and needs --variance"),
        ({"--cv-seed": "3"}, "--cv-seed applies to mc and trop"),
        ({"--loocv-cells": "50"}, "--loocv-cells applies to trop"),
        (
            {"--loocv-cells": "x", "--method": "trop"},
            "--loocv-cells is a positive integer or 'all'",
        ),
        ({"--reference": "normal"}, "--reference needs --variance"),
    ],
)
def test_errors_are_one_line(prop99_csv, capsys, change, message):
    opts = {
        "file": str(prop99_csv),
        "--unit": "State",
        "--time": "Year",
        "--outcome": "PacksPerCapita",
        "--treatment": "treated",
        "--method": "did",
    }
    opts.update(change)
    args = ["fit", opts.pop("file")] + [x for kv in opts.items() for x in kv]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x00\n\x01")
    args = [
        "fit",
        str(path),
        "--unit",
        "a",
        "--time",
        "b",
        "--outcome",
        "c",
        "--treatment",
        "d",
    ]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxpanel: error:") and err.count("\n") == 1


def test_console_script_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "jaxpanel.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo" in out.stdout and "fit" in out.stdout


@pytest.fixture
def restore_x64():
    import jax

    yield
    jax.config.update("jax_enable_x64", True)


PROP99 = ["--unit", "State", "--time", "Year", "--outcome", "PacksPerCapita"]


def test_one_pre_period_is_one_line_not_a_traceback(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = [
        {"u": i, "t": s, "y": rng.normal() + s, "d": int(i < 2 and s >= 1)}
        for i in range(12)
        for s in range(4)
    ]
    path = tmp_path / "short.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    args = ["fit", str(path), "--unit", "u", "--time", "t", "--outcome", "y"]
    assert cli.main([*args, "--treatment", "d", "--method", "sdid"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "sdid needs at least 2 pre-treatment periods" in err
    assert "apply to this panel: did, mc, trop" in err
    assert cli.main([*args, "--treatment", "d", "--method", "did"]) == 0


def test_options_solver_level_lambdas_and_dtype_after_the_command(
    prop99_csv, capsys, restore_x64
):
    base = ["fit", str(prop99_csv), *PROP99, "--treatment", "treated"]
    assert cli.main([*base, "--method", "sc", "--solver", "exact"]) == 0
    assert "ATT      -19.5136" in capsys.readouterr().out
    assert (
        cli.main([*base, "--variance", "placebo", "--reps", "30", "--level", "0.9"])
        == 0
    )
    assert "90% CI   [" in capsys.readouterr().out
    lams = ["--lambda-unit", "0.1", "--lambda-time", "0.5", "--lambda-nn", "inf"]
    assert cli.main([*base, "--method", "trop", *lams]) == 0
    panel = datasets.prop99_panel()
    att = jaxpanel.trop(panel, lambda_unit=0.1, lambda_time=0.5, lambda_nn=np.inf).att
    assert f"ATT      {att:.4f}" in capsys.readouterr().out
    assert cli.main([*base, "--method", "did", "--solver", "exact"]) == 2
    assert "--solver does not apply to --method did" in capsys.readouterr().err
    assert cli.main([*base, "--dtype", "float32"]) == 0
    assert "dtype    float32" in capsys.readouterr().out


def test_out_json_and_csv(prop99_csv, tmp_path, capsys):
    base = ["fit", str(prop99_csv), *PROP99, "--treatment", "treated"]
    js, csv = tmp_path / "est.json", tmp_path / "est.csv"
    opts = ["--method", "sdid", "--variance", "placebo", "--reps", "20"]
    assert cli.main([*base, *opts, "--out", str(js)]) == 0
    out = json.loads(js.read_text())
    est = jaxpanel.sdid(datasets.prop99_panel())
    assert out["att"] == pytest.approx(est.att, rel=1e-12)
    assert out["se"] > 0 and out["ci_low"] < out["att"] < out["ci_high"]
    assert out["unit_weights"]["Nevada"] == pytest.approx(
        est.unit_weights["Nevada"], rel=1e-12
    )
    assert len(out["time_weights"]) == 19 and len(out["trajectory"]) == 31
    assert out["trajectory"][0]["Year"] == "1970" and out["dtype"] == "float64"
    assert cli.main([*base, *opts, "--out", str(csv)]) == 0
    tidy = pd.read_csv(csv, keep_default_na=False)
    att = tidy[(tidy.section == "estimate") & (tidy.name == "att")]["value"]
    assert float(att.iloc[0]) == pytest.approx(est.att, rel=1e-12)
    assert set(tidy.section) == {"estimate", "unit_weight", "time_weight", "trajectory"}
    assert cli.main([*base, "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out must end in .json or .csv" in capsys.readouterr().err


def test_treatment_from_unit_and_period_or_adoption_column(tmp_path, capsys):
    df = datasets.prop99().drop(columns="treated")
    df["adopt"] = np.where(df.State == "California", 1989, np.nan)
    path = tmp_path / "p.csv"
    df.to_csv(path, sep=";", index=False)
    base = ["fit", str(path), *PROP99, "--method", "did"]
    assert (
        cli.main([*base, "--treated-unit", "California", "--treated-from", "1989"]) == 0
    )
    assert "ATT      -27.3491" in capsys.readouterr().out
    assert cli.main([*base, "--adoption", "adopt"]) == 0
    assert "ATT      -27.3491" in capsys.readouterr().out
    assert cli.main(base) == 2
    assert "give the treatment one way" in capsys.readouterr().err
    assert (
        cli.main([*base, "--treated-unit", "Atlantis", "--treated-from", "1989"]) == 2
    )
    assert (
        "--treated-unit ['Atlantis'] not in column 'State'" in capsys.readouterr().err
    )


def test_text_dates_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    months = pd.date_range("1924-01-01", periods=15, freq="MS")
    rows = [
        {
            "unit": f"u{i}",
            "month": f"{d.month}/1/{d.year}",
            "y": rng.normal() + 0.1 * s,
            "d": int(i == 0 and s >= 11),
        }
        for i in range(6)
        for s, d in enumerate(months)
    ]
    path = tmp_path / "monthly.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    js = tmp_path / "m.json"
    args = ["fit", str(path), "--unit", "unit", "--time", "month", "--outcome", "y"]
    assert (
        cli.main([*args, "--treatment", "d", "--method", "sdid", "--out", str(js)]) == 0
    )
    text = capsys.readouterr().out
    assert "design: block" in text and "(1924-01-01..1925-03-01)" in text
    assert "read as dates, format %m/%d/%Y" in text
    traj = json.loads(js.read_text())["trajectory"]
    assert [r["month"] for r in traj[:2]] == ["1924-01-01", "1924-02-01"]


def test_computation_errors_are_one_line_with_status_1(tmp_path, capsys):
    rng = np.random.default_rng(4)
    rows = [
        {"u": i, "t": s, "y": rng.normal() * 1e160, "d": int(i == 0 and s >= 4)}
        for i in range(8)
        for s in range(6)
    ]
    path = tmp_path / "huge.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    args = ["fit", str(path), "--unit", "u", "--time", "t", "--outcome", "y"]
    assert cli.main([*args, "--treatment", "d", "--method", "sdid"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxpanel: error: FloatingPointError: sdid: the fit produced")
    assert err.count("\n") == 1


def test_input_faults_are_caught_before_the_fit_and_named_in_cli_terms(
    prop99_csv, tmp_path, capsys
):
    base = ["fit", str(prop99_csv), *PROP99]
    for out, msg in [
        ("est.txt", "--out must end in .json or .csv"),
        ("/no/such/dir/x.json", "no such directory"),
    ]:
        assert cli.main([*base, "--treatment", "treated", "--out", out]) == 2
        captured = capsys.readouterr()
        assert msg in captured.err and captured.out == ""  # refused before fitting
    assert cli.main([*base, "--treatment", "treated", "--reps", "-5"]) == 2
    assert "--reps: must be an integer >= 2" in capsys.readouterr().err
    treated = ["--treated-unit", "California", "--treated-from"]
    assert cli.main([*base, *treated, "abc"]) == 2
    assert "--treated-from ['abc'] is not a period of column 'Year'" in (
        capsys.readouterr().err
    )
    assert cli.main([*base, *treated, "2001"]) == 2
    assert "--treated-from 2001 is after the last period" in capsys.readouterr().err


def test_time_order_and_numeric_unit_ids_on_the_command_line(tmp_path, capsys):
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    rng = np.random.default_rng(0)
    rows = [
        {"id": float(i), "m": names[s], "y": rng.normal() + s}
        for i in range(5)
        for s in range(6)
    ]
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    base = ["fit", str(path), "--unit", "id", "--time", "m", "--outcome", "y"]
    treat = ["--treated-unit", "0", "--treated-from", "Apr"]
    assert cli.main([*base, *treat]) == 2
    assert "--time-order" in capsys.readouterr().err
    assert cli.main([*base, *treat, "--time-order", ",".join(names)]) == 0
    text = capsys.readouterr().out
    assert "pre-periods: 3, post-periods: 3" in text and "(Jan..Jun)" in text


def staggered_csv(tmp_path):
    """A small staggered panel with a covariate and clusters of two units."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(16):
        adopt = {12: 5, 13: 5, 14: 6, 15: 6}.get(i)
        level = rng.normal()
        for t in range(2000, 2009):
            x = rng.normal()
            d = int(adopt is not None and t - 2000 >= adopt)
            y = level + 0.3 * (t - 2000) + 0.5 * x + 2.0 * d + 0.1 * rng.normal()
            rows.append((f"s{i:02d}", t, y, d, x, f"c{i // 2}"))
    df = pd.DataFrame(rows, columns=["unit", "year", "y", "d", "x", "region"])
    path = tmp_path / "stag.csv"
    df.to_csv(path, index=False)
    return path, df


def test_staggered_covariates_cluster_event_study(tmp_path, capsys):
    path, df = staggered_csv(tmp_path)
    base = ["fit", str(path), "--unit", "unit", "--time", "year", "--outcome", "y"]
    base += ["--treatment", "d", "--method", "sdid"]
    out_json = tmp_path / "e.json"
    args = [*base, "--covariates", "x", "--variance", "bootstrap", "--reps", "20"]
    args += ["--cluster", "region", "--event-study", "--out", str(out_json)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "cohorts  2 adoption periods" in out and "covariates x" in out
    assert "Effects by event time" in out
    got = json.loads(out_json.read_text())
    panel = jaxpanel.Panel.from_long(df, "unit", "year", "y", "d", covariates=["x"])
    region = df.groupby("unit")["region"].first()
    est = jaxpanel.sdid(panel).variance("bootstrap", reps=20, cluster=region)
    assert got["att"] == pytest.approx(est.att, abs=1e-12)
    assert got["se"] == pytest.approx(est.se, abs=1e-12)
    assert [c["adoption"] for c in got["cohorts"]] == ["2005", "2006"]
    table = est.event_study()
    assert [r["event_time"] for r in got["event_study"]] == list(table.index)
    assert got["event_study"][-1]["se"] == pytest.approx(table["se"].iloc[-1])


def test_covariate_and_cluster_errors_are_one_line(tmp_path, capsys):
    path, _ = staggered_csv(tmp_path)
    base = ["fit", str(path), "--unit", "unit", "--time", "year", "--outcome", "y"]
    base += ["--treatment", "d"]
    cases = [
        (["--method", "mc", "--covariates", "x"], "mc with covariates needs solver="),
        (["--method", "did", "--covariate-form", "projected", "--covariates", "x"],
         "--covariate-form applies to sc, difp and sdid"),
        (["--method", "sdid", "--cluster", "region"], "--cluster needs --variance"),
        (["--method", "sdid", "--variance", "placebo", "--cluster", "y"],
         "changes within units"),
        (["--method", "sdid", "--covariates", "nope"], "missing columns"),
    ]  # fmt: skip
    for extra, message in cases:
        assert cli.main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
