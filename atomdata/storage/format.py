"""One HDF5 file per split: writing (atomic, streaming), reading (lazy, random access), validation.

File layout (``FORMAT_NAME = "atomdata-split"``, ``FORMAT_VERSION = 1``)
-----------------------------------------------------------------------
Root attributes: ``format``, ``format_version``, ``schema_version``, ``dataset_name``,
``dataset_version``, ``split``, ``n_images``, ``species_names`` (JSON list), ``created_by``.

``images/<H>x<W>``
    ``(n, H, W)`` images of one shape, chunked one image per chunk, compressed
    (gzip + shuffle by default); attribute ``units`` = ``"counts"``.
``image_group``, ``image_row``
    ``(N,)`` which ``images/<H>x<W>`` dataset (index into the root attribute
    ``image_groups``) and which row holds image ``i``.
``columns/xy``, ``columns/offsets``, ``columns/species``, ``columns/target``
    Column labels in CSR form: the columns of image ``i`` are rows
    ``offsets[i]:offsets[i+1]`` of ``xy`` ((M, 2) float64, (x, y) in pixels,
    x = column index, y = row index, origin at the centre of the top-left
    pixel), ``species`` (M,) uint16 codes into ``species_names``, ``target`` (M,) bool.
``arrays/<name>/<H>x<W>`` (optional)
    Per-image label arrays stored beside the images (e.g. segmentation masks, or a float
    raw frame beside an 8-bit image), ``(n, H, W)`` with the same rows as
    ``images/<H>x<W>`` and one chunk per image; their names are listed in the root
    attribute ``array_names`` (JSON), which only files with arrays carry.
``records``
    ``(N,)`` UTF-8 JSON of each :class:`~atomdata.schema.ImageRecord` without its columns.
``image_id``, ``subset``, ``pixel_size_A``
    ``(N,)`` copies of those record fields for fast filtering without parsing JSON.

Files are written to a temporary name in the destination folder and renamed
into place only once complete, so an interrupted write never leaves a file
that validates.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from atomdata.schema import ColumnSet, ImageRecord

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "REQUIRED_DATASETS", "SplitFormatError", "SplitLike"]

FORMAT_NAME = "atomdata-split"
FORMAT_VERSION = 1

#: Datasets every split file holds (besides ``images/<H>x<W>``).
REQUIRED_DATASETS = (
    "records",
    "image_id",
    "subset",
    "pixel_size_A",
    "image_group",
    "image_row",
    "columns/xy",
    "columns/offsets",
    "columns/species",
    "columns/target",
)


class SplitFormatError(ValueError):
    """A split file is missing, corrupt, truncated or of an unsupported version."""


@runtime_checkable
class SplitLike(Protocol):
    """What every split reader offers (atomdata's own files, the original Wei dataset, ...).

    Torch datasets, models and the evaluator accept any object with these
    members (:class:`~atomdata.storage.reader.SplitSequence` gives a reader
    :meth:`image_shape` and :meth:`metadata` from its records). Positions from
    :meth:`columns` are (x, y) in pixels (x = column index, y = row index, origin
    at the centre of the top-left pixel). The object must be picklable and open
    its file lazily (once per process).
    """

    def __len__(self) -> int: ...

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` (H, W), indexed ``image[y, x]``."""

    def columns(self, i: int) -> ColumnSet:
        """Labelled columns of image ``i``."""

    def record(self, i: int) -> ImageRecord:
        """Full record of image ``i`` (metadata and columns), validated."""

    def metadata(self, i: int) -> dict:
        """Record of image ``i`` as plain JSON data without its columns (not validated: cheap)."""

    def image_shape(self, i: int) -> tuple[int, int]:
        """Shape ``(H, W)`` [px] of image ``i``, without reading its pixels."""

    def index(self, image_id: str) -> int:
        """Index of an image id (``KeyError`` if absent)."""

    @property
    def image_ids(self) -> list[str]: ...

    @property
    def subsets(self) -> np.ndarray: ...

    @property
    def pixel_sizes_A(self) -> np.ndarray: ...
