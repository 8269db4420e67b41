"""Simulation studies as batch jobs: a study file, a resumable runner, reports.

- :func:`load` / :func:`from_dict`: a :class:`Study` (designs x estimators x variance
  methods, seed, reps, chunk) from TOML or a dict;
- :func:`run`: every estimator on the same simulated panels, batched per chunk, each
  chunk an atomically written Parquet file; the same call resumes; chunks are shared out
  over processes (``jax.distributed``);
- :func:`read`, :func:`summarize`, :func:`report`: rows, RMSE/bias/coverage tables with
  Monte Carlo SEs, and the normalised-RMSE figure; :func:`event_summary` the same by
  event time for a study with ``event_study``.

References
----------
Arkhangelsky et al. (2021), Sec. 3.1.1; Athey, Imbens, Qu and Viviano (2025), Sec. 3.
"""

from ._designs import build_design, replication
from ._report import event_summary, figure, report, rmse_table, summarize
from ._run import MANIFEST, chunk_name, read, run
from ._spec import VARIANCE_METHODS, Study, estimator_options, from_dict, load

__all__ = [
    "MANIFEST",
    "VARIANCE_METHODS",
    "Study",
    "build_design",
    "chunk_name",
    "estimator_options",
    "event_summary",
    "figure",
    "from_dict",
    "load",
    "read",
    "replication",
    "report",
    "rmse_table",
    "run",
    "summarize",
]
