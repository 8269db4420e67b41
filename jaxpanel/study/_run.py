"""The study runner: batched chunks, atomic Parquet checkpoints, resume, several processes.

Replication r of design d uses the key ``fold_in(fold_in(key(seed), d), r)``: its panel,
its estimators' draws (MC's folds) and its variance replicates come from that key alone,
so the rows do not depend on the chunk size, the devices, the processes or on how often
the run was interrupted. A chunk (``chunk`` replications of one design, every estimator on
the same panels) is one file, written to a temporary name and renamed when complete: a
killed run leaves no partial chunk, and the same command resumes where it stopped.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import platform
import time
import warnings
from pathlib import Path
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .. import batch, simulate
from ..estimators import REGISTRY
from ..estimators._core import att_or_nan
from ..estimators._synth import OPTIONS as SYNTH_OPTIONS
from ..estimators.batched import batched
from ..fit import event_effects, event_means
from ..inference import InferenceWarning
from ..kernels import status_name
from ..panel import Panel
from ._designs import (
    build_design,
    cluster_codes,
    design_arrays,
    draw_fn,
    replication,
)
from ._spec import Study, estimator_options, variance_mode

MANIFEST = "_manifest.json"  # '_' prefix: Parquet dataset readers skip it
LANES = 8  # replications per device in one batch (fixed: results independent of chunk)


def _rep_keys(seed: int, design: int, start: int, stop: int) -> jax.Array:
    base = jax.random.fold_in(batch.key(seed), design)
    return jax.vmap(lambda r: jax.random.fold_in(base, r))(jnp.arange(start, stop))


def _draws(one, key, reps: int) -> dict:
    """``one`` on ``reps`` replicate keys ``fold_in(key, b)``."""
    return jax.vmap(one)(
        jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(reps))
    )


def _spread(draws: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Valid draws and their variance ``(1/n) sum (x - mean)^2`` (R synthdid's).

    Along the first axis: ``draws`` (B,) or (B, E) (effects by event time, each entry
    over its own valid draws).
    """
    ok = jnp.isfinite(draws)
    n = ok.sum(axis=0, keepdims=True).astype(draws.dtype)
    mean = jnp.where(ok, draws, 0).sum(axis=0, keepdims=True) / n
    var = jnp.where(ok, (draws - mean) ** 2, 0).sum(axis=0, keepdims=True) / n
    return n[0], var[0]


def _se(n, var, defined):
    return jnp.where(defined & (n > 1), jnp.sqrt(var), jnp.nan)


def _ses(draws: dict, defined, jackknife: bool = False) -> dict:
    """``{"se", "event_se"}`` of a method's draws of the ATT and the event effects."""
    out = {}
    for key, name in (("att", "se"), ("event", "event_se")):
        n, var = _spread(draws[key])
        if jackknife:  # ((n - 1)/n) sum (x - mean)^2
            var = (n - 1) * var
        out[name] = _se(n, var, defined)
    return out


def _treated_clusters(W, codes, n_clusters: int):
    """(G,) whether each cluster has a treated unit."""
    treated = W.max(axis=1) > 0
    return jnp.zeros(n_clusters, bool).at[codes].max(treated)


def _placebo(rep, Y, W, mask, key, reps: int, codes, n_clusters: int):
    """Unit placebo (Arkhangelsky et al. 2021, Alg. 4) of one replication, in-jit.

    Over clusters (``codes`` (N,), ``n_clusters`` of one size; one unit each without a
    cluster column): the clusters with a treated unit leave, and as many control
    clusters, drawn at random, take their units' rows unit by unit in order (Stata
    ``sdid``'s ``cluster()``, :func:`jaxpanel.inference.placebo`).
    """
    N, T = Y.shape
    G = n_clusters
    members = jnp.argsort(codes, stable=True).reshape(G, N // G)
    tr_cl = _treated_clusters(W, codes, G)
    n_tr = tr_cl.sum()
    freq = (~tr_cl[codes]).astype(Y.dtype)
    # the treated clusters' rows, treated clusters first (in index order)
    blocks = W[members[jnp.argsort(~tr_cl, stable=True)]]
    rows = jnp.where((jnp.arange(G) < n_tr)[:, None, None], blocks, 0.0)

    data = rep.refit_data()  # shared by the replicates (built once per panel)

    def one(k):
        u = jnp.where(tr_cl, jnp.inf, jax.random.uniform(k, (G,), Y.dtype))
        # the n_tr control clusters of smallest u take the treated clusters' rows
        target = members[jnp.argsort(u)].reshape(-1)
        Wb = jnp.zeros_like(W).at[target].set(rows.reshape(-1, T))
        return rep.refit(data, Wb, freq, mask)

    feasible = (G - n_tr) > n_tr  # more control clusters than treated ones (Alg. 4)
    return _ses(_draws(one, key, reps), feasible)


def _jackknife(
    rep, Y, W, mask, key, reps: int, codes, n_clusters: int, refit: bool = False
):
    """Jackknife (Alg. 3) in-jit; NaN with one treated unit (cluster).

    Each unit (cluster) left out, the weights held fixed (``refit``: re-estimated, as
    ``jaxpanel.inference.jackknife(refit=True)``). Staggered SC-family fits: NaN when an
    adoption cohort's units are in one cluster (the user level and Stata sdid refuse).
    """
    treated = W.max(axis=1) > 0

    def refitted(data, freq):
        return rep.refit(data, W, freq, mask)

    fixed = refitted if refit or rep.fixed is None else rep.fixed

    data = rep.refit_data() if fixed is refitted else rep.data

    def one(g):
        return fixed(data, (codes != g).astype(Y.dtype))

    draws = jax.vmap(one)(jnp.arange(n_clusters, dtype=jnp.int32))
    defined = _treated_clusters(W, codes, n_clusters).sum() > 1
    if "adoptions" in rep.data:  # staggered: every cohort in two clusters or more
        first = jnp.where(treated, jnp.argmax(W > 0, axis=1), -1).astype(jnp.int32)
        member = first[None, :] == rep.data["adoptions"][:, None]  # (C, N)
        spread = jnp.zeros((member.shape[0], n_clusters), bool).at[:, codes].max(member)
        defined = defined & ~jnp.any(spread.sum(axis=1) == 1)
    return _ses(draws, defined, jackknife=True)


def _bootstrap(rep, Y, W, mask, key, reps: int, codes, n_clusters: int):
    """Bootstrap (Alg. 2): units (whole clusters) resampled as frequencies, refitted.

    A draw without a treated or without a control unit is left out (R redraws it).
    """
    G = n_clusters
    treated = W.max(axis=1) > 0

    data = rep.refit_data()

    def one(k):
        drawn = jax.random.randint(k, (G,), 0, G)
        counts = jnp.zeros(G, Y.dtype).at[drawn].add(1.0)[codes]
        drawn_treated = jnp.where(treated, counts, 0.0).sum()
        valid = (drawn_treated > 0) & (drawn_treated < counts.sum())
        out = rep.refit(data, W, counts, mask)
        return jax.tree.map(lambda x: jnp.where(valid, x, jnp.nan), out)

    return _ses(_draws(one, key, reps), _treated_clusters(W, codes, G).sum() > 1)


METHODS = {
    "placebo": _placebo,
    "bootstrap": _bootstrap,
    "jackknife": _jackknife,
    "jackknife_refit": functools.partial(_jackknife, refit=True),
}


def _chunk_fn(
    b, rules: tuple, heterogeneous: bool, variance: tuple, n_clusters: int, events: bool
):
    """``(a, params, effect, effect_sd, est_index, keys) -> dict of (B,) arrays``.

    Jitted and batched over the keys; the design's arrays and the estimator's numeric
    options are arguments, so one compilation serves every design of a shape. Each
    variance method is its own compiled program (refitting the estimate first): XLA's
    CPU runtime was seen to deadlock on one program holding two methods' batches.
    ``a["cluster"]`` (N,) are the units' cluster codes (``n_clusters`` of them);
    ``events``: the outputs add effects by event time (B, 2T - 1) with their truth and
    each method's SEs.
    """
    draw = draw_fn(rules, heterogeneous)

    def fitted(a, params, effect, effect_sd, est_index, key):
        Y, W, truth, cell = draw(a, effect, effect_sd, jax.random.fold_in(key, 0))
        mask = jnp.ones_like(Y)
        k_est = jax.random.fold_in(jax.random.fold_in(key, 1), est_index)
        X = a.get("X")
        return Y, W, truth, cell, mask, k_est, X, b.fit(params, Y, W, mask, k_est, X)

    def point(*args):
        Y, W, truth, cell, mask, _, _, f = fitted(*args)
        # the treated units' noise sd factor over the controls' (1: homoskedastic)
        scale = args[0]["unit_scale"]
        treated = (W.max(axis=1) > 0).astype(scale.dtype)
        ratio = ((scale * treated).sum() / treated.sum()) / (
            (scale * (1 - treated)).sum() / (1 - treated).sum()
        )
        out = {
            "estimate": att_or_nan(f),
            "truth": truth,
            "status": f.status,
            "treated_noise": ratio,
        }
        if events:
            out["event"] = event_effects(f, Y, W, mask, leads=b.leads)[0]
            # the true effects: the cell effects' means (0 before adoption)
            out["event_truth"] = event_means(cell * W, W, mask, leads=b.leads)[0]
        return out

    def method_fn(vi: int, method: str, reps: int):
        def one(*args):
            Y, W, _, _, mask, k_est, X, f = fitted(*args)
            rep = b.replicator(args[1], Y, W, mask, f, X)
            k_var = jax.random.fold_in(jax.random.fold_in(k_est, 2), vi)
            codes = args[0]["cluster"]
            ses = METHODS[method](rep, Y, W, mask, k_var, reps, codes, n_clusters)
            out = {f"v{vi}_se": ses["se"]}
            if events:
                out[f"v{vi}_event_se"] = ses["event_se"]
            return out

        return one

    axes = (None, None, None, None, None, 0)
    fns = [point] + [method_fn(vi, m, r) for vi, m, r in variance]
    compiled = [jax.jit(jax.vmap(fn, in_axes=axes)) for fn in fns]

    def run(*args):
        out = {}
        for fn in compiled:
            out.update(fn(*args))
        return out

    return run


class _Lanes:
    """The compiled chunk functions of a run, one per estimator configuration and shape."""

    def __init__(self, spec: Study, dtype):
        self.spec, self.dtype, self.cache, self.arrays = spec, dtype, {}, {}
        self.clusters: dict[int, int] = {}
        self.variance = tuple(
            (
                vi,
                v["method"] + ("_refit" if v.get("refit") else ""),
                int(v.get("reps", 200)),
            )
            for vi, v in enumerate(spec.variance)
            if variance_mode(v) == "batched"
        )

    def __call__(self, di: int, design, ei: int, codes):
        """``keys -> outputs`` of estimator ``ei`` on design ``di``.

        ``codes``: the design's cluster codes (:func:`cluster_codes`), or None.
        """
        d = self.spec.designs[di]
        name, opts = estimator_options(self.spec, di, ei)
        staggered = len(design.post_lengths) > 1
        b = batched(
            name,
            opts,
            max_cells=design.max_treated * max(design.post_lengths),
            adoptions=design.adoptions if staggered else None,
            covariates=design.X is not None,
        )
        sd = float(d.get("effect_sd", 0.0))
        rules = simulate.rules(design)
        if di not in self.arrays:  # once per design, shared by its estimators
            codes = np.arange(design.shape[0]) if codes is None else codes
            self.arrays[di] = {
                **design_arrays(design, self.dtype),
                "cluster": jnp.asarray(codes, jnp.int32),
            }
            self.clusters[di] = int(codes.max()) + 1
        G, events = self.clusters[di], self.spec.event_study is not None
        key = (b.static, rules, design.shape, sd > 0, self.variance, G, events)
        if key not in self.cache:
            self.cache[key] = _chunk_fn(b, rules, sd > 0, self.variance, G, events)
        fn, dt = self.cache[key], self.dtype
        a = self.arrays[di]
        params = {k: jnp.asarray(v, dt) for k, v in b.params.items()}
        effect = jnp.asarray(float(d.get("effect", 0.0)), dt)
        return lambda keys: fn(a, params, effect, jnp.asarray(sd, dt), ei, keys)


def _library(
    spec: Study, di: int, ei: int, design, codes, start: int, stop: int, dtype
):
    """The library-mode variance methods of estimator ``ei`` on replications start..stop.

    Each replication's panel is drawn again from its key (the same draw as the batched
    fit), the estimator fitted by its user-level function with the study's options, and
    ``jaxpanel.inference.variance`` called with the key ``fold_in(fold_in(k_est, 2),
    vi)`` (as the batched methods). A method that does not apply gives NaN; an
    ``InferenceWarning`` is recorded in ``{m}_warned``.
    """
    d = spec.designs[di]
    name, opts = estimator_options(spec, di, ei)
    fn = REGISTRY[name]
    accepted = inspect.signature(fn).parameters
    if name in SYNTH_OPTIONS and opts.get("covariates") is False:
        opts["covariates"] = None  # the user level's spelling
    opts = {k: v for k, v in opts.items() if v is not None and k in accepted}
    draw = replication(design, d, dtype)
    X, names = design.X, list(d.get("covariates", []))
    window = spec.event_study
    todo = [
        (vi, v) for vi, v in enumerate(spec.variance) if variance_mode(v) == "library"
    ]
    cols: dict[str, list] = {}
    for r in range(start, stop):
        key = _rep_keys(spec.seed, di, r, r + 1)[0]
        Y, W, _ = draw(jax.random.fold_in(key, 0))
        panel = Panel.from_arrays(
            np.asarray(Y),
            np.asarray(W),
            X=None if X is None else np.asarray(X, float),
            covariate_names=names or None,
        )
        est = fn(panel, **opts)
        k_est = jax.random.fold_in(jax.random.fold_in(key, 1), ei)
        for vi, v in todo:
            kw = {"level": float(v.get("level", 0.95)), "progress": False}
            if v["method"] in ("placebo", "bootstrap", "conditional", "conformal"):
                kw["seed"] = jax.random.fold_in(jax.random.fold_in(k_est, 2), vi)
                if "reps" in v:
                    kw["reps"] = int(v["reps"])
            if "reference" in v:
                kw["reference"] = v["reference"]
            if v.get("refit"):
                kw["refit"] = True
            if codes is not None:  # the study refuses other methods with clusters
                kw["cluster"] = codes
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", InferenceWarning)
                try:
                    res = est.variance(v["method"], **kw).inference
                except (ValueError, FloatingPointError):
                    res = None
            if window is not None:
                cov = getattr(res, "event_cov", None)
                T = Y.shape[1]
                se = np.full(2 * T - 1, np.nan)
                if cov is not None:
                    se = np.sqrt(np.diag(np.asarray(cov, float)))
                cols.setdefault(f"v{vi}_event_se", []).append(se)
            warned = any(issubclass(w.category, InferenceWarning) for w in caught)
            if res is None:
                vals = (np.nan, np.nan, np.nan, np.nan, "[]", "", 0)
            else:
                bounds = np.asarray(res.ci_set, float)
                vals = (
                    np.nan if res.se is None else float(res.se),
                    float(bounds.min()),
                    float(bounds.max()),
                    float(res.p_value),
                    json.dumps(bounds.tolist()),
                    res.reference,
                    int(res.n_valid),
                )
            for col, val in zip(
                ("se", "ci_lo", "ci_hi", "p", "set", "reference", "n", "warned"),
                vals + (warned,),
            ):
                cols.setdefault(f"v{vi}_{col}", []).append(val)
    return {k: np.asarray(v) for k, v in cols.items()}


def _event_columns(out: dict, key: str, window) -> dict[str, np.ndarray]:
    """Columns ``e -> values`` of event times ``window[0]..window[1]`` from (B, 2T - 1)."""
    values = np.asarray(out[key], float)
    T = (values.shape[1] + 1) // 2
    cols = {}
    for e in range(window[0], window[1] + 1):
        k = e + T - 1
        ok = 0 <= k < values.shape[1]
        cols[e] = values[:, k] if ok else np.full(values.shape[0], np.nan)
    return cols


def _rows(spec: Study, di: int, start: int, outs: list[dict]) -> pd.DataFrame:
    name = spec.design_names()[di]
    frames = []
    for label, out in zip(spec.labels, outs):
        out = {k: np.asarray(v) for k, v in out.items()}
        n = out["estimate"].shape[0]
        f = pd.DataFrame(
            {
                "design": name,
                "estimator": label,
                "rep": np.arange(start, start + n, dtype=np.int64),
                "estimate": out["estimate"].astype(float),
                "truth": out["truth"].astype(float),
            }
        )
        f["error"] = f["estimate"] - f["truth"]
        f["status"] = [status_name(int(c)) for c in out["status"]]
        f["treated_noise"] = out["treated_noise"].astype(float)
        window = spec.event_study
        events = {}  # added at once (column by column fragments the frame)
        if window is not None:
            truth = _event_columns(out, "event_truth", window)
            for e, col in _event_columns(out, "event", window).items():
                events[f"event_{e}"] = col
                events[f"event_{e}_truth"] = truth[e]
            for vi, v in enumerate(spec.variance):
                ses = _event_columns(out, f"v{vi}_event_se", window)
                for e, col in ses.items():
                    events[f"{v['method']}_event_{e}_se"] = col
        for vi, v in enumerate(spec.variance):
            m, level = v["method"], float(v.get("level", 0.95))
            if variance_mode(v) == "library":
                for col in ("se", "ci_lo", "ci_hi", "p", "set", "reference", "n"):
                    f[f"{m}_{col}"] = out[f"v{vi}_{col}"]
                f[f"{m}_warned"] = out[f"v{vi}_warned"].astype(bool)
                f[f"{m}_level"] = level
                continue
            z = NormalDist().inv_cdf(0.5 + level / 2)
            se = out[f"v{vi}_se"].astype(float)
            f[f"{m}_se"] = se
            f[f"{m}_ci_lo"] = f["estimate"] - z * se
            f[f"{m}_ci_hi"] = f["estimate"] + z * se
            zstat = np.abs(f["estimate"].to_numpy()) / se
            f[f"{m}_p"] = [
                2 * (1 - NormalDist().cdf(x)) if np.isfinite(x) else np.nan
                for x in zstat
            ]
            f[f"{m}_level"] = level
        if events:
            f = pd.concat([f, pd.DataFrame(events, index=f.index)], axis=1)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def _write(df: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    os.replace(tmp, path)  # atomic: a reader sees the whole chunk or none of it


def _timing(out: Path, di: int, c: int, n: int, seconds: dict) -> None:
    """Seconds per estimator of one chunk (first chunks include compilation)."""
    where = out / "_timing"
    where.mkdir(exist_ok=True)
    rec = {"design": di, "chunk": c, "reps": n, "seconds": seconds}
    path = where / chunk_name(di, c).replace(".parquet", ".json")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, path)


def _manifest(spec: Study) -> dict:
    dev = jax.devices()[0]
    import importlib.metadata as md

    return {
        "study": spec.to_dict(),
        "hash": spec.hash(),
        "jaxpanel": md.version("jaxpanel"),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "dtype": spec.dtype,
    }


def _prepare(spec: Study, out: Path) -> None:
    # every design is built (and so checked) before anything is written
    placebo = any(v["method"] == "placebo" for v in spec.variance)
    for name, d in zip(spec.design_names(), spec.designs):
        build_design(d, spec.base)
        codes = cluster_codes(d, spec.base)
        if placebo and codes is not None and len(set(np.bincount(codes))) > 1:
            raise ValueError(
                f"design {name}: the clustered placebo moves whole clusters unit by "
                f"unit and needs clusters of one size (sizes here: "
                f"{sorted(set(np.bincount(codes).tolist()))}); use the bootstrap or "
                "jackknife with these clusters"
            )
    path = out / MANIFEST
    visible = out.exists() and any(not p.name.startswith(".") for p in out.iterdir())
    if visible and not path.exists():
        raise ValueError(
            f"{out} is not empty and holds no study; choose a new or empty --out folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    new = _manifest(spec)
    if path.exists() and any(out.glob("*.parquet")):
        old = json.loads(path.read_text())
        if old.get("hash") != new["hash"]:
            raise ValueError(
                f"{out} holds results of another study (hash {old.get('hash', '?')[:12]} "
                f"vs {new['hash'][:12]}); run the changed study into a new --out folder"
            )
        if old["study"]["chunk"] != spec.chunk:
            raise ValueError(
                f"{out} was run with chunk={old['study']['chunk']}; resume with the same "
                "chunk (results do not depend on it, its files' names do)"
            )
        return
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(new, indent=2, default=str))
    os.replace(tmp, path)


def _batches(fn, seed: int, di: int, start: int, stop: int, mesh) -> dict:
    """``fn`` over replications ``start..stop`` in batches of one fixed width.

    Every replication is computed in a batch of ``LANES`` per device whatever the
    chunk size (the last batch padded), so its numbers do not depend on the chunk size.
    """
    width = LANES * mesh.size
    parts = []
    for a in range(start, stop, width):
        keys = _rep_keys(seed, di, a, a + width)
        keys = jax.device_put(keys, NamedSharding(mesh, PartitionSpec("r")))
        n = min(width, stop - a)
        parts.append({k: np.asarray(v)[:n] for k, v in fn(keys).items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def chunk_name(design: int, chunk: int) -> str:
    """File name of one chunk's rows."""
    return f"d{design:03d}-c{chunk:06d}.parquet"


def run(
    spec: Study,
    out: str | Path,
    *,
    progress: bool | None = None,
    process_id: int | None = None,
    num_processes: int | None = None,
) -> dict:
    """Run (or resume) a study into the folder ``out``.

    Parameters
    ----------
    spec : the Study. out : folder of the results (created; a Parquet dataset).
    progress : a tqdm bar over chunks with the time left (None: when on a terminal).
    process_id, num_processes : this process's share of the chunks (chunk ``i`` runs
        in process ``i % num_processes``); default ``jax.process_index()`` and
        ``jax.process_count()`` (1 and 1 without ``jax.distributed``).

    Returns
    -------
    dict: chunks run, skipped (already written) and seconds.

    Raises
    ------
    ValueError
        ``out`` holds another study's results, or the study is invalid.
    """
    from tqdm.auto import tqdm

    if spec.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "the study's dtype is float64 but jax_enable_x64 is off; set "
            "jax.config.update('jax_enable_x64', True) or dtype = 'float32'"
        )
    out = Path(out)
    pid = jax.process_index() if process_id is None else process_id
    nproc = jax.process_count() if num_processes is None else num_processes
    if not (isinstance(nproc, int) and nproc >= 1 and isinstance(pid, int)):
        raise ValueError(
            f"num_processes must be an integer >= 1 and process_id an integer, got "
            f"{num_processes!r} and {process_id!r}"
        )
    if not 0 <= pid < nproc:
        raise ValueError(
            f"process_id must be in 0..{nproc - 1} for {nproc} processes, got {pid}"
        )
    _prepare(spec, out)
    dtype = jnp.dtype(spec.dtype)
    n_chunks = -(-spec.reps // spec.chunk)
    # chunk-major: an interrupted run has about as many replications of every design
    todo = [
        (di, c)
        for c in range(n_chunks)
        for di in range(len(spec.designs))
        if (di * n_chunks + c) % nproc == pid
    ]
    pending = [(di, c) for di, c in todo if not (out / chunk_name(di, c)).exists()]
    t0 = time.perf_counter()
    designs: dict[int, object] = {}
    clusters: dict[int, np.ndarray | None] = {}  # read once per design
    fns: dict[tuple[int, int], object] = {}
    lanes = _Lanes(spec, dtype)
    disable = None if progress is None else not progress  # None: only on a terminal
    bar = tqdm(pending, desc="chunks", unit="chunk", disable=disable)
    mesh = Mesh(np.array(jax.local_devices()), ("r",))
    for di, c in bar:
        if di not in designs:
            designs[di] = build_design(spec.designs[di], spec.base)
            clusters[di] = cluster_codes(spec.designs[di], spec.base)
        start, stop = c * spec.chunk, min((c + 1) * spec.chunk, spec.reps)
        outs, seconds = [], {}
        for ei, label in enumerate(spec.labels):
            t1 = time.perf_counter()
            if (di, ei) not in fns:
                fns[di, ei] = lanes(di, designs[di], ei, clusters[di])
            outs.append(_batches(fns[di, ei], spec.seed, di, start, stop, mesh))
            if any(variance_mode(v) == "library" for v in spec.variance):
                outs[-1].update(
                    _library(
                        spec, di, ei, designs[di], clusters[di], start, stop, dtype
                    )
                )
            seconds[label] = time.perf_counter() - t1
        _write(_rows(spec, di, start, outs), out / chunk_name(di, c))
        _timing(out, di, c, stop - start, seconds)
    return {
        "chunks": len(pending),
        "skipped": len(todo) - len(pending),
        "seconds": time.perf_counter() - t0,
    }


def read(out: str | Path) -> pd.DataFrame:
    """All rows of a study folder (``pandas.read_parquet`` on it works the same).

    Parameters
    ----------
    out : the study's folder.

    Returns
    -------
    DataFrame sorted by design, estimator (in the study's order) and replication.
    """
    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"no such folder {str(out)!r}")
    files = sorted(out.glob("*.parquet"))
    if not files:
        raise ValueError(f"{out}: no results (run the study first)")
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    manifest = out / MANIFEST
    if manifest.exists():  # the study's order of designs and estimators, not A-Z
        spec = json.loads(manifest.read_text())["study"]
        spec = Study(spec["designs"], spec["estimators"], spec["variance"])
        for col, order in (("design", spec.design_names()), ("estimator", spec.labels)):
            df[col] = pd.Categorical(df[col], categories=order, ordered=True)
    df = df.sort_values(["design", "estimator", "rep"], ignore_index=True)
    return df.astype({"design": str, "estimator": str})


__all__ = ["MANIFEST", "chunk_name", "read", "run"]
