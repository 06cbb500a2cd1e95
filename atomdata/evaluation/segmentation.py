"""Scoring nanoparticle segmentations (HRTEM task): pixels, particles, particle sizes.

For one image with true instance image ``gt`` (0 = support, k = particle k) and a prediction
(a binary mask, or an instance image):

* **pixel scores** on the masks ``gt > 0`` and ``pred > 0``: IoU = TP / (TP + FP + FN),
  Dice = 2 TP / (2 TP + FP + FN) (= pixel F1), precision = TP / (TP + FP), recall = TP / (TP + FN);
  NaN when undefined (no particle pixel in either);
* **particles**: a binary prediction is split into instances by 8-connected components; a true and
  a predicted particle *match* when their IoU is >= 0.5 (then the pairing is one-to-one; ties at
  exactly 0.5 are resolved by the assignment of largest total IoU); detection precision = matched /
  predicted, recall = matched / true, F1 their harmonic mean;
* **sizes**: a particle's equivalent diameter is ``2 sqrt(area / pi)`` times the pixel size [nm];
  ``size_error_nm`` is the mean absolute difference over matched pairs, ``size_error_rel`` the mean
  absolute difference relative to the true diameter, and ``size_w1_nm`` the Wasserstein-1 (earth
  mover's) distance between the predicted and true diameter distributions of the image -- the
  quantity a coarsening study compares (Horwath et al., npj Comput. Mater. 6, 108 (2020)).
  Split-level distances pool the particles of a group of images.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

__all__ = ["SegmentationScore", "SEG_SCORES", "instances_of", "match_instances", "equivalent_diameters_nm",
           "score_segmentation", "size_distance_nm"]

#: Per-image scores (name -> better when "higher"/"lower").
SEG_SCORES = {"pixel_iou": "higher", "dice": "higher", "pixel_precision": "higher", "pixel_recall": "higher",
              "detection_precision": "higher", "detection_recall": "higher", "detection_f1": "higher",
              "size_error_nm": "lower", "size_error_rel": "lower", "size_w1_nm": "lower"}


@dataclass
class SegmentationScore:
    """Scores of one image (see the module notes); diameters [nm] of every true and predicted particle."""

    image_id: str
    subset: str
    pixel_size_A: float
    n_gt: int
    n_pred: int
    n_matched: int
    tp_px: int
    fp_px: int
    fn_px: int
    pixel_iou: float
    dice: float
    pixel_precision: float
    pixel_recall: float
    detection_precision: float
    detection_recall: float
    detection_f1: float
    size_error_nm: float
    size_error_rel: float
    size_w1_nm: float
    gt_diameters_nm: list = field(default_factory=list)
    pred_diameters_nm: list = field(default_factory=list)
    sweep: Optional[dict] = None

    def row(self) -> dict:
        """Flat dict for the per-image CSV (no diameter lists; sweep as metric/value/seed_index)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("gt_diameters_nm", "pred_diameters_nm", "sweep")}
        sw = self.sweep or {}
        d.update(sweep_metric=sw.get("metric"), sweep_value=sw.get("value"), seed_index=sw.get("seed_index"))
        return d


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def instances_of(pred: np.ndarray) -> np.ndarray:
    """Instance image (int64) of a prediction: 8-connected components of a binary mask; integer labels as given.

    A prediction whose values are only 0 and 1 (or bool) is a mask; anything else is taken as
    instance labels (0 = background).

    Examples
    --------
    >>> m = np.zeros((5, 5), int); m[0, 0] = m[1, 1] = m[4, 4] = 1
    >>> int(instances_of(m).max())
    2
    """
    from scipy.ndimage import label

    pred = np.asarray(pred)
    if pred.dtype == bool or set(np.unique(pred).tolist()) <= {0, 1}:
        lab, _ = label(pred > 0, structure=np.ones((3, 3), int))
        return lab.astype(np.int64)
    return pred.astype(np.int64)


def _relabel(inst: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels made consecutive 1..n (0 stays background); returns the image and n."""
    ids = np.unique(inst)
    ids = ids[ids > 0]
    lut = np.zeros(int(inst.max()) + 1 if inst.size else 1, dtype=np.int64)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[inst], len(ids)


def match_instances(gt: np.ndarray, pred: np.ndarray, *, iou_min: float = 0.5):
    """Match true and predicted instances at IoU >= ``iou_min``.

    Returns ``(pairs, ious, gt_areas, pred_areas)``: ``pairs`` (M, 2) of 1-based labels
    (true, predicted) after relabelling each image to 1..n, their IoUs, and the areas [px] of
    every true and predicted instance (index k - 1 for label k).
    """
    from scipy.optimize import linear_sum_assignment

    g, ng = _relabel(np.asarray(gt, dtype=np.int64))
    p, npred = _relabel(np.asarray(pred, dtype=np.int64))
    table = np.bincount((g * (npred + 1) + p).ravel(), minlength=(ng + 1) * (npred + 1)).reshape(ng + 1, npred + 1)
    ga, pa = table.sum(1)[1:], table.sum(0)[1:]
    inter = table[1:, 1:].astype(np.float64)
    union = ga[:, None] + pa[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    if ng == 0 or npred == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0), ga, pa
    cost = np.where(iou >= iou_min, -iou, 0.0)
    r, c = linear_sum_assignment(cost)
    ok = iou[r, c] >= iou_min
    return np.column_stack([r[ok] + 1, c[ok] + 1]), iou[r[ok], c[ok]], ga, pa


def equivalent_diameters_nm(areas_px, pixel_size_A: float) -> np.ndarray:
    """Equivalent-circle diameters ``2 sqrt(area / pi) * pixel_size`` [nm] of areas [px].

    Examples
    --------
    >>> equivalent_diameters_nm([314.159265], 1.0).round(3).tolist()
    [2.0]
    """
    return 2.0 * np.sqrt(np.asarray(areas_px, dtype=np.float64) / math.pi) * pixel_size_A / 10.0


def size_distance_nm(pred_diameters_nm, gt_diameters_nm) -> float:
    """Wasserstein-1 distance [nm] between two diameter distributions (NaN if either is empty)."""
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(pred_diameters_nm, float), np.asarray(gt_diameters_nm, float)
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else math.nan


def score_segmentation(pred, gt_instances, *, pixel_size_A: float, image_id: str = "", subset: str = "",
                       sweep: Optional[dict] = None, iou_min: float = 0.5) -> SegmentationScore:
    """Score one predicted segmentation against the true instance image (see the module notes).

    Parameters
    ----------
    pred : array_like (H, W)
        Binary mask (bool or 0/1) or instance labels (0 = background), indexed ``pred[y, x]``.
    gt_instances : array_like (H, W)
        True instance image (0 = support, k = particle k).
    pixel_size_A : float
        [Å/px], for the diameters in nm.

    Raises
    ------
    ValueError
        When the shapes differ.

    Examples
    --------
    >>> gt = np.zeros((20, 20), np.uint16); gt[2:8, 2:8] = 1; gt[12:18, 12:18] = 2
    >>> pred = gt > 0; pred[12:18, 12:18] = False
    >>> s = score_segmentation(pred, gt, pixel_size_A=1.0)
    >>> s.pixel_iou, s.detection_recall, s.detection_precision
    (0.5, 0.5, 1.0)
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt_instances)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction of image {image_id!r} has shape {pred.shape}; expected the image's {gt.shape}")
    pm, gm = pred > 0, gt > 0
    tp = int(np.count_nonzero(pm & gm))
    fp = int(np.count_nonzero(pm & ~gm))
    fn = int(np.count_nonzero(~pm & gm))
    pairs, _, ga, pa = match_instances(gt, instances_of(pred), iou_min=iou_min)
    dg, dp = equivalent_diameters_nm(ga, pixel_size_A), equivalent_diameters_nm(pa, pixel_size_A)
    m = len(pairs)
    prec, rec = _ratio(m, len(pa)), _ratio(m, len(ga))
    f1 = 2 * prec * rec / (prec + rec) if (prec + rec) > 0 else (0.0 if len(pa) or len(ga) else math.nan)
    if m:
        d_t, d_p = dg[pairs[:, 0] - 1], dp[pairs[:, 1] - 1]
        err_nm, err_rel = float(np.mean(np.abs(d_p - d_t))), float(np.mean(np.abs(d_p - d_t) / d_t))
    else:
        err_nm = err_rel = math.nan
    return SegmentationScore(
        image_id=image_id, subset=subset, pixel_size_A=float(pixel_size_A), n_gt=len(ga), n_pred=len(pa), n_matched=m,
        tp_px=tp, fp_px=fp, fn_px=fn, pixel_iou=_ratio(tp, tp + fp + fn), dice=_ratio(2 * tp, 2 * tp + fp + fn),
        pixel_precision=_ratio(tp, tp + fp), pixel_recall=_ratio(tp, tp + fn), detection_precision=prec,
        detection_recall=rec, detection_f1=float(f1), size_error_nm=err_nm, size_error_rel=err_rel,
        size_w1_nm=size_distance_nm(dp, dg), gt_diameters_nm=dg.round(5).tolist(),
        pred_diameters_nm=dp.round(5).tolist(), sweep=sweep)
