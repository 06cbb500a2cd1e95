"""Where datasets live: the user cache folder and one folder per dataset version in it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["cache_dir", "dataset_dir"]


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
    ``create`` is passed to :func:`cache_dir`)."""
    return cache_dir(root, create=create) / name / version
