"""Shard tasks on a Dask cluster: a ``distributed.LocalCluster`` here, or any cluster by address.

The same task functions the process pool runs (:mod:`atomdata.build.executors`) run here as
Dask tasks; Dask does the scheduling, the retries when a worker dies and the dashboard. Nothing
here schedules anything itself. ``dask`` and ``distributed`` are an optional extra
(``pip install 'atomdata[dask]'``); HPC users start workers through ``dask-jobqueue`` (Slurm,
PBS, ...) and pass the scheduler's address (see the scaling docs).

Every worker gets :class:`OneThreadPerWorker` on start: one BLAS thread per worker process, as
in the process pool, so floating-point sums -- and so the bytes built -- are identical.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Optional

from atomdata.build.executors import default_workers, limit_threads

#: What to install when Dask is missing.
DASK_HINT = "dask and distributed are needed for scheduler='dask': pip install 'atomdata[dask]'"

try:
    import distributed
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as e:  # pragma: no cover - exercised without the extra
    raise ImportError(f"{DASK_HINT} ({e})") from None

__all__ = ["DASK_HINT", "OneThreadPerWorker", "dask_client", "run_dask"]

log = logging.getLogger(__name__)


class OneThreadPerWorker(WorkerPlugin):
    """Worker plugin: limit BLAS/OpenMP (and torch) to one thread in every worker process.

    A Dask ``WorkerPlugin``: registered with :func:`dask_client`, it runs on every worker that
    joins, including workers restarted after a failure.
    """

    name = "atomdata-one-thread"

    def setup(self, worker=None):
        limit_threads()
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass

    def teardown(self, worker=None):
        pass


@contextlib.contextmanager
def dask_client(*, address: Optional[str] = None, workers: Optional[int] = None, plugins: Sequence = (),
                announce: Optional[Callable[[str], None]] = print) -> Iterator:
    """A ``distributed.Client``: connected to ``address``, or to a new LocalCluster of ``workers`` processes.

    Parameters
    ----------
    address : str, optional
        Scheduler address of a running cluster, e.g. ``tcp://10.0.0.5:8786``. None starts a
        ``distributed.LocalCluster`` (one thread per worker process; closed on exit).
    workers : int, optional
        Worker processes of the LocalCluster (default: the CPUs available). Ignored with ``address``.
    plugins : sequence
        Extra worker plugins to register (e.g. a model loaded once per worker).
    announce : callable, optional
        Called with one line naming the cluster and its dashboard address (default: ``print``).

    Yields
    ------
    distributed.Client

    Notes
    -----
    LocalCluster workers start without distributed's ``MALLOC_TRIM_THRESHOLD_`` setting (see
    :func:`_glibc_malloc_default`); do the same for the workers of a remote cluster (the
    scaling docs show how).
    """
    with _glibc_malloc_default():
        yield from _client(address, workers, plugins, announce)


@contextlib.contextmanager
def _glibc_malloc_default() -> Iterator[None]:
    """Start local workers without distributed's ``MALLOC_TRIM_THRESHOLD_`` (pre-spawn environment).

    Setting that variable freezes glibc's mmap threshold at 128 kB, so every image-sized
    temporary array is mapped and unmapped again: the simulator ran ~1.4x slower per image in
    such a worker than in a pool process (measured). Without it the workers allocate as a
    process-pool worker does.
    """
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        yield


def _client(address, workers, plugins, announce) -> Iterator:
    cluster = None
    if address is None:
        n = default_workers() if workers is None else int(workers)
        if n < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.WARNING)
        client = distributed.Client(cluster)
        where = f"LocalCluster of {n} worker process(es)"
    else:
        client = distributed.Client(address)
        where = f"Dask cluster at {address}"
    try:
        for p in (OneThreadPerWorker(), *plugins):
            _register(client, p)
        if announce is not None:
            announce(f"{where}; dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _register(client, plugin) -> None:
    if hasattr(client, "register_plugin"):
        client.register_plugin(plugin, name=plugin.name)
    else:  # pragma: no cover - distributed < 2023.9
        client.register_worker_plugin(plugin, name=plugin.name)


def run_dask(client, fn: Callable, tasks: Sequence[tuple], *, retries: int = 2,
             max_in_flight: Optional[int] = None) -> Iterator[tuple[int, object]]:
    """Run ``fn(*task)`` for every task on the cluster; yield ``(task position, result)`` as each finishes.

    Tasks are submitted as Dask futures (``pure=False``: every one runs), at most
    ``max_in_flight`` at a time (default: all), so a client streaming large inputs does not
    hold them all at once. A task whose worker dies is rerun elsewhere by Dask (its
    ``allowed-failures`` setting); a task that raises is retried ``retries`` times, then its
    error is raised here and the pending futures are cancelled.
    """
    if not tasks:
        return
    limit = len(tasks) if max_in_flight is None else max(1, int(max_in_flight))
    position: dict = {}
    queue = iter(enumerate(tasks))

    def submit_next(ac=None) -> bool:
        try:
            k, t = next(queue)
        except StopIteration:
            return False
        f = client.submit(fn, *t, pure=False, retries=retries)
        position[f.key] = k
        if ac is not None:
            ac.add(f)
        else:
            first.append(f)
        return True

    first: list = []
    for _ in range(min(limit, len(tasks))):
        submit_next()
    ac = distributed.as_completed(first, with_results=True)
    try:
        for future, result in ac:
            k = position.pop(future.key)
            future.release()
            submit_next(ac)
            yield k, result
    except BaseException:
        for f in list(ac.futures):
            f.cancel()
        raise
