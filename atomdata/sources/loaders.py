"""Load a registered dataset version: local cache, then Foundry, then HTTPS, then a local build.

:func:`load` resolves ``(name, version)`` in the registry (:mod:`atomdata.sources.registry`),
makes sure the cache folder ``<cache>/<name>/<version>/`` holds the registered bytes,
and returns that folder, or one split opened for reading.

Sources, tried in the order given by ``sources`` (default all four, in this order):

``"cache"``
    The files already in the cache folder, checked against the registry.
``"foundry"``
    foundry-ml (``pip install 'atomdata[foundry]'``), through
    ``atomdata.sources.foundry.fetch_with_foundry``; skipped when foundry-ml is not installed or
    not authorised, or the version is not published.
``"https"``
    Plain HTTPS from the registry URLs (the MDF public URL pattern) with
    :func:`atomdata.sources.download.download`: resumable, checksummed, atomic.
``"build"``
    For atomdata's own datasets only: the registry's build recipe (``atomdata.build:build_dataset``)
    writes the version locally. This needs no network and is the default path for
    versions not yet published.

Each source that is skipped or fails is logged (logger ``atomdata.sources.loaders``) with the
reason, and the next one is tried; if none succeeds, :class:`DatasetUnavailableError`
lists every source with its reason.

Integrity: every file is checked against the registry's SHA-256 (and size). When the
registry has no checksum -- a version not published yet -- split files are checked
against the ``manifest.json`` next to them; the original Wei file, whose checksum is not
known, is checked by structure (its HDF5 groups) instead. A local build of a version whose
checksums are registered must reproduce the registered split files byte for byte; its
``manifest.json`` may differ only in its creation time. After a file has been hashed
once, its size and modification time are recorded in ``<folder>/.verified.json`` and
later loads re-hash it only if either changed.

Positions in the returned splits are (x, y) in pixels (x = column index, y = row index,
origin at the centre of the top-left pixel).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

from atomdata.sources.download import ChecksumError, DownloadError, download, verify_file
from atomdata.sources.registry import DEFAULT_DATASET, DatasetVersion, Registry, RegistryFile, load_registry
from atomdata.storage import MANIFEST_NAME, SplitFormatError, dataset_dir, read_manifest

__all__ = ["SOURCES", "DatasetUnavailableError", "load", "check_wei_layout"]

log = logging.getLogger(__name__)

#: Every source, in the default resolution order.
SOURCES = ("cache", "foundry", "https", "build")
_STAMPS = ".verified.json"


class DatasetUnavailableError(FileNotFoundError):
    """No source could provide a dataset version; the message lists each source's reason."""


class _Skip(Exception):
    """A source that does not apply (not installed, not published, nothing cached)."""


def load(
    name: str = DEFAULT_DATASET,
    version: Optional[str] = None,
    split: Optional[str] = None,
    *,
    cache_dir: Union[None, str, os.PathLike] = None,
    sources: Sequence[str] = SOURCES,
    progress: bool = True,
    registry: Union[None, str, os.PathLike, Registry] = None,
):
    """Get a dataset version into the cache and return its folder, or one split.

    Parameters
    ----------
    name : str
        Registered dataset name (default atomdata's benchmark, ``'atomdata-benchmark'``;
        the original Wei benchmark is ``'wei_atom_locating'``).
    version : str, optional
        Exact version (``'1.0.0'``), or a prefix meaning its latest release (``'1.0'``
        -> the latest ``1.0.x``); None: the version this release of atomdata builds
        (for other datasets, their latest release). See :meth:`Registry.resolve`.
    split : str, optional
        None returns the dataset folder; a split name (``'train'``, ``'val'``, ``'test'``,
        ``'generality'``) fetches only that split (plus ``manifest.json``) and returns it
        opened: a :class:`atomdata.storage.SplitFile`, or for the Wei dataset the reader
        of ``atomdata.sources.wei.open_wei``.
    cache_dir : path, optional
        Cache root (default ``ATOMDATA_CACHE``, else the user cache folder).
    sources : sequence of str
        Sources to try, in order, from ``("cache", "foundry", "https", "build")``.
    progress : bool
        Show progress bars while downloading or building.
    registry : path or Registry, optional
        Registry to resolve versions in (default ``ATOMDATA_REGISTRY``, else the packaged one).

    Returns
    -------
    pathlib.Path or SplitLike
        The folder ``<cache>/<name>/<version>/`` when ``split`` is None, else the split.

    Raises
    ------
    atomdata.sources.registry.UnknownVersionError
        The name or version is not registered (the message lists the known ones).
    ValueError
        Unknown split (valid ones listed) or unknown source.
    DatasetUnavailableError
        No source could provide verified files (each source's reason listed).

    Examples
    --------
    >>> import atomdata
    >>> test = atomdata.load(version="1.0", split="test")       # doctest: +SKIP
    >>> folder = atomdata.load("wei_atom_locating", sources=("cache", "https"))  # doctest: +SKIP
    """
    import filelock

    bad = [s for s in sources if s not in SOURCES]
    if bad or not sources:
        raise ValueError(f"Unknown source(s) {bad or list(sources)!r}. Valid sources: {', '.join(SOURCES)}.")
    entry = load_registry(registry).resolve(name, version)
    files = entry.files_for(split)  # validates the split name
    dest = dataset_dir(entry.name, entry.version, cache_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    what = entry.label + (f" split {split!r}" if split else "")
    reasons: list[str] = []
    with filelock.FileLock(str(dest.parent / f".{entry.version}.lock")):
        for source in sources:
            try:
                _FETCH[source](entry, dest, files, progress)
                _verify_all(entry, dest, files)
            except _Skip as e:
                reasons.append(f"{source}: {e}")
                log.info("%s: skipping source %r: %s", what, source, e)
                continue
            except (DownloadError, ChecksumError, SplitFormatError, OSError, ValueError, RuntimeError) as e:
                reasons.append(f"{source}: {e}")
                log.warning("%s: source %r failed: %s; trying the next source", what, source, e)
                continue
            log.info("%s: ready in %s (source %r)", what, dest, source)
            break
        else:
            raise DatasetUnavailableError(
                f"cannot load {what}; every source failed:\n  " + "\n  ".join(reasons)
                + "\nCheck the network or the cache folder, or pass another version (`atomdata fetch --help`)."
            )
    if split is None:
        return dest
    from atomdata.sources.splitfile import open_split_file

    return open_split_file(dest / entry.split_file(split).file)


# -- verification ---------------------------------------------------------------------------
def _read_stamps(dest: Path) -> dict:
    try:
        return json.loads((dest / _STAMPS).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamps(dest: Path, stamps: dict) -> None:
    from atomdata.storage import atomic_path

    with atomic_path(dest / _STAMPS) as tmp:
        tmp.write_text(json.dumps(stamps, indent=1, sort_keys=True))


def _stamp(path: Path, ok_for: str) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ok_for": ok_for}


def check_wei_layout(path: Union[str, os.PathLike]) -> None:
    """Check that an HDF5 file has the original Wei layout (groups ``imgs``, ``coords``, ``metadata``).

    Raises
    ------
    SplitFormatError
        The file is not HDF5 or lacks one of the groups (the message names the file and what it holds).
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("imgs", "coords", "metadata") if k not in f]
            keys = sorted(f.keys())
    except OSError as e:
        raise SplitFormatError(f"{path} is not a readable HDF5 file: {e}") from e
    if missing:
        raise SplitFormatError(
            f"{path} is not in the Wei benchmark layout: missing {', '.join(missing)} (it holds {keys}); "
            "expected the groups imgs, coords and metadata"
        )


def _expected(entry: DatasetVersion, dest: Path, f: RegistryFile) -> Optional[str]:
    """SHA-256 a file must have: the registry's, else (unpublished atomdata data) the manifest's."""
    if f.sha256 is not None:
        return f.sha256
    if entry.reader == "atomdata" and f.split is not None:
        manifest = read_manifest(dest)
        info = manifest.splits.get(f.split)
        if info is None or info.file != f.file:
            raise SplitFormatError(f"{dest / MANIFEST_NAME} does not list split {f.split!r} as {f.file}")
        return info.sha256
    return None


def _verify_one(entry: DatasetVersion, dest: Path, f: RegistryFile, stamps: dict) -> None:
    path = dest / f.file
    if not path.is_file():
        raise _Skip(f"{path} is missing")
    expected = _expected(entry, dest, f)
    key = expected or "layout"
    if stamps.get(f.file) == _stamp(path, key):
        return
    if expected is not None:
        verify_file(path, sha256=expected, size_bytes=f.size_bytes)
    elif f.file == MANIFEST_NAME:
        verify_file(path, size_bytes=f.size_bytes)
    elif entry.reader == "wei":
        verify_file(path, size_bytes=f.size_bytes)
        check_wei_layout(path)
        log.info("%s: no SHA-256 is registered for %s; checked its size and layout only", entry.label, f.file)
    else:
        raise ChecksumError(f"no checksum is known for {path}")
    stamps[f.file] = _stamp(path, key)


def _verify_all(entry: DatasetVersion, dest: Path, files: list[RegistryFile]) -> None:
    stamps = _read_stamps(dest)
    try:
        if entry.reader == "atomdata":
            manifest = next((f for f in entry.files if f.file == MANIFEST_NAME), None)
            if manifest is None:
                raise SplitFormatError(f"the registry entry of {entry.label} lists no {MANIFEST_NAME}")
            _verify_one(entry, dest, manifest, stamps)
            m = read_manifest(dest)
            if (m.name, m.version) != (entry.name, entry.version):
                raise SplitFormatError(
                    f"{dest / MANIFEST_NAME} describes {m.name} {m.version}, expected {entry.label}"
                )
        for f in files:
            _verify_one(entry, dest, f, stamps)
    except (ChecksumError, SplitFormatError):
        stamps.clear()
        (dest / _STAMPS).unlink(missing_ok=True)
        raise
    finally:
        if stamps:
            _write_stamps(dest, stamps)


# -- sources ------------------------------------------------------------------------------
def _from_cache(entry: DatasetVersion, dest: Path, files, progress: bool) -> None:
    if not dest.is_dir():
        raise _Skip(f"nothing cached at {dest}")
    try:
        _verify_all(entry, dest, files)
    except (ChecksumError, SplitFormatError) as e:
        # keep the cache clean: delete files whose own bytes are wrong, so the next source replaces them
        for f in files:
            p = dest / f.file
            try:
                if f.file == MANIFEST_NAME:
                    verify_file(p, sha256=f.sha256, size_bytes=f.size_bytes)
                    read_manifest(p)
                else:
                    _verify_one(entry, dest, f, {})
            except (ChecksumError, SplitFormatError) as bad:
                if p.exists() and (f.file == MANIFEST_NAME or isinstance(bad, ChecksumError) or entry.reader == "wei"):
                    log.warning("%s: deleting the corrupt cached file %s (%s)", entry.label, p, bad)
                    p.unlink()
            except (_Skip, OSError):
                pass
        raise _Skip(f"the cached copy is not valid: {e}") from None


def _from_foundry(entry: DatasetVersion, dest: Path, files, progress: bool) -> None:
    if not entry.published or not entry.source_id:
        raise _Skip(f"{entry.label} is not published on Foundry")
    try:
        from atomdata.sources.foundry import FoundryUnavailable, fetch_with_foundry
    except ImportError as e:
        raise _Skip(f"Foundry access is not available ({e}); pip install 'atomdata[foundry]'") from None
    staging = dest.parent / f".{dest.name}.foundry"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        try:
            fetch_with_foundry(entry.source_id, staging, files=[f.file for f in files])
        except FoundryUnavailable as e:
            raise _Skip(str(e)) from None
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            got = staging / f.file
            if not got.is_file():
                raise RuntimeError(f"Foundry did not deliver {f.file} of {entry.source_id}")
            if f.sha256 is not None:
                verify_file(got, sha256=f.sha256, size_bytes=f.size_bytes)
        for f in sorted(files, key=lambda f: f.file == MANIFEST_NAME):  # manifest last
            os.replace(staging / f.file, dest / f.file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _from_https(entry: DatasetVersion, dest: Path, files, progress: bool) -> None:
    if not entry.published:
        raise _Skip(f"{entry.label} is not published yet (no public files to download)")
    for f in files:
        if f.url is None:
            raise _Skip(f"the registry has no URL for {f.file}")
        if f.sha256 is None and entry.reader == "atomdata" and f.file == MANIFEST_NAME:
            raise _Skip(f"the registry has no checksum for {f.file}, so a download could not be verified")
    for f in sorted(files, key=lambda f: f.file != MANIFEST_NAME):  # manifest first: it checks the rest
        download(f.url, dest / f.file, sha256=_expected(entry, dest, f) if f.split else f.sha256,
                 size_bytes=f.size_bytes, progress=progress)


def _from_build(entry: DatasetVersion, dest: Path, files, progress: bool) -> None:
    if entry.build is None:
        raise _Skip(f"{entry.label} has no local build recipe (only atomdata's own datasets can be built)")
    module, func = entry.build.function.split(":")
    try:
        builder = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise _Skip(f"the builder {entry.build.function} is not available: {e}") from None
    staging = dest.parent / f".{dest.name}.build"
    shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: building locally with %s into %s", entry.label, entry.build.function, staging)
    builder(out_dir=staging, progress=progress, **entry.build.options)
    m = read_manifest(staging)
    if (m.name, m.version) != (entry.name, entry.version):
        raise SplitFormatError(
            f"the build wrote {m.name} {m.version}, expected {entry.label}; the build is kept in {staging}"
        )
    for f in entry.files:
        if f.split is not None and f.sha256 is not None:
            try:
                verify_file(staging / f.file, sha256=f.sha256, size_bytes=f.size_bytes)
            except ChecksumError as e:
                raise ChecksumError(
                    f"the local build does not reproduce the released bytes of {entry.label}: {e}. "
                    f"The build is kept in {staging}; download the release instead (sources 'foundry'/'https')."
                ) from None
    stamps: dict = {}
    registered_manifest = next((f for f in entry.files if f.file == MANIFEST_NAME), None)
    dest.mkdir(parents=True, exist_ok=True)
    for p in sorted(staging.iterdir(), key=lambda p: p.name == MANIFEST_NAME):  # manifest last
        os.replace(p, dest / p.name)
    if registered_manifest is not None and registered_manifest.sha256 is not None:
        from atomdata.storage import sha256_file

        local = sha256_file(dest / MANIFEST_NAME)
        if local != registered_manifest.sha256:
            # the split files match the release byte for byte; only the manifest's creation time can differ
            released = {f.split: f.sha256 for f in entry.files if f.split}
            built = {k: v.sha256 for k, v in read_manifest(dest).splits.items()}
            if any(built.get(k) != v for k, v in released.items() if v):
                raise ChecksumError(f"{dest / MANIFEST_NAME} lists other split checksums than {entry.label}")
            log.info("%s: the local manifest.json (sha256 %s) differs from the released one only in "
                     "metadata; the split files match the release", entry.label, local)
            stamps[MANIFEST_NAME] = _stamp(dest / MANIFEST_NAME, registered_manifest.sha256)
    shutil.rmtree(staging, ignore_errors=True)
    (dest / _STAMPS).unlink(missing_ok=True)  # the files were replaced: verify them afresh
    if stamps:
        _write_stamps(dest, stamps)


_FETCH = {"cache": _from_cache, "foundry": _from_foundry, "https": _from_https, "build": _from_build}
