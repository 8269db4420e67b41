"""Packaging: every subpackage ships; kernels/ ships as jaxpanel.kernels (never `kernels`).

The wheel is built with package discovery and ``jaxpanel/kernels`` is a symbolic link to the
repository's top-level ``kernels/`` folder: the same files are imported from a checkout, an
editable install and the wheel. ``.ci/run`` also installs the wheel into a fresh virtual
environment (its dependencies from the index) and runs ``jaxpanel demo`` from outside the
checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import jaxpanel
import jaxpanel.kernels

REPO = Path(__file__).resolve().parents[1]


def source_modules() -> list[str]:
    """Every module of the package in this checkout (symbolic links followed)."""
    out = []
    root = REPO / "jaxpanel"
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if (Path(folder) / d / "__init__.py").exists()]
        rel = Path(folder).relative_to(root)
        prefix = ".".join(("jaxpanel", *rel.parts))
        for f in files:
            if f.endswith(".py"):
                out.append(prefix if f == "__init__.py" else f"{prefix}.{f[:-3]}")
    return sorted(out)


def test_every_source_module_imports():
    import importlib

    modules = source_modules()
    assert "jaxpanel.inference.resampling" in modules
    assert "jaxpanel.kernels.twfe" in modules
    for name in modules:  # __main__ included: importing it must not run the CLI
        importlib.import_module(name)


def test_jaxpanel_kernels_is_this_repository_kernels():
    installed = Path(jaxpanel.kernels.__file__).resolve().parent
    repo = (REPO / "kernels").resolve()
    ours = sorted(p.name for p in repo.glob("*.py"))
    assert ours == sorted(p.name for p in installed.glob("*.py"))
    for name in ours:
        assert (installed / name).read_bytes() == (repo / name).read_bytes(), name
    # Checkouts and editable installs import the repository's own files.
    if installed != repo:
        assert "site-packages" in str(installed)
    assert sys.modules.get("kernels") is not jaxpanel.kernels
    assert jaxpanel.plot.__name__ == "jaxpanel.plot"
    assert jaxpanel.simulate.__name__ == "jaxpanel.simulate"


def test_wheel_ships_every_module(tmp_path):
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
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in source_modules():
        parts = module.split(".")
        path = "/".join(parts) + ("/__init__.py" if module.count(".") == 0 else ".py")
        package = "/".join(parts) + "/__init__.py"
        assert path in names or package in names, f"{module} is not in the wheel"
    assert "jaxpanel/data/california_prop99.csv" in names
    assert not any(n.startswith("kernels/") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert (
        entry
        and "jaxpanel = jaxpanel.cli:main"
        in zipfile.ZipFile(wheel).read(entry[0]).decode()
    )

    # A regular (non-editable) install of that wheel imports every module from its own
    # folder, outside the checkout.
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
    modules = source_modules()
    code = (
        "import importlib, jax; jax.config.update('jax_enable_x64', True)\n"
        f"for m in {modules!r}:\n"
        "    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(target)!r}), mod.__file__\n"
        "import jaxpanel\n"
        "print(round(jaxpanel.did(jaxpanel.datasets.prop99_panel()).att, 4))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["-27.3491"]


@pytest.mark.slow  # CI budget: slower than 10 s on 2 cores
def test_console_script_runs_demo_in_float32():
    # the script of the environment running the tests, not whichever is first on PATH
    import sysconfig

    exe = shutil.which("jaxpanel", path=sysconfig.get_path("scripts"))
    if exe is None:
        pytest.skip(
            "the jaxpanel console script is not installed in this environment "
            f"({sysconfig.get_path('scripts')})"
        )
    out = subprocess.run(
        [exe, "--dtype", "float32", "demo"], capture_output=True, text=True, check=True
    )
    assert "did" in out.stdout and "-27.34" in out.stdout and "float32" in out.stdout


def test_source_tree_import_without_install(tmp_path):
    """From a checkout with no install (no finder), jaxpanel.kernels is kernels/."""
    import site
    import sysconfig

    paths = [
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site.getsitepackages(),
    ]
    code = (
        f"import sys; sys.path[:0] = [{str(REPO)!r}]; sys.path += {paths!r}; "
        "import os, jaxpanel.kernels as k; print(os.path.realpath(k.__file__)); "
        "from jaxpanel.kernels import twfe; print(twfe.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert out == [
        str((REPO / "kernels" / "__init__.py").resolve()),
        "jaxpanel.kernels.twfe",
    ]


CACHE_PROBE = """
import jax, json, sys
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None
)
import jaxpanel
est = jaxpanel.did(jaxpanel.datasets.prop99_panel())
print(json.dumps({
    "dir": jax.config.jax_compilation_cache_dir,
    "on": jax.config.jax_enable_compilation_cache,
    "hits": len(hits),
    "att": est.att,
}))
"""


def test_compilation_cache_is_per_user_by_default_and_can_be_switched(tmp_path):
    def probe(**env):
        full = {k: v for k, v in os.environ.items() if not k.startswith("JAX")}
        full.pop("JAXPANEL_COMPILATION_CACHE", None)
        full.update(env)
        out = subprocess.run(
            [sys.executable, "-c", CACHE_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env=full,
            cwd=tmp_path,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    home = tmp_path / "xdg"
    first = probe(XDG_CACHE_HOME=str(home))
    folder = home / "jaxpanel" / "jax"
    assert first["dir"] == str(folder) and first["on"]
    assert any(folder.iterdir())  # compiled programs written
    second = probe(XDG_CACHE_HOME=str(home))  # a new process reads them back
    assert second["hits"] > 0 and second["att"] == first["att"]
    off = probe(XDG_CACHE_HOME=str(tmp_path / "other"), JAXPANEL_COMPILATION_CACHE="0")
    assert off["dir"] is None and not (tmp_path / "other").exists()
    own = probe(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "mine"))
    assert own["dir"] == str(tmp_path / "mine")  # the user's own setting stands
    assert not probe(JAX_ENABLE_COMPILATION_CACHE="false")["on"]  # and their "off"
    on = probe(XDG_CACHE_HOME=str(home), JAXPANEL_COMPILATION_CACHE="1")
    assert on["dir"] == str(folder) and not (tmp_path / "1").exists()
    rel = probe(JAXPANEL_COMPILATION_CACHE="relative/cache")
    assert rel["dir"] == str((tmp_path / "relative" / "cache").resolve())
