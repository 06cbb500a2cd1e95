"""Group the images of the published Wei file into the published one-metric sweeps, from their metadata.

The file holds no sweep labels: each image has its material, type and image-quality values
(:mod:`atomdata.sources.wei.metadata`). Within each group of simulated images of one material
(subset ``<material>_sim``, e.g. ``sto_sim``):

1. the *baseline* of each metric is its most common value in the group (values equal within
   ``rel_tol``);
2. an image whose values differ from the baseline in exactly one of atoms/100 px, resolution, PSNR,
   flyback error, random drift or dose belongs to that metric's sweep (contrast is measured on every
   image, so it varies in every sweep and is not used to decide);
3. an image that differs in none of them but in contrast belongs to the contrast sweep; one that
   differs in nothing is a baseline image and is added to every sweep of its group at the baseline
   value (its id gets ``@<metric>``);
4. an image that differs in two or more metrics, an experimental image, an image of an unrecognised
   material, and the images of a "sweep" with fewer than ``min_points`` distinct values are not
   used -- :attr:`SweepPlan.not_used` says which and why.

:class:`SweepSplit` presents the sweeps as a split whose subsets are ``<material>_sim_<metric>``
with ``record.extra["sweep"]``, which the evaluator and the reproduction read like atomdata's own
sweeps. Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of
the top-left pixel.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from atomdata.schema import ColumnSet, ImageRecord
from atomdata.storage import SplitSequence

__all__ = ["SWEEP_METRICS", "SweepEntry", "SweepPlan", "SweepSplit", "group_sweeps"]

#: Metrics a published sweep can vary (contrast last: it is measured on every image).
SWEEP_METRICS = ("atoms_per_100px", "resolution_pm", "psnr_db", "flyback_error_px", "random_drift",
                 "dose_e_per_A2", "contrast")


@dataclass(frozen=True)
class SweepEntry:
    """One image placed in one sweep (``index`` into the source split)."""

    index: int
    subset: str
    metric: str
    value: float
    seed_index: int
    image_id: str


@dataclass
class SweepPlan:
    """The sweeps found in a Wei split: ``entries`` in subset order, ``not_used`` image id -> reason,
    ``baselines`` group -> metric -> baseline value."""

    entries: list = field(default_factory=list)
    not_used: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)

    def subsets(self) -> list[str]:
        """The sweep subsets, sorted."""
        return sorted({e.subset for e in self.entries})


def _close(a: float, b: float, rel_tol: float) -> bool:
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)


def _mode(values: list[float], rel_tol: float) -> float:
    """Most common value (values within ``rel_tol`` count as one; ties: the smallest)."""
    counts: Counter = Counter()
    reps: list[float] = []
    for v in values:
        rep = next((r for r in reps if _close(r, v, rel_tol)), None)
        if rep is None:
            reps.append(v)
            rep = v
        counts[rep] += 1
    top = max(counts.values())
    return min(r for r, n in counts.items() if n == top)


def _values(meta: dict) -> dict[str, float]:
    out = {}
    for m in SWEEP_METRICS:
        mv = (meta.get("quality") or {}).get(m) or {}
        v = mv.get("nominal") if mv.get("nominal") is not None else mv.get("measured")
        if v is not None and math.isfinite(float(v)):
            out[m] = float(v)
    return out


def group_sweeps(split, *, rel_tol: float = 0.01, min_points: int = 3) -> SweepPlan:
    """Place the images of a Wei split (:func:`~atomdata.sources.wei.open_wei`) in the published sweeps.

    Parameters
    ----------
    split : SplitLike
        The published file read as a split (subsets ``<material>_<sim|exp>``).
    rel_tol : float
        Relative tolerance within which two values of a metric are equal.
    min_points : int
        Sweeps with fewer distinct values than this are not used.

    Returns
    -------
    SweepPlan
        See the module notes for the rule.
    """
    ids = list(split.image_ids)
    groups: dict[str, list[int]] = defaultdict(list)
    plan = SweepPlan()
    for i, sub in enumerate(str(s) for s in split.subsets):
        material, _, kind = sub.rpartition("_")
        if kind != "sim":
            plan.not_used[ids[i]] = ("experimental image: only the simulated sweeps are compared" if kind == "exp"
                                     else f"type not given as simulated or experimental (subset {sub!r})")
        elif material in ("", "unknown"):
            plan.not_used[ids[i]] = "material not recognised in the metadata"
        else:
            groups[material].append(i)
    raw: list[tuple[int, str, str, float]] = []  # (index, material, metric or "" for baseline, value)
    for material, members in sorted(groups.items()):
        vals = {i: _values(split.metadata(i)) for i in members}
        base = {}
        for m in SWEEP_METRICS:
            have = [v[m] for v in vals.values() if m in v]
            if have:
                base[m] = _mode(have, rel_tol)
        plan.baselines[material] = base
        for i in members:
            v = vals[i]
            dev = [m for m in SWEEP_METRICS[:-1] if m in v and m in base and not _close(v[m], base[m], rel_tol)]
            if not dev and "contrast" in v and "contrast" in base and not _close(v["contrast"], base["contrast"], rel_tol):
                dev = ["contrast"]
            if len(dev) > 1:
                plan.not_used[ids[i]] = f"differs from the {material} baseline in several metrics: {', '.join(dev)}"
            else:
                raw.append((i, material, dev[0] if dev else "", v[dev[0]] if dev else math.nan))
    swept = {(mat, m) for _, mat, m, _ in raw if m}
    points: dict[tuple[str, str], set] = defaultdict(set)
    for _, mat, m, val in raw:
        if m:
            points[(mat, m)].add(round(val, 9))
    small = {k for k, p in points.items() if len(p) + 1 < min_points}  # + the baseline point
    placed: list[tuple[int, str, str, float]] = []
    for i, mat, m, val in raw:
        if m:
            if (mat, m) in small:
                plan.not_used[ids[i]] = f"its {m} sweep has fewer than {min_points} distinct values"
            else:
                placed.append((i, mat, m, val))
            continue
        targets = sorted(mm for (g, mm) in swept if g == mat and (g, mm) not in small)
        if not targets:
            plan.not_used[ids[i]] = "baseline image of a material with no sweep"
        for mm in targets:
            placed.append((i, mat, mm, plan.baselines[mat][mm]))
    seeds: Counter = Counter()
    dup = Counter(i for i, *_ in placed)
    for i, mat, m, val in sorted(placed, key=lambda t: (f"{t[1]}_sim_{t[2]}", t[3], t[0])):
        key = (mat, m, round(val, 9))
        image_id = ids[i] if dup[i] == 1 else f"{ids[i]}@{m}"
        plan.entries.append(SweepEntry(i, f"{mat}_sim_{m}", m, float(val), seeds[key], image_id))
        seeds[key] += 1
    return plan


class SweepSplit(SplitSequence):
    """The sweeps of a :class:`SweepPlan` as a split (picklable; reads images through the source split).

    Subsets are ``<material>_sim_<metric>``; each record carries ``extra["sweep"] = {"metric",
    "value", "seed_index"}``, ``extra["source_image_id"]`` and keeps the source metadata.
    """

    def __init__(self, source, plan: SweepPlan):
        self.source = source
        self.plan = plan
        self.dataset_name = getattr(source, "dataset_name", None)
        self.dataset_version = getattr(source, "dataset_version", None)
        self.split = getattr(source, "split", None)
        self._pos = {e.image_id: k for k, e in enumerate(plan.entries)}
        self._pixel = np.array([source.pixel_sizes_A[e.index] for e in plan.entries], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.plan.entries)

    def __repr__(self) -> str:
        return f"SweepSplit({len(self)} sweep images in {len(self.plan.subsets())} sweeps of {self.source!r})"

    @property
    def image_ids(self) -> list[str]:
        return [e.image_id for e in self.plan.entries]

    @property
    def subsets(self) -> np.ndarray:
        return np.array([e.subset for e in self.plan.entries], dtype=object)

    @property
    def pixel_sizes_A(self) -> np.ndarray:
        return self._pixel

    def index(self, image_id: str) -> int:
        if image_id not in self._pos:
            raise KeyError(f"image_id {image_id!r} is not in any sweep of {self.source!r}")
        return self._pos[image_id]

    def image(self, i: int) -> np.ndarray:
        return self.source.image(self.plan.entries[i].index)

    def image_shape(self, i: int) -> tuple[int, int]:
        return self.source.image_shape(self.plan.entries[i].index)

    def columns(self, i: int) -> ColumnSet:
        return self.source.columns(self.plan.entries[i].index)

    def _extra(self, e: SweepEntry, extra: dict) -> dict:
        return {**extra, "sweep": {"metric": e.metric, "value": e.value, "seed_index": e.seed_index},
                "source_image_id": self.source.image_ids[e.index]}

    def metadata(self, i: int) -> dict:
        e = self.plan.entries[i]
        meta = dict(self.source.metadata(e.index))
        meta.update(image_id=e.image_id, subset=e.subset, extra=self._extra(e, meta.get("extra") or {}))
        return meta

    def record(self, i: int) -> ImageRecord:
        e = self.plan.entries[i]
        rec = self.source.record(e.index)
        return rec.model_copy(update={"image_id": e.image_id, "subset": e.subset, "extra": self._extra(e, rec.extra)})
