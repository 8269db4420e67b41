"""From a study's design table to a :class:`~jaxpanel.simulate.Design` and its draw."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import simulate
from ..inference import resampling


def _path(base: str, p: Any) -> str | None:
    if p is None:
        return None
    p = Path(str(p))
    return str(p if p.is_absolute() else Path(base) / p)


def _read(d: dict, base: str) -> tuple[str, pd.DataFrame]:
    path = _path(base, d["data"])
    if not Path(path).is_file():
        raise ValueError(f"design data: no such file {path!r}")
    missing = [k for k in ("unit", "time", "outcome", "assignment") if k not in d]
    if missing:
        raise ValueError(f"a data= design needs {', '.join(missing)}= (column names)")
    sep = ";" if Path(path).read_text().split("\n", 1)[0].count(";") else ","
    df = pd.read_csv(path, sep=sep)
    columns = [d["unit"], d["time"], d["outcome"], d["assignment"]]
    columns += list(d.get("covariates", [])) + (
        [d["cluster"]] if "cluster" in d else []
    )
    for c in columns:
        if c not in df.columns:
            raise ValueError(f"{path}: no column {c!r} (columns: {list(df.columns)})")
    return path, df


def _from_data(d: dict, base: str, rules: dict) -> simulate.Design:
    path, df = _read(d, base)
    Y = df.pivot(index=d["unit"], columns=d["time"], values=d["outcome"])
    if Y.isna().any().any():
        raise ValueError(f"{path}: the panel is unbalanced or has missing outcomes")
    D = df.groupby(d["unit"])[d["assignment"]].max().reindex(Y.index).astype(float)
    X = None
    if d.get("covariates"):
        mats = []
        for c in d["covariates"]:
            x = df.pivot(index=d["unit"], columns=d["time"], values=c)
            x = x.reindex(index=Y.index, columns=Y.columns)
            if x.isna().any().any():
                units = list(x.index[x.isna().any(axis=1)])
                raise ValueError(
                    f"{path}: covariate {c!r} is missing for units {units[:5]}"
                    + (" ..." if len(units) > 5 else "")
                    + "; a study's covariates need every cell (drop those units)"
                )
            try:
                mats.append(x.to_numpy(float))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}: covariate {c!r} is not numeric (e.g. {x.iloc[0, 0]!r}); "
                    "a study's covariates are numbers"
                ) from None
        X = np.stack(mats)
    return simulate.calibrate(Y.to_numpy(float), D.to_numpy(), X=X, **rules)


def cluster_codes(d: dict, base: str = ".") -> np.ndarray | None:
    """(N,) cluster codes (0..G-1) of a data design's units (its ``cluster`` column).

    Units in the design's order (sorted labels, as the outcome matrix); None without
    ``cluster``.

    Raises
    ------
    ValueError
        A unit with several clusters or none.
    """
    if "cluster" not in d:
        return None
    path, df = _read(d, base)
    units = pd.Index(sorted(df[d["unit"]].unique()))  # the outcome matrix's rows
    try:  # the user level's mapping of a long column to units
        codes = resampling.cluster_codes(
            SimpleNamespace(units=units, N=len(units)),
            df.set_index(d["unit"])[d["cluster"]],
        )
    except ValueError as e:
        raise ValueError(
            f"{path}: column {d['cluster']!r}: {e}; a cluster must be constant within "
            "a unit"
        ) from None
    return codes.astype(np.int32)


def build_design(d: dict, base: str = ".") -> simulate.Design:
    """The :class:`~jaxpanel.simulate.Design` a study's design table describes.

    Parameters
    ----------
    d : the table: ``preset`` ('cps', 'pwt', 'prop99', 'germany', 'basque') with its
        ``outcome`` (cps and pwt), ``assignment`` and ``path`` (not prop99), or ``data``
        (a CSV, long) with ``unit``, ``time``, ``outcome`` and ``assignment`` columns; then ``n_treated``, ``n_post``,
        ``round_ar``, the switches ``M``, ``F``, ``noise``, ``autocorrelation``,
        ``heteroskedastic`` ('unit', 'time' or 'both', with ``heteroskedastic_ratio``,
        the largest over the smallest noise sd, default 4). A data design may name
        ``covariates`` (columns, held at their observed values; the outcome's
        coefficients on them calibrated, see :func:`jaxpanel.simulate.calibrate`, or
        given by ``covariate_effect``, in the design's standardised outcome units) and
        a ``cluster`` column (:func:`cluster_codes`).
    base : folder for relative paths.

    Returns
    -------
    Design.

    Raises
    ------
    ValueError
        An unknown preset, missing files or columns, bad options.
    """
    # unrounded AR(2) by default for data= designs too, as the presets (the TROP authors)
    rules = {"round_ar": d.get("round_ar", False)}
    n_post = d.get("n_post")
    n_post = tuple(n_post) if isinstance(n_post, list) else n_post
    n = {"n_treated": d.get("n_treated"), "n_post": n_post}
    if "preset" in d:
        for k in ("covariates", "covariate_effect", "cluster"):
            if k in d:
                raise ValueError(
                    f"{k}= needs a data= design (the presets have no covariates or "
                    "clusters)"
                )
        preset = d["preset"]
        if preset not in simulate.PRESETS:
            raise ValueError(
                f"unknown preset {preset!r}; choose one of {', '.join(simulate.PRESETS)}"
            )
        takes = inspect.signature(simulate.PRESETS[preset]).parameters
        if "outcome" in d and "outcome" not in takes:
            raise ValueError(
                f"preset {preset!r} has one outcome (see jaxpanel.simulate.{preset}); "
                "remove outcome= from the design"
            )
        kw = {k: d[k] for k in ("outcome", "assignment") if k in d}
        if "path" in takes:
            kw["path"] = _path(base, d.get("path"))
        kw.update(rules)
        kw.update({k: v for k, v in n.items() if v is not None})
        design = simulate.PRESETS[preset](**kw)
    else:
        design = _from_data(d, base, rules)
        changes = {}
        if n["n_treated"] is not None:
            changes["n_treated_max"] = n["n_treated"]
        if n["n_post"] is not None:
            changes["n_post"] = n["n_post"]
        if "covariate_effect" in d:
            changes["beta"] = np.asarray(d["covariate_effect"], float)
        design = dataclasses.replace(design, **changes)
    design = simulate.switch(
        design,
        M=d.get("M", True),
        F=d.get("F", True),
        noise=d.get("noise", True),
        autocorrelation=d.get("autocorrelation", True),
    )
    het = d.get("heteroskedastic")
    if het is not None:
        if het not in ("unit", "time", "both"):
            raise ValueError(
                f"heteroskedastic must be 'unit', 'time' or 'both', got {het!r}"
            )
        ratio = float(d.get("heteroskedastic_ratio", 4.0))
        N, T = design.shape
        unit = np.geomspace(1.0, ratio, N) if het in ("unit", "both") else None
        time = np.geomspace(1.0, ratio, T) if het in ("time", "both") else None
        design = simulate.with_heteroskedasticity(design, unit, time)
    return design


def draw_fn(rules: tuple, heterogeneous: bool):
    """``(a, effect, effect_sd, key) -> (Y, W, truth, cell)`` for designs with these rules.

    ``a`` are the design's :func:`~jaxpanel.simulate.arrays` (traced: one compiled draw
    serves every design of a shape). The effect is ``effect`` on every treated cell,
    plus, when ``heterogeneous``, an independent N(0, effect_sd^2) per cell drawn from
    the key; the truth is the mean effect over the treated cells.
    """

    def one(a, effect, effect_sd, key):
        k_draw, k_effect = jax.random.split(key)
        cell = effect
        if heterogeneous:
            shape = a["base"].shape
            noise = jax.random.normal(k_effect, shape, a["base"].dtype)
            cell = effect + effect_sd * noise
        Y, W = simulate.draw_arrays(a, rules, k_draw, cell)
        truth = jnp.sum(W * cell) / jnp.sum(W)
        return Y, W, truth, jnp.broadcast_to(cell, W.shape)

    return one


def design_arrays(design: simulate.Design, dtype) -> dict:
    """The design's arrays as JAX arrays of ``dtype`` (bool masks kept bool)."""
    return {
        k: jnp.asarray(v) if v.dtype == bool else jnp.asarray(v, dtype)
        for k, v in simulate.arrays(design).items()
    }


def replication(design: simulate.Design, d: dict, dtype):
    """``key -> (Y, W, truth)``: one replication of a study's design table ``d``.

    Parameters
    ----------
    design : :func:`build_design` of ``d``. d : the design table (``effect``,
        ``effect_sd``). dtype : the working dtype.

    Returns
    -------
    The function (pure; vmappable over keys). A design with covariates has them in
    ``design.X`` (the same in every replication).
    """
    sd = float(d.get("effect_sd", 0.0))
    fn = draw_fn(simulate.rules(design), sd > 0)
    a = design_arrays(design, dtype)
    effect = jnp.asarray(float(d.get("effect", 0.0)), dtype)
    return lambda key: fn(a, effect, jnp.asarray(sd, dtype), key)[:3]


__all__ = [
    "build_design",
    "cluster_codes",
    "design_arrays",
    "draw_fn",
    "replication",
]
