"""Cutoffs: the value of a swept image-quality metric at which a model starts to fail.

For one sweep subset (images that differ in one metric, several seeds per
value):

1. average the per-image scores at each swept value (macro average; NaN
   scores, e.g. accuracy with no match, are skipped);
2. order the values from best to worst image quality (``worse_when`` of the
   metric, from :data:`atomdata.schema.METRIC_FIELDS`);
3. for each criterion (defaults: ID-recall < 0.90, ID-precision < 0.95,
   position accuracy > 0.30 Å) find the first point that fails and locate the
   crossing between it and the previous point on a monotone piecewise-cubic
   (PCHIP) interpolant of the point means -- PCHIP is monotone between
   adjacent points, so the crossing in that interval is unique; the published
   notebooks also used PCHIP;
4. the cutoff is the crossing reached first; ``failed_first`` names its
   criterion. A criterion already failing at the best-quality point gives that
   point's value (``failed_at_start=True``); a criterion that never fails in
   the tested range gives ``None``;
5. the confidence interval comes from resampling the seeds with replacement
   (bootstrap) and repeating 1-4; a bound beyond the tested range is ``None``,
   and ``p_never_fails`` is the fraction of replicates that never failed.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from atomdata.schema import METRIC_FIELDS

__all__ = ["Criteria", "SegmentationCriteria", "Cutoff", "find_cutoff", "cutoff_from_scores", "sweep_cutoffs"]


class Criteria(BaseModel):
    """Failure criteria of a model (Wei et al. 2023 defaults)."""

    model_config = ConfigDict(extra="forbid")

    id_recall_min: float = Field(default=0.90, ge=0, le=1, description="Fails when ID-recall < this.")
    id_precision_min: float = Field(default=0.95, ge=0, le=1, description="Fails when ID-precision < this.")
    position_accuracy_max_A: float = Field(default=0.30, gt=0, description="Fails when RMS accuracy > this [Å].")

    def rules(self) -> list[tuple[str, float, str]]:
        """``(score name, threshold, "below"|"above")`` for each criterion."""
        return [("id_recall", self.id_recall_min, "below"),
                ("id_precision", self.id_precision_min, "below"),
                ("position_accuracy_A", self.position_accuracy_max_A, "above")]


class SegmentationCriteria(BaseModel):
    """Failure criteria of a nanoparticle segmenter (HRTEM task; see :mod:`atomdata.evaluation.segmentation`).

    A segmenter fails at an image quality where the mean pixel IoU drops below ``pixel_iou_min``,
    the particle-detection F1 (instances matched at IoU >= 0.5) below ``detection_f1_min``, or the
    mean absolute relative error of the matched particles' equivalent diameters rises above
    ``size_error_max`` (0.1 = 10 %, the size resolution a coarsening study needs).
    """

    model_config = ConfigDict(extra="forbid")

    pixel_iou_min: float = Field(default=0.80, ge=0, le=1, description="Fails when pixel IoU < this.")
    detection_f1_min: float = Field(default=0.80, ge=0, le=1, description="Fails when detection F1 < this.")
    size_error_max: float = Field(default=0.10, gt=0, description="Fails when the relative size error > this.")

    def rules(self) -> list[tuple[str, float, str]]:
        """``(score name, threshold, "below"|"above")`` for each criterion."""
        return [("pixel_iou", self.pixel_iou_min, "below"), ("detection_f1", self.detection_f1_min, "below"),
                ("size_error_rel", self.size_error_max, "above")]


class Cutoff(BaseModel):
    """The cutoff of one sweep (metric values in the metric's own unit)."""

    subset: str
    metric: str
    worse_when: str = Field(description="'higher' or 'lower': the direction in which images get harder.")
    cutoff: Optional[float] = Field(description="Metric value where the model first fails; None: never fails.")
    failed_first: Optional[str] = Field(description="Score whose criterion failed first.")
    failed_at_start: bool = Field(default=False, description="Already failing at the best tested value.")
    per_criterion: dict[str, Optional[float]] = Field(description="Crossing of each criterion (None: never).")
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    confidence: float = 0.95
    p_never_fails: Optional[float] = Field(default=None, description="Bootstrap fraction of never-failing replicates.")
    tested_min: float
    tested_max: float
    n_points: int
    n_seeds: int
    criteria: Union[Criteria, SegmentationCriteria]
    interpolation: str = "pchip"
    points: dict[str, list[Optional[float]]] = Field(
        default_factory=dict, description="Per-point means: value and each criterion's score (e.g. id_recall)."
    )


def _fails(y: np.ndarray, thr: float, how: str) -> np.ndarray:
    return (y < thr) if how == "below" else (y > thr)


def _crossing(x: np.ndarray, y: np.ndarray, thr: float, how: str,
              interpolation: str = "pchip") -> tuple[Optional[float], bool]:
    """First crossing along ``x`` (already ordered best -> worst); (value, failed_at_start)."""
    ok = ~np.isnan(y)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return None, False
    bad = np.flatnonzero(_fails(y, thr, how))
    if len(bad) == 0:
        return None, False
    k = int(bad[0])
    if k == 0:
        return float(x[0]), True
    a, b = float(x[k - 1]), float(x[k])
    if interpolation == "linear":
        return float(a + (thr - y[k - 1]) / (y[k] - y[k - 1]) * (b - a)), False
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    i = int(np.searchsorted(xs, min(a, b)))  # the interval is [xs[i], xs[i + 1]]
    root = _pchip_piece_root(xs, ys, i, thr)
    if root is None:  # numerical edge case: fall back to linear interpolation
        return float(a + (thr - y[k - 1]) / (y[k] - y[k - 1]) * (b - a)), False
    return root, False


def _pchip_slopes(xs: np.ndarray, ys: np.ndarray, i: int) -> tuple[float, float]:
    """PCHIP derivatives at ``xs[i]`` and ``xs[i + 1]`` (Fritsch-Butland, as scipy's PchipInterpolator)."""
    h = np.diff(xs)
    m = np.diff(ys) / h
    n = len(xs)
    if n == 2:
        return float(m[0]), float(m[0])

    def interior(k: int) -> float:
        m0, m1 = m[k - 1], m[k]
        if m0 == 0 or m1 == 0 or np.sign(m0) != np.sign(m1):
            return 0.0
        w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
        return float((w1 + w2) / (w1 / m0 + w2 / m1))

    def end(h0, h1, m0, m1) -> float:
        d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(d) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
            return float(3 * m0)
        return float(d)

    def slope(k: int) -> float:
        if k == 0:
            return end(h[0], h[1], m[0], m[1])
        if k == n - 1:
            return end(h[-1], h[-2], m[-1], m[-2])
        return interior(k)

    return slope(i), slope(i + 1)


def _pchip_piece_root(xs: np.ndarray, ys: np.ndarray, i: int, thr: float) -> Optional[float]:
    """Where the PCHIP interpolant of (xs, ys) equals ``thr`` on [xs[i], xs[i + 1]] (monotone there)."""
    d0, d1 = _pchip_slopes(xs, ys, i)
    x0, h = float(xs[i]), float(xs[i + 1] - xs[i])
    y0, y1 = float(ys[i]), float(ys[i + 1])
    # cubic Hermite in t = (x - x0) / h: y0 h00 + h d0 h10 + y1 h01 + h d1 h11
    c3 = 2 * y0 + h * d0 - 2 * y1 + h * d1
    c2 = -3 * y0 - 2 * h * d0 + 3 * y1 - h * d1
    c1 = h * d0
    c0 = y0 - thr
    roots = np.roots([c3, c2, c1, c0]) if (c3 or c2 or c1) else np.array([])
    real = roots[np.abs(roots.imag) <= 1e-9].real
    real = real[(real >= -1e-9) & (real <= 1 + 1e-9)]
    if len(real) == 0:
        return None
    return float(x0 + h * np.clip(np.sort(real)[0], 0, 1))  # one root: PCHIP is monotone on the piece


def _evaluate(values: np.ndarray, means: np.ndarray, worse_when: str, criteria: Criteria,
              interpolation: str = "pchip"):
    """Cutoff from per-point means (columns recall, precision, accuracy) at sorted ``values``."""
    order = np.argsort(values) if worse_when == "higher" else np.argsort(-values)
    x = values[order]
    per, start = {}, {}
    for j, (name, thr, how) in enumerate(criteria.rules()):
        per[name], start[name] = _crossing(x, means[order, j], thr, how, interpolation)
    hit = {k: v for k, v in per.items() if v is not None}
    if not hit:
        return None, None, False, per
    sign = 1 if worse_when == "higher" else -1
    first = min(hit, key=lambda k: sign * hit[k])
    return hit[first], first, start[first], per


def find_cutoff(
    values,
    id_recall,
    id_precision,
    position_accuracy_A,
    *,
    seed_index=None,
    metric: str,
    subset: str = "",
    worse_when: Optional[str] = None,
    criteria: Optional[Criteria] = None,
    interpolation: str = "pchip",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Cutoff:
    """Cutoff of one sweep from per-image scores.

    Parameters
    ----------
    values : array_like (N,)
        Swept metric value of each image (in the metric's unit, e.g. pm for ``resolution_pm``).
    id_recall, id_precision, position_accuracy_A : array_like (N,)
        Per-image scores (accuracy in Å); NaN entries are skipped.
    seed_index : array_like (N,), optional
        Seed (repeat) of each image; images with equal seed index at different
        values form one seed curve for the bootstrap. Default: the order of the
        images within each value.
    metric : str
        Swept metric name (a key of :data:`atomdata.schema.METRIC_FIELDS`).
    worse_when : {"higher", "lower"}, optional
        Default from ``METRIC_FIELDS[metric]``.
    criteria : Criteria, optional
        Failure thresholds (default recall < 0.90, precision < 0.95, accuracy > 0.30 Å).
    interpolation : {"pchip", "linear"}
        Interpolant of the point means between the last passing and the first failing point.
    n_boot, confidence, seed
        Bootstrap replicates over seeds, interval level, random seed.

    Returns
    -------
    Cutoff

    Examples
    --------
    >>> c = find_cutoff([100, 200, 300], [1.0, 0.95, 0.85], [1, 1, 1], [0.1, 0.1, 0.1],
    ...                 metric="resolution_pm", interpolation="linear", n_boot=0)
    >>> round(c.cutoff, 1), c.failed_first
    (250.0, 'id_recall')
    """
    criteria = criteria or Criteria()
    scores = {"id_recall": id_recall, "id_precision": id_precision, "position_accuracy_A": position_accuracy_A}
    return cutoff_from_scores(values, scores, seed_index=seed_index, metric=metric, subset=subset,
                              worse_when=worse_when, criteria=criteria, interpolation=interpolation, n_boot=n_boot,
                              confidence=confidence, seed=seed)


def cutoff_from_scores(values, scores: Mapping, *, seed_index=None, metric: str, subset: str = "",
                       worse_when: Optional[str] = None, criteria, interpolation: str = "pchip", n_boot: int = 1000,
                       confidence: float = 0.95, seed: int = 0) -> Cutoff:
    """Cutoff of one sweep from per-image ``scores`` (name -> (N,) array) under any ``criteria``.

    ``criteria.rules()`` names the scores it reads (e.g. :class:`SegmentationCriteria`: pixel_iou,
    detection_f1, size_error_rel); the method is that of :func:`find_cutoff` (module notes).

    Examples
    --------
    >>> c = cutoff_from_scores([10, 100, 1000], {"pixel_iou": [0.5, 0.85, 0.95], "detection_f1": [1, 1, 1],
    ...     "size_error_rel": [0, 0, 0]}, metric="dose_e_per_A2", worse_when="lower",
    ...     criteria=SegmentationCriteria(), interpolation="linear", n_boot=0)
    >>> round(c.cutoff, 1), c.failed_first
    (87.1, 'pixel_iou')
    """
    if interpolation not in ("pchip", "linear"):
        raise ValueError(f"interpolation must be 'pchip' or 'linear', got {interpolation!r}")
    if worse_when is None:
        if metric not in METRIC_FIELDS:
            raise ValueError(f"unknown metric {metric!r}: pass worse_when='higher' or 'lower'; "
                             f"known metrics: {', '.join(METRIC_FIELDS)}")
        worse_when = METRIC_FIELDS[metric]
    if worse_when not in ("higher", "lower"):
        raise ValueError(f"worse_when must be 'higher' or 'lower', got {worse_when!r}")
    names = [name for name, _, _ in criteria.rules()]
    missing = [n for n in names if n not in scores]
    if missing:
        raise ValueError(f"scores lack {missing} that the criteria read; give them (have: {sorted(scores)})")
    v = np.asarray(values, dtype=np.float64)
    s = np.column_stack([np.asarray(scores[n], float) for n in names])
    if len(v) == 0 or s.shape[0] != len(v):
        raise ValueError(f"values and scores must be non-empty and of equal length, got {len(v)} and {s.shape[0]}")
    uniq, inv = np.unique(v, return_inverse=True)
    if seed_index is None or np.any(np.asarray(seed_index) < 0):
        seeds = np.zeros(len(v), np.int64)
        for u in range(len(uniq)):
            sel = np.flatnonzero(inv == u)
            seeds[sel] = np.arange(len(sel))
    else:
        seeds = np.asarray(seed_index, dtype=np.int64)
    useeds, sinv = np.unique(seeds, return_inverse=True)
    # per (seed, point) sums and counts of the valid scores: shape (n_seeds, n_points, 3)
    acc = np.zeros((len(useeds), len(uniq), len(names)))
    cnt = np.zeros((len(useeds), len(uniq), len(names)))
    valid = ~np.isnan(s)
    np.add.at(acc, (sinv, inv), np.where(valid, s, 0.0))
    np.add.at(cnt, (sinv, inv), valid.astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point_means = acc.sum(0) / cnt.sum(0)
    cut, first, at_start, per = _evaluate(uniq, point_means, worse_when, criteria, interpolation)

    ci_low = ci_high = p_never = None
    if n_boot > 0 and len(useeds) > 1:
        rng = np.random.default_rng(seed)
        lo_end = float(uniq.min())
        hi_end = float(uniq.max())
        reps = []
        never = 0
        for _ in range(n_boot):
            pick = rng.integers(0, len(useeds), len(useeds))
            a, c = acc[pick].sum(0), cnt[pick].sum(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = a / c
            r, _, _, _ = _evaluate(uniq, m, worse_when, criteria, interpolation)
            if r is None:
                never += 1
                r = math.inf if worse_when == "higher" else -math.inf
            reps.append(r)
        q = (1 - confidence) / 2
        lo, hi = np.quantile(np.array(reps), [q, 1 - q], method="inverted_cdf")
        ci_low = None if not np.isfinite(lo) or lo < lo_end else float(lo)
        ci_high = None if not np.isfinite(hi) or hi > hi_end else float(hi)
        p_never = never / n_boot

    def clean(a):
        return [None if (isinstance(t, float) and math.isnan(t)) else t for t in a]

    return Cutoff(
        subset=subset, metric=metric, worse_when=worse_when, cutoff=cut, failed_first=first,
        failed_at_start=bool(at_start), per_criterion=per, ci_low=ci_low, ci_high=ci_high, confidence=confidence,
        p_never_fails=p_never, tested_min=float(uniq.min()), tested_max=float(uniq.max()), n_points=len(uniq),
        n_seeds=len(useeds), criteria=criteria, interpolation=interpolation,
        points={"value": uniq.tolist(), **{n: clean(point_means[:, j].tolist()) for j, n in enumerate(names)}},
    )


def sweep_cutoffs(split_scores, *, criteria: Optional[Criteria] = None, interpolation: str = "pchip",
                  n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> list[Cutoff]:
    """Cutoffs of every sweep subset of a :class:`~atomdata.evaluation.SplitScores`, sorted by subset.

    Warns when the match tolerance does not exceed the accuracy criterion (then
    the accuracy criterion cannot fail: matched pairs are never farther apart
    than the tolerance).
    """
    criteria = criteria or Criteria()
    tols = [s.tolerance_A for s in split_scores.scores]
    if tols and max(tols) <= criteria.position_accuracy_max_A:
        warnings.warn(
            f"the match tolerance ({max(tols):.3g} Å) does not exceed the accuracy criterion "
            f"({criteria.position_accuracy_max_A} Å): the accuracy criterion can never fail; "
            "use a larger tolerance_A", stacklevel=2)
    out = []
    for sub in split_scores.sweep_subsets():
        t = split_scores.sweep_table(sub)
        out.append(find_cutoff(t["value"], t["id_recall"], t["id_precision"], t["position_accuracy_A"],
                               seed_index=t["seed_index"], metric=t["metric"], subset=sub, criteria=criteria,
                               interpolation=interpolation,
                               n_boot=n_boot, confidence=confidence, seed=seed))
    return out
