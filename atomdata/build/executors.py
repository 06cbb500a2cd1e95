"""Where shard tasks run: in this process, or on a pool of worker processes.

A task is a picklable ``(function, args)`` pair whose result is small; the builder
hands a list of them to :func:`run_tasks` and gets each result back as it finishes
(in completion order, with the task's position). Another engine (a cluster) plugs
in here without touching the builder.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

__all__ = ["default_workers", "limit_threads", "run_tasks"]


def default_workers() -> int:
    """Worker processes used when ``workers=None``: the CPUs available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def limit_threads() -> None:
    """One BLAS thread per process: the pool provides the parallelism (and sums stay identical)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass


def run_tasks(fn: Callable, tasks: Sequence[tuple], *, workers: int) -> Iterator[tuple[int, object]]:
    """Run ``fn(*task)`` for every task; yield ``(task position, result)`` as each finishes.

    ``workers == 1`` runs them here, in order; more uses a process pool (``fork`` where
    available). On an error or an interrupt the pending tasks are cancelled.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(tasks) <= 1:
        limit_threads()  # same BLAS threading as the pool: identical floating-point sums
        for k, t in enumerate(tasks):
            yield k, fn(*t)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx, initializer=limit_threads) as pool:
        pending = {pool.submit(fn, *t): k for k, t in enumerate(tasks)}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    k = pending.pop(f)
                    yield k, f.result()
        except BaseException:
            for f in pending:
                f.cancel()
            raise
