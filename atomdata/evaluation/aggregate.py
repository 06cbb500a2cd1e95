"""Averages of image scores over a subset: micro and macro, with bootstrap confidence intervals.

* **micro**: pool the counts of all images, then compute the scores
  (recall = sum TP / (sum TP + sum FN), precision = sum TP / (sum TP + sum FP),
  accuracy = sqrt(sum of squared distances / sum TP) [Å]); ``wei2022`` pools
  recall as sum TP / sum n_gt and precision as sum TP / sum scored predictions,
  each capped at 1, like its per-image scores.
* **macro**: the mean of the per-image scores, skipping images where a score
  is undefined (NaN).

Confidence intervals are percentile intervals from resampling the images with
replacement (``n_boot`` replicates, seeded, so reports are reproducible).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Optional

import numpy as np
from pydantic import BaseModel, Field

from atomdata.evaluation.scores import ImageScore

__all__ = ["ScoreWithCI", "Aggregate", "aggregate"]

_SCORES = ("id_recall", "id_precision", "position_accuracy_A")


class ScoreWithCI(BaseModel):
    """A score and its bootstrap confidence interval (None when undefined)."""

    value: Optional[float] = None
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None


class Aggregate(BaseModel):
    """Micro- and macro-averaged scores of a group of images."""

    n_images: int
    tp: int
    fp: int
    fn: int
    n_gt: int
    n_pred: int
    confidence: float = Field(description="Level of the confidence intervals, e.g. 0.95.")
    micro: dict[str, ScoreWithCI] = Field(description="Scores from pooled counts (position accuracy in Å).")
    macro: dict[str, ScoreWithCI] = Field(description="Mean of per-image scores (position accuracy in Å).")


def _micro(c: np.ndarray, protocol: str) -> np.ndarray:
    """Micro scores from summed count columns (tp, fp, fn, n_gt, scored, sq); c has shape (..., 6)."""
    tp, fp, fn, n_gt, scored, sq = (c[..., k] for k in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        if protocol == "wei2022":
            rec = np.minimum(1.0, tp / n_gt)
            prec = np.where(scored > 0, np.minimum(1.0, tp / scored), 0.0)
        else:
            rec = tp / (tp + fn)
            prec = tp / (tp + fp)
        acc = np.sqrt(sq / tp)
    return np.stack([rec, prec, acc], axis=-1)


def _nan_to_none(v) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) else v


def aggregate(scores: Sequence[ImageScore], *, n_boot: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> Aggregate:
    """Micro and macro averages of image scores with bootstrap confidence intervals.

    Parameters
    ----------
    scores : sequence of ImageScore
        Scores of the images of one group (all with the same protocol).
    n_boot : int
        Bootstrap replicates (resampling images with replacement); 0 disables the intervals.
    confidence : float
        Level of the percentile intervals, in (0, 1).
    seed : int
        Seed of the resampling.

    Returns
    -------
    Aggregate

    Examples
    --------
    >>> from atomdata.evaluation import score_image
    >>> a = aggregate([score_image([[0, 0]], [[0, 0]], pixel_size_A=0.1), score_image([], [[0, 0]], pixel_size_A=0.1)],
    ...               n_boot=0)
    >>> a.micro["id_recall"].value, a.macro["id_recall"].value
    (0.5, 0.5)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    protocols = {s.protocol for s in scores}
    if len(protocols) > 1:
        raise ValueError(f"cannot aggregate scores of different protocols: {sorted(protocols)}")
    protocol = protocols.pop() if protocols else "one_to_one"
    n = len(scores)
    counts = np.array([[s.tp, s.fp, s.fn, s.n_gt, s.n_pred - s.n_edge - s.n_ignored, s.sum_sq_dist_A2]
                       for s in scores], dtype=np.float64).reshape(n, 6)
    per_img = np.array([[s.id_recall, s.id_precision, s.position_accuracy_A] for s in scores],
                       dtype=np.float64).reshape(n, 3)
    micro = _micro(counts.sum(axis=0), protocol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, which is intended
        macro = np.nanmean(per_img, axis=0) if n else np.full(3, np.nan)
    lo_mi = hi_mi = lo_ma = hi_ma = np.full(3, np.nan)
    if n_boot > 0 and n > 1:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        # pooled counts per replicate via a weight matrix (memory n_boot x n)
        flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
        w = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
        boot_micro = _micro(w @ counts, protocol)
        valid = ~np.isnan(per_img)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_macro = (w @ np.where(valid, per_img, 0.0)) / (w @ valid.astype(float))
        a = (1 - confidence) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo_mi, hi_mi = np.nanquantile(boot_micro, [a, 1 - a], axis=0)
            lo_ma, hi_ma = np.nanquantile(boot_macro, [a, 1 - a], axis=0)

    def pack(v, lo, hi):
        return {k: ScoreWithCI(value=_nan_to_none(v[j]), ci_low=_nan_to_none(lo[j]), ci_high=_nan_to_none(hi[j]))
                for j, k in enumerate(_SCORES)}

    tot = counts.sum(axis=0)
    return Aggregate(
        n_images=n, tp=int(tot[0]), fp=int(tot[1]), fn=int(tot[2]), n_gt=int(tot[3]),
        n_pred=int(sum(s.n_pred for s in scores)), confidence=confidence,
        micro=pack(micro, lo_mi, hi_mi), macro=pack(macro, lo_ma, hi_ma),
    )
