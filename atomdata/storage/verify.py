"""Integrity checks of split files and dataset folders (``atomdata validate``, publishing, loading)."""
from __future__ import annotations

from pathlib import Path

from atomdata.storage.files import sha256_file
from atomdata.storage.format import SplitFormatError
from atomdata.storage.manifest import MANIFEST_NAME, read_manifest
from atomdata.storage.reader import SplitFile

__all__ = ["validate_path", "verify_dataset"]


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
