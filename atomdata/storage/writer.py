"""Writing split files: streaming, atomic, one chunk per image (layout: :mod:`atomdata.storage.format`)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import h5py
import numpy as np

from atomdata._version import __version__
from atomdata.schema import SCHEMA_VERSION, ImageRecord
from atomdata.storage.files import atomic_path
from atomdata.storage.format import FORMAT_NAME, FORMAT_VERSION
from atomdata.storage.reader import SplitFile

__all__ = ["SplitWriter", "write_split", "merge_splits", "default_created_by"]

_STR = h5py.string_dtype("utf-8")


def default_created_by() -> str:
    """The ``created_by`` attribute written when the caller names no other: ``"atomdata <version>"``."""
    return f"atomdata {__version__}"


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
    created_by : str, optional
        The ``created_by`` attribute (default ``"atomdata <version>"``; a recipe pins its own).

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
    ...     w.add(rec, np.zeros((8, 8), np.uint16))  # returns the image's index in the split
    0
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
        created_by: Optional[str] = None,
    ):
        if compression not in ("gzip", "lzf", None):
            raise ValueError(f"compression must be 'gzip', 'lzf' or None, got {compression!r}")
        self.path = Path(path)
        self.split = split
        self.dataset_name = dataset_name
        self.dataset_version = dataset_version
        self.compression = compression
        self.created_by = default_created_by() if created_by is None else created_by
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
        self._array_names: Optional[list[str]] = None

    # -- context management -------------------------------------------------
    def __enter__(self) -> SplitWriter:
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
    def _stack(self, name: str, shape: tuple[int, int], dtype: np.dtype, what: str,
               units: Optional[str] = None) -> h5py.Dataset:
        """The (n, H, W) dataset ``name`` (one chunk per image), created on first use."""
        if name not in self._f:
            ds = self._f.create_dataset(
                name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(1, *shape),
                compression=self.compression,
                compression_opts=self.compression_opts,
                shuffle=self.compression is not None,
            )
            if units is not None:  # attribute order is part of the bytes: units first, as 1.0.0 was written
                ds.attrs["units"] = units
            ds.attrs["axes"] = "image, y (row), x (column)"
            return ds
        ds = self._f[name]
        if ds.dtype != dtype:
            shape_key = f"{shape[0]}x{shape[1]}"
            raise ValueError(
                f"{what} {len(self._ids)} has dtype {dtype} but this split stores {shape_key} {what}s as "
                f"{ds.dtype}; convert it first (all {what}s of one shape share a dtype)"
            )
        return ds

    def _image_dataset(self, shape: tuple[int, int], dtype: np.dtype) -> h5py.Dataset:
        key = f"{shape[0]}x{shape[1]}"
        ds = self._stack(f"images/{key}", shape, dtype, "image", units="counts")
        if key not in self._group_rows:
            self._groups.append(key)
            self._group_rows[key] = 0
        return ds

    def _check_arrays(self, image_id: str, shape: tuple[int, int], arrays) -> dict:
        """Per-image arrays: every image of a split has the same names; each array (H, W) like its image."""
        arrays = {} if arrays is None else dict(arrays)
        names = sorted(arrays)
        if self._array_names is None:
            bad = [n for n in names if not (n.isidentifier() and n.islower())]
            if bad:
                raise ValueError(f"array names must be lower-case identifiers like 'mask', got {bad}")
        elif names != self._array_names:
            raise ValueError(f"image {image_id!r} has arrays {names} but earlier images of this split have "
                             f"{self._array_names}; every image of a split carries the same arrays")
        out = {}
        for n in names:
            a = np.asarray(arrays[n])
            if a.shape != tuple(shape):
                raise ValueError(f"array {n!r} of image {image_id!r} has shape {a.shape}; expected the image's {shape}")
            if a.dtype.kind not in "biuf":
                raise ValueError(f"array {n!r} of image {image_id!r} has dtype {a.dtype}; expected bool, int or float")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ValueError(f"array {n!r} of image {image_id!r} contains NaN or infinite values")
            out[n] = a
        return out

    def add(self, record: ImageRecord, image: np.ndarray, *, arrays=None) -> int:
        """Append one image and its record; returns the image's index in the split.

        ``arrays`` are per-image label arrays stored beside the image (e.g. ``{"mask": ...}``
        for a segmentation task, or a float ``raw`` frame beside an 8-bit image): each (H, W)
        like the image; every image of a split carries the same names.

        Raises ``ValueError`` if the image disagrees with its record (shape,
        dtype, split), the image id is already present, or an array is malformed.
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
        cols = record.columns
        arrays = self._check_arrays(record.image_id, image.shape, arrays)
        return self._append(record.image_id, record.subset, record.quality.pixel_size_A, record.metadata_json(),
                            image, cols.xy, cols.species, cols.target, arrays)

    def _append(self, image_id: str, subset: str, pixel_size_A: float, record_json: str, image: np.ndarray,
                xy: np.ndarray, species: np.ndarray, target: np.ndarray, arrays: dict) -> int:
        """Append one image whose record was validated before (by :meth:`add`, or when a shard was written)."""
        if image_id in self._seen_ids:
            raise ValueError(f"duplicate image_id {image_id!r} in split {self.split!r}")
        ds = self._image_dataset(image.shape, image.dtype)
        key = f"{image.shape[0]}x{image.shape[1]}"
        row = self._group_rows[key]
        ds.resize(row + 1, axis=0)
        ds[row] = image
        for n, a in arrays.items():
            ads = self._stack(f"arrays/{n}/{key}", image.shape, a.dtype, f"array {n!r}")
            ads.resize(row + 1, axis=0)
            ads[row] = a
        if self._array_names is None:
            self._array_names = sorted(arrays)
        self._group_rows[key] = row + 1
        self._image_group.append(self._groups.index(key))
        self._image_row.append(row)
        codes = np.array(
            [self._species_names.setdefault(s, len(self._species_names)) for s in species.tolist()],
            dtype=np.uint16,
        )
        self._xy.append(xy)
        self._species.append(codes)
        self._target.append(target)
        self._records.append(record_json)
        self._ids.append(image_id)
        self._seen_ids.add(image_id)
        self._subsets.append(subset)
        self._pixel.append(float(pixel_size_A))
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
        chunks = (min(max(len(xy), 1), 65536), 2) if len(xy) else None
        d = g.create_dataset("xy", data=xy.reshape(-1, 2).astype(np.float64), chunks=chunks, **kw)
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
        a["created_by"] = self.created_by
        if self._array_names:  # only files with per-image arrays carry the attribute
            a["array_names"] = json.dumps(self._array_names)
        a["complete"] = True  # written last: a file without it was interrupted


def write_split(
    path,
    samples: Iterable[tuple],
    *,
    split: str,
    dataset_name: str = "unnamed",
    dataset_version: str = "0.0.0",
    compression: Optional[str] = "gzip",
    created_by: Optional[str] = None,
    progress: bool = False,
) -> Path:
    """Write ``(record, image)`` pairs (or ``(record, image, arrays)``) to ``path`` atomically; return the path."""
    from tqdm.auto import tqdm

    with SplitWriter(
        path, split=split, dataset_name=dataset_name, dataset_version=dataset_version, compression=compression,
        created_by=created_by,
    ) as w:
        for sample in tqdm(samples, desc=f"write {split}", disable=not progress, unit="img"):
            w.add(sample[0], sample[1], arrays=sample[2] if len(sample) > 2 else None)
    return Path(path)


def merge_splits(paths: Sequence, out, *, split: str, dataset_name: str, dataset_version: str,
                 compression: Optional[str] = "gzip", created_by: Optional[str] = None) -> Path:
    """Concatenate split shards into one split file at ``out`` (atomically), in the given order.

    The shards were validated when they were written: their label arrays and
    record JSON are copied as stored, without parsing the records again, so
    the result holds the same bytes as writing every record in one pass.
    """
    shards = [SplitFile(p) for p in paths]
    try:
        with SplitWriter(out, split=split, dataset_name=dataset_name, dataset_version=dataset_version,
                         compression=compression, created_by=created_by) as w:
            for s in shards:
                records = s.h5["records"][()]
                offsets = s.label_arrays()["offsets"]
                names = np.asarray(s.species_names, dtype=str)
                xy, codes, target = (s.label_arrays()[k] for k in ("xy", "species", "target"))
                subsets, pixel = s.subsets, s.pixel_sizes_A
                for i, image_id in enumerate(s.image_ids):
                    a, b = int(offsets[i]), int(offsets[i + 1])
                    raw = records[i]
                    w._append(image_id, str(subsets[i]), float(pixel[i]),
                              raw.decode() if isinstance(raw, bytes) else raw, s.image(i),
                              xy[a:b], names[codes[a:b]] if b > a else np.zeros(0, str), target[a:b],
                              {n: s.array(n, i) for n in s.array_names})
    finally:
        for s in shards:
            s.close()
    return Path(out)
