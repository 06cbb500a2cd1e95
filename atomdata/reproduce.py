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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .paths import DEFAULT_DATASET, DEFAULT_VERSION

__all__ = [
    "DEFAULT_MODELS",
    "published_cutoffs",
    "compare_cutoffs",
    "predict_split",
    "reproduce",
    "ReproductionResult",
]

log = logging.getLogger(__name__)

#: Models run by default, in report order.
DEFAULT_MODELS = ("ziatdinov-atomnet-cubic", "lin-atomsegnet", "baseline-peaks")

#: Our sweep-subset material prefix -> the published table's material key.
_MATERIALS = {"sto": "SrTiO3_simulated", "ws2": "WS2_simulated"}
#: Our metric names -> the published table's metric keys.
_METRICS = {
    "atoms_per_100px": "atoms_per_100px",
    "contrast": "contrast",
    "psnr_db": "psnr_db",
    "resolution_pm": "resolution_pm",
    "flyback_error_px": "flyback_error",
    "random_drift": "random_drift",
    "dose_e_per_A2": "dose_e_per_A2",
}


def published_cutoffs() -> dict:
    """The published cutoffs (Wei et al. 2023 result notebooks) with their citation and source."""
    text = resources.files("atomdata").joinpath("data/published_cutoffs.json").read_text(encoding="utf-8")
    return json.loads(text)


def predict_split(locator, split, *, subsets: Optional[Sequence[str]] = None, indices: Optional[Sequence[int]] = None,
                  batch_size: int = 8, progress: bool = True, desc: Optional[str] = None) -> dict[str, np.ndarray]:
    """Run a locator over (a subset of) a split; returns ``{image_id: (N, 2) (x, y) px}``.

    ``indices`` (image indices) or ``subsets`` (subset names) select the images;
    they go to ``locator.predict_batch`` in batches of ``batch_size``.
    """
    from tqdm.auto import tqdm

    ids = list(split.image_ids)
    subs = [str(s) for s in split.subsets]
    if indices is None:
        indices = [i for i in range(len(ids)) if subsets is None or subs[i] in subsets]
    idx = list(indices)
    pixel = np.asarray(split.pixel_sizes_A, dtype=float)
    out: dict[str, np.ndarray] = {}
    with tqdm(total=len(idx), desc=desc or "predict", unit="img", disable=not progress) as bar:
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            images = [split.image(i) for i in chunk]
            preds = locator.predict_batch(images, [float(pixel[i]) for i in chunk])
            for i, xy in zip(chunk, preds):
                out[ids[i]] = np.asarray(xy, dtype=float).reshape(-1, 2)
            bar.update(len(chunk))
    return out


def _cached_predict(locator, split, indices: Sequence[int], path: Path, *, identity: dict, reuse: bool,
                    progress: bool, desc: str) -> dict[str, np.ndarray]:
    """Predictions for ``indices``, reusing those saved at ``path`` by an earlier run with the same ``identity``.

    ``identity`` (dataset version, split checksum, model and weights) is stored beside the
    predictions (``.json``); saved predictions of another dataset or model are never reused.
    """
    from .evaluate import load_predictions, save_predictions

    ids = list(split.image_ids)
    meta = path.with_suffix(".json")
    have: dict = {}
    if reuse and path.exists() and meta.exists():
        if json.loads(meta.read_text()) == identity:
            have = load_predictions(path)
        else:
            log.info("%s: saved predictions at %s are for another dataset or model; predicting anew", desc, path)
    todo = [i for i in indices if ids[i] not in have]
    if have:
        log.info("%s: reusing %d saved predictions from %s, predicting %d", desc, len(indices) - len(todo), path,
                 len(todo))
    if todo:
        have.update(predict_split(locator, split, indices=todo, progress=progress, desc=desc))
        save_predictions(have, path)
        meta.write_text(json.dumps(identity, indent=2))
    return {ids[i]: have[ids[i]] for i in indices}


def compare_cutoffs(cutoffs_by_model: dict, published: Optional[dict] = None) -> list[dict]:
    """Rows of ours-vs-published cutoffs, one per (material, metric, model).

    Parameters
    ----------
    cutoffs_by_model : dict
        Model registry name -> list of :class:`atomdata.evaluate.Cutoff`.
    published : dict, optional
        The published table (default :func:`published_cutoffs`).

    Returns
    -------
    list of dict
        Keys: material, metric, model, published, ours, ci_low, ci_high,
        tested_min, tested_max, failed_first, difference (ours - published),
        relative_difference (fraction of the published value), agreement
        (``"both never fail"``, ``"within 25 %"``, ``"differs"``, ``"only ours fails"``,
        ``"only published fails"``, ``"not published"``).
    """
    published = published or published_cutoffs()
    names = {v: k for k, v in published.get("model_names", {}).items()}
    rows = []
    for model, cutoffs in cutoffs_by_model.items():
        pub_model = names.get(model)
        for c in cutoffs:
            material = c.subset.split("_sim_")[0]
            pub_mat = _MATERIALS.get(material)
            pub_metric = _METRICS.get(c.metric, c.metric)
            table = published["cutoffs"].get(pub_mat, {}).get(pub_model, {}) if pub_model and pub_mat else {}
            has_pub = pub_metric in table
            pub = table.get(pub_metric)
            ours = c.cutoff
            row = {
                "material": material, "metric": c.metric, "model": model,
                "published": pub, "ours": ours, "ci_low": c.ci_low, "ci_high": c.ci_high,
                "tested_min": c.tested_min, "tested_max": c.tested_max, "failed_first": c.failed_first,
                "failed_at_start": c.failed_at_start,
                "difference": None, "relative_difference": None,
            }
            if not has_pub:
                row["agreement"] = "not published"
            elif pub is None and ours is None:
                row["agreement"] = "both never fail"
            elif pub is None:
                row["agreement"] = "only ours fails"
            elif ours is None:
                row["agreement"] = "only published fails"
            else:
                row["difference"] = ours - pub
                row["relative_difference"] = (ours - pub) / abs(pub) if pub else None
                rel = row["relative_difference"]
                row["agreement"] = "within 25 %" if rel is not None and abs(rel) <= 0.25 else "differs"
            rows.append(row)
    return rows


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


def _dataset(data, quick: bool, progress: bool) -> Path:
    if data is not None:
        p = Path(data).expanduser()
        if not (p / "manifest.json").exists():
            raise FileNotFoundError(f"--data {p} is not a dataset folder (no manifest.json); run `atomdata build --out {p}`")
        return p
    from .loaders import load

    version = DEFAULT_VERSION + ("-quick" if quick else "")
    return Path(load(DEFAULT_DATASET, version=version, sources=("cache", "build"), progress=progress))


def _get_locator(name: str, *, train_missing: bool, quick: bool, data_dir: Path, progress: bool):
    """The locator, or (None, reason) when it cannot be had here."""
    from . import models
    from .models.weights import WeightsError

    try:
        return models.get(name), None
    except WeightsError as e:
        if name == "lin-atomsegnet" and train_missing:
            from .models.train import train

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
              reuse_predictions: bool = True, progress: bool = True) -> ReproductionResult:
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
        Matching protocol and tolerance [Å] (see :mod:`atomdata.evaluate`).
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

    Returns
    -------
    ReproductionResult
        Also written: ``REPORT.md``, ``cutoffs_comparison.csv/.json``, ``radar_<material>.png``,
        and per model ``<model>/{test,generality}/`` evaluation reports and plots plus the predictions.
    """
    from .evaluate import evaluate
    from .evaluate.plots import plot_radar
    from .storage import SplitFile, read_manifest

    t0 = time.perf_counter()
    out = Path(out_dir or ("reproduction-quick" if quick else "reproduction")).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data_dir = _dataset(data, quick, progress)
    timings["dataset"] = time.perf_counter() - t
    manifest = read_manifest(data_dir)
    test = SplitFile(data_dir / "test.h5")
    gen_path = data_dir / "generality.h5"
    gen = SplitFile(gen_path) if gen_path.exists() else None
    test_idx = _sweep_indices(test, max_seeds)
    sweeps = sorted({str(test.subsets[i]) for i in test_idx})
    result = ReproductionResult(out_dir=out, dataset_dir=data_dir)
    cutoffs_by_model: dict = {}
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
        t = time.perf_counter()
        preds = _cached_predict(locator, test, test_idx, model_dir / "predictions_test.npz",
                                identity=dict(identity, split_sha256=manifest.splits["test"].sha256),
                                reuse=reuse_predictions, progress=progress, desc=f"{name} test")
        timings[f"{name}: predict test ({len(preds)} images)"] = time.perf_counter() - t
        report, _ = evaluate(preds, test, protocol=protocol, tolerance_A=tolerance_A, model_name=name,
                             model_version=str(desc.get("version")), subsets=sweeps, missing="skip",
                             out_dir=model_dir / "test",
                             plots_dir=model_dir / "test" / "plots", n_boot=n_boot, max_overlays=4)
        cutoffs_by_model[name] = report.cutoffs
        if gen is not None:
            t = time.perf_counter()
            gpreds = _cached_predict(locator, gen, range(len(gen)), model_dir / "predictions_generality.npz",
                                     identity=dict(identity, split_sha256=manifest.splits["generality"].sha256),
                                     reuse=reuse_predictions, progress=progress, desc=f"{name} generality")
            timings[f"{name}: predict generality ({len(gpreds)} images)"] = time.perf_counter() - t
            greport, _ = evaluate(gpreds, gen, protocol=protocol, tolerance_A=tolerance_A, model_name=name,
                                  model_version=str(desc.get("version")), out_dir=model_dir / "generality",
                                  plots_dir=model_dir / "generality" / "plots", n_boot=n_boot, max_overlays=4)
            result.generality[name] = {k: v.model_dump() for k, v in greport.aggregates.items()}
        result.models_run.append(name)
    result.comparison = compare_cutoffs(cutoffs_by_model)
    for material in sorted({c.subset.split("_sim_")[0] for cs in cutoffs_by_model.values() for c in cs}):
        by_model = {m: [c for c in cs if c.subset.startswith(material + "_sim_")] for m, cs in cutoffs_by_model.items()}
        plot_radar(by_model, path=out / f"radar_{material}.png",
                   title=f"{material.upper()} cutoffs (bigger = more robust)")
    timings["total"] = time.perf_counter() - t0
    result.timings_s = timings
    from .reproduce_report import write_reproduction_report

    result.report_path = write_reproduction_report(result, quick=quick, protocol=protocol, tolerance_A=tolerance_A)
    return result
