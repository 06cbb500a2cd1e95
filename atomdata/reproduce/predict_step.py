"""The reproduction's prediction step: every model on every split, interleaved on one task runner.

A *plan* is one model on one split: ``{"name", "locator", "spec", "split", "indices", "path",
"identity", "reuse", "desc"}``. :func:`predict_plans` fills ``plan["preds"]`` (image id -> (N, 2)
array of (x, y) px), reusing the predictions an earlier (or interrupted) run saved at
``plan["path"]`` for the same ``identity`` (dataset version, split checksum, model, weights) and
predicting only the rest, on a local process pool or on Dask.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["saved_predictions", "predict_plans", "spec_of"]

log = logging.getLogger(__name__)


def saved_predictions(path: Path, *, identity: dict, reuse: bool, desc: str) -> dict[str, np.ndarray]:
    """Predictions saved at ``path`` by an earlier run with the same ``identity``, else ``{}``.

    ``identity`` is stored beside the predictions (``.json``); saved predictions of another
    dataset or model are never reused.
    """
    from atomdata.evaluation import load_predictions

    meta = path.with_suffix(".json")
    if reuse and path.exists() and meta.exists():
        if json.loads(meta.read_text()) == identity:
            return load_predictions(path)
        log.info("%s: saved predictions at %s are for another dataset or model; predicting anew", desc, path)
    return {}


def spec_of(name: str, locator):
    """The :class:`~atomdata.models.parallel.LocatorSpec` that rebuilds ``locator`` in a worker."""
    from atomdata.models.parallel import LocatorSpec

    path = (locator.describe().get("weights") or {}).get("path")
    return LocatorSpec.of(name, weights=path) if path else LocatorSpec.of(name)


def predict_plans(plans: list[dict], *, scheduler: str = "processes", workers: Optional[int] = 1,
                  address: Optional[str] = None, progress: bool = True) -> None:
    """Fill ``plan["preds"]`` of every plan, predicting the images not saved yet.

    All models' images go through one task runner, interleaved, so the models run in parallel
    with each other on the workers there are; each worker builds each model once. Finished
    images are saved atomically as they come, so an interrupted run resumes from them.
    """
    from atomdata.build.engine import task_runner
    from atomdata.evaluation import save_predictions
    from atomdata.models.parallel import PredictionJob, predict_jobs, preload
    from atomdata.storage import atomic_path

    jobs = []
    for k, p in enumerate(plans):
        ids = list(p["split"].image_ids)
        p["have"] = saved_predictions(p["path"], identity=p["identity"], reuse=p["reuse"], desc=p["desc"])
        todo = [i for i in p["indices"] if ids[i] not in p["have"]]
        if p["have"]:
            log.info("%s: reusing %d saved predictions from %s, predicting %d", p["desc"],
                     len(p["indices"]) - len(todo), p["path"], len(todo))
        if todo:
            jobs.append(PredictionJob(k, p["spec"], p["split"], todo))
    if jobs:
        specs = list({p["spec"]: None for p in plans})
        preload(specs, [next(p["locator"] for p in plans if p["spec"] == s) for s in specs])
        plugins = []
        if scheduler == "dask":
            from atomdata.models.dask_plugin import PreloadLocators

            plugins = [PreloadLocators(specs)]
        n = sum(len(j.indices) for j in jobs)

        def save(k, preds):
            p = plans[k]
            p["have"].update(preds)
            with atomic_path(p["path"], suffix=p["path"].suffix) as tmp:
                save_predictions(p["have"], tmp)
            p["path"].with_suffix(".json").write_text(json.dumps(p["identity"], indent=2))

        with task_runner(scheduler, workers=workers, address=address, plugins=plugins,
                         announce=lambda line: log.info("%s", line)) as runner:
            predict_jobs(jobs, runner=runner if runner.workers > 1 or runner.client else None, progress=progress,
                         desc=f"predict {n} images ({len(specs)} models)", checkpoint=save)
    for p in plans:
        ids = list(p["split"].image_ids)
        p["preds"] = {ids[i]: p["have"][ids[i]] for i in p["indices"]}
