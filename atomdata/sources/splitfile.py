"""Opening one split file, atomdata's own format or the original Wei layout, told apart by content."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import h5py

from atomdata.storage import SplitFile, SplitFormatError, SplitLike
from atomdata.storage.format import FORMAT_NAME

__all__ = ["open_split_file"]


def open_split_file(path: Union[str, os.PathLike]) -> SplitLike:
    """Open one split file, atomdata's own format or the original Wei layout, told apart by content.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    SplitFormatError
        The file is neither (the message says what it holds).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"split file not found: {p}")
    try:
        with h5py.File(p, "r") as f:
            is_atomdata = f.attrs.get("format") == FORMAT_NAME
            is_wei = all(k in f for k in ("imgs", "coords", "metadata"))
    except OSError as e:
        raise SplitFormatError(f"{p}: not a readable HDF5 file (truncated or corrupt?): {e}") from e
    if is_atomdata:
        return SplitFile(p)
    if is_wei:
        from atomdata.sources.wei import open_wei

        return open_wei(p)
    return SplitFile(p)  # raises a SplitFormatError naming what the file lacks
