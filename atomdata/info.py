"""Summaries and integrity checks of split files and dataset folders (``atomdata info`` / ``validate``)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .schema import METRIC_FIELDS
from .storage import MANIFEST_NAME, SplitFile, SplitFormatError, read_manifest, sha256_file

__all__ = ["split_summary", "dataset_summary", "validate_path", "verify_dataset", "format_summary"]


def split_summary(split: SplitFile) -> dict[str, Any]:
    """Counts, subsets, species and the range of every quality metric of one split.

    Returns a JSON-serialisable dict with keys ``path``, ``split``, ``dataset``,
    ``n_images``, ``n_columns``, ``n_target_columns``, ``subsets`` (name -> count),
    ``species`` (name -> column count), ``shapes`` and ``metrics`` (name ->
    ``{"min", "max"}`` of the measured-else-nominal values; pixel size in Å/px).
    """
    f = split.h5
    offsets = f["columns/offsets"][()]
    target = f["columns/target"][()]
    codes = f["columns/species"][()]
    names = split.species_names
    species = {names[k]: int(v) for k, v in enumerate(np.bincount(codes, minlength=len(names))) if v}
    values: dict[str, list[float]] = {"pixel_size_A": []}
    values.update({m: [] for m in METRIC_FIELDS})
    for raw in f["records"][()]:
        q = json.loads(raw)["quality"]
        values["pixel_size_A"].append(q["pixel_size_A"])
        for m in METRIC_FIELDS:
            v = q[m]["measured"] if q[m]["measured"] is not None else q[m]["nominal"]
            if v is not None:
                values[m].append(v)
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
            "splits": {name: split_summary(SplitFile(p / info.file)) for name, info in manifest.splits.items()},
        }
    return split_summary(SplitFile(p))


def validate_path(path, *, deep: bool = True) -> list[str]:
    """Validate a split file or a dataset folder; return a list of what was checked.

    A folder must hold ``manifest.json``; every split it lists is checked for
    existence, size and SHA-256, then validated (schema of every record,
    columns inside images, lengths).

    Raises
    ------
    FileNotFoundError
        The path or a listed split file does not exist.
    SplitFormatError
        A file is corrupt, of a wrong version, or its checksum differs from the manifest.
    """
    p = Path(path)
    done: list[str] = []
    if p.is_dir():
        manifest = read_manifest(p)
        done.append(f"{p / MANIFEST_NAME}: manifest {manifest.name} {manifest.version} is valid")
        for f in verify_dataset(p, deep=deep):
            done.append(f"{f['path']}: sha256 ok, {f['n_images']} images valid")
        return done
    s = SplitFile(p)
    s.validate(deep=deep)
    manifest_path = p.parent / MANIFEST_NAME
    if manifest_path.exists():
        manifest = read_manifest(manifest_path)
        for info in manifest.splits.values():
            if info.file == p.name:
                digest = sha256_file(p)
                if digest != info.sha256:
                    raise SplitFormatError(
                        f"{p}: sha256 {digest} does not match {manifest_path}'s {info.sha256}"
                    )
                done.append(f"{p}: sha256 matches {manifest_path}")
    done.append(f"{p}: {len(s)} images valid (split {s.split!r}, schema {s.schema_version})")
    return done


def verify_dataset(folder, *, deep: bool = True) -> list[dict]:
    """Check every split file listed in ``folder/manifest.json``: present, SHA-256, structure, image count.

    Returns one dict per split (``split``, ``file``, ``path``, ``sha256``,
    ``size_bytes``, ``n_images``). ``deep=True`` also validates every record
    and image (see :meth:`SplitFile.validate`).

    Raises
    ------
    FileNotFoundError
        A listed split file is missing.
    SplitFormatError
        A checksum differs from the manifest (both hashes named), a file is
        invalid, or its image count differs from the manifest.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    out = []
    for name, info in manifest.splits.items():
        f = folder / info.file
        if not f.is_file():
            raise FileNotFoundError(f"split {name!r} lists {info.file} but {f} does not exist")
        digest = sha256_file(f)
        if digest != info.sha256:
            raise SplitFormatError(
                f"{f}: sha256 {digest} differs from the manifest's {info.sha256}; "
                "the file is corrupt or from another version: rebuild or re-fetch it"
            )
        with SplitFile(f) as s:
            s.validate(deep=deep)
            if len(s) != info.n_images:
                raise SplitFormatError(f"{f}: {len(s)} images but the manifest says {info.n_images}")
        out.append({"split": name, "file": info.file, "path": f, "sha256": digest,
                    "size_bytes": f.stat().st_size, "n_images": info.n_images})
    return out


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
