"""Scores of one image: TP, FP, FN, ID-recall, ID-precision, RMS position accuracy.

Positions are ``(x, y)`` in pixels (x = column index, y = row index, origin at
the centre of the top-left pixel), arrays ``(N, 2)``; tolerances and
accuracies are in Angstrom [Å]. The two protocols (``one_to_one`` and
``wei2022``) are described in :mod:`atomdata.evaluation`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from atomdata.evaluation.matching import Matching, match_all_pairs, match_one_to_one
from atomdata.schema import ColumnSet, check_pixel_size, check_xy

__all__ = [
    "PROTOCOLS",
    "DEFAULT_TOLERANCE_A",
    "WEI2022_TOLERANCE_PX2",
    "WEI2022_EDGE_FRACTION",
    "DEFAULT_EDGE_PX",
    "SpeciesScore",
    "ImageScore",
    "score_image",
    "ScoringRule",
    "edge_mask",
]

#: Scoring protocols.
PROTOCOLS = ("one_to_one", "wei2022")
#: Default match tolerance of the ``one_to_one`` protocol [Å]. It must exceed the 0.30 Å
#: accuracy criterion: matched pairs are never farther apart than the tolerance, so with a
#: tolerance <= 0.30 Å the accuracy criterion could never fail.
DEFAULT_TOLERANCE_A = 0.5
#: ``wei2022``: a prediction matches a truth when dx^2 + dy^2 < 5 px^2 (image pixels).
WEI2022_TOLERANCE_PX2 = 5.0
#: ``wei2022``: predictions within this fraction of the image width/height of an edge are dropped.
WEI2022_EDGE_FRACTION = 0.01
#: ``one_to_one``: target columns and predictions closer than this to the image border [px] are not
#: scored (a matched pair counts only when its target is inside). Column blobs cut by the border
#: cannot be located reliably, and the published AtomNet inference drops everything within 5 px.
DEFAULT_EDGE_PX = 6.0

#: Status codes of each prediction in :attr:`ImageScore.pred_status`.
STATUS = {0: "tp", 1: "fp", 2: "ignored", 3: "edge"}
_TP, _FP, _IGN, _EDGE = 0, 1, 2, 3


@dataclass(frozen=True)
class SpeciesScore:
    """Scores of the target columns of one species (precision is not per species: an FP has no species)."""

    n_gt: int
    tp: int
    fn: int
    id_recall: float
    position_accuracy_A: float
    sum_sq_dist_A2: float

    def to_dict(self) -> dict:
        return {k: _jsonable(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class ImageScore:
    """Scores of one image.

    Attributes
    ----------
    tp, fp, fn : int
        True positives, false positives, false negatives (see the protocol notes
        in :mod:`atomdata.evaluation` for how ``wei2022`` counts them).
    id_recall, id_precision : float
        ID-recall and ID-precision in [0, 1]; NaN when undefined (no target
        columns; no scored predictions under ``one_to_one``).
    position_accuracy_A : float
        RMS distance of the matched pairs [Å]; NaN when there is no match.
    n_pred, n_gt : int
        Predictions given and target (ground-truth) columns.
    n_ignored, n_edge : int
        Predictions ignored because they sit on a non-target column, and
        predictions dropped by the edge rule.
    sum_sq_dist_A2 : float
        Sum of squared distances of the matched pairs [Å^2] (for micro-averages).
    tolerance_A : float
        Match radius used [Å] (``wei2022``: sqrt(5) px times the pixel size, by default).
    pred_status : ndarray (n_pred,) int8
        Per prediction: 0 TP, 1 FP, 2 ignored, 3 dropped at the edge (see ``STATUS``).
    gt_matched : ndarray (n_gt,) bool
        Per target column, whether some prediction matched it.
    gt_edge : ndarray (n_gt,) bool or None
        Per target column, whether it lies in the unscored border band
        (``one_to_one`` with ``edge_px``); such columns are neither TP nor FN.
    matching : Matching
        The matched pairs (indices into the predictions and the target columns).
    per_species : dict[str, SpeciesScore]
        Recall and accuracy per target species (when species are known).
    """

    protocol: str
    pixel_size_A: float
    tolerance_A: float
    tp: int
    fp: int
    fn: int
    n_pred: int
    n_gt: int
    n_ignored: int
    n_edge: int
    id_recall: float
    id_precision: float
    position_accuracy_A: float
    sum_sq_dist_A2: float
    pred_status: np.ndarray = field(repr=False)
    gt_matched: np.ndarray = field(repr=False)
    matching: Matching = field(repr=False)
    per_species: dict = field(default_factory=dict, repr=False)
    gt_edge: Optional[np.ndarray] = field(default=None, repr=False)

    def __getitem__(self, key: str):
        """Dict-style access to the scores (``score["id_recall"]``)."""
        return getattr(self, key)

    def to_dict(self, *, species: bool = True) -> dict:
        """JSON-serialisable scores (NaN becomes None)."""
        keys = ("protocol", "pixel_size_A", "tolerance_A", "tp", "fp", "fn", "n_pred", "n_gt", "n_ignored",
                "n_edge", "id_recall", "id_precision", "position_accuracy_A", "sum_sq_dist_A2")
        out = {k: _jsonable(getattr(self, k)) for k in keys}
        if species:
            out["per_species"] = {s: v.to_dict() for s, v in self.per_species.items()}
        return out


def _jsonable(v):
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return None if math.isnan(v) else v
    if isinstance(v, np.integer):
        return int(v)
    return v


def edge_mask(xy: np.ndarray, shape: tuple[int, int], fraction: float) -> np.ndarray:
    """True for positions within ``fraction`` of the image width/height of an edge.

    ``xy`` is (N, 2) as (x, y) [px]; ``shape`` is (H, W). A position is at the
    edge when ``x < fraction * W`` or ``x > (1 - fraction) * W`` (same for y
    with H), the rule of the published code.

    Examples
    --------
    >>> edge_mask(np.array([[0.5, 50.0], [50.0, 50.0], [99.5, 10.0]]), (100, 100), 0.01).tolist()
    [True, False, True]
    """
    if fraction <= 0 or len(xy) == 0:
        return np.zeros(len(xy), bool)
    h, w = shape
    x, y = xy[:, 0], xy[:, 1]
    return (x < fraction * w) | (x > (1 - fraction) * w) | (y < fraction * h) | (y > (1 - fraction) * h)


def border_band(xy: np.ndarray, shape: tuple[int, int], width_px: float) -> np.ndarray:
    """True for positions (x, y) [px] closer than ``width_px`` to the border of an image of ``shape`` (H, W).

    The border lies at -0.5 and W - 0.5 in x (H - 0.5 in y): pixel centres are integers.

    Examples
    --------
    >>> border_band(np.array([[2.0, 50.0], [50.0, 50.0], [50.0, 97.0]]), (100, 100), 6.0).tolist()
    [True, False, True]
    """
    if width_px <= 0 or len(xy) == 0:
        return np.zeros(len(xy), bool)
    h, w = shape
    x, y = xy[:, 0], xy[:, 1]
    return (x + 0.5 < width_px) | (w - 0.5 - x < width_px) | (y + 0.5 < width_px) | (h - 0.5 - y < width_px)


def score_image(
    pred_xy,
    gt_xy,
    *,
    pixel_size_A: float,
    tolerance_A: Optional[float] = None,
    protocol: str = "one_to_one",
    gt_species: Optional[Sequence[str]] = None,
    ignore_xy=None,
    image_shape: Optional[tuple[int, int]] = None,
    edge_fraction: Optional[float] = None,
    edge_px: Optional[float] = None,
    non_target: str = "ignore",
) -> ImageScore:
    """Score predicted column positions of one image against the ground truth.

    Parameters
    ----------
    pred_xy : array_like, shape (P, 2)
        Predicted positions (x, y) [px]: x = column index, y = row index,
        origin at the centre of the top-left pixel.
    gt_xy : array_like, shape (G, 2), or ColumnSet
        Ground-truth target positions (x, y) [px]. A :class:`~atomdata.schema.ColumnSet`
        gives its target columns as ground truth, their species, and its
        non-target columns as ``ignore_xy``.
    pixel_size_A : float
        Pixel size [Å/px], > 0 (keyword-only, like every option).
    tolerance_A : float, optional
        Match radius [Å]. ``None``: 0.5 Å for ``one_to_one``; for ``wei2022``
        the published squared distance < 5 px^2 in the image's own pixels.
    protocol : {"one_to_one", "wei2022"}
        Matching protocol (see :mod:`atomdata.evaluation`).
    gt_species : sequence of str, optional
        Species of each ground-truth column, for per-species scores.
    ignore_xy : array_like, shape (K, 2), optional
        Non-target columns (x, y) [px]: never false negatives; a prediction
        that matches one of them and no target is ignored (``non_target="ignore"``)
        or counted as a false positive (``non_target="false_positive"``).
    image_shape : (H, W), optional
        Image shape [px], needed for the edge rule.
    edge_fraction : float, optional
        Drop predictions within this fraction of the image size of an edge
        before scoring. ``None``: 0.01 for ``wei2022`` (needs ``image_shape``),
        0 (nothing dropped) for ``one_to_one``.
    edge_px : float, optional
        ``one_to_one`` only (needs ``image_shape``): target columns closer than
        this to the image border [px] are not scored -- a prediction matched to
        one is dropped (not TP), an unmatched one is not FN -- and unmatched
        predictions in that band are dropped (not FP). ``None``: ``DEFAULT_EDGE_PX``
        (6 px); 0 scores everything. The border is at -0.5 and W - 0.5 (H - 0.5).
    non_target : {"ignore", "false_positive"}
        How predictions on non-target columns count.

    Returns
    -------
    ImageScore
        ``tp``, ``fp``, ``fn``, ``id_recall``, ``id_precision``,
        ``position_accuracy_A`` and details (attributes, or keys via ``score["tp"]``).

    Raises
    ------
    ValueError
        Bad shapes, non-finite positions, non-positive pixel size or tolerance,
        unknown protocol.

    Examples
    --------
    >>> gt = [[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]]
    >>> pred = [[10.5, 10.0], [20.0, 10.0], [50.0, 50.0]]
    >>> s = score_image(pred, gt, pixel_size_A=0.1)
    >>> s.tp, s.fp, s.fn
    (2, 1, 1)
    >>> round(s.id_recall, 3), round(s.id_precision, 3), round(s.position_accuracy_A, 4)
    (0.667, 0.667, 0.0354)
    """
    rule = ScoringRule.make(protocol=protocol, tolerance_A=tolerance_A, edge_fraction=edge_fraction,
                            edge_px=edge_px, non_target=non_target)
    pixel_size_A = check_pixel_size(pixel_size_A)
    if isinstance(gt_xy, ColumnSet):
        cs = gt_xy
        gt_xy = cs.target_xy
        gt_species = cs.species[cs.target] if gt_species is None else gt_species
        if ignore_xy is None:
            ignore_xy = cs.xy[~cs.target]
    pred = check_xy(pred_xy, "predictions")
    gt = check_xy(gt_xy, "ground truth")
    ign = check_xy(ignore_xy, "non-target columns") if ignore_xy is not None else np.zeros((0, 2))
    if gt_species is not None:
        gt_species = np.asarray(gt_species, dtype=str).reshape(-1)
        if len(gt_species) != len(gt):
            raise ValueError(f"gt_species has {len(gt_species)} entries but there are {len(gt)} ground-truth columns")
    return rule.score(pred, gt, ign, gt_species=gt_species, pixel_size_A=pixel_size_A, image_shape=image_shape)


@dataclass(frozen=True)
class ScoringRule:
    """A protocol with its options, checked once (:meth:`make`); :meth:`score` then trusts its inputs.

    :func:`score_image` and :func:`~atomdata.evaluation.score_split` build one rule per call
    and score every image with it, so options, positions and pixel sizes are validated once
    at the public boundary and not again per image.
    """

    protocol: str
    tolerance_A: Optional[float]
    edge_fraction: float
    edge_px: float
    non_target: str

    @classmethod
    def make(cls, *, protocol: str = "one_to_one", tolerance_A: Optional[float] = None,
             edge_fraction: Optional[float] = None, edge_px: Optional[float] = None,
             non_target: str = "ignore") -> ScoringRule:
        """Check the options (see :func:`score_image`) and fill in the protocol's defaults."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
        if non_target not in ("ignore", "false_positive"):
            raise ValueError(f"non_target must be 'ignore' or 'false_positive', got {non_target!r}")
        if tolerance_A is not None and not (tolerance_A > 0 and math.isfinite(tolerance_A)):
            raise ValueError(f"tolerance_A must be a finite number > 0 [Å], got {tolerance_A!r}")
        frac = (WEI2022_EDGE_FRACTION if protocol == "wei2022" else 0.0) if edge_fraction is None else edge_fraction
        if not 0 <= frac < 0.5:
            raise ValueError(f"edge_fraction must be in [0, 0.5), got {frac}")
        band = DEFAULT_EDGE_PX if edge_px is None else edge_px
        if not (band >= 0 and math.isfinite(band)):
            raise ValueError(f"edge_px must be a finite number >= 0 [px], got {edge_px!r}")
        return cls(protocol, tolerance_A, float(frac), float(band) if protocol == "one_to_one" else 0.0, non_target)

    def score(self, pred: np.ndarray, gt: np.ndarray, ign: np.ndarray, *, gt_species: Optional[np.ndarray],
              pixel_size_A: float, image_shape: Optional[tuple[int, int]]) -> ImageScore:
        """Score checked arrays: ``pred`` (P, 2), ``gt`` (G, 2), ``ign`` (K, 2) as (x, y) [px] float64,
        ``gt_species`` (G,) str or None, ``pixel_size_A`` > 0 [Å/px]."""
        protocol, tolerance_A = self.protocol, self.tolerance_A
        if protocol == "wei2022":
            radius_px = math.sqrt(WEI2022_TOLERANCE_PX2) if tolerance_A is None else tolerance_A / pixel_size_A
            radius2 = WEI2022_TOLERANCE_PX2 if tolerance_A is None else radius_px ** 2
        else:
            radius_px = (DEFAULT_TOLERANCE_A if tolerance_A is None else tolerance_A) / pixel_size_A
        frac = self.edge_fraction
        band_px = self.edge_px if image_shape is not None else 0.0
        non_target = self.non_target
        tol_A = radius_px * pixel_size_A

        status = np.full(len(pred), _FP, np.int8)
        if frac > 0 and image_shape is not None:
            status[edge_mask(pred, image_shape, frac)] = _EDGE
        kept = np.flatnonzero(status != _EDGE)
        kp = pred[kept]

        if protocol == "one_to_one":
            m = match_one_to_one(kp, gt, radius_px, checked=True)
        else:
            m = match_all_pairs(kp, gt, radius_px, radius2_px2=radius2, checked=True)
        m = Matching(kept[m.pred], m.gt, m.dist_px)
        gt_edge = None
        if band_px > 0:
            gt_edge = border_band(gt, image_shape, band_px)
            keep_pair = ~gt_edge[m.gt]
            status[m.pred[~keep_pair]] = _EDGE
            m = Matching(m.pred[keep_pair], m.gt[keep_pair], m.dist_px[keep_pair])
            unmatched = np.ones(len(pred), bool)
            unmatched[m.pred] = False
            status[unmatched & border_band(pred, image_shape, band_px)] = _EDGE
        status[m.pred] = _TP
        gt_matched = np.zeros(len(gt), bool)
        gt_matched[m.gt] = True
        gt_scored = ~gt_edge if gt_edge is not None else np.ones(len(gt), bool)

        if non_target == "ignore" and len(ign):
            free = np.flatnonzero(status == _FP)
            if len(free):
                if protocol == "one_to_one":
                    mi = match_one_to_one(pred[free], ign, radius_px, checked=True)
                else:
                    mi = match_all_pairs(pred[free], ign, radius_px, radius2_px2=radius2, checked=True)
                status[free[np.unique(mi.pred)]] = _IGN

        n_pred = len(pred)
        n_edge = int((status == _EDGE).sum())
        n_ign = int((status == _IGN).sum())
        fp = int((status == _FP).sum())
        fn = int((~gt_matched & gt_scored).sum())
        sq_A2 = float(np.sum((m.dist_px * pixel_size_A) ** 2))
        if protocol == "one_to_one":
            tp = len(m)
            recall = tp / (tp + fn) if tp + fn else math.nan
            precision = tp / (tp + fp) if tp + fp else math.nan
        else:
            # published counting: every (prediction, truth) pair within tolerance is a TP
            tp = len(m)
            scored = n_pred - n_edge - n_ign
            recall = min(1.0, tp / len(gt)) if len(gt) else math.nan
            precision = min(1.0, tp / scored) if scored else 0.0
        accuracy = math.sqrt(sq_A2 / tp) if tp else math.nan

        per_species = {}
        if gt_species is not None and len(gt):
            sp_of_match = gt_species[m.gt]
            d2_A = (m.dist_px * pixel_size_A) ** 2
            for s in sorted(set(gt_species.tolist())):
                sel = (gt_species == s) & gt_scored
                n_s = int(sel.sum())
                fn_s = int((~gt_matched[sel]).sum())
                pm = sp_of_match == s
                tp_s = int(pm.sum())
                sq = float(d2_A[pm].sum())
                rec = (tp_s / (tp_s + fn_s) if tp_s + fn_s else math.nan) if protocol == "one_to_one" \
                    else min(1.0, tp_s / n_s)
                per_species[s] = SpeciesScore(n_s, tp_s, fn_s, rec, math.sqrt(sq / tp_s) if tp_s else math.nan, sq)

        return ImageScore(
            protocol=protocol, pixel_size_A=float(pixel_size_A), tolerance_A=float(tol_A), tp=tp, fp=fp, fn=fn,
            n_pred=n_pred, n_gt=int(gt_scored.sum()), n_ignored=n_ign, n_edge=n_edge, id_recall=float(recall),
            id_precision=float(precision), position_accuracy_A=float(accuracy), sum_sq_dist_A2=sq_A2,
            pred_status=status, gt_matched=gt_matched, matching=m, per_species=per_species, gt_edge=gt_edge,
        )
