"""JAX's persistent compilation cache, on by default in a per-user folder.

jaxpanel's estimators are jitted programs whose compilation (1.5-6 s each on a CPU) is
most of a first call's time. JAX's persistent compilation cache stores the compiled
programs on disk, so a second process with the same panel shapes, options and JAX version
loads them instead of compiling again. On import jaxpanel turns it on in a per-user
folder unless

- the environment variable ``JAXPANEL_COMPILATION_CACHE`` is ``0``, ``off``, ``false``
  or ``no`` (``1``, ``on``, ``true``, ``yes``: the default folder; anything else names
  the folder to use), or
- JAX's cache is already configured or switched off by the user
  (``jax_compilation_cache_dir`` set, e.g. by ``JAX_COMPILATION_CACHE_DIR``, or
  ``JAX_ENABLE_COMPILATION_CACHE=false``): the user's setting is kept, and so is a
  ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` the user set.

The cache is JAX's, so it is process-wide: once jaxpanel turned it on, the process's
other JAX programs are cached in the same folder too (``JAXPANEL_COMPILATION_CACHE=0``
leaves JAX as configured).

:func:`compilation_cache` switches it at run time. The folder grows with the shapes and
options used (JAX keys entries by program, shapes, backend and version); delete it to
reclaim the space.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

ENV = "JAXPANEL_COMPILATION_CACHE"
OFF = ("0", "off", "false", "no")
ON = ("1", "on", "true", "yes")
# compilations shorter than this are not written (JAX's default is 1 s; jaxpanel's user
# level compiles several programs of 0.2-1 s per call)
MIN_COMPILE_SECONDS = 0.2


def default_folder() -> Path:
    """The per-user cache folder: ``<user cache>/jaxpanel/jax``.

    ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
    ``%LOCALAPPDATA%`` on Windows.
    """
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "jaxpanel" / "jax"


def compilation_cache(folder: str | os.PathLike | bool | None = True) -> Path | None:
    """Turn JAX's persistent compilation cache on (in ``folder``) or off.

    Parameters
    ----------
    folder : True (the per-user :func:`default_folder`), a folder, or False / None
        (off: nothing is read or written from now on in this process).

    Returns
    -------
    The folder in use, or None when off (or when the folder cannot be created: the
    cache then stays off, and nothing else changes).

    Notes
    -----
    This sets JAX's ``jax_enable_compilation_cache``, ``jax_compilation_cache_dir`` and
    (unless ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` is set)
    ``jax_persistent_cache_min_compile_time_secs`` (0.2 s), process-wide, as the user
    would with ``jax.config.update``. A relative folder is made absolute.
    """
    _jax_cache.reset_cache()  # JAX opens its cache once; a new setting reopens it
    if folder is False or folder is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    path = default_folder() if folder is True else Path(folder).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update(
            "jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS
        )
    return path


def enable_default() -> Path | None:
    """On import: the cache as the environment says (module docstring)."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in OFF:
        return None
    if setting and setting.lower() not in ON:
        return compilation_cache(setting)
    if jax.config.jax_compilation_cache_dir:  # the user's own choice stands
        return Path(jax.config.jax_compilation_cache_dir)
    if not jax.config.jax_enable_compilation_cache:  # switched off by the user
        return None
    return compilation_cache(True)


__all__ = ["ENV", "compilation_cache", "default_folder", "enable_default"]
