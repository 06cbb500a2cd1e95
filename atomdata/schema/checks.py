"""The checks run once at every public boundary: positions, pixel sizes, images, finite numbers.

Positions are ``(x, y)`` in pixels (x = column index, y = row index, origin at
the centre of the top-left pixel); arrays of positions have shape ``(N, 2)``.
Every public function that takes positions, a pixel size or an image calls the
matching check here once; inner functions trust what they are given.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

__all__ = ["check_xy", "check_pixel_size", "check_image", "check_finite", "check_file_name", "MAX_POSITION_PX"]

#: Largest |x| or |y| [px] a position may have: far beyond any image, far below float64 overflow of
#: squared distances (positions of 1e300 px would overflow the k-d tree's distance sums).
MAX_POSITION_PX = 1e9


def check_xy(xy, name: str = "positions") -> np.ndarray:
    """Return ``xy`` as a float64 ``(N, 2)`` array of (x, y) px, or raise a clear ``ValueError``.

    Examples
    --------
    >>> check_xy([[1, 2], [3, 4]]).shape
    (2, 2)
    >>> check_xy([]).shape
    (0, 2)
    """
    a = np.asarray(xy, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 2)
    if a.ndim != 2 or a.shape[1] != 2:
        hint = " (transposed? use an (N, 2) array of (x, y) rows)" if a.ndim == 2 and a.shape[0] == 2 else ""
        raise ValueError(f"{name} must have shape (N, 2) as (x, y) px, got shape {a.shape}{hint}")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} row {i} is not finite: {a[i].tolist()} (x, y px); {int(bad.sum())} such row(s). "
            "Remove NaN/inf positions before scoring."
        )
    far = (np.abs(a) > MAX_POSITION_PX).any(axis=1)
    if far.any():
        i = int(np.flatnonzero(far)[0])
        raise ValueError(
            f"{name} row {i} is {a[i].tolist()} (x, y px): positions must lie within +-{MAX_POSITION_PX:g} px; "
            f"{int(far.sum())} such row(s). Check the units (pixels, not metres or Angstrom)."
        )
    return a


def check_pixel_size(pixel_size_A, *, name: str = "pixel_size_A") -> float:
    """Return ``pixel_size_A`` [Å/px] as a float, or raise ``ValueError`` unless it is finite and > 0.

    Examples
    --------
    >>> check_pixel_size(0.15)
    0.15
    """
    if isinstance(pixel_size_A, (str, bytes, bool)):
        raise ValueError(f"{name} must be a number in Å/px, got {pixel_size_A!r}")
    try:
        value = float(pixel_size_A)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in Å/px, got {pixel_size_A!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 [Å/px], got {pixel_size_A!r}")
    return value


def check_image(image, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as a 2-D float64 array ``image[y, x]``, or raise ``ValueError`` saying what is wrong.

    A leading axis of length 1 (``(1, H, W)``) is dropped.

    Examples
    --------
    >>> check_image(np.arange(16).reshape(4, 4)).dtype
    dtype('float64')
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array image[y, x], got shape {arr.shape}")
    if min(arr.shape) < 4:
        raise ValueError(f"{name} must be at least 4 x 4 pixels, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or mask them first")
    return arr


def check_finite(name: str, value: Optional[float]) -> Optional[float]:
    """Return ``value`` unless it is a non-finite number (None passes)."""
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def check_file_name(name, *, what: str = "file name") -> str:
    """Return ``name`` if it is safe as one file name inside a folder, else raise ``ValueError``.

    The one rule for every name read from data (a manifest's split files, a registry's
    files, dataset names and versions) that becomes a path: a single, non-empty path
    component -- no ``/`` or ``\\``, not ``.`` or ``..``, no NUL or control character, at
    most 255 bytes -- that does not start with ``.`` (hidden names are atomdata's own:
    locks, partial downloads, temporary files, verification stamps). So
    ``folder / name`` always stays directly inside ``folder``.

    Examples
    --------
    >>> check_file_name("test.h5")
    'test.h5'
    >>> check_file_name("../secret")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: file name '../secret' is not a plain file name: it contains a path separator; ...
    """
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a string, got {type(name).__name__} {name!r}")
    problem = None
    if not name:
        problem = "it is empty"
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator"
    elif name in (".", ".."):
        problem = "it names a folder, not a file"
    elif name.startswith("."):
        problem = "hidden names (starting with '.') are reserved for atomdata's own files"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "it contains a control character"
    elif len(name.encode("utf-8", "surrogatepass")) > 255:
        problem = "it is longer than 255 bytes"
    if problem:
        raise ValueError(f"{what} {name!r} is not a plain file name: {problem}; "
                         "expected a name such as 'test.h5' directly inside its folder")
    return name
