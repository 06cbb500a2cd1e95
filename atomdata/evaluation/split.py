"""Scoring a whole split: per-image scores, per-subset averages, sweep information.

Predictions are ``{image_id: (N, 2) array of (x, y) px}`` (x = column index,
y = row index, origin at the centre of the top-left pixel), or a file read by
:func:`atomdata.evaluation.load_predictions`.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from atomdata.evaluation.aggregate import Aggregate, aggregate
from atomdata.evaluation.inputs import PredictionsLike, load_predictions
from atomdata.evaluation.scores import ImageScore, ScoringRule
from atomdata.schema import METRIC_FIELDS
from atomdata.sources import open_split

__all__ = ["SCORE_CHUNK", "SplitScores", "score_chunk", "score_split", "SWEEP_SUBSET", "parse_sweep_subset",
           "sweep_info", "VISIBILITY", "scored_targets"]

#: Which columns are scored: ``"resolved"`` -- the stored target flags (in 1.1.0 and later, only columns
#: the noise-free image resolves); ``"all"`` -- also the target columns the visibility rule set aside
#: (listed in ``record.extra["visibility"]["unresolved"]``), i.e. every column of a visible species.
VISIBILITY = ("resolved", "all")

#: Sweep subsets of the test split: ``<material>_sim_<metric>``, e.g. ``sto_sim_resolution_pm``.
SWEEP_SUBSET = re.compile(r"^(?P<material>[a-z0-9]+)_sim_(?P<metric>[a-z0-9_]+)$")


def parse_sweep_subset(subset: str) -> Optional[tuple[str, str]]:
    """``(material, metric)`` of a sweep subset name, or None.

    Examples
    --------
    >>> parse_sweep_subset("sto_sim_resolution_pm")
    ('sto', 'resolution_pm')
    >>> parse_sweep_subset("generality") is None
    True
    """
    m = SWEEP_SUBSET.match(subset)
    if not m or m["metric"] not in METRIC_FIELDS:
        return None
    return m["material"], m["metric"]


@dataclass
class SplitScores:
    """Per-image scores of one split and the information needed to aggregate them.

    ``sweeps[k]`` is ``{"metric", "value", "seed_index"}`` for images of sweep
    subsets (from ``record.extra["sweep"]``, falling back to the record's
    quality metric), else None.
    """

    protocol: str
    tolerance_A: Optional[float]
    image_ids: list[str]
    subsets: list[str]
    scores: list[ImageScore]
    sweeps: list[Optional[dict]]
    dataset_name: Optional[str] = None
    dataset_version: Optional[str] = None
    split: Optional[str] = None
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    def rows(self) -> list[dict]:
        """One JSON-serialisable dict per image (id, subset, sweep value, scores)."""
        out = []
        for i, s in enumerate(self.scores):
            sw = self.sweeps[i] or {}
            row = {"image_id": self.image_ids[i], "subset": self.subsets[i],
                   "sweep_metric": sw.get("metric"), "sweep_value": sw.get("value"),
                   "seed_index": sw.get("seed_index")}
            row.update(s.to_dict(species=False))
            out.append(row)
        return out

    def select(self, subset: str) -> SplitScores:
        """The scores of one subset."""
        idx = [i for i, s in enumerate(self.subsets) if s == subset]
        if not idx:
            raise KeyError(f"no scored image in subset {subset!r}; subsets: {', '.join(sorted(set(self.subsets)))}")
        return SplitScores(self.protocol, self.tolerance_A, [self.image_ids[i] for i in idx],
                           [self.subsets[i] for i in idx], [self.scores[i] for i in idx],
                           [self.sweeps[i] for i in idx], self.dataset_name, self.dataset_version, self.split,
                           self.options)

    def aggregate(self, *, by_subset: bool = True, n_boot: int = 1000, confidence: float = 0.95,
                  seed: int = 0) -> dict[str, Aggregate]:
        """Micro/macro averages with bootstrap CIs: key ``"all"`` plus one per subset when ``by_subset``."""
        out = {"all": aggregate(self.scores, n_boot=n_boot, confidence=confidence, seed=seed)}
        if by_subset:
            for sub in sorted(set(self.subsets)):
                out[sub] = aggregate([s for s, k in zip(self.scores, self.subsets) if k == sub],
                                     n_boot=n_boot, confidence=confidence, seed=seed)
        return out

    def sweep_subsets(self) -> list[str]:
        """Subsets whose images carry sweep information, sorted."""
        return sorted({k for k, sw in zip(self.subsets, self.sweeps) if sw is not None})

    def sweep_table(self, subset: str) -> dict[str, np.ndarray]:
        """Arrays ``value``, ``seed_index``, ``id_recall``, ``id_precision``, ``position_accuracy_A`` of a sweep."""
        idx = [i for i, k in enumerate(self.subsets) if k == subset and self.sweeps[i] is not None]
        if not idx:
            raise KeyError(f"subset {subset!r} has no sweep information; sweep subsets: {self.sweep_subsets()}")
        seeds = []
        for i in idx:
            s = self.sweeps[i].get("seed_index")
            seeds.append(int(s) if s is not None else -1)
        return {
            "metric": self.sweeps[idx[0]]["metric"],
            "value": np.array([float(self.sweeps[i]["value"]) for i in idx]),
            "seed_index": np.array(seeds),
            "id_recall": np.array([self.scores[i].id_recall for i in idx]),
            "id_precision": np.array([self.scores[i].id_precision for i in idx]),
            "position_accuracy_A": np.array([self.scores[i].position_accuracy_A for i in idx]),
        }


def sweep_info(metadata: dict, subset: str) -> Optional[dict]:
    """``{"metric", "value", "seed_index"}`` of a sweep image from its record data (``extra["sweep"]``,
    else the nominal (or measured) value of the metric its subset name sweeps), or None."""
    extra = metadata.get("extra")
    sw = extra.get("sweep") if isinstance(extra, dict) else None
    if isinstance(sw, dict) and sw.get("metric") and sw.get("value") is not None:
        return {"metric": str(sw["metric"]), "value": float(sw["value"]), "seed_index": sw.get("seed_index")}
    parsed = parse_sweep_subset(subset)
    if parsed is None:
        return None
    mv = (metadata.get("quality") or {}).get(parsed[1])
    if not isinstance(mv, dict):
        return None
    value = mv.get("nominal") if mv.get("nominal") is not None else mv.get("measured")
    if value is None:
        return None
    return {"metric": parsed[1], "value": float(value), "seed_index": None}


def scored_targets(columns, metadata: dict, visibility: str) -> np.ndarray:
    """Target mask (N,) bool of an image's columns under a visibility choice (:data:`VISIBILITY`).

    ``metadata`` is the record as JSON data (``split.metadata(i)``). Records without visibility
    information (datasets before 1.1.0, the Wei file) give the stored flags under both choices.

    Examples
    --------
    >>> from atomdata.schema import ColumnSet
    >>> cols = ColumnSet.from_arrays([[1.0, 1.0], [5.0, 5.0]], ["Sr", "Ti-O"], [True, False])
    >>> meta = {"extra": {"visibility": {"unresolved": [1]}}}
    >>> scored_targets(cols, meta, "resolved").tolist(), scored_targets(cols, meta, "all").tolist()
    ([True, False], [True, True])
    """
    if visibility not in VISIBILITY:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITY)}, got {visibility!r}")
    target = np.asarray(columns.target, dtype=bool)
    if visibility == "resolved":
        return target
    extra = metadata.get("extra") if isinstance(metadata, dict) else None
    vis = extra.get("visibility") if isinstance(extra, dict) else None
    idx = vis.get("unresolved") if isinstance(vis, dict) else None
    if not idx:
        return target
    out = target.copy()
    out[np.asarray(idx, dtype=np.int64)] = True
    return out


def score_split(
    predictions: PredictionsLike,
    split,
    *,
    protocol: str = "one_to_one",
    tolerance_A: Optional[float] = None,
    subsets: Optional[Sequence[str]] = None,
    missing: str = "error",
    non_target: str = "ignore",
    edge_fraction: Optional[float] = None,
    edge_px: Optional[float] = None,
    check_axes: bool = True,
    visibility: str = "resolved",
    progress: bool = False,
    scheduler: str = "processes",
    workers: Optional[int] = 1,
    address: Optional[str] = None,
    verify: bool = True,
) -> SplitScores:
    """Score predictions for every image of a split.

    Parameters
    ----------
    predictions : dict or path-like
        ``{image_id: (N, 2) array of (x, y) px}`` or a predictions file (see
        :func:`~atomdata.evaluation.load_predictions`).
    split : SplitLike, path-like or str
        Anything :func:`atomdata.sources.open_split` resolves (an open split, a split file,
        a dataset folder: its ``test`` split).
    protocol : {"one_to_one", "wei2022"}
        Matching protocol (see :mod:`atomdata.evaluation`).
    tolerance_A : float, optional
        Match radius [Å]; None = the protocol's default.
    subsets : sequence of str, optional
        Score only images of these subsets.
    missing : {"error", "empty", "skip"}
        What to do with split images that have no entry in ``predictions``:
        raise, score them as "no predictions", or leave them out.
    non_target, edge_fraction, edge_px
        Passed to :func:`~atomdata.evaluation.score_image`.
    check_axes : bool
        When no prediction matches anywhere but swapping x and y would match,
        raise a ``ValueError`` saying the axes look swapped.
    visibility : {"resolved", "all"}
        Score only the columns the noise-free image resolves (the stored target flags; the
        default) or every column of a visible species (see :data:`VISIBILITY`).
    progress : bool
        Show a progress bar.
    scheduler : {"processes", "dask"}
        Where the images are scored when ``workers > 1`` or on Dask: a local process pool, or a
        Dask LocalCluster of ``workers`` processes / the cluster at ``address``
        (:func:`atomdata.build.engine.task_runner`). This process reads the labels and sends them
        with the predictions, in chunks of :data:`SCORE_CHUNK` images; the scores are the same.
    workers : int, optional
        Worker processes (default 1: score here, one image after another; None: the CPUs available).
    address : str, optional
        Scheduler address of a running Dask cluster.
    verify : bool
        Refuse a split that fails the checks of ``atomdata validate --quick``
        (:func:`atomdata.storage.verify_split`; a split file listed in a ``manifest.json`` is
        hashed before it is parsed). Pass False only for a split verified already
        (:func:`~atomdata.evaluation.evaluate` opens it with ``verify=True``).

    Returns
    -------
    SplitScores

    Raises
    ------
    ValueError
        Unknown image ids (named, with a few valid ids), missing predictions
        with ``missing="error"``, bad arrays, swapped axes.
    SplitFormatError
        The split fails the checks of ``atomdata validate --quick``
        (:func:`atomdata.storage.verify_split`): damaged label arrays (offsets, species
        codes, positions), or a split file whose SHA-256 differs from the
        ``manifest.json`` beside it. Nothing is scored.
    """
    rule = ScoringRule.make(protocol=protocol, tolerance_A=tolerance_A, edge_fraction=edge_fraction,
                            edge_px=edge_px, non_target=non_target)
    if missing not in ("error", "empty", "skip"):
        raise ValueError(f"missing must be 'error', 'empty' or 'skip', got {missing!r}")
    if visibility not in VISIBILITY:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITY)}, got {visibility!r}")
    preds = load_predictions(predictions)  # every array checked once here: (N, 2) finite (x, y) px
    split = open_split(split, "test", verify=verify)  # a damaged or changed split is never scored
    ids = list(split.image_ids)
    all_subsets = [str(s) for s in split.subsets]
    known = set(ids)
    unknown = [k for k in preds if k not in known]
    if unknown:
        raise ValueError(
            f"{len(unknown)} predicted image id(s) are not in the split, e.g. {unknown[0]!r}"
            + (f" (also {', '.join(repr(u) for u in unknown[1:4])})" if len(unknown) > 1 else "")
            + f"; valid ids look like: {', '.join(repr(i) for i in ids[:5])}"
            + (f" ... ({len(ids)} images)" if len(ids) > 5 else "")
        )
    if subsets is not None:
        wanted = set(subsets)
        bad = wanted - set(all_subsets)
        if bad:
            raise ValueError(f"unknown subset(s) {sorted(bad)}; subsets of this split: {sorted(set(all_subsets))}")
        chosen = [i for i, s in enumerate(all_subsets) if s in wanted]
    else:
        chosen = list(range(len(ids)))
    absent = [ids[i] for i in chosen if ids[i] not in preds]
    if absent and missing == "error":
        raise ValueError(
            f"{len(absent)} of {len(chosen)} images have no predictions, e.g. {absent[0]!r}. Pass "
            "missing='empty' (CLI: --missing empty) to score them as images with no predictions, or "
            "missing='skip' to leave them out; a CSV file can list an image with no predictions as a row "
            "with empty x and y"
        )
    if missing == "skip":
        chosen = [i for i in chosen if ids[i] in preds]

    from tqdm.auto import tqdm

    pixel = _checked_pixel_sizes(split, chosen)
    inputs = _ScoreInputs(rule, preds, split, chosen, pixel, visibility)
    if scheduler == "processes" and workers == 1 and address is None:
        scores = []
        with tqdm(total=len(chosen), desc="score", disable=not progress, unit="img") as bar:
            for k in range(len(inputs)):
                scores.extend(score_chunk(*inputs[k]))
                bar.update(len(inputs.chunks[k]))
    else:
        from atomdata.build.engine import task_runner

        by_chunk: dict = {}
        with task_runner(scheduler, workers=workers, address=address) as runner, \
                tqdm(total=len(chosen), desc="score", disable=not progress, unit="img") as bar:
            for k, got in runner.run(score_chunk, inputs, max_in_flight=4 * runner.workers):
                by_chunk[k] = got
                bar.update(len(got))
        scores = [score for k in range(len(inputs)) for score in by_chunk[k]]
    sweeps = [sweep_info(split.metadata(i), all_subsets[i]) for i in chosen]
    out_ids = [ids[i] for i in chosen]
    out_subsets = [all_subsets[i] for i in chosen]

    if check_axes:
        _check_swapped(preds, split, chosen, ids, scores, pixel, rule)

    return SplitScores(
        protocol=protocol, tolerance_A=tolerance_A, image_ids=out_ids, subsets=out_subsets, scores=scores,
        sweeps=sweeps, dataset_name=getattr(split, "dataset_name", None),
        dataset_version=getattr(split, "dataset_version", None), split=getattr(split, "split", None),
        options={"missing": missing, "non_target": non_target, "edge_fraction": edge_fraction,
                 "edge_px": edge_px, "visibility": visibility},
    )


#: Images per scoring task on a process pool or Dask.
SCORE_CHUNK = 64


def score_chunk(rule: ScoringRule, items: list) -> list[ImageScore]:
    """Scores of ``items``: ``(pred_xy, target_xy, non_target_xy, target_species, pixel_size_A, shape)`` each (a task)."""
    return [rule.score(p, gt, nt, gt_species=sp, pixel_size_A=px, image_shape=shape)
            for p, gt, nt, sp, px, shape in items]


class _ScoreInputs(Sequence):
    """Tasks ``(rule, items)`` of :data:`SCORE_CHUNK` images each; the labels are read when a task is taken."""

    def __init__(self, rule: ScoringRule, preds: dict, split, chosen: list[int], pixel: np.ndarray,
                 visibility: str = "resolved"):
        self.rule, self.preds, self.split, self.pixel = rule, preds, split, pixel
        self.visibility = visibility
        self.ids = list(split.image_ids)
        self.chunks = [chosen[a:a + SCORE_CHUNK] for a in range(0, len(chosen), SCORE_CHUNK)]

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, k):
        items = []
        empty = np.zeros((0, 2))
        for i in self.chunks[k]:
            cols = self.split.columns(i)
            # "all" needs the record's list of set-aside columns; "resolved" is the stored flags
            tgt = cols.target if self.visibility == "resolved" else \
                scored_targets(cols, self.split.metadata(i), self.visibility)
            items.append((self.preds.get(self.ids[i], empty), cols.xy[tgt], cols.xy[~tgt], cols.species[tgt],
                          float(self.pixel[i]), tuple(self.split.image_shape(i))))
        return self.rule, items


def _checked_pixel_sizes(split, chosen: list[int]) -> np.ndarray:
    """The split's pixel sizes [Å/px], checked once (finite, > 0) for the images to score."""
    pixel = np.asarray(split.pixel_sizes_A, dtype=np.float64)
    sel = pixel[chosen] if chosen else pixel[:0]
    bad = ~(np.isfinite(sel) & (sel > 0))
    if bad.any():
        k = chosen[int(np.flatnonzero(bad)[0])]
        raise ValueError(f"image {split.image_ids[k]!r} has pixel_size_A {pixel[k]!r}; pixel sizes must be "
                         "finite numbers > 0 [Å/px] (the split file is damaged: validate it)")
    return pixel


def _check_swapped(preds, split, chosen, ids, scores, pixel, rule: ScoringRule) -> None:
    """Raise when nothing matches anywhere but swapping x and y gives matches."""
    n_pred = sum(s.n_pred for s in scores)
    if n_pred == 0 or sum(s.tp for s in scores) > 0 or sum(s.n_gt for s in scores) == 0:
        return
    tp_swapped = gt = 0
    tried = 0
    for k, i in enumerate(chosen):
        pred = preds.get(ids[i])
        if pred is None or len(pred) == 0 or scores[k].n_gt == 0:
            continue
        cols = split.columns(i)
        s = rule.score(np.ascontiguousarray(pred[:, ::-1]), cols.xy[cols.target], cols.xy[~cols.target],
                       gt_species=None, pixel_size_A=float(pixel[i]), image_shape=None)
        tp_swapped += s.tp
        gt += s.n_gt
        tried += 1
        if tried >= 20:
            break
    if gt and tp_swapped / gt > 0.5:
        raise ValueError(
            f"no prediction matches any ground-truth column, but with x and y swapped {tp_swapped} of {gt} "
            "columns match: the predictions look like (row, col) = (y, x). atomdata expects (x, y) px "
            "(x = column index). Swap the two columns (xy[:, ::-1]) or pass check_axes=False to score as given."
        )
    if gt:
        warnings.warn(
            f"no prediction matched any ground-truth column in {len(scores)} images; check the coordinate "
            "convention ((x, y) px, origin at the centre of the top-left pixel) and the image ids",
            stacklevel=3,
        )
