"""Summaries of split files and dataset folders (``atomdata info``)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from atomdata.schema import METRIC_FIELDS
from atomdata.storage.format import SplitFormatError
from atomdata.storage.manifest import read_manifest
from atomdata.storage.paths import member_path
from atomdata.storage.reader import SplitFile

__all__ = ["split_summary", "dataset_summary", "format_summary"]


def split_summary(split: SplitFile) -> dict[str, Any]:
    """Counts, subsets, species and the range of every quality metric of one split.

    Returns a JSON-serialisable dict with keys ``path``, ``split``, ``dataset``,
    ``n_images``, ``n_columns``, ``n_target_columns``, ``subsets`` (name -> count),
    ``species`` (name -> column count), ``shapes`` and ``metrics`` (name ->
    ``{"min", "max"}`` of the measured-else-nominal values; pixel size in Å/px).
    """
    split.validate(deep=False)  # offsets, species codes and positions are consistent before they are counted
    f = split.h5
    labels = split.label_arrays()
    offsets, target, codes = labels["offsets"], labels["target"], labels["species"]
    names = split.species_names
    species = {names[k]: int(v) for k, v in enumerate(np.bincount(codes, minlength=len(names))) if v}
    values: dict[str, list[float]] = {"pixel_size_A": []}
    values.update({m: [] for m in METRIC_FIELDS})
    for i in range(len(split)):
        try:
            q = split.metadata(i)["quality"]
            values["pixel_size_A"].append(float(q["pixel_size_A"]))
            for m in METRIC_FIELDS:
                v = q[m]["measured"] if q[m]["measured"] is not None else q[m]["nominal"]
                if v is not None:
                    values[m].append(float(v))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
            raise SplitFormatError(f"{split.path}: record {i} is damaged ({type(e).__name__}: {e}); "
                                   "`atomdata validate` names every problem") from None
    metrics = {m: {"min": float(np.min(v)), "max": float(np.max(v))} for m, v in values.items() if v}
    return {
        "path": str(split.path),
        "split": split.split,
        "dataset": f"{split.dataset_name} {split.dataset_version}",
        "schema_version": split.schema_version,
        "n_images": len(split),
        "n_columns": int(offsets[-1]),
        "n_target_columns": int(target.sum()),
        "subsets": dict(sorted(Counter(split.subsets.tolist()).items())),
        "species": species,
        "shapes": {k: int(f[f"images/{k}"].shape[0]) for k in split.image_groups},
        "metrics": metrics,
    }


def dataset_summary(path) -> dict[str, Any]:
    """Summary of a split file, or of every split of a dataset folder with a ``manifest.json``."""
    p = Path(path)
    if p.is_dir():
        manifest = read_manifest(p)
        return {
            "dataset": manifest.name,
            "version": manifest.version,
            "splits": {name: split_summary(SplitFile(member_path(p, info.file, what=f"split {name!r} file")))
                       for name, info in manifest.splits.items()},
        }
    return split_summary(SplitFile(p))


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`split_summary` / :func:`dataset_summary` output."""
    if "splits" in summary:
        parts = [f"dataset {summary['dataset']} {summary['version']}"]
        parts += [format_summary(s) for s in summary["splits"].values()]
        return "\n\n".join(parts)
    lines = [
        f"{summary['path']}",
        f"  split {summary['split']!r} of {summary['dataset']} (schema {summary['schema_version']})",
        f"  {summary['n_images']} images, {summary['n_columns']} columns ({summary['n_target_columns']} targets)",
        "  shapes:  " + ", ".join(f"{k} x{v}" for k, v in summary["shapes"].items()),
        "  species: " + ", ".join(f"{k} {v}" for k, v in summary["species"].items()),
        "  subsets:",
    ]
    lines += [f"    {k:<32} {v:>6}" for k, v in summary["subsets"].items()]
    lines.append("  metric ranges (measured, else nominal):")
    lines += [f"    {k:<20} {v['min']:>12.4g} .. {v['max']:<12.4g}" for k, v in summary["metrics"].items()]
    return "\n".join(lines)
