"""Opening HDF5 files that came from elsewhere (published data, uploaded predictions) safely.

An HDF5 file can point outside itself: an *external link* names an object in another file,
a dataset with *external storage* reads its bytes from any file on disk, and a *virtual
dataset* maps other files. atomdata reads only self-contained files: :func:`check_self_contained`
refuses all three (:class:`~atomdata.storage.paths.UnsafePathError`) before anything is read,
and :func:`read_whole` refuses a dataset whose declared size passes a limit before it is
decompressed (a chunked dataset of zeros of a few kB can declare gigabytes).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from atomdata.storage.files import check_size
from atomdata.storage.paths import UnsafePathError

__all__ = ["check_self_contained", "declared_bytes", "read_whole"]


def check_self_contained(f, path: Optional[os.PathLike | str] = None) -> None:
    """Raise :class:`UnsafePathError` if the open ``h5py.File`` ``f`` refers to any other file.

    Walks every link once (metadata only): external links, datasets with external storage and
    virtual datasets are refused; soft links inside the file are allowed.
    """
    import h5py

    where = path if path is not None else f.filename

    def visit(name, link):  # returns a problem (which stops the walk) or None; raising here would be garbled
        if isinstance(link, h5py.ExternalLink):
            return f"{name!r} is an external link to {link.filename}:{link.path}"
        if isinstance(link, h5py.HardLink):
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                if obj.external:
                    files = sorted({str(e[0]) for e in obj.external})
                    return f"dataset {name!r} keeps its bytes in external file(s) {files}"
                if obj.is_virtual:
                    return f"dataset {name!r} is a virtual dataset mapping other files"
        return None

    problem = f.visititems_links(visit)
    if problem is not None:
        raise UnsafePathError(f"{where}: {problem}; atomdata reads only self-contained HDF5 files")


def declared_bytes(ds) -> int:
    """Bytes a dataset holds once read (its shape times its item size; 16 bytes per variable-length item)."""
    itemsize = 16 if ds.dtype.kind == "O" else ds.dtype.itemsize
    return int(np.prod(ds.shape, dtype=np.float64) * itemsize) if ds.shape is not None else 0


def read_whole(ds, *, limit_bytes: int, what: Optional[str] = None) -> np.ndarray:
    """``ds[()]`` after checking that its declared size is at most ``limit_bytes`` (:class:`SizeLimitError`)."""
    check_size(declared_bytes(ds), limit_bytes=limit_bytes, what=what or f"HDF5 dataset {ds.name!r}")
    return ds[()]
