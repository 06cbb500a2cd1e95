"""Reading and writing a dataset folder's ``manifest.json`` (atomically)."""
from __future__ import annotations

from pathlib import Path

from atomdata.schema import DatasetManifest
from atomdata.storage.files import atomic_path
from atomdata.storage.format import SplitFormatError

__all__ = ["MANIFEST_NAME", "read_manifest", "write_manifest"]

MANIFEST_NAME = "manifest.json"


def write_manifest(directory, manifest: DatasetManifest) -> Path:
    """Write ``manifest.json`` into ``directory`` atomically."""
    path = Path(directory) / MANIFEST_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(manifest.model_dump_json(indent=2) + "\n")
    return path


def read_manifest(directory_or_file) -> DatasetManifest:
    """Read and validate a ``manifest.json`` (a folder holding one, or the file itself)."""
    p = Path(directory_or_file)
    if p.is_dir():
        p = p / MANIFEST_NAME
    if not p.exists():
        raise FileNotFoundError(f"no {MANIFEST_NAME} at {p}")
    try:
        return DatasetManifest.model_validate_json(p.read_text())
    except ValueError as e:
        raise SplitFormatError(f"{p}: invalid manifest: {e}") from e
