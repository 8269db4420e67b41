"""Packaging: kernels/ ships as jaxpanel.kernels (never as a top-level `kernels`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jaxpanel.kernels
import pytest

import jaxpanel

REPO = Path(__file__).resolve().parents[1]


def test_jaxpanel_kernels_is_this_repository_kernels():
    installed = Path(jaxpanel.kernels.__file__).resolve().parent
    repo = REPO / "kernels"
    ours = sorted(p.name for p in repo.glob("*.py"))
    assert ours == sorted(p.name for p in installed.glob("*.py"))
    for name in ours:
        assert (installed / name).read_bytes() == (repo / name).read_bytes(), name
    # Editable installs point at the repository itself.
    if installed != repo.resolve():
        assert "site-packages" in str(installed)
    assert sys.modules.get("kernels") is not jaxpanel.kernels


def test_wheel_ships_kernels_inside_jaxpanel(tmp_path):
    pytest.importorskip("setuptools")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    (wheel,) = tmp_path.glob("jaxpanel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "jaxpanel/kernels/twfe.py" in names
    assert "jaxpanel/kernels/_loop.py" in names
    assert "jaxpanel/data/california_prop99.csv" in names
    assert not any(n.startswith("kernels/") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert (
        entry
        and "jaxpanel = jaxpanel.cli:main"
        in zipfile.ZipFile(wheel).read(entry[0]).decode()
    )

    # A regular (non-editable) install of that wheel imports and runs from its own folder.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import jax; jax.config.update('jax_enable_x64', True); import jaxpanel, jaxpanel.kernels; "
        "print(jaxpanel.__file__); print(jaxpanel.kernels.__file__); "
        "print(round(jaxpanel.did(jaxpanel.datasets.prop99_panel()).att, 4))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout.split()
    assert out[0].startswith(str(target)) and out[1].startswith(
        str(target / "jaxpanel" / "kernels")
    )
    assert out[2] == "-27.3491"


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_console_script_runs_demo_in_float32():
    exe = shutil.which("jaxpanel")
    if exe is None:
        pytest.skip(
            "the jaxpanel console script is not on PATH (package not installed)"
        )
    out = subprocess.run(
        [exe, "--dtype", "float32", "demo"], capture_output=True, text=True, check=True
    )
    assert "did" in out.stdout and "-27.34" in out.stdout and "float32" in out.stdout


def test_source_tree_import_without_install(tmp_path):
    """From a checkout with no install (no .pth finder), jaxpanel.kernels maps to kernels/."""
    import site
    import sysconfig

    paths = [
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site.getsitepackages(),
    ]
    code = (
        f"import sys; sys.path[:0] = [{str(REPO)!r}]; sys.path += {paths!r}; "
        "import jaxpanel.kernels as k; print(k.__file__); "
        "from jaxpanel.kernels import twfe; print(twfe.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert out == [str(REPO / "kernels" / "__init__.py"), "jaxpanel.kernels.twfe"]
