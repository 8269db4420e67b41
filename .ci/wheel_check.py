"""Run by .ci/run in a fresh virtual environment holding the built wheel (not editable).

Imports every module of the checkout's package from the installed wheel, from a directory
outside the checkout, and checks that each one comes from the environment, not the
checkout: a subpackage left out of the wheel fails here. Usage: wheel_check.py CHECKOUT
"""

import importlib
import os
import sys
from pathlib import Path

checkout = Path(sys.argv[1]).resolve()
root = checkout / "jaxpanel"
modules = []
for folder, dirs, files in os.walk(root, followlinks=True):
    dirs[:] = [d for d in dirs if (Path(folder) / d / "__init__.py").exists()]
    prefix = ".".join(("jaxpanel", *Path(folder).relative_to(root).parts))
    modules += [
        prefix if f == "__init__.py" else f"{prefix}.{f[:-3]}"
        for f in files
        if f.endswith(".py")
    ]
assert Path.cwd().resolve() != checkout and checkout not in Path.cwd().resolve().parents
for name in sorted(modules):
    mod = importlib.import_module(name)
    where = Path(mod.__file__).resolve()
    if checkout in where.parents:
        sys.exit(f"{name} was imported from the checkout ({where}), not the wheel")
print(f"wheel: {len(modules)} modules import from {Path(importlib.import_module('jaxpanel').__file__).parent}")
