"""Reading split files: lazy, random access, picklable (layout: :mod:`atomdata.storage.format`)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import h5py
import numpy as np

from atomdata.schema import MAX_POSITION_PX, SCHEMA_VERSION, ColumnSet, ImageRecord
from atomdata.storage.files import SizeLimitError
from atomdata.storage.format import FORMAT_NAME, FORMAT_VERSION, REQUIRED_DATASETS, SplitFormatError
from atomdata.storage.hdf5 import check_self_contained, read_whole
from atomdata.storage.paths import UnsafePathError

__all__ = ["SplitFile", "LazyH5", "SplitSequence", "MAX_ARRAY_BYTES"]

#: Largest label or index array of a split file read whole [bytes] (the benchmark's are a few MB).
MAX_ARRAY_BYTES = 2 << 30
#: Integer dtype kinds (signed, unsigned).
_INT = "iu"


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
    its own handle on first use instead of sharing the parent's. Every file is checked to be
    self-contained when opened (no external links, external storage or virtual datasets:
    :func:`~atomdata.storage.hdf5.check_self_contained`).
    """

    path: Path
    _f: Optional[h5py.File] = None
    _pid: Optional[int] = None

    @property
    def h5(self) -> h5py.File:
        """The open ``h5py.File`` (opened lazily, once per process)."""
        if self._f is None or self._pid != os.getpid():
            f = h5py.File(self.path, "r")
            try:
                check_self_contained(f, self.path)
            except UnsafePathError:
                f.close()
                raise
            except Exception as e:  # walking a damaged file's links fails in many ways
                f.close()
                raise SplitFormatError(f"{self.path}: damaged HDF5 file ({type(e).__name__}: {e})") from None
            self._f = f
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
        self._guard(self._check_structure, f)

    def _guard(self, check, *args) -> None:
        """Run ``check``; any error the HDF5 library raises on a damaged file becomes a SplitFormatError."""
        try:
            check(*args)
        except (SplitFormatError, UnsafePathError, SizeLimitError):
            raise
        except Exception as e:  # h5py raises OSError, KeyError, RuntimeError, SystemError, ... on damaged files
            self._fail(f"damaged file ({type(e).__name__}: {e}); fetch or build it again")

    def _check_structure(self, f) -> None:
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
        for key in ("split", "dataset_name", "dataset_version", "n_images", "image_groups", "species_names"):
            if key not in a:
                self._fail(f"missing root attribute {key!r}")
            a[key]  # noqa: B018 - read once here, so a damaged attribute fails with a clear message
        for name in REQUIRED_DATASETS:
            if not isinstance(f.get(name), h5py.Dataset):
                self._fail(f"missing dataset {name!r}")
        n = int(a.get("n_images", -1))
        for name in ("records", "image_id", "subset", "pixel_size_A", "image_group", "image_row"):
            if f[name].shape != (n,):
                self._fail(f"dataset {name!r} has shape {f[name].shape}, expected ({n},) for n_images={n}")
        kinds = {"image_group": _INT, "image_row": _INT, "columns/offsets": _INT, "columns/species": _INT,
                 "columns/xy": "f", "columns/target": "b", "pixel_size_A": "f"}
        for name, allowed in kinds.items():
            if f[name].dtype.kind not in allowed:
                self._fail(f"dataset {name!r} has dtype {f[name].dtype}, expected kind {allowed!r}")
        if f["columns/offsets"].shape != (n + 1,):
            self._fail(f"columns/offsets has shape {f['columns/offsets'].shape}, expected ({n + 1},)")
        m = int(f["columns/offsets"][-1])
        if f["columns/xy"].shape != (m, 2):
            self._fail(f"columns/xy has shape {f['columns/xy'].shape}, expected ({m}, 2) from offsets")
        for name in ("columns/species", "columns/target"):
            if f[name].shape != (m,):
                self._fail(f"{name} has shape {f[name].shape}, expected ({m},) from offsets")
        groups = json.loads(a["image_groups"])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            self._fail(f"attribute image_groups must be a JSON list of names, got {a['image_groups']!r}")
        names = json.loads(a["species_names"])
        if not isinstance(names, list) or not all(isinstance(g, str) for g in names):
            self._fail(f"attribute species_names must be a JSON list of names, got {a['species_names']!r}")
        for key in groups:
            ds = f.get(f"images/{key}")
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 3:
                self._fail(f"missing image dataset 'images/{key}' (n, H, W)")
            if ds.dtype.kind not in "iuf":
                self._fail(f"images/{key} has dtype {ds.dtype}; images are integer or float")
            for name in json.loads(a.get("array_names", "[]")):
                arr = f.get(f"arrays/{name}/{key}")
                if not isinstance(arr, h5py.Dataset) or arr.shape != ds.shape:
                    self._fail(f"array dataset 'arrays/{name}/{key}' is missing or does not match images/{key}")

    def validate(self, *, deep: bool = True) -> None:
        """Check the file; raise :class:`SplitFormatError` naming the first problem.

        Always (``atomdata validate --quick``, and before every evaluation): the structure
        (:meth:`_check`) and the label arrays, read whole -- column offsets start at 0 and never
        decrease, every ``image_row``/``image_group`` points to a stored image, every species
        code names a species, every position is finite and inside its image, pixel sizes
        are finite and > 0, image ids are unique. ``deep=True`` also reads every record
        through the schema and every image, checking its shape and dtype against the record and
        that float images hold no NaN or infinite pixel.
        """
        self._check()
        self._guard(self._check_labels)
        if deep:
            self._guard(self._check_records)

    def _check_labels(self) -> None:
        offsets = self._arr("columns/offsets")
        if offsets[0] != 0 or (np.diff(offsets) < 0).any():
            self._fail("columns/offsets does not start at 0 or is not non-decreasing (the labels would be "
                       "attributed to the wrong images)")
        rows = self._arr("image_row")
        grp = self._arr("image_group")
        groups = self.image_groups
        if len(grp) and (grp.min() < 0 or grp.max() >= len(groups)):
            self._fail("image_group points to an unknown image dataset")
        shapes = np.array([self.h5[f"images/{k}"].shape for k in groups], dtype=np.int64).reshape(-1, 3)
        if len(rows) and ((rows < 0).any() or (rows >= shapes[grp, 0]).any()):
            self._fail("image_row points past the end of its images/<H>x<W> dataset")
        codes = self._arr("columns/species")
        n_names = len(self.species_names)
        if len(codes) and int(codes.max()) >= n_names:
            self._fail(f"columns/species holds code {int(codes.max())} but the file names only {n_names} species")
        xy = self._arr("columns/xy")
        if len(xy):
            if not np.isfinite(xy).all() or (np.abs(xy) > MAX_POSITION_PX).any():
                self._fail("columns/xy holds non-finite or absurd positions")
            counts = np.diff(offsets)
            hw = np.repeat(shapes[grp, 1:], counts, axis=0)
            inside = (xy >= -0.5) & (xy < hw[:, ::-1] - 0.5)
            if not inside.all():
                k = int(np.flatnonzero(~inside.all(axis=1))[0])
                i = int(np.searchsorted(offsets, k, side="right") - 1)
                self._fail(f"column {k} at (x, y) = {xy[k].tolist()} px lies outside image {i} of shape "
                           f"{tuple(hw[k])}")
        pixel = self._arr("pixel_size_A")
        if len(pixel) and not (np.isfinite(pixel) & (pixel > 0)).all():
            self._fail("pixel_size_A holds values that are not finite numbers > 0 [Å/px]")
        ids = self.image_ids
        if len(set(ids)) != len(ids):
            self._fail("image ids are not unique")

    def _check_records(self) -> None:
        ids = self.image_ids
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
            if img.dtype.name != rec.dtype:
                self._fail(f"image {i} ({ids[i]!r}) is stored as {img.dtype.name} but its record says {rec.dtype}")
            if img.dtype.kind == "f" and not np.isfinite(img).all():
                self._fail(f"image {i} ({ids[i]!r}) contains NaN or infinite pixels")

    # -- access -----------------------------------------------------------------
    def _arr(self, name: str) -> np.ndarray:
        f = self.h5
        if name not in self._cache:
            self._cache[name] = read_whole(f[name], limit_bytes=MAX_ARRAY_BYTES, what=f"{self.path}: dataset {name!r}")
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
        if len(codes) and int(codes.max()) >= len(names):
            self._fail(f"image {i}: species code {int(codes.max())} but the file names only {len(names)} species; "
                       "the file is damaged (atomdata validate names every problem)")
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
