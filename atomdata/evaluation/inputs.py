"""Predictions from Python or from files: a dict ``image_id -> (N, 2) array of (x, y) px``.

Positions are ``(x, y)`` in pixels: x = column index, y = row index, origin at
the centre of the top-left pixel (the convention of the ground truth).

Accepted inputs (:func:`load_predictions`):

* a ``dict`` mapping image ids to ``(N, 2)`` arrays or nested lists;
* ``.csv`` with a header containing ``image_id,x,y`` (other columns are
  ignored); a row with empty ``x`` and ``y`` declares an image with no
  predictions;
* ``.npz``: one ``(N, 2)`` array per image id (``np.savez(path, **preds)``);
* ``.npy``: a structured array with fields ``image_id``, ``x``, ``y`` (the CSV
  table as an array; loaded without pickle);
* ``.h5``/``.hdf5``: one ``(N, 2)`` dataset per image id, at the root or inside
  ``group`` (nested paths such as ``a/b`` are ids with a slash).

Uploaded files are untrusted: nothing is unpickled, an HDF5 file must be self-contained (no
external links or storage), and a file larger than ``max_bytes`` on disk, or whose arrays
would take more than ``max_bytes`` once read or decompressed (a tiny ``.npz`` or chunked
``.h5`` can declare gigabytes), is refused before it is read (:data:`MAX_PREDICTIONS_BYTES`,
256 MiB: about 16 million positions). An ``.h5`` file is parsed in a short-lived child
process with a deadline (:data:`H5_READ_TIMEOUT_S`), because the HDF5 library can hang or crash
on a deliberately damaged file; the arrays come back as raw float64 bytes, never pickled. Any
file that cannot be read raises :class:`PredictionsError`, naming the file and the problem.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Union

import numpy as np

from atomdata.schema import check_xy
from atomdata.storage import ByteBudget, UnsafePathError, atomic_path, check_size

__all__ = ["load_predictions", "save_predictions", "Predictions", "PredictionsLike", "PredictionsError",
           "MAX_PREDICTIONS_BYTES"]

PredictionsLike = Union[Mapping[str, object], str, os.PathLike]
#: Largest predictions file accepted [bytes], on disk and once its arrays are read.
MAX_PREDICTIONS_BYTES = 256 << 20
#: Deadline of parsing an .h5 predictions file in its child process [s].
H5_READ_TIMEOUT_S = 60.0


class PredictionsError(ValueError):
    """A predictions file cannot be read (damaged, empty, of the wrong layout, too large or unsafe)."""


class Predictions(dict):
    """``{image_id: (N, 2) float64 array of (x, y) px}`` whose arrays were checked by :func:`load_predictions`.

    Handing one to :func:`load_predictions` (as :func:`~atomdata.evaluation.evaluate` and
    :func:`~atomdata.evaluation.score_split` do) returns it as it is: every array is checked once.
    """


def _as_dict(d: Mapping) -> Predictions:
    out = Predictions()
    for k, v in d.items():
        key = k.decode() if isinstance(k, bytes) else str(k)
        out[key] = check_xy(v, f"predictions for image {key!r}")
    return out


def load_predictions(source: PredictionsLike, *, group: Optional[str] = None,
                     max_bytes: int = MAX_PREDICTIONS_BYTES) -> Predictions:
    """Read predictions into ``{image_id: (N, 2) float64 array of (x, y) px}``.

    Parameters
    ----------
    source : dict or path-like
        A dict, or a ``.csv``, ``.npy``, ``.npz``, ``.h5``/``.hdf5`` file (see the module docstring).
    group : str, optional
        HDF5 group holding the per-image datasets (default: the file root).
    max_bytes : int
        Largest file, and largest total of its arrays once read [bytes] (default 256 MiB).

    Returns
    -------
    Predictions
        A dict ``{image_id: (N, 2) float64 array}``, marked as checked.

    Raises
    ------
    ValueError
        Bad shapes or non-finite values (the message names the image id and row).
    PredictionsError
        Unknown file type, missing CSV columns, an empty, damaged, unsafe or too large file
        (a ``ValueError``; the message names the file).
    FileNotFoundError
        The file does not exist.

    Examples
    --------
    >>> p = load_predictions({"img-0": [[1.0, 2.0]]})
    >>> p["img-0"].shape
    (1, 2)
    """
    if isinstance(source, Predictions):
        return source
    if isinstance(source, Mapping):
        return _as_dict(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    suffix = path.suffix.lower()
    readers = {".csv": _read_csv, ".npz": _read_npz, ".npy": _read_npy, ".h5": _read_h5_isolated,
               ".hdf5": _read_h5_isolated, ".hdf": _read_h5_isolated}
    if suffix not in readers:
        raise PredictionsError(
            f"cannot read predictions from {path.name!r}: unknown file type {suffix!r}; "
            "use .csv (image_id,x,y), .npz (one array per image id), .npy (structured image_id,x,y) or .h5"
        )
    size = path.stat().st_size
    if size == 0:
        raise PredictionsError(f"predictions file {path} is empty")
    budget = ByteBudget(max_bytes, what=f"predictions file {path} once read",
                        hint="split it, or raise max_bytes if this is intended")
    try:
        check_size(size, limit_bytes=max_bytes, what=f"predictions file {path}")
        return readers[suffix](path, group=group, budget=budget)
    except ValueError as e:  # includes PredictionsError, SizeLimitError, UnsafePathError, bad arrays
        if isinstance(e, (PredictionsError, UnsafePathError)) or str(path.name) in str(e):
            raise
        raise PredictionsError(f"{path}: {e}") from None
    except Exception as e:  # a damaged file: EOFError, zipfile.BadZipFile, OSError from HDF5, csv.Error, ...
        raise PredictionsError(f"cannot read predictions from {path}: {type(e).__name__}: {e}") from None


def _read_csv(path: Path, *, group=None, budget: ByteBudget) -> Predictions:
    rows: dict[str, list] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in ("image_id", "x", "y") if c not in fields]
        if missing:
            raise ValueError(
                f"{path.name}: CSV header must contain image_id,x,y; missing {', '.join(missing)} "
                f"(header found: {','.join(fields) or 'none'})"
            )
        reader.fieldnames = fields
        for line, row in enumerate(reader, start=2):
            key = (row["image_id"] or "").strip()
            if not key:
                raise ValueError(f"{path.name} line {line}: empty image_id")
            xs, ys = (row["x"] or "").strip(), (row["y"] or "").strip()
            pts = rows.setdefault(key, [])
            if xs == "" and ys == "":
                continue  # declares an image with no predictions
            try:
                x, y = float(xs), float(ys)
            except ValueError:
                raise ValueError(f"{path.name} line {line}: x, y must be numbers in px, got {xs!r}, {ys!r}") from None
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError(f"{path.name} line {line}: non-finite position ({xs}, {ys}) for image {key!r}")
            budget.take(16)
            pts.append((x, y))
    return _as_dict({k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in rows.items()})


def _npy_header(f, where: str, budget: ByteBudget) -> None:
    """Read an .npy header from file object ``f`` and charge the array's size to ``budget`` (no data read)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        raise PredictionsError(f"{where} holds Python objects (dtype {dtype}); atomdata never unpickles them: store "
                               "numbers (and fixed-width strings in .npy)")
    budget.take(int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 1))


def _read_npz(path: Path, *, group=None, budget: ByteBudget) -> Predictions:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.file_size > budget.limit_bytes:
                check_size(info.file_size, limit_bytes=budget.limit_bytes, what=f"{path}: member {info.filename}")
            with zf.open(info) as f:
                _npy_header(f, f"{path}: member {info.filename}", budget)
    with np.load(path, allow_pickle=False) as z:
        return _as_dict({k: z[k] for k in z.files})


def _read_npy(path: Path, *, group=None, budget: ByteBudget) -> Predictions:
    with open(path, "rb") as f:
        _npy_header(f, str(path), budget)
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path.name}: .npy predictions must be a structured array with fields "
                         f"image_id, x, y (no pickled objects): {e}") from None
    names = a.dtype.names or ()
    if not all(k in names for k in ("image_id", "x", "y")):
        raise ValueError(
            f"{path.name}: .npy predictions must be a structured array with fields image_id, x, y; "
            f"got dtype {a.dtype} of shape {a.shape}. For one array per image use .npz"
        )
    ids = np.asarray(a["image_id"]).astype(str)
    xy = np.column_stack([a["x"], a["y"]]).astype(np.float64)
    out = Predictions()
    for k in dict.fromkeys(ids.tolist()):
        out[k] = check_xy(xy[ids == k], f"predictions for image {k!r}")
    return out


def _read_h5(path: Path, *, group: Optional[str], budget: ByteBudget) -> Predictions:
    import h5py

    from atomdata.storage.hdf5 import check_self_contained, declared_bytes

    out = Predictions()
    with h5py.File(path, "r") as f:
        check_self_contained(f, path)
        root = f
        if group:
            if group not in f:
                raise ValueError(f"{path.name}: no group {group!r}; top-level members: {sorted(f.keys())[:10]}")
            root = f[group]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                budget.take(declared_bytes(obj))
                if obj.dtype.kind not in "iuf":
                    raise PredictionsError(f"{path.name}: dataset {name!r} has dtype {obj.dtype}; expected numbers "
                                           "(an (N, 2) array of (x, y) px)")
                out[name] = check_xy(obj[()], f"predictions for image {name!r}")

        root.visititems(visit)
    if not out:
        raise ValueError(f"{path.name}: no datasets found under {group or '/'}; expected one (N, 2) dataset per image id")
    return out


def _h5_child(conn, path: Path, group: Optional[str], limit_bytes: int) -> None:
    """Child process: read the .h5 file and send ``b"K" + id`` / ``b"A" + float64 bytes`` frames, then ``b"."``."""
    import faulthandler

    faulthandler.disable()  # a crash on a damaged file is reported by the parent in one line, without a dump
    try:
        out = _read_h5(path, group=group, budget=ByteBudget(limit_bytes, what=f"predictions file {path} once read"))
        for k, xy in out.items():
            conn.send_bytes(b"K" + k.encode("utf-8", "surrogatepass"))
            conn.send_bytes(b"A" + np.ascontiguousarray(xy, dtype="<f8").tobytes())
        conn.send_bytes(b".")
    except BaseException as e:  # reported to the parent as text; the parent raises
        conn.send_bytes(b"E" + f"{type(e).__name__}\0{e}".encode("utf-8", "replace"))
    finally:
        conn.close()


def _read_h5_isolated(path: Path, *, group: Optional[str], budget: ByteBudget) -> Predictions:
    """:func:`_read_h5` in a forked child process with a deadline; in-process where fork is unavailable."""
    import multiprocessing as mp
    import time

    if "fork" not in mp.get_all_start_methods():  # pragma: no cover - not Linux/macOS
        return _read_h5(path, group=group, budget=budget)
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_h5_child, args=(child, path, group, budget.limit_bytes), daemon=True)
    proc.start()
    child.close()
    out: dict[str, np.ndarray] = {}
    deadline = time.monotonic() + H5_READ_TIMEOUT_S
    key = None
    try:
        while True:
            if not parent.poll(max(0.0, deadline - time.monotonic())):
                raise PredictionsError(f"cannot read predictions from {path}: the HDF5 library did not finish within "
                                       f"{H5_READ_TIMEOUT_S:g} s (a damaged file?)")
            try:
                frame = parent.recv_bytes(maxlength=budget.limit_bytes + 1024)
            except (EOFError, OSError):
                proc.join(5)
                raise PredictionsError(f"cannot read predictions from {path}: the HDF5 library crashed on it "
                                       f"(exit code {proc.exitcode}); the file is damaged") from None
            tag, body = frame[:1], frame[1:]
            if tag == b".":
                return _as_dict(out)  # checked again here: the child's answer is data, not trusted
            if tag == b"E":
                kind, _, msg = body.decode("utf-8", "replace").partition("\0")
                if kind in ("PredictionsError", "UnsafePathError", "SizeLimitError", "ValueError"):
                    raise PredictionsError(msg if str(path.name) in msg else f"{path}: {msg}")
                raise PredictionsError(f"cannot read predictions from {path}: {kind}: {msg}")
            if tag == b"K":
                key = body.decode("utf-8", "surrogatepass")
            elif tag == b"A" and key is not None:
                budget.take(len(body))
                out[key] = np.frombuffer(body, dtype="<f8").reshape(-1, 2).astype(np.float64)
                key = None
            else:
                raise PredictionsError(f"cannot read predictions from {path}: garbled answer of the reading process")
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def save_predictions(predictions: Mapping[str, object], path) -> Path:
    """Write predictions to ``.csv``, ``.npz`` or ``.h5`` (by suffix); the inverse of :func:`load_predictions`.

    Positions are (x, y) [px]. CSV files list an image without predictions as a
    row with empty x and y. The file is written atomically (a temporary file renamed into place).
    """
    preds = _as_dict(predictions)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz", ".h5", ".hdf5", ".hdf"):
        raise ValueError(f"save_predictions writes .csv, .npz or .h5, got {path.name!r}")
    with atomic_path(path, suffix=suffix) as tmp:
        _write(preds, tmp, suffix)
    return path


def _write(preds: dict[str, np.ndarray], path: Path, suffix: str) -> None:
    if suffix == ".csv":
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "x", "y"])
            for k, xy in preds.items():
                if len(xy) == 0:
                    w.writerow([k, "", ""])
                for x, y in xy:
                    w.writerow([k, repr(float(x)), repr(float(y))])
    elif suffix == ".npz":
        np.savez(path, **preds)
    else:
        import h5py

        with h5py.File(path, "w") as f:
            for k, xy in preds.items():
                d = f.create_dataset(k, data=xy)
                d.attrs["units"] = "px"
                d.attrs["axes"] = "column, (x, y)"
