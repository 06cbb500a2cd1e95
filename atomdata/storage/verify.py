"""Integrity checks of split files and dataset folders: ``atomdata validate``, evaluation, publishing, loading.

One verification for every reader whose output must be trusted: :func:`verify_split` runs the
checks of ``atomdata validate --quick`` on one split (structure and label arrays, and the
SHA-256 and image count listed for it in a ``manifest.json`` beside it); the evaluator calls it
before scoring, so a damaged or changed split file is refused instead of scored.
:func:`verify_dataset` runs the same checks on every split of a dataset folder. Both always
hash the whole file: nothing here trusts a file's size or modification time.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from atomdata.schema import SplitInfo
from atomdata.storage.files import sha256_file
from atomdata.storage.format import SplitFormatError
from atomdata.storage.manifest import MANIFEST_NAME, read_manifest
from atomdata.storage.paths import member_path
from atomdata.storage.reader import SplitFile

__all__ = ["validate_path", "verify_dataset", "verify_split", "check_manifest_entry"]


def _hash_against(path: Path, info: SplitInfo, manifest_path: Path) -> str:
    """SHA-256 of ``path``; raises when it differs from the manifest's entry."""
    digest = sha256_file(path)
    if digest != info.sha256:
        raise SplitFormatError(
            f"{path}: sha256 {digest} differs from the manifest's {info.sha256} ({manifest_path}); "
            "the file is corrupt or from another version: rebuild or re-fetch it"
        )
    return digest


def _count_against(split: SplitFile, info: SplitInfo) -> None:
    if len(split) != info.n_images:
        raise SplitFormatError(f"{split.path}: {len(split)} images but the manifest says {info.n_images}")


def check_manifest_entry(path) -> Optional[SplitInfo]:
    """If a ``manifest.json`` beside ``path`` lists it, check its SHA-256 and return its entry; else None.

    Reads only the manifest and the file's bytes -- nothing of the file is parsed -- so a changed
    or damaged file is refused before the HDF5 library sees it (a deliberately damaged HDF5 file
    can make the library hang). Raises :class:`SplitFormatError` on a mismatch or an invalid manifest.
    """
    p = Path(path)
    manifest_path = p.parent / MANIFEST_NAME
    if not manifest_path.is_file():
        return None
    manifest = read_manifest(manifest_path)
    for info in manifest.splits.values():
        if info.file == p.name:
            _hash_against(p, info, manifest_path)
            return info
    return None


def verify_split(split, *, deep: bool = False, opener=None):
    """The checks of ``atomdata validate [--quick]`` on one split; returns the split, opened.

    The one verification every reader of scores uses (``atomdata evaluate``,
    :func:`atomdata.evaluation.score_split`): when a ``manifest.json`` beside the file lists it,
    the file's SHA-256 is compared first (:func:`check_manifest_entry`, before anything is
    parsed), then the file is opened and its structure and label arrays are checked
    (:meth:`SplitFile.validate`), and its image count compared with the manifest.

    Parameters
    ----------
    split : path-like or SplitLike
        A split file, or an open reader. Readers other than :class:`SplitFile` (the Wei file,
        third-party ``SplitLike`` objects) are checked when they are opened.
    deep : bool
        Also read every record and image (see :meth:`SplitFile.validate`).
    opener : callable, optional
        Opens a path (default :class:`SplitFile`; the resolver passes one that also reads Wei files).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    SplitFormatError
        The file is damaged (structure, label offsets, species codes, positions), or a
        ``manifest.json`` beside it lists it with another SHA-256 or image count, or that
        manifest is invalid.
    """
    if isinstance(split, (str, os.PathLike)):
        path = Path(split)
        if not path.is_file():
            raise FileNotFoundError(f"split file not found: {path}")
        info = check_manifest_entry(path)
        split = (opener or SplitFile)(path)
    else:
        path = getattr(split, "path", None)
        info = check_manifest_entry(path) if isinstance(path, (str, os.PathLike)) else None
    if isinstance(split, SplitFile):
        split.validate(deep=deep)
    if info is not None and len(split) != info.n_images:
        raise SplitFormatError(f"{path}: {len(split)} images but the manifest says {info.n_images}")
    return split


def validate_path(path, *, deep: bool = True) -> list[str]:
    """Validate a split file or a dataset folder; return a list of what was checked.

    A folder must hold ``manifest.json``; every split it lists is checked for
    existence, SHA-256 and image count, then validated (:meth:`SplitFile.validate`).
    A file is validated and, when a ``manifest.json`` beside it lists it, checked
    against that manifest (:func:`verify_split`).

    Raises
    ------
    FileNotFoundError
        The path or a listed split file does not exist.
    SplitFormatError
        A file is corrupt, of a wrong version, or its checksum differs from the manifest.
    UnsafePathError
        The manifest names a file outside the folder (``..``, an absolute path, a link out).
    """
    p = Path(path)
    if p.is_dir():
        manifest = read_manifest(p)
        done = [f"{p / MANIFEST_NAME}: manifest {manifest.name} {manifest.version} is valid"]
        for f in verify_dataset(p, deep=deep):
            done.append(f"{f['path']}: sha256 ok, {f['n_images']} images valid")
        return done
    if not p.exists():
        raise FileNotFoundError(f"split file not found: {p}")
    s = verify_split(p, deep=deep)
    manifest_path = p.parent / MANIFEST_NAME
    listed = manifest_path.is_file() and any(i.file == p.name for i in read_manifest(manifest_path).splits.values())
    done = [f"{p}: sha256 matches {p.parent / MANIFEST_NAME}"] if listed else []
    return done + [f"{p}: {len(s)} images valid (split {s.split!r}, schema {s.schema_version})"]


def verify_dataset(folder, *, deep: bool = True, manifest=None) -> list[dict]:
    """Check every split file listed in ``folder/manifest.json``: present, SHA-256, image count, structure.

    Returns one dict per split (``split``, ``file``, ``path``, ``sha256``,
    ``size_bytes``, ``n_images``). ``deep=True`` also validates every record
    and image (see :meth:`SplitFile.validate`). ``manifest``: the manifest already read.

    Raises
    ------
    FileNotFoundError
        A listed split file is missing.
    SplitFormatError
        A checksum differs from the manifest (both hashes named), a file is
        invalid, or its image count differs from the manifest.
    UnsafePathError
        The manifest names a file outside the folder.
    """
    folder = Path(folder)
    manifest = manifest if manifest is not None else read_manifest(folder)
    out = []
    for name, info in manifest.splits.items():
        f = member_path(folder, info.file, what=f"split {name!r} file")
        if not f.is_file():
            raise FileNotFoundError(f"split {name!r} lists {info.file} but {f} does not exist")
        digest = _hash_against(f, info, folder / MANIFEST_NAME)
        with SplitFile(f) as s:
            _count_against(s, info)
            s.validate(deep=deep)
        out.append({"split": name, "file": info.file, "path": f, "sha256": digest,
                    "size_bytes": f.stat().st_size, "n_images": info.n_images})
    return out
