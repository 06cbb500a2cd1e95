"""Scoring a segmentation split and writing the report family (JSON, CSV, Markdown, radar, sweeps, overlays).

The same outputs as :func:`atomdata.evaluation.evaluate` for atom finding: ``report.json``,
``per_image.csv``, ``summary.md``, and in the plots folder ``radar.png``, one ``sweep_<subset>.png``
per test sweep and ``overlay_<image_id>.png`` for the worst images (true particle contours green,
predicted red). Cutoffs use :class:`~atomdata.evaluation.cutoffs.SegmentationCriteria` and the
machinery of :mod:`atomdata.evaluation.cutoffs` (PCHIP crossing, bootstrap over seeds).
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import BaseModel, Field

from atomdata.evaluation.aggregate import ScoreWithCI
from atomdata.evaluation.cutoffs import Cutoff, SegmentationCriteria, cutoff_from_scores
from atomdata.evaluation.segmentation import SEG_SCORES, SegmentationScore, score_segmentation, size_distance_nm
from atomdata.sim.hrtem.benchmark import SWEEPS

__all__ = ["SegmentationReport", "score_segmentation_split", "summarise", "segmentation_cutoffs",
           "evaluate_segmentation", "format_segmentation_markdown", "plot_mask_overlay"]

#: Sweep metrics of the HRTEM benchmark and the direction in which images get harder.
_WORSE_WHEN = SWEEPS


class SegmentationReport(BaseModel):
    """Scores of a segmenter on one split: overall, per subset, cutoffs of the sweeps."""

    task: str = "hrtem-segmentation"
    dataset: Optional[str] = None
    split: Optional[str] = None
    model_name: Optional[str] = None
    model_version: Optional[str] = None
    n_images: int
    criteria: SegmentationCriteria
    overall: dict[str, ScoreWithCI] = Field(description="Mean of per-image scores with bootstrap CIs, and "
                                                        "pooled_size_w1_nm over all particles.")
    subsets: dict[str, dict[str, Optional[float]]] = Field(default_factory=dict,
                                                           description="Mean per-image scores of each subset.")
    cutoffs: list[Cutoff] = Field(default_factory=list)


def score_segmentation_split(predictions: Mapping, split, *, subsets=None, missing: str = "error",
                             progress: bool = False) -> list[SegmentationScore]:
    """Score predicted masks (image id -> (H, W) mask or instance image) against a split's ``instances``.

    ``missing``: ``"error"`` (default) for images without a prediction, ``"empty"`` scores them as
    empty masks, ``"skip"`` leaves them out.
    """
    from tqdm.auto import tqdm

    if missing not in ("error", "empty", "skip"):
        raise ValueError(f"missing must be 'error', 'empty' or 'skip', got {missing!r}")
    if "instances" not in getattr(split, "array_names", []):
        raise ValueError(f"split {getattr(split, 'path', split)} has no 'instances' array: not a segmentation split")
    ids = split.image_ids
    wanted = set(subsets) if subsets else None
    unknown = sorted(set(predictions) - set(ids))
    if unknown:
        raise ValueError(f"{len(unknown)} predictions name images not in the split, e.g. {unknown[:3]}")
    out = []
    for i in tqdm(range(len(split)), desc="score", disable=not progress, unit="img"):
        sub = str(split.subsets[i])
        if wanted is not None and sub not in wanted:
            continue
        gt = split.array("instances", i)
        pred = predictions.get(ids[i])
        if pred is None:
            if missing == "error":
                raise ValueError(f"no prediction for image {ids[i]!r}; pass missing='empty' or 'skip'")
            if missing == "skip":
                continue
            pred = np.zeros_like(gt)
        sweep = split.metadata(i).get("extra", {}).get("sweep")
        out.append(score_segmentation(pred, gt, pixel_size_A=float(split.pixel_sizes_A[i]), image_id=ids[i],
                                      subset=sub, sweep=sweep))
    return out


def _mean(values) -> Optional[float]:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else None


def summarise(scores: list[SegmentationScore], *, n_boot: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> dict[str, ScoreWithCI]:
    """Mean of each per-image score with a bootstrap CI (images resampled), plus the pooled size distance."""
    rng = np.random.default_rng(seed)
    out = {}
    n = len(scores)
    idx = rng.integers(0, n, size=(n_boot, n)) if n_boot > 0 and n > 1 else None
    for name in SEG_SCORES:
        a = np.array([getattr(s, name) for s in scores], dtype=np.float64)
        lo = hi = None
        if idx is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                boots = np.nanmean(a[idx], axis=1)
                if np.isfinite(boots).any():
                    q = (1 - confidence) / 2
                    lo, hi = (float(v) for v in np.nanquantile(boots, [q, 1 - q]))
        out[name] = ScoreWithCI(value=_mean(a), ci_low=lo, ci_high=hi)
    pooled = size_distance_nm([d for s in scores for d in s.pred_diameters_nm],
                              [d for s in scores for d in s.gt_diameters_nm])
    out["pooled_size_w1_nm"] = ScoreWithCI(value=None if math.isnan(pooled) else pooled)
    return out


def segmentation_cutoffs(scores: list[SegmentationScore], *, criteria: Optional[SegmentationCriteria] = None,
                         n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> list[Cutoff]:
    """Cutoffs of every sweep subset (images with ``sweep`` metadata), sorted by subset."""
    criteria = criteria or SegmentationCriteria()
    by: dict[str, list[SegmentationScore]] = {}
    for s in scores:
        if s.sweep and s.sweep.get("metric") in _WORSE_WHEN:
            by.setdefault(s.subset, []).append(s)
    out = []
    for sub in sorted(by):
        ss = by[sub]
        metric = ss[0].sweep["metric"]
        table = {n: [getattr(s, n) for s in ss] for n, _, _ in criteria.rules()}
        out.append(cutoff_from_scores([s.sweep["value"] for s in ss], table,
                                      seed_index=[s.sweep.get("seed_index", -1) for s in ss], metric=metric,
                                      subset=sub, worse_when=_WORSE_WHEN[metric], criteria=criteria, n_boot=n_boot,
                                      confidence=confidence, seed=seed))
    return out


def format_segmentation_markdown(report: SegmentationReport) -> str:
    """A short Markdown summary of a report."""
    def f(v, d=3):
        return "-" if v is None else f"{v:.{d}g}"

    lines = [f"# Segmentation report: {report.model_name or 'model'} on {report.dataset or '?'} / {report.split}",
             "", f"{report.n_images} images.", "", "| score | mean | 95 % CI |", "|---|---|---|"]
    for k, v in report.overall.items():
        ci = f"[{f(v.ci_low)}, {f(v.ci_high)}]" if v.ci_low is not None else "-"
        lines.append(f"| {k} | {f(v.value)} | {ci} |")
    if report.subsets:
        lines += ["", "| subset | pixel IoU | Dice | detection F1 | size error [nm] |", "|---|---|---|---|---|"]
        for sub, d in report.subsets.items():
            lines.append(f"| {sub} | {f(d.get('pixel_iou'))} | {f(d.get('dice'))} | {f(d.get('detection_f1'))} | "
                         f"{f(d.get('size_error_nm'))} |")
    if report.cutoffs:
        lines += ["", "| sweep | cutoff | 95 % CI | failed first | tested range |", "|---|---|---|---|---|"]
        for c in report.cutoffs:
            cut = "never fails" if c.cutoff is None else f(c.cutoff, 4)
            lines.append(f"| {c.subset} | {cut} | [{f(c.ci_low, 4)}, {f(c.ci_high, 4)}] | {c.failed_first or '-'} | "
                         f"{c.tested_min:g}-{c.tested_max:g} |")
    return "\n".join(lines) + "\n"


def plot_mask_overlay(image: np.ndarray, gt: np.ndarray, pred: np.ndarray, *, path=None, title: Optional[str] = None):
    """The image with the true particle contours (green) and the predicted ones (red)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(image, cmap="gray")
    for lab, col in ((np.asarray(gt) > 0, "lime"), (np.asarray(pred) > 0, "red")):
        if lab.any() and not lab.all():
            ax.contour(lab.astype(float), levels=[0.5], colors=col, linewidths=1.2)
    ax.set_axis_off()
    ax.set_title(title or "true (green) / predicted (red) particle contours", fontsize=9)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig


def _write_plots(report, scores, plots_dir, split, predictions, max_overlays):
    from atomdata.evaluation.plots import plot_radar, plot_sweep

    d = Path(plots_dir)
    d.mkdir(parents=True, exist_ok=True)
    if report.cutoffs:
        plot_radar({report.model_name or "model": report.cutoffs}, path=d / "radar.png")
        for c in report.cutoffs:
            plot_sweep(c, path=d / f"sweep_{c.subset}.png")
    worst = sorted((s for s in scores if s.image_id in predictions),
                   key=lambda s: (np.nan_to_num(s.pixel_iou, nan=2.0), s.image_id))[:max_overlays]
    for s in worst:
        i = split.index(s.image_id)
        plot_mask_overlay(split.image(i), split.array("instances", i), predictions[s.image_id],
                          path=d / f"overlay_{s.image_id.replace('/', '_')}.png",
                          title=f"{s.image_id}: IoU {s.pixel_iou:.3f}, F1 {s.detection_f1:.3f}")


def evaluate_segmentation(predictions: Mapping, split, *, model_name: Optional[str] = None,
                          model_version: Optional[str] = None, criteria: Optional[SegmentationCriteria] = None,
                          subsets=None, missing: str = "error", out_dir=None, plots_dir=None, n_boot: int = 1000,
                          max_overlays: int = 6, progress: bool = False):
    """Score ``predictions`` on a segmentation split; write the report files and plots when folders are given.

    Returns ``(report, scores)``.
    """
    criteria = criteria or SegmentationCriteria()
    scores = score_segmentation_split(predictions, split, subsets=subsets, missing=missing, progress=progress)
    if not scores:
        raise ValueError("no image was scored: check the subsets and the prediction ids")
    per_subset: dict[str, list] = {}
    for s in scores:
        per_subset.setdefault(s.subset, []).append(s)
    report = SegmentationReport(
        dataset=f"{getattr(split, 'dataset_name', '?')} {getattr(split, 'dataset_version', '')}".strip(),
        split=getattr(split, "split", None), model_name=model_name, model_version=model_version,
        n_images=len(scores), criteria=criteria, overall=summarise(scores, n_boot=n_boot),
        subsets={k: {n: _mean([getattr(s, n) for s in v]) for n in SEG_SCORES} for k, v in sorted(per_subset.items())},
        cutoffs=segmentation_cutoffs(scores, criteria=criteria, n_boot=n_boot))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
        rows = [s.row() for s in scores]
        with open(out / "per_image.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        (out / "summary.md").write_text(format_segmentation_markdown(report))
    if plots_dir is not None:
        _write_plots(report, scores, plots_dir, split, predictions, max_overlays)
    return report, scores
