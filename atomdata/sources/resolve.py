"""The one split resolver: whatever names a split becomes one :class:`~atomdata.storage.SplitLike`.

Every consumer (torch datasets, the evaluator, the reproduction, :func:`~atomdata.sources.load`
and the command line) calls :func:`open_split`. It accepts, in this order:

1. an object that already follows :class:`~atomdata.storage.SplitLike` (returned as is);
2. a path to a file: an atomdata split file (:class:`~atomdata.storage.SplitFile`) or a file
   in the original Wei layout (:func:`~atomdata.sources.wei.open_wei`), told apart by content;
3. a path to a dataset folder (``manifest.json`` + ``<split>.h5``), or to a cache root
   holding ``<name>/<version>/``;
4. a registered dataset name (``"atomdata-benchmark"``, ``"wei_atom_locating"``) or None
   (atomdata's benchmark): looked up in the cache, and fetched with
   :func:`~atomdata.sources.load` when ``download=True``.

Positions from the returned reader are (x, y) in pixels (x = column index, y = row index,
origin at the centre of the top-left pixel).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

from atomdata.sources.registry import load_registry
from atomdata.sources.splitfile import open_split_file
from atomdata.storage import MANIFEST_NAME, SplitLike, cache_dir, member_path, read_manifest, verify_split

__all__ = ["DatasetNotFoundError", "open_split", "open_split_file", "resolve_dataset", "split_path_in"]

PathLike = Union[str, os.PathLike]


class DatasetNotFoundError(FileNotFoundError):
    """The requested dataset or split is not on disk (and was not downloaded or built)."""


def _unknown(kind: str, value, valid: Sequence[str]) -> ValueError:
    return ValueError(f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(map(str, valid))}.")


def split_path_in(folder: PathLike, split: str) -> Optional[Path]:
    """The file of ``split`` in a dataset folder; None when the folder holds no dataset.

    Raises ``ValueError`` listing the valid splits when the folder holds a dataset without ``split``.
    """
    folder = Path(folder)
    if (folder / MANIFEST_NAME).is_file():
        manifest = read_manifest(folder)
        if split not in manifest.splits:
            raise _unknown("split", split, sorted(manifest.splits))
        return member_path(folder, manifest.splits[split].file, what=f"split {split!r} file")
    files = sorted(folder.glob("*.h5"))
    if not files:
        return None
    if (folder / f"{split}.h5") in files:
        return member_path(folder, f"{split}.h5", what=f"split {split!r} file")
    raise _unknown("split", split, [f.stem for f in files])


def _registered(name: str) -> bool:
    try:
        return name in load_registry().names()
    except Exception:  # an unreadable registry is reported where it is used, not here
        return False


def resolve_dataset(data: Optional[PathLike] = None, *, name: Optional[str] = None, version: Optional[str] = None,
                    sources: Optional[Sequence[str]] = None, cache: Optional[PathLike] = None,
                    progress: bool = True) -> Path:
    """The folder of a dataset version: ``data`` if given (must hold ``manifest.json``), else the cache's.

    Parameters
    ----------
    data : path-like, optional
        A dataset folder. None: the folder of ``(name, version)`` in the cache.
    name, version : str, optional
        Registered dataset and version (default atomdata's benchmark, this release's version).
    sources : sequence of str, optional
        When the folder is not ready, get it with :func:`~atomdata.sources.load` from these
        sources (e.g. ``("cache", "build")``); None: do not fetch, raise instead.
    cache : path-like, optional
        Cache root (default ``ATOMDATA_CACHE`` or the user cache).

    Raises
    ------
    DatasetNotFoundError
        The folder is missing or holds no ``manifest.json`` (the message says what to run).
    """
    if data is not None:
        p = Path(data).expanduser()
        if not (p / MANIFEST_NAME).is_file():
            what = "does not exist" if not p.exists() else f"has no {MANIFEST_NAME}"
            raise DatasetNotFoundError(
                f"{p} {what}: pass a dataset folder (manifest.json + split files), or build one with "
                f"`atomdata build --out {p}`")
        return p
    from atomdata.sources.loaders import load

    entry = load_registry().resolve(name, version)
    if sources:
        return Path(load(entry.name, entry.version, cache_dir=cache, sources=tuple(sources), progress=progress))
    folder = cache_dir(cache, create=False) / entry.name / entry.version
    if not (folder / MANIFEST_NAME).is_file():
        raise DatasetNotFoundError(
            f"Dataset {entry.label} not found in {folder}. Run `atomdata build` (or `atomdata fetch "
            f"{entry.name} --version {entry.version}`), pass download=True, or pass a dataset folder "
            "(command line: --data PATH).")
    return folder


def _open(path: Path, verify: bool) -> SplitLike:
    return verify_split(path, opener=open_split_file) if verify else open_split_file(path)


def open_split(data=None, split: str = "test", *, name: Optional[str] = None, version: Optional[str] = None,
               download: bool = False, cache: Optional[PathLike] = None, progress: bool = True,
               verify: bool = False) -> SplitLike:
    """Resolve anything that names a split to one split reader (see the module notes for what is accepted).

    Parameters
    ----------
    data : SplitLike, path-like, str or None
        An open split, a split file, a dataset folder, a cache root, a registered dataset
        name, or None for atomdata's benchmark in the cache.
    split : str
        Split name inside a dataset folder (``train``, ``val``, ``test``, ``generality``);
        ignored for a split file or an open split.
    name, version : str, optional
        Registered dataset and version looked up under a cache root or in the cache
        (default atomdata's benchmark, this release's version).
    download : bool
        Fetch the dataset with :func:`~atomdata.sources.load` when it is not on disk
        (cache, Foundry, HTTPS, then a local build).
    cache : path-like, optional
        Cache root (default ``ATOMDATA_CACHE`` or the user cache).
    progress : bool
        Progress bars while downloading or building.
    verify : bool
        Run :func:`atomdata.storage.verify_split` (the checks of ``atomdata validate --quick``,
        the manifest's SHA-256 compared before the file is parsed) on the split: what the
        evaluator does before scoring.

    Returns
    -------
    SplitLike
        A :class:`~atomdata.storage.SplitFile`, a :class:`~atomdata.sources.wei.WeiSplit`,
        or ``data`` itself.

    Raises
    ------
    DatasetNotFoundError
        Nothing on disk matches (the message says what to run).
    ValueError
        Unknown split (the valid ones listed).
    SplitFormatError
        The file is neither an atomdata split file nor a Wei file.

    Examples
    --------
    >>> import tempfile
    >>> from atomdata.build import build_dataset
    >>> folder = build_dataset(tempfile.mkdtemp(), quick=True, splits=["val"], workers=1, progress=False)
    >>> open_split(folder, "val")                                    # doctest: +ELLIPSIS
    SplitFile('.../val.h5', split='val', n_images=12, dataset='atomdata-benchmark' 1.0.0-quick)
    >>> open_split(folder / "val.h5") .split, len(open_split(folder, "val"))
    ('val', 12)
    """
    if isinstance(data, SplitLike):
        return verify_split(data) if verify else data
    if isinstance(data, str) and data and not Path(data).expanduser().exists() and os.sep not in data \
            and _registered(data):
        name, data = data, None
    if data is not None:
        p = Path(data).expanduser()
        if p.is_file():
            return _open(p, verify)
        found = split_path_in(p, split) if p.is_dir() else None
        if found is None:
            entry = load_registry().resolve(name, version)
            sub = p / entry.name / entry.version
            found = split_path_in(sub, split) if sub.is_dir() else None
            if found is None and download:  # ``p`` is a cache root to download into
                return open_split(None, split, name=entry.name, version=entry.version, download=True,
                                  cache=p, progress=progress, verify=verify)
        if found is None:
            what = "" if p.exists() else f" ({p} does not exist)"
            raise DatasetNotFoundError(
                f"Dataset not found in root='{p}' for split {split!r}{what}. Run `atomdata build` or pass "
                "download=True. Or pass a split .h5 file, a dataset folder (manifest.json + split files) or a "
                "cache root holding <name>/<version>/.")
        return _open(found, verify)
    entry = load_registry().resolve(name, version)
    if download:
        from atomdata.sources.loaders import load

        loaded = load(entry.name, entry.version, split, cache_dir=cache, progress=progress)
        return verify_split(loaded) if verify else loaded
    folder = cache_dir(cache, create=False) / entry.name / entry.version
    found = split_path_in(folder, split) if folder.is_dir() else None
    if found is None or not found.is_file():
        raise DatasetNotFoundError(
            f"Dataset {entry.label} split {split!r} not found in {folder}. Run `atomdata build` (or "
            f"`atomdata fetch {entry.name} --version {entry.version}`), pass download=True, or pass a split file "
            "or dataset folder (command line: --data PATH).")
    return _open(found, verify)
