"""The command line's ``jaxpanel study run|report`` (simulation studies as batch jobs)."""

from __future__ import annotations

import os

import jax

from . import study


def add_parser(sub) -> None:
    """Add ``study run`` and ``study report`` to the command line's subparsers.

    Parameters
    ----------
    sub : the ``argparse`` subparsers object of :func:`jaxpanel.cli.build_parser`.
    """
    study = sub.add_parser("study", help="simulation studies: run (resumable), report")
    ssub = study.add_subparsers(dest="study_command", required=True)
    run = ssub.add_parser(
        "run",
        help="run or resume a study file into a folder (Parquet, one file per chunk)",
    )
    run.add_argument("file", help="study file (TOML)")
    run.add_argument("--out", required=True, metavar="DIR", help="results folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="folder of the designs' relative data paths (default: the study file's)",
    )
    run.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="jax.distributed coordinator (with --num-processes and --process-id); "
        "under SLURM with several tasks it is detected",
    )
    run.add_argument("--num-processes", type=int, default=None)
    run.add_argument("--process-id", type=int, default=None)
    run.set_defaults(func=cmd_run)
    report = ssub.add_parser(
        "report", help="summary tables (Markdown, CSV) and the RMSE figure"
    )
    report.add_argument("dir", help="a study's results folder")
    report.set_defaults(func=cmd_report)


def _distributed(args) -> None:
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(x is not None for x in explicit):
        if any(x is None for x in explicit):
            raise ValueError(
                "--coordinator, --num-processes and --process-id go together"
            )
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    elif int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        jax.distributed.initialize()  # cluster auto-detection (SLURM)


def cmd_run(args) -> int:
    """``jaxpanel study run FILE --out DIR``.

    Parameters
    ----------
    args : the parsed arguments.

    Returns
    -------
    0.
    """
    spec = study.load(args.file, data_dir=args.data_dir)
    # the study file chooses the precision (a command line is the user's own process)
    jax.config.update("jax_enable_x64", spec.dtype == "float64")
    _distributed(args)
    res = study.run(spec, args.out, progress=None if not args.quiet else False)
    print(
        f"study {spec.name}: {res['chunks']} chunks run, {res['skipped']} already "
        f"done, {res['seconds']:.1f} s (process {jax.process_index()} of "
        f"{jax.process_count()}) -> {args.out}"
    )
    return 0


def cmd_report(args) -> int:
    """``jaxpanel study report DIR``.

    Parameters
    ----------
    args : the parsed arguments.

    Returns
    -------
    0.
    """
    files = study.report(args.dir)
    print(files["md"].read_text())
    print("written: " + ", ".join(str(f) for f in files.values()))
    return 0


__all__ = ["add_parser", "cmd_report", "cmd_run"]
