"""Read the original Wei et al. benchmark file (``wei_atom.h5``) as an atomdata split.

The published dataset (Foundry ``foundry_wei_atom_locating_benchmark_v1.1``, DOI
10.18126/e73h-3w6n) is one HDF5 file with

``imgs/<name>``
    one image per member, (H, W), indexed ``image[y, x]``;
``raw/<name>``
    the raw image of the same name (optional here);
``coords/<name>``
    (N, 2) labelled column positions, column 0 = x, column 1 = y, in pixels
    (x = column index, y = row index, origin at the centre of the top-left
    pixel -- the convention atomdata uses everywhere);
``metadata``
    a pandas frame written with ``to_hdf(..., format="table")`` (a ``table``
    compound dataset and an ``_i_table`` index group), one row per image. This
    layout is inferred from the published file listing; files in another
    layout are refused with :class:`WeiFormatError` saying what was found.

:func:`open_wei` returns a :class:`WeiSplit`, which offers the same interface
as :class:`atomdata.storage.SplitFile` (``len``, ``image(i)``, ``columns(i)``,
``record(i)``, ``image_ids``, ``pixel_sizes_A``, ...), so the torch datasets,
the models and the evaluator accept it unchanged.

How the metadata maps to records
--------------------------------
Column names are matched case- and punctuation-insensitively, with the unit
in parentheses read from the name when present ("pixel size (pm)",
"PSNR (dB)"):

=====================  ===========================================  =========
metadata column        record field                                 unit
=====================  ===========================================  =========
pixel size             ``quality.pixel_size_A`` (pm / 100)          pm -> Å
contrast               ``quality.contrast.nominal``                 -
PSNR                   ``quality.psnr_db.nominal``                  dB
resolution             ``quality.resolution_pm.nominal``            pm
dose                   ``quality.dose_e_per_A2.nominal``            e-/Å²
flyback error          ``quality.flyback_error_px.nominal``         px
random drift           ``quality.random_drift.nominal``             -
atoms/100px            ``quality.atoms_per_100px.nominal``          -
material/orientation   ``lattice.formula``/``material``/``zone_axis``
space group            ``lattice.space_group``
type                   ``provenance.kind`` (simulated/experimental)
=====================  ===========================================  =========

Every other column (peak intensity, probe current, ...) and every value the
schema rejects is kept in ``record.extra["wei_metadata"]`` /
``record.extra["wei_invalid"]`` -- nothing is dropped. The original member
name is in ``record.extra["wei_name"]``. Columns are all scoring targets with
species ``"column"`` (the file does not label species).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

import h5py
import numpy as np

from atomdata.schema import ColumnSet, ImageRecord, check_pixel_size
from atomdata.sources.wei._pytables import PandasTableError, read_pandas_table
from atomdata.sources.wei.metadata import WEI_DOI, WEI_SOURCE_ID, WeiMetadata
from atomdata.storage import LazyH5, SplitFormatError, SplitSequence

__all__ = [
    "WEI_SOURCE_ID",
    "WEI_DOI",
    "WEI_SPECIES",
    "WeiFormatError",
    "WeiSplit",
    "open_wei",
]

#: Species name given to every column of the Wei dataset (it does not label species).
WEI_SPECIES = "column"

class WeiFormatError(SplitFormatError):
    """A file is not in the layout of the published Wei benchmark (or is inconsistent)."""


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


_ID_BAD = re.compile(r"[^A-Za-z0-9_.:\-/]")


def _image_id(name: str, used: set) -> str:
    base = _ID_BAD.sub("_", name)
    if not base or not base[0].isalnum():
        base = f"wei_{base}"
    out, k = base, 1
    while out in used:
        out, k = f"{base}-{k}", k + 1
    used.add(out)
    return out


class WeiSplit(LazyH5, SplitSequence):
    """The original Wei benchmark file read as an atomdata split (lazy, picklable).

    Parameters
    ----------
    path : path-like
        The ``wei_atom.h5`` file (or any file in its layout).
    split : str, default "train"
        Split name given to every record (the published Foundry entry lists
        the whole file as one ``train`` split).
    match : {"name", "order"}, default "name"
        How metadata rows are paired with images: by name (the frame's index
        or a name-like column equals the image's member name) or, with
        ``"order"``, row ``k`` with the ``k``-th image in natural name order
        (``img2`` before ``img10``) -- use only when you know the rows follow
        that order.
    pixel_size_A : float, optional
        Pixel size [Å/px] used for images whose metadata has no pixel size.
        ``None`` (default): such images raise :class:`WeiFormatError`.

    Notes
    -----
    Positions from :meth:`columns` are (x, y) in pixels (x = column index, y =
    row index, origin at the centre of the top-left pixel), as stored in the
    file. Opening reads only the metadata table and the member names; each
    :meth:`image` call reads one image. The HDF5 file is opened once per
    process, so the object can be handed to DataLoader workers.

    Examples
    --------
    >>> split = open_wei("wei_atom.h5")            # doctest: +SKIP
    >>> record, image = split[0]                  # doctest: +SKIP
    >>> record.quality.pixel_size_A, record.columns.target_xy.shape   # doctest: +SKIP
    (0.1, (212, 2))
    """

    dataset_name = "wei_atom_locating"
    dataset_version = "1.1.0"
    source_id = WEI_SOURCE_ID
    doi = WEI_DOI

    def __init__(self, path, *, split: str = "train", match: Literal["name", "order"] = "name",
                 pixel_size_A: Optional[float] = None):
        if match not in ("name", "order"):
            raise ValueError(f"match must be 'name' or 'order', got {match!r}")
        if pixel_size_A is not None:
            pixel_size_A = check_pixel_size(pixel_size_A)
        self.path = Path(path)
        self.split = split
        self.match = match
        self.default_pixel_size_A = pixel_size_A
        self._f: Optional[h5py.File] = None
        self._pid: Optional[int] = None
        self._load_index()

    # -- pickling / lazy open ------------------------------------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_f"] = None
        state["_pid"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    # -- layout check and index ----------------------------------------------------------
    def _fail(self, what: str):
        raise WeiFormatError(f"{self.path}: {what}")

    def _load_index(self) -> None:
        if not self.path.exists():
            raise FileNotFoundError(f"Wei dataset file not found: {self.path}")
        try:
            f = self.h5
        except OSError as e:
            self._fail(f"not a readable HDF5 file (truncated or corrupt?): {e}")
        expected = "groups 'imgs', 'coords' (one member per image) and 'metadata' (a pandas table-format frame)"
        missing = [g for g in ("imgs", "coords", "metadata") if not isinstance(f.get(g), h5py.Group)]
        if missing:
            hint = ""
            if f.attrs.get("format") == "atomdata-split":
                hint = "; this is an atomdata split file: open it with atomdata.open_split or atomdata.SplitFile"
            self._fail(
                f"not in the Wei benchmark layout: missing group(s) {missing} (top-level members: "
                f"{sorted(f.keys())}); expected {expected}{hint}"
            )
        names = sorted(f["imgs"].keys(), key=_natural_key)
        coord_names = set(f["coords"].keys())
        if set(names) != coord_names:
            only_i = sorted(set(names) - coord_names, key=_natural_key)[:5]
            only_c = sorted(coord_names - set(names), key=_natural_key)[:5]
            self._fail(
                f"'imgs' and 'coords' members differ: images without coords {only_i}, coords without "
                f"images {only_c} (first 5 each); every image needs a coords member of the same name"
            )
        try:
            index, rows = read_pandas_table(f["metadata"])
        except PandasTableError as e:
            self._fail(f"cannot read the metadata table: {e}")
        self.meta = WeiMetadata(names, index, rows, match=self.match, default_pixel_size_A=self.default_pixel_size_A,
                                fail=self._fail)
        self.metadata_columns = self.meta.metadata_columns
        self._names = names
        used: set = set()
        self._ids = [_image_id(n, used) for n in names]
        self._position = {k: i for i, k in enumerate(self._ids)}
        self._pixel = np.array([self.meta.pixel_size_A(i) for i in range(len(names))], dtype=np.float64)

    # -- SplitLike interface ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"WeiSplit({str(self.path)!r}, split={self.split!r}, n_images={len(self)}, source={WEI_SOURCE_ID})"

    @property
    def image_ids(self) -> list[str]:
        """Image ids (the member names, made valid ids), in natural name order."""
        return list(self._ids)

    @property
    def names(self) -> list[str]:
        """Original member names in the file, in the same order as :attr:`image_ids`."""
        return list(self._names)

    @property
    def pixel_sizes_A(self) -> np.ndarray:
        """(N,) pixel sizes [Å/px]."""
        return self._pixel

    @property
    def subsets(self) -> np.ndarray:
        """(N,) subset names ``<material>_<sim|exp>``, e.g. ``'ws2_sim'``, ``'sto_exp'``."""
        if not hasattr(self, "_subsets"):
            self._subsets = np.array([self.meta.subset(i) for i in range(len(self))], dtype=object)
        return self._subsets

    @property
    def species_names(self) -> list[str]:
        """Species names of the columns (the file labels none: one generic name)."""
        return [WEI_SPECIES]

    def index(self, image_id: str) -> int:
        """Index of an image id (or original member name); ``KeyError`` naming it if absent."""
        if image_id in self._position:
            return self._position[image_id]
        if image_id in self._names:
            return self._names.index(image_id)
        raise KeyError(f"image_id {image_id!r} is not in the Wei dataset file {self.path}")

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"image index {i} out of range for a split of {n} images")
        return int(i) % n

    def _dataset(self, group: str, i: int) -> h5py.Dataset:
        name = self._names[i]
        if group not in self.h5 or name not in self.h5[group]:
            raise KeyError(f"{self.path} has no {group}/{name}")
        ds = self.h5[group][name]
        if not isinstance(ds, h5py.Dataset):
            self._fail(f"{group}/{name} is a {type(ds).__name__}; expected a dataset")
        return ds

    def _read(self, group: str, i: int) -> np.ndarray:
        name = self._names[i]
        arr = self._dataset(group, i)[()]
        arr = np.squeeze(arr) if arr.ndim > 2 else arr
        if arr.ndim != 2:
            self._fail(f"{group}/{name} has shape {arr.shape}; expected a 2-D image (H, W)")
        return arr

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` (``imgs/<name>``) as stored, (H, W), indexed ``image[y, x]``."""
        return self._read("imgs", self._check_index(i))

    def raw(self, i: int) -> np.ndarray:
        """Raw image ``i`` (``raw/<name>``), (H, W); ``KeyError`` if the file has none."""
        return self._read("raw", self._check_index(i))

    def image_shape(self, i: int) -> tuple[int, int]:
        """Shape ``(H, W)`` [px] of image ``i`` (from the dataset header; no pixels read)."""
        return self._image_shape_dtype(self._check_index(i))[0]

    def _image_shape_dtype(self, i: int) -> tuple[tuple[int, int], np.dtype]:
        cache = self.__dict__.setdefault("_shapes", {})
        if i not in cache:
            cache[i] = self._read_shape_dtype(i)
        return cache[i]

    def _read_shape_dtype(self, i: int) -> tuple[tuple[int, int], np.dtype]:
        ds = self._dataset("imgs", i)
        shape = tuple(s for s in ds.shape if s != 1) if len(ds.shape) > 2 else tuple(ds.shape)
        if len(shape) != 2:
            self._fail(f"imgs/{self._names[i]} has shape {ds.shape}; expected a 2-D image (H, W)")
        return shape, ds.dtype

    def _coords(self, i: int) -> np.ndarray:
        name = self._names[i]
        xy = np.asarray(self._dataset("coords", i)[()], dtype=np.float64)
        if xy.size == 0:
            return np.zeros((0, 2))
        if xy.ndim != 2 or xy.shape[1] != 2:
            self._fail(f"coords/{name} has shape {xy.shape}; expected (N, 2) with columns (x, y) in pixels")
        return xy

    def _split_coords(self, i: int):
        """(inside xy, outside xy, (H, W), dtype) of image ``i``."""
        xy = self._coords(i)
        (h, w), dtype = self._image_shape_dtype(i)
        inside = (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)
        return xy[inside], xy[~inside], (h, w), dtype

    def columns(self, i: int) -> ColumnSet:
        """Labelled columns of image ``i`` inside the image; positions (x, y) in pixels.

        Columns lying outside the image (if any) are left out here and kept in
        ``record(i).extra["wei_columns_outside_xy"]``.
        """
        xy = self._split_coords(self._check_index(i))[0]
        return ColumnSet(xy, np.full(len(xy), WEI_SPECIES), np.ones(len(xy), dtype=bool))


    def record(self, i: int) -> ImageRecord:
        """The :class:`~atomdata.schema.ImageRecord` of image ``i`` built from its metadata row and coords."""
        i = self._check_index(i)
        lattice, quality, provenance, extra = self.meta.fields(i, self._pixel[i])
        xy, outside_xy, (h, w), dtype = self._split_coords(i)
        if len(outside_xy):
            extra["wei_columns_outside_xy"] = outside_xy.tolist()
        if np.dtype(dtype).kind not in "uif":
            self._fail(f"imgs/{self.names[i]} has dtype {dtype}; expected integer or float pixels")
        return ImageRecord(
            image_id=self._ids[i], split=self.split, subset=self.meta.subset(i), shape=(h, w), dtype=np.dtype(dtype).name,
            lattice=lattice, quality=quality, provenance=provenance,
            columns=ColumnSet(xy, np.full(len(xy), WEI_SPECIES), np.ones(len(xy), dtype=bool)), extra=extra,
        )


def open_wei(path, *, split: str = "train", match: Literal["name", "order"] = "name",
             pixel_size_A: Optional[float] = None) -> WeiSplit:
    """Open the original Wei benchmark file ``wei_atom.h5`` as a split. See :class:`WeiSplit`.

    Parameters
    ----------
    path : path-like
        The file (e.g. from ``atomdata.load("wei_atom_locating")`` or downloaded
        from https://data.materialsdatafacility.org/foundry/foundry_wei_atom_locating_benchmark_v1.1/wei_atom.h5).
    split, match, pixel_size_A
        See :class:`WeiSplit`.

    Returns
    -------
    WeiSplit
        A :class:`~atomdata.storage.SplitLike`: ``len``, ``image(i)`` (H, W) indexed
        ``image[y, x]``, ``columns(i)`` with positions (x, y) in pixels, ``record(i)``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    WeiFormatError
        The file is not in the Wei layout (missing groups, unreadable metadata,
        images and coords that disagree, rows that cannot be paired with images).
    """
    return WeiSplit(path, split=split, match=match, pixel_size_A=pixel_size_A)
