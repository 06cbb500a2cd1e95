"""Reproduce the published comparison (Wei et al. 2023) on atomdata's benchmark: ``atomdata reproduce``.

Builds (or finds) the benchmark -- version 1.1.0 by default, the one made the way Wei et al. made
theirs -- runs every registered locator on the ``test`` sweeps and the ``generality`` split, scores
them with the reference evaluator, estimates the cutoff of every image-quality metric, and writes
the cutoffs side by side with the published ones (packaged in ``atomdata/data/published_cutoffs.json``
with their source), radar plots (all models, and each model over the published polygon), the
per-model evaluation reports and a Markdown summary ``REPORT.md``. The cutoffs are also computed
under the other visibility rule (every column of a visible species scored) and under the published
matching protocol (``wei2022``), from the same predictions.

``dataset="wei_atom_locating"`` (or ``data=`` a file in the published layout) runs the locators on the
published images instead: :mod:`atomdata.reproduce.published_images`.

Pipeline: predict -> evaluate -> cutoffs -> report. Positions are (x, y) in pixels throughout
(x = column index, y = row index, origin at the centre of the top-left pixel).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from atomdata.reproduce.predict_step import predict_plans, spec_of
from atomdata.reproduce.runs import (
    DEFAULT_MODELS,
    REPRODUCE_VERSION,
    ReproductionResult,
    finish,
    has_visibility,
    open_model,
    score_variants,
    sweep_indices,
    variants_for,
)
from atomdata.sources import open_split, resolve_dataset

__all__ = ["DEFAULT_MODELS", "REPRODUCE_VERSION", "reproduce", "ReproductionResult"]

log = logging.getLogger(__name__)

def reproduce(out_dir=None, *, version: Optional[str] = None, dataset: Optional[str] = None, quick: bool = False,
              data=None, models: Sequence[str] = DEFAULT_MODELS, protocol: Optional[str] = None,
              tolerance_A: Optional[float] = None, train_missing: bool = True, n_boot: int = 1000,
              max_seeds: Optional[int] = None, reuse_predictions: bool = True, compare_with=None,
              progress: bool = True, scheduler: str = "processes", workers: Optional[int] = None,
              address: Optional[str] = None) -> ReproductionResult:
    """Run every model on the benchmark (or the published images) and compare its cutoffs with the published ones.

    Parameters
    ----------
    out_dir : path-like, optional
        Output folder (default ``./reproduction`` or ``./reproduction-quick``).
    version : str, optional
        Benchmark version (default :data:`REPRODUCE_VERSION`, 1.1.0; ``"1.0.0"`` still works).
    dataset : {None, "wei_atom_locating"}
        ``"wei_atom_locating"``: run on the published images (see
        :func:`~atomdata.reproduce.published_images.reproduce_published_images`).
    quick : bool
        Use the quick build (a few minutes on 2 cores) instead of the full benchmark.
    data : path-like, optional
        A dataset folder (with ``manifest.json``) to use instead of the cached/built default, or a
        file in the published Wei layout (then as ``dataset="wei_atom_locating"``).
    models : sequence of str
        Registry names to run (default: both published models and the baseline).
    protocol, tolerance_A
        Matching protocol and tolerance [Å] of the main table (default ``one_to_one``, atomdata's
        evaluator; ``wei2022`` on the published images). The other protocol is in the report too.
    train_missing : bool
        Train ``lin-atomsegnet`` on this version's ``train`` split when its weights are missing.
    n_boot : int
        Bootstrap replicates (over seeds) for confidence intervals.
    max_seeds : int, optional
        Use only the first ``max_seeds`` seeds of every sweep point (faster, coarser
        cutoff confidence intervals); None: all seeds.
    reuse_predictions : bool
        Reuse predictions saved in ``out_dir`` by an earlier or interrupted run of the
        same dataset (``<model>/predictions_<split>.npz``); only missing images are predicted.
    compare_with : path-like, optional
        Published images only: a reproduction folder (or its ``cutoffs_comparison.json``) on
        atomdata's benchmark, shown as a third column.
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
        Also written: ``REPORT.md``, ``cutoffs_comparison.csv/.json``, ``radar_<material>[_<model>].png``,
        and per model ``<model>/{test,generality}/`` evaluation reports and plots plus the predictions.
    """
    from atomdata.reproduce.published_images import is_wei_file, reproduce_published_images

    if dataset not in (None, "atomdata-benchmark", "wei_atom_locating"):
        raise ValueError(f"Unknown dataset {dataset!r}. Valid: atomdata-benchmark (default), wei_atom_locating.")
    if dataset == "wei_atom_locating" or (data is not None and is_wei_file(data)):
        return reproduce_published_images(out_dir, data=data, models=models, protocol=protocol or "wei2022",
                                          tolerance_A=tolerance_A, train_missing=train_missing, quick=quick,
                                          n_boot=n_boot, reuse_predictions=reuse_predictions,
                                          compare_with=compare_with, progress=progress, scheduler=scheduler,
                                          workers=workers, address=address)
    from atomdata.evaluation import evaluate
    from atomdata.storage import read_manifest

    protocol = protocol or "one_to_one"
    t0 = time.perf_counter()
    out = Path(out_dir or ("reproduction-quick" if quick else "reproduction")).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    version = (version or REPRODUCE_VERSION).removesuffix("-quick")
    data_dir = resolve_dataset(data, version=version + ("-quick" if quick else ""),
                               sources=None if data is not None else ("cache", "build"), progress=progress)
    timings["dataset"] = time.perf_counter() - t
    manifest = read_manifest(data_dir)
    test = open_split(data_dir, "test")
    gen = open_split(data_dir, "generality") if "generality" in manifest.splits else None
    test_idx = sweep_indices(test, max_seeds)
    sweeps = sorted({str(test.subsets[i]) for i in test_idx})
    variants = variants_for(protocol, tolerance_A, visibility=has_visibility(test, test_idx))
    result = ReproductionResult(out_dir=out, dataset_dir=data_dir, dataset_label=f"{manifest.name} {manifest.version}")
    if max_seeds is not None:
        result.notes.append(f"only the first {max_seeds} seeds of every sweep point were used (--max-seeds)")
    cutoffs_by_model: dict = {}
    variant_cutoffs: dict[str, dict] = {k: {} for k in variants}
    plans: list[dict] = []
    for name in models:
        opened = open_model(name, result, timings, train_missing=train_missing, quick=quick, data_dir=data_dir,
                            dataset_version=manifest.version, progress=progress)
        if opened is None:
            continue
        locator, desc, model_dir = opened
        identity = {"dataset": manifest.name, "version": manifest.version, "model": name,
                    "model_version": str(desc.get("version")),
                    "weights_sha256": (desc.get("weights") or {}).get("sha256")}
        common = {"name": name, "locator": locator, "spec": spec_of(name, locator), "reuse": reuse_predictions,
                  "version": str(desc.get("version")), "dir": model_dir}
        plans.append(dict(common, kind="test", split=test, indices=test_idx, desc=f"{name} test",
                          path=model_dir / "predictions_test.npz",
                          identity=dict(identity, split_sha256=manifest.splits["test"].sha256)))
        if gen is not None:
            plans.append(dict(common, kind="generality", split=gen, indices=list(range(len(gen))),
                              desc=f"{name} generality", path=model_dir / "predictions_generality.npz",
                              identity=dict(identity, split_sha256=manifest.splits["generality"].sha256)))
    t = time.perf_counter()
    predict_plans(plans, scheduler=scheduler, workers=workers, address=address, progress=progress)
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
            for label, cuts in score_variants(p["preds"], test, subsets=sweeps, name=name,
                                              model_version=p["version"], model_dir=model_dir, n_boot=n_boot,
                                              variants=variants).items():
                variant_cutoffs[label][name] = cuts
            result.models_run.append(name)
        else:
            greport, _ = evaluate(p["preds"], gen, protocol=protocol, tolerance_A=tolerance_A, model_name=name,
                                  model_version=p["version"], out_dir=model_dir / "generality",
                                  plots_dir=model_dir / "generality" / "plots", n_boot=n_boot, max_overlays=4)
            result.generality[name] = {k: v.model_dump() for k, v in greport.aggregates.items()}
    return finish(result, cutoffs_by_model, variant_cutoffs, label=f"{manifest.version}, {protocol}", t0=t0,
                  timings=timings, quick=quick, protocol=protocol, tolerance_A=tolerance_A)
