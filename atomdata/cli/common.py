"""Helpers shared by the command modules: checking folder arguments, the engine options."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["add_engine_options", "existing_folder"]


def add_engine_options(p, *, what: str, workers_default: str = "available CPUs") -> None:
    """``--scheduler``, ``--address`` and ``--workers`` of a command whose ``what`` can run on Dask."""
    p.add_argument("--scheduler", default="processes", choices=["processes", "dask"],
                   help=f"Where {what} runs: a local process pool (default) or Dask (a LocalCluster of --workers "
                        "processes, or the cluster at --address; pip install 'atomdata[dask]').")
    p.add_argument("--address", default=None, metavar="TCP://HOST:PORT",
                   help="Scheduler address of a running Dask cluster (with --scheduler dask).")
    p.add_argument("--workers", type=int, default=None,
                   help=f"Worker processes (default: {workers_default}).")


def existing_folder(value: Optional[str], option: str) -> Optional[Path]:
    """``value`` as a Path when it names an existing folder, None when not given; else a one-line error.

    A mistyped cache folder must not start a download or a build into a new folder.
    """
    if value is None:
        return None
    p = Path(value).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{option} {p} is not an existing folder; create it first (mkdir -p {p}) "
                                "or fix the path")
    return p
