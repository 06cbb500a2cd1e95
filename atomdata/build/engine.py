"""Choosing where tasks run: ``scheduler="processes"`` (a local process pool) or ``"dask"`` (a Dask cluster).

:func:`task_runner` opens the engine once (a pool per call, or one Dask client for the whole
job) and hands back a :class:`TaskRunner` whose :meth:`~TaskRunner.run` yields ``(task
position, result)`` as tasks finish, whatever the engine. The builder, the predictions of the
reproduction and the split scoring all run their tasks through it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Optional

from atomdata.build.executors import default_workers, run_tasks

__all__ = ["SCHEDULERS", "TaskRunner", "check_scheduler", "task_runner"]

#: Engines a task runner can use.
SCHEDULERS = ("processes", "dask")


def check_scheduler(scheduler: str, *, address: Optional[str] = None) -> str:
    """``scheduler`` when valid; a ValueError naming the choices otherwise (and for ``address`` without Dask)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {scheduler!r}. Valid schedulers: {', '.join(SCHEDULERS)}.")
    if address is not None and scheduler != "dask":
        raise ValueError(f"address={address!r} needs scheduler='dask' (CLI: --scheduler dask --address ...)")
    return scheduler


class TaskRunner:
    """Runs picklable tasks ``fn(*task)`` on the engine it was opened with (see :func:`task_runner`).

    Attributes
    ----------
    scheduler : {"processes", "dask"}
    workers : int
        Worker processes (for a Dask cluster given by address: the workers it had when opened).
    client : distributed.Client or None
        The Dask client (None for the process pool).
    local : bool
        True when the workers share this machine's filesystem (process pool or LocalCluster).
    """

    def __init__(self, scheduler: str, workers: int, client=None, local: bool = True):
        self.scheduler = scheduler
        self.workers = workers
        self.client = client
        self.local = local

    def run(self, fn: Callable, tasks: Sequence[tuple], *, max_in_flight: Optional[int] = None
            ) -> Iterator[tuple[int, object]]:
        """Yield ``(task position, result)`` of every task as it finishes (completion order)."""
        if self.client is None:
            return run_tasks(fn, tasks, workers=self.workers)
        from atomdata.build.dask_executor import run_dask

        return run_dask(self.client, fn, tasks, max_in_flight=max_in_flight)

    def __repr__(self) -> str:
        return f"TaskRunner(scheduler={self.scheduler!r}, workers={self.workers}, local={self.local})"


@contextlib.contextmanager
def task_runner(scheduler: str = "processes", *, workers: Optional[int] = None, address: Optional[str] = None,
                plugins: Sequence = (), announce: Optional[Callable[[str], None]] = print) -> Iterator[TaskRunner]:
    """Open an engine for a job; yields a :class:`TaskRunner`.

    Parameters
    ----------
    scheduler : {"processes", "dask"}
        ``"processes"``: a process pool of ``workers`` on this machine (1: in this process).
        ``"dask"``: the Dask cluster at ``address``, or a new ``distributed.LocalCluster`` of
        ``workers`` processes (needs ``pip install 'atomdata[dask]'``).
    workers : int, optional
        Worker processes (default: the CPUs available).
    address : str, optional
        Scheduler address of a running Dask cluster (``scheduler="dask"`` only).
    plugins : sequence
        Dask worker plugins to register (e.g. a model loaded once per worker); ignored by the pool.
    announce : callable, optional
        Called with a line naming the Dask cluster and its dashboard address.
    """
    check_scheduler(scheduler, address=address)
    n = default_workers() if workers is None else int(workers)
    if n < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler == "processes":
        yield TaskRunner("processes", n)
        return
    from atomdata.build.dask_executor import dask_client

    with dask_client(address=address, workers=n, plugins=plugins, announce=announce) as client:
        if address is not None:
            n = max(1, len(client.scheduler_info().get("workers", {})))
        yield TaskRunner("dask", n, client=client, local=address is None)
