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
``records``
    ``(N,)`` UTF-8 JSON of each :class:`~atomdata.schema.ImageRecord` without its columns.
``image_id``, ``subset``, ``pixel_size_A``
    ``(N,)`` copies of those record fields for fast filtering without parsing JSON.

Files are written to a temporary name in the destination folder and renamed
into place only once complete, so an interrupted write never leaves a file
that validates.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional, Protocol, Sequence, runtime_checkable

import h5py
import numpy as np

from .schema import SCHEMA_VERSION, ColumnSet, DatasetManifest, ImageRecord

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SplitFormatError",
    "SplitWriter",
    "SplitFile",
    "write_split",
    "merge_splits",
    "open_split",
    "sha256_file",
    "read_manifest",
    "write_manifest",
    "atomic_path",
    "SplitLike",
    "LazyH5",
    "SplitSequence",
]

FORMAT_NAME = "atomdata-split"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

_STR = h5py.string_dtype("utf-8")


class SplitFormatError(ValueError):
    """A split file is missing, corrupt, truncated or of an unsupported version."""


def _created_by() -> str:
    from . import __version__

    return f"atomdata {__version__}"


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; renamed to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """

    def __init__(self, path, suffix: str = ""):
        self.path = Path(path)
        self.suffix = suffix

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=f".tmp{self.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


@runtime_checkable
class SplitLike(Protocol):
    """What every split reader offers (atomdata's own files, the original Wei dataset, ...).

    Torch datasets, models and the evaluator accept any object with these
    members. Positions from :meth:`columns` are (x, y) in pixels (x = column
    index, y = row index, origin at the centre of the top-left pixel). The
    object must be picklable and open its file lazily (once per process).
    """

    def __len__(self) -> int: ...

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` (H, W), indexed ``image[y, x]``."""

    def columns(self, i: int) -> ColumnSet:
        """Labelled columns of image ``i``."""

    def record(self, i: int) -> ImageRecord:
        """Full record of image ``i`` (metadata and columns)."""

    def index(self, image_id: str) -> int:
        """Index of an image id (``KeyError`` if absent)."""

    @property
    def image_ids(self) -> list[str]: ...

    @property
    def subsets(self) -> np.ndarray: ...

    @property
    def pixel_sizes_A(self) -> np.ndarray: ...


class SplitWriter:
    """Stream images and records into one split file, atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.h5`` file; replaced only when the writer closes without error.
    split : str
        Split name stored in the file (every record's ``split`` must match).
    dataset_name, dataset_version : str
        Identity of the dataset version the split belongs to.
    compression : {"gzip", "lzf", None}
        HDF5 filter of the image datasets (gzip is readable by every HDF5 tool).
    compression_opts : int, optional
        gzip level (default 1: fast, most of the gain for noisy images).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from atomdata.schema import *
    >>> rec = ImageRecord(image_id="img-0", split="test", subset="demo", shape=(8, 8),
    ...     dtype="uint16", lattice=Lattice(material="Si", formula="Si", zone_axis="[110]"),
    ...     quality=QualityMetrics(pixel_size_A=0.2),
    ...     provenance=Provenance(kind="simulated", simulator="demo"),
    ...     columns=ColumnSet.from_arrays([[3.0, 4.0]], ["Si"]))
    >>> path = os.path.join(tempfile.mkdtemp(), "test.h5")
    >>> with SplitWriter(path, split="test") as w:
    ...     w.add(rec, np.zeros((8, 8), np.uint16))
    >>> len(SplitFile(path))
    1
    """

    def __init__(
        self,
        path,
        *,
        split: str,
        dataset_name: str = "unnamed",
        dataset_version: str = "0.0.0",
        compression: Optional[str] = "gzip",
        compression_opts: Optional[int] = None,
    ):
        if compression not in ("gzip", "lzf", None):
            raise ValueError(f"compression must be 'gzip', 'lzf' or None, got {compression!r}")
        self.path = Path(path)
        self.split = split
        self.dataset_name = dataset_name
        self.dataset_version = dataset_version
        self.compression = compression
        self.compression_opts = (1 if compression_opts is None else compression_opts) if compression == "gzip" else None
        self._atomic = atomic_path(self.path)
        self._f: Optional[h5py.File] = None
        self._groups: list[str] = []
        self._group_rows: dict[str, int] = {}
        self._image_group: list[int] = []
        self._image_row: list[int] = []
        self._xy: list[np.ndarray] = []
        self._species: list[np.ndarray] = []
        self._target: list[np.ndarray] = []
        self._records: list[str] = []
        self._ids: list[str] = []
        self._seen_ids: set[str] = set()
        self._subsets: list[str] = []
        self._pixel: list[float] = []
        self._species_names: dict[str, int] = {}

    # -- context management -------------------------------------------------
    def __enter__(self) -> "SplitWriter":
        tmp = self._atomic.__enter__()
        self._f = h5py.File(tmp, "w")
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._finalise()
        except BaseException as e:  # finalising failed: remove the temp file
            self._f.close()
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise
        self._f.close()
        return self._atomic.__exit__(exc_type, exc, tb)

    # -- writing --------------------------------------------------------------
    def _image_dataset(self, shape: tuple[int, int], dtype: np.dtype) -> h5py.Dataset:
        key = f"{shape[0]}x{shape[1]}"
        if key not in self._group_rows:
            self._groups.append(key)
            self._group_rows[key] = 0
            ds = self._f.create_dataset(
                f"images/{key}",
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(1, *shape),
                compression=self.compression,
                compression_opts=self.compression_opts,
                shuffle=self.compression is not None,
            )
            ds.attrs["units"] = "counts"
            ds.attrs["axes"] = "image, y (row), x (column)"
            return ds
        ds = self._f[f"images/{key}"]
        if ds.dtype != dtype:
            raise ValueError(
                f"image {len(self._ids)} has dtype {dtype} but this split stores {key} images as "
                f"{ds.dtype}; convert it first (all images of one shape share a dtype)"
            )
        return ds

    def add(self, record: ImageRecord, image: np.ndarray) -> int:
        """Append one image and its record; returns the image's index in the split.

        Raises ``ValueError`` if the image disagrees with its record (shape,
        dtype, split) or the image id is already present.
        """
        if self._f is None:
            raise RuntimeError("SplitWriter must be used as a context manager: `with SplitWriter(...) as w:`")
        if not isinstance(record, ImageRecord):
            raise TypeError(f"record must be an ImageRecord, got {type(record).__name__}")
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"image {record.image_id!r} must be 2-D (H, W), got shape {image.shape}")
        if tuple(image.shape) != tuple(record.shape):
            raise ValueError(
                f"image {record.image_id!r} has shape {image.shape} but its record says {tuple(record.shape)}"
            )
        if image.dtype.name != record.dtype:
            raise ValueError(
                f"image {record.image_id!r} has dtype {image.dtype.name} but its record says {record.dtype}"
            )
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ValueError(f"image {record.image_id!r} contains NaN or infinite pixels")
        if record.split != self.split:
            raise ValueError(
                f"record {record.image_id!r} belongs to split {record.split!r}, not {self.split!r}"
            )
        if record.image_id in self._seen_ids:
            raise ValueError(f"duplicate image_id {record.image_id!r} in split {self.split!r}")
        ds = self._image_dataset(image.shape, image.dtype)
        key = f"{image.shape[0]}x{image.shape[1]}"
        row = self._group_rows[key]
        ds.resize(row + 1, axis=0)
        ds[row] = image
        self._group_rows[key] = row + 1
        self._image_group.append(self._groups.index(key))
        self._image_row.append(row)
        cols = record.columns
        codes = np.array(
            [self._species_names.setdefault(s, len(self._species_names)) for s in cols.species.tolist()],
            dtype=np.uint16,
        )
        self._xy.append(cols.xy)
        self._species.append(codes)
        self._target.append(cols.target)
        self._records.append(record.metadata_json())
        self._ids.append(record.image_id)
        self._seen_ids.add(record.image_id)
        self._subsets.append(record.subset)
        self._pixel.append(record.quality.pixel_size_A)
        return len(self._ids) - 1

    def _finalise(self) -> None:
        f = self._f
        n = len(self._ids)
        counts = np.array([len(x) for x in self._xy], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        xy = np.concatenate(self._xy) if n else np.zeros((0, 2))
        species = np.concatenate(self._species) if n else np.zeros(0, np.uint16)
        target = np.concatenate(self._target) if n else np.zeros(0, bool)
        g = f.create_group("columns")
        kw = dict(compression="gzip", compression_opts=4, shuffle=True) if len(xy) else {}
        d = g.create_dataset("xy", data=xy.reshape(-1, 2).astype(np.float64), chunks=(min(max(len(xy), 1), 65536), 2) if len(xy) else None, **kw)
        d.attrs["units"] = "px"
        d.attrs["axes"] = "column, (x, y)"
        g.create_dataset("offsets", data=offsets)
        g.create_dataset("species", data=species.astype(np.uint16), **kw)
        g.create_dataset("target", data=target.astype(bool), **kw)
        f.create_dataset("records", data=np.array(self._records, dtype=object), dtype=_STR)
        f.create_dataset("image_id", data=np.array(self._ids, dtype=object), dtype=_STR)
        f.create_dataset("subset", data=np.array(self._subsets, dtype=object), dtype=_STR)
        p = f.create_dataset("pixel_size_A", data=np.array(self._pixel, dtype=np.float64))
        p.attrs["units"] = "Å/px"
        f.create_dataset("image_group", data=np.array(self._image_group, dtype=np.int32))
        f.create_dataset("image_row", data=np.array(self._image_row, dtype=np.int64))
        if "images" not in f:
            f.create_group("images")
        a = f.attrs
        a["format"] = FORMAT_NAME
        a["format_version"] = FORMAT_VERSION
        a["schema_version"] = SCHEMA_VERSION
        a["dataset_name"] = self.dataset_name
        a["dataset_version"] = self.dataset_version
        a["split"] = self.split
        a["n_images"] = n
        a["image_groups"] = json.dumps(self._groups)
        a["species_names"] = json.dumps(list(self._species_names))
        a["created_by"] = _created_by()
        a["complete"] = True  # written last: a file without it was interrupted


def write_split(
    path,
    samples: Iterable[tuple[ImageRecord, np.ndarray]],
    *,
    split: str,
    dataset_name: str = "unnamed",
    dataset_version: str = "0.0.0",
    compression: Optional[str] = "gzip",
    progress: bool = False,
) -> Path:
    """Write ``(record, image)`` pairs to ``path`` atomically and return the path."""
    from tqdm.auto import tqdm

    with SplitWriter(
        path, split=split, dataset_name=dataset_name, dataset_version=dataset_version, compression=compression
    ) as w:
        for record, image in tqdm(samples, desc=f"write {split}", disable=not progress, unit="img"):
            w.add(record, image)
    return Path(path)


_REQUIRED = (
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


class SplitSequence:
    """Sequence behaviour shared by split readers that define ``__len__``, ``record(i)`` and ``image(i)``."""

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
        for name in _REQUIRED:
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

    def columns(self, i: int) -> "ColumnSet":
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
        i = self._check_index(i)
        raw = self.h5["records"][i]
        data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        data["columns"] = self.columns(i)
        return ImageRecord.model_validate(data)



def open_split(path) -> SplitFile:
    """Open a split file (validating its structure). See :class:`SplitFile`."""
    return SplitFile(path)


def merge_splits(paths: Sequence, out, *, split: str, dataset_name: str, dataset_version: str,
                 compression: Optional[str] = "gzip") -> Path:
    """Concatenate split shards into one split file at ``out`` (atomically), in the given order."""
    shards = [SplitFile(p) for p in paths]
    try:
        with SplitWriter(out, split=split, dataset_name=dataset_name, dataset_version=dataset_version,
                         compression=compression) as w:
            for s in shards:
                for i in range(len(s)):
                    w.add(s.record(i), s.image(i))
    finally:
        for s in shards:
            s.close()
    return Path(out)


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk_bytes)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def write_manifest(directory, manifest: DatasetManifest) -> Path:
    """Write ``manifest.json`` into ``directory`` atomically."""
    path = Path(directory) / MANIFEST_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(manifest.model_dump_json(indent=2) + "\n")
    return path


def read_manifest(directory_or_file) -> DatasetManifest:
    """Read and validate a ``manifest.json`` (a folder holding one, or the file itself)."""
    p = Path(directory_or_file)
    if p.is_dir():
        p = p / MANIFEST_NAME
    if not p.exists():
        raise FileNotFoundError(f"no {MANIFEST_NAME} at {p}")
    try:
        return DatasetManifest.model_validate_json(p.read_text())
    except ValueError as e:
        raise SplitFormatError(f"{p}: invalid manifest: {e}") from e
