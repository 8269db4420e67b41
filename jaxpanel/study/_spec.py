"""A study as data: designs x estimators x variance methods, seed, reps, chunk.

Written as a TOML file (stdlib ``tomllib``) or built in Python from the same dict::

    seed = 0
    reps = 1000
    chunk = 100
    [[designs]]
    preset = "cps"            # or: data = "panel.csv", unit/time/outcome/assignment
    outcome = "log_wage"
    assignment = "min_wage"
    path = "CPS.csv"          # relative paths are relative to the study file
    [[estimators]]
    name = "sdid"
    [[estimators]]
    name = "trop"
    variant = "global"
    lambda_unit = 0.01
    lambda_time = 0.2
    lambda_nn = 0.2
    [[variance]]
    method = "placebo"
    reps = 200
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..estimators.batched import ALLOWED, batched
from ..inference._result import METHOD_REFERENCES

DESIGN_KEYS = {
    "name", "preset", "data", "unit", "time", "outcome", "assignment", "path",
    "n_treated", "n_post", "round_ar", "M", "F", "noise", "autocorrelation",
    "heteroskedastic", "heteroskedastic_ratio", "effect", "effect_sd",
    "options", "covariates", "covariate_effect", "cluster",
}  # fmt: skip
CLUSTER_METHODS = ("placebo", "bootstrap", "jackknife")  # resample whole clusters
VARIANCE_METHODS = tuple(METHOD_REFERENCES)  # every method jaxpanel offers
BATCHED_METHODS = ("placebo", "bootstrap", "jackknife")  # in-jit, inside the chunk
VARIANCE_KEYS = {"method", "reps", "level", "mode", "reference", "refit"}


def variance_mode(v: dict) -> str:
    """'batched' (in-jit; placebo, bootstrap, jackknife by default) or 'library'."""
    return v.get("mode", "batched" if v["method"] in BATCHED_METHODS else "library")


TOP_KEYS = {
    "seed",
    "reps",
    "chunk",
    "dtype",
    "designs",
    "estimators",
    "variance",
    "name",
    "event_study",
}


@dataclass(frozen=True)
class Study:
    """A simulation study (see the module docstring for the file form).

    Attributes
    ----------
    designs : list of design tables (:func:`jaxpanel.study.build_design` reads them).
    estimators : list of estimator tables: ``name`` (and ``label``, default the name,
        unique) plus the estimator's options (``jaxpanel.estimators.batched.ALLOWED``);
        a design's ``options.<label>`` table overrides them on that design.
    variance : list of variance tables: ``method`` (any of ``VARIANCE_METHODS``),
        ``reps``, ``level``, ``mode``, ``reference`` and (jackknife) ``refit`` (the
        weights re-estimated on each leave-one-out panel; see
        :func:`jaxpanel.inference.jackknife`). ``mode='batched'`` (default for
        'placebo', 'bootstrap' and 'jackknife') runs the method in-jit inside the
        chunk, SE and normal interval only; ``mode='library'`` (every other method, or
        asked for) calls ``jaxpanel.inference.variance`` on each replication's estimate:
        the library's own method with its default (or the given ``reference``) interval
        and p-value, one batch per replication, slower. A method appears once (its
        columns are named after it).
    seed, reps, chunk : the study's seed, replications per design, replications per
        checkpointed chunk.
    event_study : ``[first, last]`` event times (inclusive), or None: each row then
        has every estimator's effects by event time (``event_{e}``, leads ``e < 0``;
        :meth:`jaxpanel.Estimate.event_study`), their truth (``event_{e}_truth``: the
        mean cell effect of the treated units ``e`` periods after adoption, 0 before)
        and each variance method's SEs (``{method}_event_{e}_se``, from the same
        replicates as the ATT's); NaN at event times a draw does not have.
    dtype : 'float64' or 'float32' (needs ``jax_enable_x64`` for float64).
    base : folder that relative data paths are relative to (not part of the hash).
    """

    designs: list
    estimators: list
    variance: list = field(default_factory=list)
    seed: int = 0
    reps: int = 1000
    chunk: int = 100
    dtype: str = "float64"
    name: str = "study"
    base: str = "."
    event_study: list | None = None

    def to_dict(self) -> dict[str, Any]:
        """The study as a plain dict (what the hash covers)."""
        d = {
            "name": self.name,
            "seed": self.seed,
            "reps": self.reps,
            "chunk": self.chunk,
            "dtype": self.dtype,
            "designs": self.designs,
            "estimators": self.estimators,
            "variance": self.variance,
        }
        if self.event_study is not None:  # absent: the hashes of earlier studies hold
            d["event_study"] = list(self.event_study)
        return d

    def hash(self) -> str:
        """SHA-256 of the study's results-defining content.

        ``chunk`` is left out: results do not depend on it, so a resumed run may use
        another chunk size only if no chunk was written (the runner checks that).
        """
        d = self.to_dict()
        d.pop("chunk")
        d.pop("name")
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def labels(self) -> list[str]:
        """The estimators' labels (the ``estimator`` column of the results)."""
        return [e.get("label", e["name"]) for e in self.estimators]

    def design_names(self) -> list[str]:
        """Each design's name (given, or built from its preset, outcome and assignment)."""
        names = []
        for d in self.designs:
            if "name" in d:
                names.append(str(d["name"]))
                continue
            parts = [d.get("preset") or Path(str(d.get("data", "data"))).stem]
            parts += [str(d[k]) for k in ("outcome", "assignment") if k in d]
            names.append("/".join(parts))
        return names


def estimator_options(spec: Study, design: int, estimator: int) -> tuple[str, dict]:
    """The name and options of an estimator on a design.

    The estimator's table, updated by the design's ``options.<label>`` table (per-design
    settings, e.g. the TROP authors' lambdas, which differ by design).
    """
    e = spec.estimators[estimator]
    label = spec.labels[estimator]
    opts = {k: v for k, v in e.items() if k not in ("name", "label")}
    opts.update(spec.designs[design].get("options", {}).get(label, {}))
    return e["name"], opts


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_design_values(i: int, d: dict) -> None:
    where = f"designs[{i}]"
    for k in ("n_treated", "n_post"):
        v = d.get(k)
        ok = _is_int(v) and v >= 1
        if k == "n_post" and isinstance(v, list):  # staggered: several post lengths
            ok = bool(v) and all(_is_int(x) and x >= 1 for x in v)
        if k in d and not ok:
            raise ValueError(
                f"{where}: {k} must be a positive integer"
                + (" or a list of them (staggered adoption)" if k == "n_post" else "")
                + f", got {v!r}"
            )
    for k in ("effect", "effect_sd", "heteroskedastic_ratio"):
        if k in d and not _is_num(d[k]):
            raise ValueError(f"{where}: {k} must be a number, got {d[k]!r}")
    if d.get("effect_sd", 0) < 0:
        raise ValueError(f"{where}: effect_sd must be >= 0, got {d['effect_sd']!r}")
    if d.get("heteroskedastic_ratio", 1) <= 0:
        raise ValueError(
            f"{where}: heteroskedastic_ratio must be > 0 (largest over "
            f"smallest noise sd), got {d['heteroskedastic_ratio']!r}"
        )
    for k in ("round_ar", "M", "F", "noise", "autocorrelation"):
        if k in d and not isinstance(d[k], bool):
            raise ValueError(f"{where}: {k} must be true or false, got {d[k]!r}")
    for k in ("covariates", "covariate_effect", "cluster"):
        if k in d and "preset" in d:
            raise ValueError(
                f"{where}: {k}= needs a data= design (the presets have no covariates "
                "or clusters)"
            )
    cov = d.get("covariates")
    if cov is not None and not (
        isinstance(cov, list) and cov and all(isinstance(c, str) for c in cov)
    ):
        raise ValueError(
            f"{where}: covariates must be a list of column names, got {cov!r}"
        )
    if "covariate_effect" in d:
        eff = d["covariate_effect"]
        if cov is None or not (
            isinstance(eff, list) and len(eff) == len(cov) and all(map(_is_num, eff))
        ):
            raise ValueError(
                f"{where}: covariate_effect must be a list of numbers, one per "
                f"covariate in covariates= (got {eff!r})"
            )
    if "cluster" in d and not isinstance(d["cluster"], str):
        raise ValueError(
            f"{where}: cluster must be a column name, got {d['cluster']!r}"
        )
    opts = d.get("options", {})
    if not isinstance(opts, dict) or not all(
        isinstance(v, dict) for v in opts.values()
    ):
        raise ValueError(
            f"{where}: options must be tables of estimator options by label, e.g. "
            "options.trop = { lambda_nn = 0.2 }"
        )


def _check(spec: Study) -> Study:
    if not _is_int(spec.seed) or spec.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {spec.seed!r}")
    if not _is_int(spec.reps) or spec.reps < 1:
        raise ValueError(f"reps must be a positive integer, got {spec.reps!r}")
    if not _is_int(spec.chunk) or spec.chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {spec.chunk!r}")
    if spec.dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {spec.dtype!r}")
    ev = spec.event_study
    if ev is not None and not (
        isinstance(ev, (list, tuple))
        and len(ev) == 2
        and all(map(_is_int, ev))
        and ev[0] <= ev[1]
    ):
        raise ValueError(
            "event_study must be [first, last] event times (integers, first <= last; "
            f"e.g. [-5, 9]), got {ev!r}"
        )
    if not spec.designs or not spec.estimators:
        raise ValueError(
            "a study needs at least one [[designs]] and one [[estimators]]"
        )
    for i, d in enumerate(spec.designs):
        unknown = sorted(set(d) - DESIGN_KEYS)
        if unknown:
            raise ValueError(
                f"designs[{i}]: unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(DESIGN_KEYS))})"
            )
        if ("preset" in d) == ("data" in d):
            raise ValueError(f"designs[{i}]: give exactly one of preset= or data=")
        _check_design_values(i, d)
    names = spec.design_names()
    if len(set(names)) != len(names):
        raise ValueError(f"design names repeat ({names}); give each a name=")
    for i, e in enumerate(spec.estimators):
        if "name" not in e:
            raise ValueError(
                f"estimators[{i}] needs name= (one of {', '.join(ALLOWED)})"
            )
    if len(set(spec.labels)) != len(spec.labels):
        raise ValueError(
            f"estimator labels repeat ({spec.labels}); give each a distinct label="
        )
    for di, d in enumerate(spec.designs):
        unknown = sorted(set(d.get("options", {})) - set(spec.labels))
        if unknown:
            raise ValueError(
                f"designs[{di}].options: no estimator labelled {', '.join(unknown)} "
                f"(labels: {', '.join(spec.labels)})"
            )
        for ei in range(len(spec.estimators)):  # validates names and options
            batched(*estimator_options(spec, di, ei), covariates="covariates" in d)
    for i, v in enumerate(spec.variance):
        if v.get("method") not in VARIANCE_METHODS:
            raise ValueError(
                f"variance[{i}]: method must be one of {VARIANCE_METHODS} in a study, "
                f"got {v.get('method')!r}"
            )
        if [w.get("method") for w in spec.variance].count(v["method"]) > 1:
            raise ValueError(f"variance method {v['method']!r} listed twice")
        unknown = sorted(set(v) - VARIANCE_KEYS)
        if unknown:
            raise ValueError(f"variance[{i}]: unknown key(s) {', '.join(unknown)}")
        if "refit" in v and (
            v["method"] != "jackknife" or not isinstance(v["refit"], bool)
        ):
            raise ValueError(
                f"variance[{i}]: refit= is true or false, for the jackknife only"
            )
        clustered = [
            n for n, d in zip(spec.design_names(), spec.designs) if "cluster" in d
        ]
        if clustered and v["method"] not in CLUSTER_METHODS:
            raise ValueError(
                f"variance[{i}]: {v['method']} does not resample clusters, and designs "
                f"{', '.join(clustered)} have cluster=; use "
                f"{', '.join(CLUSTER_METHODS)}, or drop cluster="
            )
        mode = variance_mode(v)
        if mode not in ("batched", "library"):
            raise ValueError(
                f"variance[{i}]: mode must be 'batched' or 'library', got {mode!r}"
            )
        if mode == "batched" and v["method"] not in BATCHED_METHODS:
            raise ValueError(
                f"variance[{i}]: {v['method']} runs in mode='library' only (batched: "
                f"{', '.join(BATCHED_METHODS)})"
            )
        if mode == "library":
            allowed = METHOD_REFERENCES[v["method"]]
            if "reference" in v and v["reference"] not in allowed:
                raise ValueError(
                    f"variance[{i}]: {v['method']} takes reference "
                    + " or ".join(map(repr, allowed))
                    + f", got {v['reference']!r}"
                )
            counted = ("placebo", "bootstrap", "conditional", "conformal")
            if "reps" in v and v["method"] not in counted:
                raise ValueError(
                    f"variance[{i}]: reps does not apply to {v['method']} (it is "
                    "deterministic)"
                )
            for di in range(len(spec.designs)):
                for ei in range(len(spec.estimators)):
                    name, opts = estimator_options(spec, di, ei)
                    if name == "mc" and opts.get("lam") is None:
                        raise ValueError(
                            f"variance[{i}]: mode='library' refits the estimate at "
                            "the user level, where MC's cross-validation folds differ "
                            "from the batched fit's; give mc a fixed lam="
                        )
        if mode == "batched" and "reference" in v:
            raise ValueError(
                f"variance[{i}]: reference= needs mode='library' (batched methods "
                "report the normal interval)"
            )
        reps, level = v.get("reps", 200), v.get("level", 0.95)
        if not (_is_int(reps) and reps >= 2):
            raise ValueError(
                f"variance[{i}]: reps must be an integer >= 2, got {reps!r}"
            )
        if not (_is_num(level) and 0 < level < 1):
            raise ValueError(
                f"variance[{i}]: level must be in (0, 1) (e.g. 0.95), got {level!r}"
            )
    return spec


def from_dict(d: dict[str, Any], base: str | Path = ".") -> Study:
    """A :class:`Study` from a dict of the file's form.

    Parameters
    ----------
    d : the study (keys as in the module docstring). base : folder for relative paths.

    Returns
    -------
    Study.

    Raises
    ------
    ValueError
        Unknown keys, missing designs or estimators, bad options (the message names them).
    """
    unknown = sorted(set(d) - TOP_KEYS)
    if unknown:
        raise ValueError(
            f"unknown study key(s) {', '.join(unknown)} (known: {', '.join(sorted(TOP_KEYS))})"
        )
    spec = Study(
        designs=[dict(x) for x in d.get("designs", [])],
        estimators=[dict(x) for x in d.get("estimators", [])],
        variance=[dict(x) for x in d.get("variance", [])],
        seed=d.get("seed", 0),
        reps=d.get("reps", 1000),
        chunk=d.get("chunk", 100),
        dtype=d.get("dtype", "float64"),
        name=d.get("name", "study"),
        base=str(base),
        event_study=d.get("event_study"),
    )
    return _check(spec)


def load(path: str | Path, data_dir: str | Path | None = None) -> Study:
    """Read a study from a TOML file.

    Parameters
    ----------
    path : the ``.toml`` file.
    data_dir : folder that relative data paths are relative to (default: the file's).

    Returns
    -------
    Study (relative data paths resolved against the file's folder).

    Raises
    ------
    ValueError
        A missing file, invalid TOML, or an invalid study.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such study file {str(path)!r}")
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    d.setdefault("name", path.stem)
    base = path.resolve().parent if data_dir is None else Path(data_dir).resolve()
    return from_dict(d, base=base)


__all__ = [
    "BATCHED_METHODS",
    "VARIANCE_METHODS",
    "Study",
    "estimator_options",
    "from_dict",
    "load",
    "variance_mode",
]
