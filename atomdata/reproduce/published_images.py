"""Reproduce on the published images: ``atomdata reproduce --dataset wei_atom_locating`` (or ``--data wei_atom.h5``).

Runs the locators on the 299-image file of Wei et al. (Foundry ``foundry_wei_atom_locating_benchmark_v1.1``;
fetched through :func:`atomdata.sources.load` when no local copy is given), groups its simulated images
into the published sweeps from the metadata (:func:`atomdata.sources.wei.sweeps.group_sweeps`), scores
them with the published protocol (``wei2022``) by default, computes the cutoffs and writes them beside
the published ones -- and beside an earlier reproduction on atomdata's benchmark (``compare_with``) --
in the report format of :mod:`atomdata.reproduce.report`. Images that fall in no sweep are listed with
the reason. Same pipeline as :func:`atomdata.reproduce.reproduce`: predict -> evaluate -> cutoffs -> report.

Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of the top-left pixel.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

__all__ = ["is_wei_file", "reproduce_published_images", "read_comparison"]

log = logging.getLogger(__name__)


def is_wei_file(path) -> bool:
    """True when ``path`` is an HDF5 file with the groups of the published layout (``imgs``, ``coords``, ``metadata``)."""
    import h5py

    p = Path(path).expanduser()
    if not p.is_file():
        return False
    try:
        with h5py.File(p, "r") as f:
            return all(isinstance(f.get(g), h5py.Group) for g in ("imgs", "coords", "metadata"))
    except OSError:
        return False


def read_comparison(path) -> list[dict]:
    """Rows of ``cutoffs_comparison.json`` written by an earlier reproduction (a folder or the file itself)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "cutoffs_comparison.json"
    if not p.is_file():
        raise FileNotFoundError(f"no cutoffs_comparison.json at {p}; pass the output folder of an earlier "
                                "`atomdata reproduce` run on atomdata's benchmark")
    return json.loads(p.read_text())


def _lin_data_dir(quick: bool, progress: bool):
    """The benchmark folder lin-atomsegnet is trained on when its weights are missing (built if needed)."""
    from atomdata.reproduce.runs import REPRODUCE_VERSION
    from atomdata.sources import resolve_dataset

    return resolve_dataset(None, version=REPRODUCE_VERSION + ("-quick" if quick else ""), sources=("cache", "build"),
                           progress=progress)


def reproduce_published_images(out_dir=None, *, data=None, models: Optional[Sequence[str]] = None,
                               protocol: str = "wei2022", tolerance_A: Optional[float] = None,
                               train_missing: bool = True, quick: bool = False, n_boot: int = 1000,
                               reuse_predictions: bool = True, compare_with=None, progress: bool = True,
                               scheduler: str = "processes", workers: Optional[int] = 1,
                               address: Optional[str] = None):
    """Run the locators on the published Wei images and compare their cutoffs (see the module notes).

    Parameters
    ----------
    out_dir : path-like, optional
        Output folder (default ``./reproduction-wei``).
    data : path-like, optional
        A local copy of ``wei_atom.h5``; None fetches it with ``atomdata.load("wei_atom_locating")``.
    models : sequence of str, optional
        Registry names (default :data:`atomdata.reproduce.DEFAULT_MODELS`).
    protocol, tolerance_A
        Matching protocol and tolerance [Å] (default: the published ``wei2022``).
    train_missing, quick
        ``lin-atomsegnet`` uses the weights trained on benchmark 1.1.0 (``quick``: 1.1.0-quick); with
        ``train_missing`` they are trained (building that benchmark) when missing.
    n_boot, reuse_predictions, progress, scheduler, workers, address
        As :func:`atomdata.reproduce.reproduce` (the published images are predicted in this
        process unless ``workers`` > 1 or ``scheduler="dask"``).
    compare_with : path-like, optional
        Output folder of an earlier reproduction on atomdata's benchmark: its cutoffs are shown as a
        third column.

    Returns
    -------
    atomdata.reproduce.ReproductionResult
        With ``not_used`` (image id -> reason) and ``ours`` (the ``compare_with`` rows).
    """
    from atomdata.evaluation import evaluate
    from atomdata.reproduce.runs import (
        DEFAULT_MODELS,
        REPRODUCE_VERSION,
        ReproductionResult,
        cached_predict,
        finish,
        open_model,
        score_variants,
        variants_for,
    )
    from atomdata.sources.wei import open_wei
    from atomdata.sources.wei.sweeps import SweepSplit, group_sweeps

    t0 = time.perf_counter()
    out = Path(out_dir or "reproduction-wei").expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    if data is not None:
        source = open_wei(data)
    else:
        from atomdata.sources import load

        source = load("wei_atom_locating", split="train", progress=progress)
    timings["dataset"] = time.perf_counter() - t0
    plan = group_sweeps(source)
    split = SweepSplit(source, plan)
    if not len(split):
        raise ValueError(f"no image of {source.path} falls in a sweep: {len(plan.not_used)} images not used, "
                         f"e.g. {next(iter(plan.not_used.items()), ('-', '-'))}")
    stat = Path(source.path).stat()
    result = ReproductionResult(out_dir=out, dataset_dir=Path(source.path), not_used=dict(plan.not_used),
                                dataset_label=f"the published Wei et al. images ({Path(source.path).name}, "
                                              f"{len(source)} images, {len(split)} sweep entries)")
    if compare_with is not None:
        result.ours = read_comparison(compare_with)
    indices = list(range(len(split)))
    subsets = plan.subsets()
    variants = variants_for(protocol, tolerance_A, visibility=False)
    cutoffs_by_model: dict = {}
    variant_cutoffs: dict[str, dict] = {k: {} for k in variants}
    version = REPRODUCE_VERSION + ("-quick" if quick else "")
    for name in models or DEFAULT_MODELS:
        opened = open_model(name, result, timings, train_missing=train_missing, quick=quick, dataset_version=version,
                            data_dir=lambda: _lin_data_dir(quick, progress), progress=progress)
        if opened is None:
            continue
        locator, desc, model_dir = opened
        identity = {"dataset": "wei_atom_locating", "file": Path(source.path).name, "size_bytes": stat.st_size,
                    "model": name, "model_version": str(desc.get("version")),
                    "weights_sha256": (desc.get("weights") or {}).get("sha256")}
        t = time.perf_counter()
        preds = cached_predict(locator, split, indices, model_dir / "predictions_test.npz", identity=identity,
                               name=name, reuse=reuse_predictions, progress=progress,
                               desc=f"{name} published images", scheduler=scheduler,
                               workers=1 if workers is None and scheduler == "processes" else workers,
                               address=address)
        timings[f"{name}: predict ({len(preds)} images)"] = time.perf_counter() - t
        report, _ = evaluate(preds, split, protocol=protocol, tolerance_A=tolerance_A, model_name=name,
                             model_version=str(desc.get("version")), subsets=subsets, missing="skip",
                             out_dir=model_dir / "test", plots_dir=model_dir / "test" / "plots", n_boot=n_boot,
                             max_overlays=4)
        cutoffs_by_model[name] = report.cutoffs
        for label, cuts in score_variants(preds, split, subsets=subsets, name=name,
                                          model_version=str(desc.get("version")), model_dir=model_dir,
                                          n_boot=n_boot, variants=variants).items():
            variant_cutoffs[label][name] = cuts
        result.models_run.append(name)
    return finish(result, cutoffs_by_model, variant_cutoffs, label=f"published images, {protocol}", t0=t0,
                  timings=timings, quick=quick, protocol=protocol, tolerance_A=tolerance_A)
