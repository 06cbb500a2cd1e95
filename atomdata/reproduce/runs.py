"""Steps shared by the reproductions: get a locator, predict (reusing saved predictions), pick sweep images.

Used by :mod:`atomdata.reproduce.pipeline` (atomdata's benchmark) and
:mod:`atomdata.reproduce.published_images` (the published Wei file). Positions are (x, y) in
pixels, x = column index, y = row index, origin at the centre of the top-left pixel.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["DEFAULT_MODELS", "REPRODUCE_VERSION", "ReproductionResult", "cached_predict", "get_locator",
           "sweep_indices", "lin_weights_path", "variants_for", "score_variants", "has_visibility", "write_radars",
           "finish", "open_model"]

log = logging.getLogger(__name__)

#: Models run by default, in report order.
DEFAULT_MODELS = ("ziatdinov-atomnet-cubic", "lin-atomsegnet", "baseline-peaks")
#: The benchmark version ``atomdata reproduce`` uses by default.
REPRODUCE_VERSION = "1.1.0"


def variants_for(protocol: str, tolerance_A: Optional[float], *, visibility: bool) -> dict[str, dict]:
    """Extra scorings of the same predictions shown beside the main table: label -> ``evaluate`` options.

    The other visibility rule (when the dataset records one) and the other matching protocol.

    Examples
    --------
    >>> list(variants_for("one_to_one", None, visibility=True))
    ['visibility rule: every column of a visible species scored', 'matching: the published protocol (wei2022)']
    """
    out = {}
    if visibility:
        out["visibility rule: every column of a visible species scored"] = {"visibility": "all", "protocol": protocol,
                                                          "tolerance_A": tolerance_A}
    if protocol == "one_to_one":
        out["matching: the published protocol (wei2022)"] = {"protocol": "wei2022", "tolerance_A": None}
    else:
        out["matching: atomdata's protocol (one_to_one, 0.5 Å)"] = {"protocol": "one_to_one", "tolerance_A": None}
    return out


@dataclass
class ReproductionResult:
    """What :func:`reproduce` produced.

    ``comparison`` holds the rows of the main scoring; ``variants`` the rows of each extra scoring
    (:func:`variants_for`); ``not_used`` (published images only) image id -> why it is in no sweep;
    ``ours`` rows of an earlier reproduction on atomdata's benchmark, shown beside (``compare_with``).
    """

    out_dir: Path
    dataset_dir: Path
    models_run: list[str] = field(default_factory=list)
    models_skipped: dict[str, str] = field(default_factory=dict)
    comparison: list[dict] = field(default_factory=list)
    generality: dict[str, dict] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    report_path: Optional[Path] = None
    dataset_label: str = ""
    variants: dict[str, list[dict]] = field(default_factory=dict)
    radars: list[Path] = field(default_factory=list)
    not_used: dict[str, str] = field(default_factory=dict)
    ours: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def score_variants(preds, split, *, subsets, name: str, model_version: str, model_dir: Path, n_boot: int,
                   variants: dict) -> dict[str, list]:
    """Cutoffs of the same predictions under each scoring of ``variants`` (label -> evaluate options)."""
    from atomdata.evaluation import evaluate

    out = {}
    for k, (label, opts) in enumerate(variants.items()):
        with warnings.catch_warnings():  # wei2022's tolerance falls below the accuracy criterion at fine pixels
            warnings.simplefilter("ignore", UserWarning)
            report, _ = evaluate(preds, split, model_name=name, model_version=model_version, subsets=subsets,
                                 missing="skip", out_dir=model_dir / f"test_variant{k + 1}", n_boot=n_boot, **opts)
        out[label] = report.cutoffs
    return out


def write_radars(cutoffs_by_model: dict, out: Path, *, label: str) -> list[Path]:
    """All models per material, and each published model over its published polygon."""
    from atomdata.evaluation.plots import plot_radar
    from atomdata.reproduce.published import published_as_cutoffs

    paths = []
    materials = sorted({c.subset.split("_sim_")[0] for cs in cutoffs_by_model.values() for c in cs})
    for material in materials:
        by_model = {m: [c for c in cs if c.subset.startswith(material + "_sim_")] for m, cs in cutoffs_by_model.items()}
        path = out / f"radar_{material}.png"
        plot_radar(by_model, path=path, title=f"{material.upper()} cutoffs, {label} (bigger = more robust)")
        paths.append(path)
        for model, cuts in by_model.items():
            pub = published_as_cutoffs(cuts, model)
            if pub is None or not cuts:
                continue
            path = out / f"radar_{material}_{model}.png"
            plot_radar({f"published ({model})": pub, f"ours: {label}": cuts}, path=path,
                       title=f"{material.upper()}, {model}: published polygon vs ours")
            paths.append(path)
    return paths


def has_visibility(split, indices) -> bool:
    """True when the split's records carry the visibility rule's information (benchmark 1.1.0 and later)."""
    return bool(indices) and "visibility" in (split.metadata(indices[0]).get("extra") or {})


def cached_predict(locator, split, indices: Sequence[int], path: Path, *, identity: dict, reuse: bool,
                   progress: bool, desc: str, name: Optional[str] = None, scheduler: str = "processes",
                   workers: Optional[int] = 1, address: Optional[str] = None) -> dict[str, np.ndarray]:
    """Predictions of one model for ``indices`` of one split (image id -> (N, 2) (x, y) px).

    One plan of :func:`atomdata.reproduce.predict_step.predict_plans`: predictions saved at ``path``
    by an earlier run with the same ``identity`` are reused; the rest are predicted and saved.
    """
    from atomdata.reproduce.predict_step import predict_plans, spec_of

    name = name or str(locator.describe().get("name"))
    plan = {"name": name, "locator": locator, "spec": spec_of(name, locator), "split": split,
            "indices": list(indices), "path": path, "identity": identity, "reuse": reuse, "desc": desc}
    predict_plans([plan], scheduler=scheduler, workers=workers, address=address, progress=progress)
    return plan["preds"]


def lin_weights_path(dataset_version: str) -> Path:
    """Where the reproduction keeps ``lin-atomsegnet`` weights trained on one dataset version (in the cache)."""
    from atomdata.models.atomsegnet import LIN_ATOMSEGNET_WEIGHTS
    from atomdata.models.weights import weights_cache_dir

    name = Path(LIN_ATOMSEGNET_WEIGHTS.filename)
    return weights_cache_dir() / f"{name.stem}-{dataset_version}{name.suffix}"


def get_locator(name: str, *, train_missing: bool, quick: bool, data_dir, dataset_version: Optional[str],
                progress: bool):
    """The locator, or ``(None, reason)`` when it cannot be had here.

    ``lin-atomsegnet`` is atomdata's own training: unless ``ATOMDATA_LIN_WEIGHTS`` names a file,
    the reproduction uses weights trained on the ``train`` split of ``dataset_version`` (kept at
    :func:`lin_weights_path`) and trains them (deterministically) when they are missing and
    ``train_missing`` is set. ``data_dir`` may be a callable returning the dataset folder (called
    only when training is needed).
    """
    from atomdata import models
    from atomdata.models.weights import WeightsError

    if name == "lin-atomsegnet" and dataset_version and not os.environ.get("ATOMDATA_LIN_WEIGHTS"):
        path = lin_weights_path(dataset_version)
        if not path.is_file():
            if not train_missing:
                return None, (f"no lin-atomsegnet weights trained on {dataset_version} at {path}; run `atomdata "
                              f"train lin-atomsegnet --data <{dataset_version} folder> --out {path}` or drop --no-train")
            from atomdata.models.train.loop import train

            log.info("no lin-atomsegnet weights trained on %s: training them now", dataset_version)
            folder = data_dir() if callable(data_dir) else data_dir
            train(name, data=folder, quick=quick, out=path, progress=progress)
        return models.get(name, weights=path), None
    try:
        return models.get(name), None
    except WeightsError as e:
        return None, str(e)


def sweep_indices(split, max_seeds: Optional[int]) -> list[int]:
    """Indices of the sweep images (subsets ``<material>_sim_<metric>``), optionally only seeds < max_seeds."""
    subs = [str(s) for s in split.subsets]
    idx = [i for i, s in enumerate(subs) if "_sim_" in s]
    if max_seeds is None:
        return idx
    if max_seeds < 1:
        raise ValueError(f"max_seeds must be >= 1, got {max_seeds}")
    keep = []
    for i in idx:
        sweep = (split.metadata(i).get("extra") or {}).get("sweep") or {}
        if int(sweep.get("seed_index", 0)) < max_seeds:
            keep.append(i)
    return keep


def finish(result: ReproductionResult, cutoffs_by_model: dict, variant_cutoffs: dict, *, label: str, t0: float,
           timings: dict, quick: bool, protocol: str, tolerance_A: Optional[float]) -> ReproductionResult:
    """Compare with the published cutoffs, draw the radars, write ``REPORT.md``: the last step of both reproductions."""
    import time

    from atomdata.reproduce.published import compare_cutoffs
    from atomdata.reproduce.report import write_reproduction_report

    result.comparison = compare_cutoffs(cutoffs_by_model)
    result.variants = {lab: compare_cutoffs(cuts) for lab, cuts in variant_cutoffs.items()}
    if cutoffs_by_model:
        result.radars = write_radars(cutoffs_by_model, result.out_dir, label=label)
    timings["total"] = time.perf_counter() - t0
    result.timings_s = timings
    result.report_path = write_reproduction_report(result, quick=quick, protocol=protocol, tolerance_A=tolerance_A)
    return result


def open_model(name: str, result: ReproductionResult, timings: dict, **get_locator_options):
    """One model of a reproduction: ``(locator, describe(), output folder)``, or None when it is skipped.

    A model that cannot be had (:func:`get_locator` gives a reason) is recorded in
    ``result.models_skipped``; the load/train time goes into ``timings``; lin-atomsegnet's training
    record goes into ``result.notes`` (it is our training, not the published weights).
    """
    import time

    t = time.perf_counter()
    locator, reason = get_locator(name, **get_locator_options)
    if locator is None:
        result.models_skipped[name] = reason
        log.warning("skipping %s: %s", name, reason)
        return None
    timings[f"{name}: load/train"] = time.perf_counter() - t
    model_dir = result.out_dir / name
    model_dir.mkdir(parents=True, exist_ok=True)
    desc = locator.describe()
    if name == "lin-atomsegnet" and desc.get("training"):
        result.notes.append(f"lin-atomsegnet is atomdata's own training, not the published weights: "
                            f"{desc['training']}")
    return locator, desc, model_dir
