"""Where datasets live (the user cache folder, one folder per dataset version) and the path-safety rule.

Path safety: every name read from data (a manifest's split files, a registry's files,
dataset names and versions) becomes a path only through :func:`member_path` (or
:func:`dataset_dir`): the name must be one plain file name
(:func:`atomdata.schema.check_file_name`), and a symbolic link at that path must not lead
out of the folder. Writers never write through a symbolic link: they replace it (atomic
rename) or refuse it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from atomdata.schema import check_file_name

__all__ = ["UnsafePathError", "cache_dir", "dataset_dir", "member_path", "ensure_inside", "plain_dir"]


log = logging.getLogger(__name__)


class UnsafePathError(ValueError):
    """A name or a symbolic link would make atomdata read or write outside the folder it was given."""


def ensure_inside(path: os.PathLike | str, folder: os.PathLike | str, *, what: str = "path") -> Path:
    """``path`` unchanged if it resolves (symbolic links followed) inside ``folder``; else :class:`UnsafePathError`."""
    p = Path(path)
    base = Path(folder).resolve()
    target = p.resolve()
    if target != base and base not in target.parents:
        link = f" (a symbolic link to {target})" if p.is_symlink() else f" (it resolves to {target})"
        raise UnsafePathError(f"{what} {p}{link} is outside {base}; atomdata reads and writes only inside the "
                              "folder it was given: replace the link by the file itself")
    return p


def member_path(folder: os.PathLike | str, name: str, *, what: str = "file", drop_link: bool = False) -> Path:
    """The path of file ``name`` (read from a manifest or a registry) directly inside ``folder``.

    Raises :class:`UnsafePathError` when ``name`` is not one plain file name (absolute,
    ``..``, a separator, hidden) or when a symbolic link at that path leads out of ``folder``.
    With ``drop_link=True`` (for folders atomdata manages, such as the cache) a symbolic link
    at that path is removed instead -- the link, never its target.

    Examples
    --------
    >>> member_path("/data/bench", "test.h5").as_posix()
    '/data/bench/test.h5'
    """
    try:
        check_file_name(name, what=f"{what} name")
    except ValueError as e:
        raise UnsafePathError(f"{e} (in {folder})") from None
    p = Path(folder) / name
    if p.is_symlink():
        if drop_link:
            log.warning("removing the symbolic link %s -> %s (atomdata never reads or writes "
                                                "through links in its own folders)", p, os.readlink(p))
            p.unlink()
        else:
            ensure_inside(p, folder, what=what)
    return p


def plain_dir(path: os.PathLike | str, *, what: str = "folder") -> Path:
    """Create folder ``path`` (and parents) if needed; :class:`UnsafePathError` if it is a symbolic link.

    For folders atomdata makes inside a folder it was given (``<staging>/data``), so nothing is written
    through a link that points elsewhere.
    """
    p = Path(path)
    if p.is_symlink():
        raise UnsafePathError(f"{what} {p} is a symbolic link (to {p.resolve()}); atomdata writes only into real "
                              "folders inside the folder it was given: remove the link")
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir(root: Optional[os.PathLike | str] = None, *, create: bool = True) -> Path:
    """The atomdata cache folder.

    ``root`` if given, else the environment variable ``ATOMDATA_CACHE``, else the
    platform's user cache folder (``platformdirs.user_cache_dir("atomdata")``).
    With ``create=True`` the folder is created and an unwritable one raises
    ``PermissionError`` naming ``ATOMDATA_CACHE``; with ``create=False`` (for
    look-ups) it is only named.
    """
    if root is not None:
        path = Path(root).expanduser()
    elif os.environ.get("ATOMDATA_CACHE"):
        path = Path(os.environ["ATOMDATA_CACHE"]).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("atomdata"))
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(
            f"cannot create the atomdata cache folder {path} ({e}); set ATOMDATA_CACHE to a writable folder"
        ) from e
    if not os.access(path, os.W_OK):
        raise PermissionError(f"the atomdata cache folder {path} is not writable; set ATOMDATA_CACHE to a writable folder")
    return path


def dataset_dir(name: str, version: str, root=None, *, create: bool = True) -> Path:
    """Folder of one dataset version in the cache: ``<cache>/<name>/<version>/`` (the folder itself not created;
    ``create`` is passed to :func:`cache_dir`).

    ``name`` and ``version`` must be plain file names and the folder must stay inside the cache
    (no symbolic link out of it); otherwise :class:`UnsafePathError`.
    """
    root_dir = cache_dir(root, create=create)
    for value, what in ((name, "dataset name"), (version, "dataset version")):
        try:
            check_file_name(value, what=what)
        except ValueError as e:
            raise UnsafePathError(str(e)) from None
    folder = root_dir / name / version
    for p in (folder.parent, folder):
        if p.is_symlink():
            ensure_inside(p, root_dir, what="cache folder")
    return folder
