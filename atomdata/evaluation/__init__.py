"""The reference evaluator: match predicted atomic columns to the ground truth and score them.

Coordinates are ``(x, y)`` in pixels (x = column index, y = row index, origin at
the centre of the top-left pixel), arrays ``(N, 2)``, exactly like the ground
truth in :class:`atomdata.schema.ColumnSet`. Tolerances and accuracies are in
Angstrom [Å] and converted with each image's own pixel size [Å/px].

Protocols (the one place they are defined)
------------------------------------------
``one_to_one`` (default)
    Each prediction matches at most one target column and vice versa. The
    assignment is optimal: it maximises the number of matched pairs, then
    minimises the sum of squared distances, among pairs at distance
    **<= tolerance_A** (default **0.5 Å**). Candidate pairs come from a k-d
    tree and each connected component of the candidate graph is solved with
    ``scipy.optimize.linear_sum_assignment`` (10^6 columns in about a second).
    TP = matched pairs, FP = unmatched predictions, FN = unmatched target
    columns; ID-recall = TP / (TP + FN), ID-precision = TP / (TP + FP),
    position accuracy = RMS distance of the matched pairs [Å]. Border band
    (``edge_px``, default **6 px**): target columns closer than that to the
    image border are not scored (their blobs are cut; the published AtomNet
    inference drops everything within 5 px), so a prediction matched to one is
    dropped rather than counted TP, an unmatched one is not FN, and unmatched
    predictions in the band are not FP. ``edge_px=0`` scores everything. The tolerance must be larger than the
    0.30 Å accuracy criterion -- matched pairs are never farther apart than
    the tolerance, so with tolerance <= 0.30 Å that criterion could never fail.
    Two predictions near one column: one TP and one FP.

``wei2022`` (the published protocol, Wei et al., Microsc. Microanal. 29, 552 (2023))
    As the authors' code: a (prediction, column) pair is a TP when
    dx^2 + dy^2 **< 5 px^2** in the image's own pixels (about 0.22 Å at
    0.1 Å/px; ``tolerance_A`` replaces it by (tolerance_A / pixel_size_A)^2),
    **no one-to-one constraint**, and predictions within **1 %** of the image
    width/height of an edge (x < 0.01 W, x > 0.99 W, same for y with H) are
    dropped before scoring (ground-truth columns are never dropped). The
    published code counted *pairs*: two predictions near one column are two
    TPs, and one prediction near two columns is two TPs. It computed
    recall = TP / (number of target columns) and precision = TP / (number of
    kept predictions); both can exceed 1 when pairs are double counted, so
    atomdata caps them at 1. Here FN = target columns with no prediction
    within tolerance and FP = kept predictions with no target column within
    tolerance (with double counting, TP + FN may exceed the number of columns,
    which is why recall is not TP / (TP + FN) under this protocol). An image
    with no predictions has precision 0 (as published); the published code
    set the RMS error to a 10 px sentinel when there was no TP, atomdata
    reports NaN. Accuracy = RMS over all TP pairs [Å].

Both protocols
    Only ``target`` columns are ground truth. Non-target columns (e.g. O in
    HAADF SrTiO3) are never FN; by default (``non_target="ignore"``) a
    prediction that matches no target column but lies within tolerance of a
    non-target column is *ignored* (neither TP nor FP; one prediction per
    non-target column under ``one_to_one``); ``non_target="false_positive"``
    counts it as FP instead. Undefined ratios (0/0) are NaN (``None`` in JSON)
    and are skipped by macro averages.

Entry points
------------
:func:`score_image`, :func:`score_split`, :func:`aggregate`,
:func:`find_cutoff` / :func:`sweep_cutoffs`, :func:`load_predictions`,
:func:`build_report` / :func:`write_report`, and the plots in
:mod:`atomdata.evaluation.plots` (matplotlib is imported only there).
"""
from __future__ import annotations

from atomdata.evaluation.aggregate import Aggregate, ScoreWithCI, aggregate
from atomdata.evaluation.cutoffs import Criteria, Cutoff, find_cutoff, sweep_cutoffs
from atomdata.evaluation.inputs import load_predictions, save_predictions
from atomdata.evaluation.matching import Matching, match_all_pairs, match_one_to_one
from atomdata.evaluation.report import EvaluationReport, build_report, evaluate, write_report
from atomdata.evaluation.scores import DEFAULT_TOLERANCE_A, PROTOCOLS, ImageScore, SpeciesScore, score_image
from atomdata.evaluation.split import SplitScores, score_split

__all__ = [
    "PROTOCOLS",
    "DEFAULT_TOLERANCE_A",
    "score_image",
    "score_split",
    "ImageScore",
    "SpeciesScore",
    "SplitScores",
    "aggregate",
    "Aggregate",
    "ScoreWithCI",
    "Criteria",
    "Cutoff",
    "find_cutoff",
    "sweep_cutoffs",
    "load_predictions",
    "save_predictions",
    "Matching",
    "match_one_to_one",
    "match_all_pairs",
    "EvaluationReport",
    "build_report",
    "write_report",
    "evaluate",
]
