"""Where datasets live: the default dataset identity and the user cache folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["DEFAULT_DATASET", "DEFAULT_VERSION", "cache_dir", "dataset_dir"]

#: Name of atomdata's own benchmark dataset.
DEFAULT_DATASET = "atomdata-benchmark"
#: Version of the benchmark this release of atomdata builds and loads by default.
DEFAULT_VERSION = "1.0.0"


def cache_dir(root: Optional[os.PathLike | str] = None) -> Path:
    """The atomdata cache folder.

    ``root`` if given, else the environment variable ``ATOMDATA_CACHE``, else the
    platform's user cache folder (``platformdirs.user_cache_dir("atomdata")``).
    The folder is created; an unwritable one raises ``PermissionError`` naming
    ``ATOMDATA_CACHE``.
    """
    if root is not None:
        path = Path(root).expanduser()
    elif os.environ.get("ATOMDATA_CACHE"):
        path = Path(os.environ["ATOMDATA_CACHE"]).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("atomdata"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(
            f"cannot create the atomdata cache folder {path} ({e}); set ATOMDATA_CACHE to a writable folder"
        ) from e
    if not os.access(path, os.W_OK):
        raise PermissionError(f"the atomdata cache folder {path} is not writable; set ATOMDATA_CACHE to a writable folder")
    return path


def dataset_dir(name: str = DEFAULT_DATASET, version: str = DEFAULT_VERSION, root=None) -> Path:
    """Folder of one dataset version in the cache: ``<cache>/<name>/<version>/`` (not created)."""
    return cache_dir(root) / name / version
