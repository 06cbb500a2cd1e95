"""Reproduce the published comparison (Wei et al. 2023) on atomdata's benchmark: ``atomdata reproduce``.

Builds (or finds) the benchmark, runs every registered locator on the ``test``
sweeps and the ``generality`` split, scores them with the reference evaluator,
estimates the cutoff of every image-quality metric, and writes the cutoffs side
by side with the published ones (packaged in ``atomdata/data/published_cutoffs.json``
with their source), radar plots, the per-model evaluation reports and a
Markdown summary ``REPORT.md``.

Positions are (x, y) in pixels throughout (x = column index, y = row index,
origin at the centre of the top-left pixel).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from atomdata.reproduce.published import compare_cutoffs
from atomdata.sources import DEFAULT_VERSION, open_split, resolve_dataset

__all__ = [
    "DEFAULT_MODELS",
    "reproduce",
    "ReproductionResult",
]

log = logging.getLogger(__name__)

#: Models run by default, in report order.
DEFAULT_MODELS = ("ziatdinov-atomnet-cubic", "lin-atomsegnet", "baseline-peaks")

def _saved_predictions(path: Path, *, identity: dict, reuse: bool, desc: str) -> dict[str, np.ndarray]:
    """Predictions saved at ``path`` by an earlier run with the same ``identity``, else ``{}``.

    ``identity`` (dataset version, split checksum, model and weights) is stored beside the
    predictions (``.json``); saved predictions of another dataset or model are never reused.
    """
    from atomdata.evaluation import load_predictions

    meta = path.with_suffix(".json")
    if reuse and path.exists() and meta.exists():
        if json.loads(meta.read_text()) == identity:
            return load_predictions(path)
        log.info("%s: saved predictions at %s are for another dataset or model; predicting anew", desc, path)
    return {}


def _predict_all(plans: list[dict], *, scheduler: str, workers: Optional[int], address: Optional[str],
                 progress: bool) -> None:
    """Fill ``plan["preds"]`` of every plan (one model on one split), predicting the images not saved yet.

    All models' images go through one task runner, interleaved, so the models run in parallel
    with each other on the workers there are; each worker builds each model once.
    """
    from atomdata.build.engine import task_runner
    from atomdata.evaluation import save_predictions
    from atomdata.models.parallel import PredictionJob, predict_jobs, preload
    from atomdata.storage import atomic_path

    jobs = []
    for k, p in enumerate(plans):
        ids = list(p["split"].image_ids)
        p["have"] = _saved_predictions(p["path"], identity=p["identity"], reuse=p["reuse"], desc=p["desc"])
        todo = [i for i in p["indices"] if ids[i] not in p["have"]]
        if p["have"]:
            log.info("%s: reusing %d saved predictions from %s, predicting %d", p["desc"], len(p["indices"]) - len(todo),
                     p["path"], len(todo))
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
        def save(k, preds):  # finished images are on disk (atomically): an interrupted run resumes from them
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


def _spec_of(name: str, locator):
    """The :class:`~atomdata.models.parallel.LocatorSpec` that rebuilds ``locator`` in a worker."""
    from atomdata.models.parallel import LocatorSpec

    path = (locator.describe().get("weights") or {}).get("path")
    return LocatorSpec.of(name, weights=path) if path else LocatorSpec.of(name)


@dataclass
class ReproductionResult:
    """What :func:`reproduce` produced."""

    out_dir: Path
    dataset_dir: Path
    models_run: list[str] = field(default_factory=list)
    models_skipped: dict[str, str] = field(default_factory=dict)
    comparison: list[dict] = field(default_factory=list)
    generality: dict[str, dict] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    report_path: Optional[Path] = None


def _get_locator(name: str, *, train_missing: bool, quick: bool, data_dir: Path, progress: bool):
    """The locator, or (None, reason) when it cannot be had here."""
    from atomdata import models
    from atomdata.models.weights import WeightsError

    try:
        return models.get(name), None
    except WeightsError as e:
        if name == "lin-atomsegnet" and train_missing:
            from atomdata.models.train.loop import train

            log.info("no trained weights for %s: training it now (%s)", name, e)
            path = train(name, data=data_dir, quick=quick, progress=progress)
            return models.get(name, weights=path), None
        return None, str(e)


def _sweep_indices(split, max_seeds: Optional[int]) -> list[int]:
    """Indices of the sweep images (subsets ``<material>_sim_<metric>``), optionally only seeds < max_seeds."""
    subs = [str(s) for s in split.subsets]
    idx = [i for i, s in enumerate(subs) if "_sim_" in s]
    if max_seeds is None:
        return idx
    if max_seeds < 1:
        raise ValueError(f"max_seeds must be >= 1, got {max_seeds}")
    keep = []
    for i in idx:
        sweep = split.record(i).extra.get("sweep") or {}
        if int(sweep.get("seed_index", 0)) < max_seeds:
            keep.append(i)
    return keep


def reproduce(out_dir=None, *, quick: bool = False, data=None, models: Sequence[str] = DEFAULT_MODELS,
              protocol: str = "one_to_one", tolerance_A: Optional[float] = None, train_missing: bool = True,
              n_boot: int = 1000, max_seeds: Optional[int] = None,
              reuse_predictions: bool = True, progress: bool = True, scheduler: str = "processes",
              workers: Optional[int] = None, address: Optional[str] = None) -> ReproductionResult:
    """Run every model on the benchmark and compare its cutoffs with the published ones.

    Parameters
    ----------
    out_dir : path-like, optional
        Output folder (default ``./reproduction`` or ``./reproduction-quick``).
    quick : bool
        Use the quick build (a few minutes on 2 cores) instead of the full benchmark.
    data : path-like, optional
        A dataset folder (with ``manifest.json``) to use instead of the cached/built default.
    models : sequence of str
        Registry names to run (default: both published models and the baseline).
    protocol, tolerance_A
        Matching protocol and tolerance [Å] (see :mod:`atomdata.evaluation`).
    train_missing : bool
        Train ``lin-atomsegnet`` when its weights are missing (a few minutes on CPU).
    n_boot : int
        Bootstrap replicates for confidence intervals.
    max_seeds : int, optional
        Use only the first ``max_seeds`` seeds of every sweep point (faster, coarser
        cutoff confidence intervals); None: all seeds.
    reuse_predictions : bool
        Reuse predictions saved in ``out_dir`` by an earlier or interrupted run of the
        same dataset (``<model>/predictions_<split>.npz``); only missing images are predicted.
    scheduler : {"processes", "dask"}
        Where the model predictions run: a local process pool (default) or Dask (a LocalCluster,
        or the cluster at ``address``; ``pip install 'atomdata[dask]'``). The models run in
        parallel with each other; each worker builds each model once and uses one torch thread.
    workers : int, optional
        Worker processes for the predictions (default: the CPUs available; 1: in this process,
        with torch's default threads).
    address : str, optional
        Scheduler address of a running Dask cluster (the weights files must be readable there).

    Returns
    -------
    ReproductionResult
        Also written: ``REPORT.md``, ``cutoffs_comparison.csv/.json``, ``radar_<material>.png``,
        and per model ``<model>/{test,generality}/`` evaluation reports and plots plus the predictions.
    """
    from atomdata.evaluation import evaluate
    from atomdata.evaluation.plots import plot_radar
    from atomdata.storage import read_manifest

    t0 = time.perf_counter()
    out = Path(out_dir or ("reproduction-quick" if quick else "reproduction")).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data_dir = resolve_dataset(data, version=DEFAULT_VERSION + ("-quick" if quick else ""),
                               sources=None if data is not None else ("cache", "build"), progress=progress)
    timings["dataset"] = time.perf_counter() - t
    manifest = read_manifest(data_dir)
    test = open_split(data_dir, "test")
    gen = open_split(data_dir, "generality") if "generality" in manifest.splits else None
    test_idx = _sweep_indices(test, max_seeds)
    sweeps = sorted({str(test.subsets[i]) for i in test_idx})
    result = ReproductionResult(out_dir=out, dataset_dir=data_dir)
    cutoffs_by_model: dict = {}
    plans: list[dict] = []
    for name in models:
        t = time.perf_counter()
        locator, reason = _get_locator(name, train_missing=train_missing, quick=quick, data_dir=data_dir,
                                       progress=progress)
        if locator is None:
            result.models_skipped[name] = reason
            log.warning("skipping %s: %s", name, reason)
            continue
        timings[f"{name}: load/train"] = time.perf_counter() - t
        model_dir = out / name
        model_dir.mkdir(parents=True, exist_ok=True)
        desc = locator.describe()
        identity = {"dataset": manifest.name, "version": manifest.version, "model": name,
                    "model_version": str(desc.get("version")),
                    "weights_sha256": (desc.get("weights") or {}).get("sha256")}
        common = {"name": name, "locator": locator, "spec": _spec_of(name, locator), "reuse": reuse_predictions,
                  "version": str(desc.get("version")), "dir": model_dir}
        plans.append(dict(common, kind="test", split=test, indices=test_idx, desc=f"{name} test",
                          path=model_dir / "predictions_test.npz",
                          identity=dict(identity, split_sha256=manifest.splits["test"].sha256)))
        if gen is not None:
            plans.append(dict(common, kind="generality", split=gen, indices=list(range(len(gen))),
                              desc=f"{name} generality", path=model_dir / "predictions_generality.npz",
                              identity=dict(identity, split_sha256=manifest.splits["generality"].sha256)))
    t = time.perf_counter()
    _predict_all(plans, scheduler=scheduler, workers=workers, address=address, progress=progress)
    timings[f"predict ({sum(len(p['preds']) for p in plans)} images, {len(plans)} model x split)"] = (
        time.perf_counter() - t)
    for p in plans:
        name, model_dir = p["name"], p["dir"]
        if p["kind"] == "test":
            report, _ = evaluate(p["preds"], test, protocol=protocol, tolerance_A=tolerance_A, model_name=name,
                                 model_version=p["version"], subsets=sweeps, missing="skip",
                                 out_dir=model_dir / "test", plots_dir=model_dir / "test" / "plots", n_boot=n_boot,
                                 max_overlays=4)
            cutoffs_by_model[name] = report.cutoffs
            result.models_run.append(name)
        else:
            greport, _ = evaluate(p["preds"], gen, protocol=protocol, tolerance_A=tolerance_A, model_name=name,
                                  model_version=p["version"], out_dir=model_dir / "generality",
                                  plots_dir=model_dir / "generality" / "plots", n_boot=n_boot, max_overlays=4)
            result.generality[name] = {k: v.model_dump() for k, v in greport.aggregates.items()}
    result.comparison = compare_cutoffs(cutoffs_by_model)
    for material in sorted({c.subset.split("_sim_")[0] for cs in cutoffs_by_model.values() for c in cs}):
        by_model = {m: [c for c in cs if c.subset.startswith(material + "_sim_")] for m, cs in cutoffs_by_model.items()}
        plot_radar(by_model, path=out / f"radar_{material}.png",
                   title=f"{material.upper()} cutoffs (bigger = more robust)")
    timings["total"] = time.perf_counter() - t0
    result.timings_s = timings
    from atomdata.reproduce.report import write_reproduction_report

    result.report_path = write_reproduction_report(result, quick=quick, protocol=protocol, tolerance_A=tolerance_A)
    return result
