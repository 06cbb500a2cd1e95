"""Predictions of several locators over many images, on a process pool or a Dask cluster.

A :class:`LocatorSpec` names a locator by registry name and options (picklable, small); each
worker process builds the locator once (:func:`cached_locator`; on Dask the
:class:`~atomdata.models.dask_plugin.PreloadLocators` worker plugin builds it when the worker
starts) and then only receives chunks of images. The client reads the images and sends them with
the task, so the workers need no access to the data files. The chunks of different locators are
interleaved, so the models run in parallel with each other on the workers there are.

Positions are (x, y) in pixels (x = column index, y = row index, origin at the centre of the
top-left pixel).
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["LocatorSpec", "PredictionJob", "cached_locator", "locate_chunk", "predict_jobs", "preload"]

_LOCATORS: dict = {}  # LocatorSpec -> Locator, one per process


@dataclass(frozen=True)
class LocatorSpec:
    """A locator by registry name and constructor options: ``models.get(name, **dict(options))``.

    Examples
    --------
    >>> LocatorSpec.of("baseline-peaks").build().name
    'baseline-peaks'
    """

    name: str
    options: tuple = ()

    @classmethod
    def of(cls, name: str, **options) -> LocatorSpec:
        """A spec from keyword options (path-like values are stored as strings)."""
        return cls(name, tuple(sorted((k, str(v) if hasattr(v, "__fspath__") else v) for k, v in options.items())))

    def build(self):
        """This process's locator for the spec (built on first use, then reused)."""
        return cached_locator(self)


def cached_locator(spec: LocatorSpec, locator=None):
    """The locator of ``spec`` in this process, built once; pass ``locator`` to seed the cache with one."""
    if locator is not None:
        _LOCATORS[spec] = locator
    if spec not in _LOCATORS:
        from atomdata import models

        _LOCATORS[spec] = models.get(spec.name, **dict(spec.options))
    return _LOCATORS[spec]


def locate_chunk(spec: LocatorSpec, images: list, pixel_sizes_A: list, single_thread: bool) -> list:
    """Positions ``(N, 2)`` (x, y) px of each image, by the locator of ``spec`` in this process (a task)."""
    if single_thread:
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
    out = spec.build().predict_batch(images, pixel_sizes_A=pixel_sizes_A)
    return [np.asarray(xy, dtype=np.float64).reshape(-1, 2) for xy in out]


@dataclass
class PredictionJob:
    """One locator over some images of one split; ``key`` names the job in the result."""

    key: Hashable
    spec: LocatorSpec
    split: object
    indices: Sequence[int]


class _Chunks(Sequence):
    """Tasks ``(spec, images, pixel sizes, single_thread)``; the images are read when a task is taken."""

    def __init__(self, jobs: Sequence[PredictionJob], chunk_size: int, single_thread: bool):
        self.jobs = jobs
        self.single_thread = single_thread
        per_job = [[list(j.indices[a:a + chunk_size]) for a in range(0, len(j.indices), chunk_size)] for j in jobs]
        self.items = []  # (job position, image indices), round robin over the jobs
        for r in range(max((len(c) for c in per_job), default=0)):
            for k, chunks in enumerate(per_job):
                if r < len(chunks):
                    self.items.append((k, chunks[r]))
        self._pixel = [np.asarray(j.split.pixel_sizes_A, dtype=float) for j in jobs]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, n):
        k, idx = self.items[n]
        split = self.jobs[k].split
        return (self.jobs[k].spec, [split.image(i) for i in idx], [float(self._pixel[k][i]) for i in idx],
                self.single_thread)


def predict_jobs(jobs: Sequence[PredictionJob], *, runner=None, chunk_size: int = 8, progress: bool = True,
                 desc: str = "predict", checkpoint=None, checkpoint_s: float = 60.0) -> dict:
    """Run every job's locator over its images; returns ``{job.key: {image_id: (N, 2) (x, y) px}}``.

    Parameters
    ----------
    jobs : sequence of PredictionJob
        What to predict; ``split`` is any :class:`~atomdata.storage.SplitLike` this process reads.
    runner : atomdata.build.engine.TaskRunner, optional
        Where to run (process pool or Dask; see :func:`atomdata.build.engine.task_runner`).
        None: here, one chunk after another. On several workers every worker uses one
        torch thread, so results do not depend on the engine.
    chunk_size : int
        Images per task (and per ``predict_batch`` call).
    progress : bool
        A progress bar over all images of all jobs.
    checkpoint : callable, optional
        ``checkpoint(job.key, predictions so far)``: called when a job is complete, and for a job
        with new results at most every ``checkpoint_s`` seconds, so an interrupted run can keep
        what it finished (e.g. save them to disk).
    """
    import time

    from tqdm.auto import tqdm

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    jobs = list(jobs)
    single = runner is not None and (runner.workers > 1 or runner.client is not None)
    tasks = _Chunks(jobs, chunk_size, single)
    out: dict = {j.key: {} for j in jobs}
    ids = [list(j.split.image_ids) for j in jobs]
    total = sum(len(j.indices) for j in jobs)
    left = [len(j.indices) for j in jobs]
    saved = [time.monotonic()] * len(jobs)
    with tqdm(total=total, desc=desc, unit="img", disable=not progress) as bar:
        if runner is None:
            results = ((n, locate_chunk(*tasks[n])) for n in range(len(tasks)))
        else:
            results = runner.run(locate_chunk, tasks, max_in_flight=4 * max(1, runner.workers))
        for n, xys in results:
            k, idx = tasks.items[n]
            for i, xy in zip(idx, xys):
                out[jobs[k].key][ids[k][i]] = xy
            bar.update(len(idx))
            left[k] -= len(idx)
            if checkpoint is not None and (left[k] == 0 or time.monotonic() - saved[k] > checkpoint_s):
                checkpoint(jobs[k].key, out[jobs[k].key])
                saved[k] = time.monotonic()
    return out


def preload(specs: Sequence[LocatorSpec], locators: Optional[Sequence] = None) -> None:
    """Seed this process's cache with already built locators (forked pool workers inherit them)."""
    for k, spec in enumerate(specs):
        cached_locator(spec, None if locators is None else locators[k])
