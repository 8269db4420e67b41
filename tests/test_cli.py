"""The command line: demo table, fit on a CSV, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


@pytest.mark.parametrize(
    "change,message",
    [
        ({"--unit": "Stat"}, "missing columns: unit='Stat'"),
        ({"--method": "nope"}, "unknown method 'nope'"),
        ({"file": "/no/such/file.csv"}, "no such file"),
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
