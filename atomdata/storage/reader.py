"""Reading split files: lazy, random access, picklable (layout: :mod:`atomdata.storage.format`)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import h5py
import numpy as np

from atomdata.schema import SCHEMA_VERSION, ColumnSet, ImageRecord
from atomdata.storage.format import FORMAT_NAME, FORMAT_VERSION, REQUIRED_DATASETS, SplitFormatError

__all__ = ["SplitFile", "LazyH5", "SplitSequence"]


class SplitSequence:
    """Sequence behaviour shared by split readers that define ``__len__``, ``record(i)`` and ``image(i)``.

    Also gives a reader the cheap accessors of :class:`~atomdata.storage.format.SplitLike`
    (:meth:`image_shape`, :meth:`metadata`) through its records; a reader that can
    answer them without building a record overrides them.
    """

    def image_shape(self, i: int) -> tuple[int, int]:
        """Shape ``(H, W)`` [px] of image ``i``."""
        return tuple(self.record(i).shape)

    def metadata(self, i: int) -> dict:
        """The record of image ``i`` as plain JSON data, without its columns."""
        return self.record(i).model_dump(mode="json", exclude={"columns"})

    def records(self) -> Iterator[ImageRecord]:
        """Iterate over all records in order."""
        for i in range(len(self)):
            yield self.record(i)

    def __getitem__(self, i: int) -> tuple[ImageRecord, np.ndarray]:
        """``(record, image)`` of image ``i``."""
        return self.record(i), self.image(i)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class LazyH5:
    """Base of readers that open one HDF5 file (``self.path``) lazily, once per process.

    A reader pickled to a DataLoader worker, or inherited through ``fork``, opens
    its own handle on first use instead of sharing the parent's.
    """

    path: Path
    _f: Optional[h5py.File] = None
    _pid: Optional[int] = None

    @property
    def h5(self) -> h5py.File:
        """The open ``h5py.File`` (opened lazily, once per process)."""
        if self._f is None or self._pid != os.getpid():
            self._f = h5py.File(self.path, "r")
            self._pid = os.getpid()
            self._opened()
        return self._f

    def _opened(self) -> None:
        """Hook called after the file was (re-)opened in this process."""

    def close(self) -> None:
        """Close the HDF5 handle (it re-opens on next access)."""
        if self._f is not None and self._pid == os.getpid():
            self._f.close()
        self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class SplitFile(LazyH5, SplitSequence):
    """Read one split file lazily: random access to images, labels and records.

    The HDF5 file is opened on first use and re-opened after the object is
    pickled or the process forks, so it is safe to hand to DataLoader workers.
    Reading image ``i`` reads one chunk; labels and ids are small arrays read
    once.

    Column positions returned by :meth:`columns` are (x, y) in pixels (x =
    column index, y = row index, origin at the centre of the top-left pixel).

    Raises
    ------
    SplitFormatError
        When the file is missing, not HDF5, truncated, of another format or an
        unsupported major schema version, or its datasets disagree in length.
    """

    #: Records read per HDF5 access by :meth:`metadata` (JSON of ~2 kB each).
    RECORD_BLOCK = 256

    def __init__(self, path):
        self.path = Path(path)
        self._f: Optional[h5py.File] = None
        self._pid: Optional[int] = None
        self._cache: dict = {}
        self._check()

    # -- pickling / lazy open ------------------------------------------------
    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._f = None
        self._pid = None
        self._cache = {}

    def _opened(self) -> None:
        self._cache = {}

    def close(self) -> None:
        """Close the HDF5 handle (it re-opens on next access)."""
        if self._f is not None and self._pid == os.getpid() and "_fd" in self._cache:
            os.close(self._cache["_fd"])
        super().close()
        self._cache = {}

    # -- validation -------------------------------------------------------------
    def _fail(self, what: str):
        raise SplitFormatError(f"{self.path}: {what}")

    def _check(self) -> None:
        if not self.path.exists():
            raise FileNotFoundError(f"split file not found: {self.path}")
        try:
            f = self.h5
        except OSError as e:
            self._fail(f"not a readable HDF5 file (truncated or corrupt?): {e}")
        a = f.attrs
        if a.get("format") != FORMAT_NAME:
            self._fail(f"not an atomdata split file (attribute format={a.get('format')!r}, expected {FORMAT_NAME!r})")
        if not a.get("complete", False):
            self._fail("the file was not completely written (no 'complete' attribute); rebuild it")
        fv = int(a.get("format_version", -1))
        if fv != FORMAT_VERSION:
            self._fail(f"format_version {fv} is not supported (this atomdata reads {FORMAT_VERSION})")
        sv = str(a.get("schema_version", ""))
        if sv.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            self._fail(
                f"schema_version {sv!r} is incompatible with this atomdata's schema {SCHEMA_VERSION!r}; "
                "upgrade atomdata or fetch a matching dataset version"
            )
        for name in REQUIRED_DATASETS:
            if name not in f:
                self._fail(f"missing dataset {name!r}")
        n = int(a.get("n_images", -1))
        for name in ("records", "image_id", "subset", "pixel_size_A", "image_group", "image_row"):
            if f[name].shape != (n,):
                self._fail(f"dataset {name!r} has shape {f[name].shape}, expected ({n},) for n_images={n}")
        if f["columns/offsets"].shape != (n + 1,):
            self._fail(f"columns/offsets has shape {f['columns/offsets'].shape}, expected ({n + 1},)")
        m = int(f["columns/offsets"][-1])
        if f["columns/xy"].shape != (m, 2):
            self._fail(f"columns/xy has shape {f['columns/xy'].shape}, expected ({m}, 2) from offsets")
        for name in ("columns/species", "columns/target"):
            if f[name].shape != (m,):
                self._fail(f"{name} has shape {f[name].shape}, expected ({m},) from offsets")
        groups = json.loads(a["image_groups"])
        for key in groups:
            if f"images/{key}" not in f:
                self._fail(f"missing image dataset 'images/{key}'")
            for name in json.loads(a.get("array_names", "[]")):
                ds = f.get(f"arrays/{name}/{key}")
                if ds is None or ds.shape != f[f"images/{key}"].shape:
                    self._fail(f"array dataset 'arrays/{name}/{key}' is missing or does not match images/{key}")

    def validate(self, *, deep: bool = True) -> None:
        """Check the file thoroughly; raise :class:`SplitFormatError` naming the first problem.

        ``deep=True`` also reads every record through the schema, checks that
        every column lies inside its image and that every image can be read.
        """
        self._check()
        if not deep:
            return
        offsets = self._arr("columns/offsets")
        if (np.diff(offsets) < 0).any():
            self._fail("columns/offsets is not non-decreasing")
        rows = self._arr("image_row")
        grp = self._arr("image_group")
        for key_i, key in enumerate(self.image_groups):
            n_rows = self.h5[f"images/{key}"].shape[0]
            sel = rows[grp == key_i]
            if len(sel) and (sel.max() >= n_rows or sel.min() < 0):
                self._fail(f"image_row points past the end of images/{key} ({n_rows} rows)")
        if len(grp) and (grp.min() < 0 or grp.max() >= len(self.image_groups)):
            self._fail("image_group points to an unknown image dataset")
        ids = self.image_ids
        if len(set(ids)) != len(ids):
            self._fail("image ids are not unique")
        for i in range(len(self)):
            try:
                rec = self.record(i)
            except Exception as e:
                self._fail(f"record {i} ({ids[i]!r}) is invalid: {e}")
            if rec.image_id != ids[i]:
                self._fail(f"record {i} has image_id {rec.image_id!r} but image_id[{i}] = {ids[i]!r}")
            try:
                img = self.image(i)
            except Exception as e:
                self._fail(f"image {i} ({ids[i]!r}) cannot be read: {e}")
            if tuple(img.shape) != tuple(rec.shape):
                self._fail(f"image {i} has shape {img.shape} but its record says {rec.shape}")

    # -- access -----------------------------------------------------------------
    def _arr(self, name: str) -> np.ndarray:
        f = self.h5
        if name not in self._cache:
            self._cache[name] = f[name][()]
        return self._cache[name]

    def __len__(self) -> int:
        if "_n" not in self._cache:
            self._cache["_n"] = int(self.h5.attrs["n_images"])
        return self._cache["_n"]

    def __repr__(self) -> str:
        return (
            f"SplitFile({str(self.path)!r}, split={self.split!r}, n_images={len(self)}, "
            f"dataset={self.dataset_name!r} {self.dataset_version})"
        )

    @property
    def split(self) -> str:
        return str(self.h5.attrs["split"])

    @property
    def dataset_name(self) -> str:
        return str(self.h5.attrs["dataset_name"])

    @property
    def dataset_version(self) -> str:
        return str(self.h5.attrs["dataset_version"])

    @property
    def schema_version(self) -> str:
        return str(self.h5.attrs["schema_version"])

    @property
    def image_groups(self) -> list[str]:
        if "_groups" not in self._cache:
            self._cache["_groups"] = json.loads(self.h5.attrs["image_groups"])
        return self._cache["_groups"]

    @property
    def species_names(self) -> list[str]:
        """Species names; ``columns/species`` codes index this list."""
        if "_species" not in self._cache:
            self._cache["_species"] = json.loads(self.h5.attrs["species_names"])
        return self._cache["_species"]

    @property
    def image_ids(self) -> list[str]:
        """Image ids in file order."""
        if "_ids" not in self._cache:
            self._cache["_ids"] = [s.decode() if isinstance(s, bytes) else s for s in self.h5["image_id"][()]]
        return self._cache["_ids"]

    @property
    def subsets(self) -> np.ndarray:
        """(N,) array of subset names, one per image."""
        if "_subsets" not in self._cache:
            self._cache["_subsets"] = np.array(
                [s.decode() if isinstance(s, bytes) else s for s in self.h5["subset"][()]], dtype=object
            )
        return self._cache["_subsets"]

    @property
    def pixel_sizes_A(self) -> np.ndarray:
        """(N,) pixel sizes [Å/px]."""
        return self._arr("pixel_size_A")

    def index(self, image_id: str) -> int:
        """Index of an image id; ``KeyError`` naming the id if absent."""
        if "_index" not in self._cache:
            self._cache["_index"] = {k: i for i, k in enumerate(self.image_ids)}
        try:
            return self._cache["_index"][image_id]
        except KeyError:
            raise KeyError(f"image_id {image_id!r} is not in split {self.split!r} of {self.path}") from None

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"image index {i} out of range for a split of {n} images")
        return i % n

    def _image_datasets(self) -> list[tuple]:
        if "_dsets" not in self._cache:
            f = self.h5
            self._cache["_dsets"] = [
                (d, d.compression is None, d.shape[1:], d.dtype)
                for d in (f[f"images/{k}"] for k in self.image_groups)
            ]
        return self._cache["_dsets"]

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as stored (H, W), indexed ``image[y, x]``. Reads one chunk.

        Uncompressed files are read with one ``pread`` at the chunk's byte offset
        (memmap-class speed); compressed ones through the HDF5 filter pipeline.
        """
        i = self._check_index(i)
        g = int(self._arr("image_group")[i])
        ds, raw, shape, dtype = self._image_datasets()[g]
        row = int(self._arr("image_row")[i])
        if raw:
            return self._read_raw_chunk(g, ds, row, shape, dtype)
        return ds[row]

    def _read_raw_chunk(self, g: int, ds, row: int, shape, dtype) -> np.ndarray:
        # Uncompressed chunk: look its byte offset up once, then read it with one pread().
        offsets = self._cache.setdefault(f"_offsets{g}", {})
        off = offsets.get(row)
        if off is None:
            off = offsets[row] = ds.id.get_chunk_info_by_coord((row, 0, 0)).byte_offset
        if "_fd" not in self._cache:
            self._cache["_fd"] = os.open(self.path, os.O_RDONLY)
        out = np.empty(shape, dtype=dtype)
        if os.preadv(self._cache["_fd"], [out], off) != out.nbytes:
            raise SplitFormatError(f"{self.path}: image chunk of row {row} is truncated")
        return out

    @property
    def array_names(self) -> list[str]:
        """Names of the per-image label arrays stored beside the images (empty for most splits)."""
        if "_array_names" not in self._cache:
            self._cache["_array_names"] = json.loads(self.h5.attrs.get("array_names", "[]"))
        return self._cache["_array_names"]

    def array(self, name: str, i: int) -> np.ndarray:
        """Per-image array ``name`` of image ``i`` (H, W), indexed ``array[y, x]``; reads one chunk."""
        if name not in self.array_names:
            raise KeyError(f"split {self.path} has no array {name!r}; its arrays: {self.array_names or 'none'}")
        i = self._check_index(i)
        key = self.image_groups[int(self._arr("image_group")[i])]
        return self.h5[f"arrays/{name}/{key}"][int(self._arr("image_row")[i])]

    def columns(self, i: int) -> ColumnSet:
        """Labelled columns of image ``i``; positions (x, y) in pixels."""
        i = self._check_index(i)
        off = self._arr("columns/offsets")
        a, b = int(off[i]), int(off[i + 1])
        names = self._cache.get("_species_arr")
        if names is None:
            names = self._cache["_species_arr"] = np.array(self.species_names, dtype=str)
        xy = self._arr("columns/xy")[a:b]
        codes = self._arr("columns/species")[a:b]
        target = self._arr("columns/target")[a:b]
        return ColumnSet(xy.copy(), names[codes] if len(codes) else np.zeros(0, str), target.copy())

    def record(self, i: int) -> ImageRecord:
        """The full :class:`ImageRecord` of image ``i`` (metadata and columns)."""
        data = self.metadata(i)
        data["columns"] = self.columns(i)
        return ImageRecord.model_validate(data)

    def metadata(self, i: int) -> dict:
        """The stored record JSON of image ``i`` (without columns), parsed but not validated: fast.

        Records are read from the file in blocks of :attr:`RECORD_BLOCK` rows (the last block is kept),
        so reading them in order costs one HDF5 read per block rather than one per image.
        """
        i = self._check_index(i)
        block = i // self.RECORD_BLOCK
        cached = self._cache.get("_records")
        if cached is None or cached[0] != block:
            a = block * self.RECORD_BLOCK
            cached = self._cache["_records"] = (block, self.h5["records"][a:a + self.RECORD_BLOCK])
        raw = cached[1][i - block * self.RECORD_BLOCK]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)

    def image_shape(self, i: int) -> tuple[int, int]:
        """Shape ``(H, W)`` [px] of image ``i``, from its image dataset (no pixels read)."""
        i = self._check_index(i)
        return tuple(self._image_datasets()[int(self._arr("image_group")[i])][2])

    def label_arrays(self) -> dict[str, np.ndarray]:
        """The split's column labels in CSR form, read once: ``offsets`` (N + 1,), ``xy`` (M, 2) (x, y) [px],
        ``species`` (M,) codes into :attr:`species_names`, ``target`` (M,) bool."""
        return {k: self._arr(f"columns/{k}") for k in ("offsets", "xy", "species", "target")}
