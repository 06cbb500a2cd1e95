"""Dask worker plugin that builds locators once per worker (needs ``pip install 'atomdata[dask]'``)."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

from distributed.diagnostics.plugin import WorkerPlugin

from atomdata.models.parallel import LocatorSpec, cached_locator

__all__ = ["PreloadLocators"]


class PreloadLocators(WorkerPlugin):
    """Build the locators of ``specs`` when a worker starts (or joins later, or is restarted).

    The tasks of :func:`atomdata.models.parallel.predict_jobs` then find them in the worker
    process's cache: a model's weights are read once per worker, never per image or task.
    Every worker runs torch with one thread (the cluster's processes are the parallelism).
    """

    def __init__(self, specs: Sequence[LocatorSpec]):
        self.specs = tuple(specs)
        self.name = "atomdata-locators-" + hashlib.sha256(repr(self.specs).encode()).hexdigest()[:12]

    def setup(self, worker=None):
        import torch

        torch.set_num_threads(1)
        for spec in self.specs:
            cached_locator(spec)
