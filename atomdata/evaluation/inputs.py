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
"""
from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Union

import numpy as np

from atomdata.schema import check_xy

__all__ = ["load_predictions", "save_predictions", "Predictions", "PredictionsLike"]

PredictionsLike = Union[Mapping[str, object], str, os.PathLike]


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


def load_predictions(source: PredictionsLike, *, group: Optional[str] = None) -> Predictions:
    """Read predictions into ``{image_id: (N, 2) float64 array of (x, y) px}``.

    Parameters
    ----------
    source : dict or path-like
        A dict, or a ``.csv``, ``.npy``, ``.npz``, ``.h5``/``.hdf5`` file (see the module docstring).
    group : str, optional
        HDF5 group holding the per-image datasets (default: the file root).

    Returns
    -------
    Predictions
        A dict ``{image_id: (N, 2) float64 array}``, marked as checked.

    Raises
    ------
    ValueError
        Unknown file type, missing CSV columns, bad shapes or non-finite values
        (the message names the image id and row).
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
    if not path.exists():
        raise FileNotFoundError(f"predictions file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return _as_dict({k: z[k] for k in z.files})
    if suffix == ".npy":
        return _read_npy(path)
    if suffix in (".h5", ".hdf5", ".hdf"):
        return _read_h5(path, group)
    raise ValueError(
        f"cannot read predictions from {path.name!r}: unknown file type {suffix!r}; "
        "use .csv (image_id,x,y), .npz (one array per image id), .npy (structured image_id,x,y) or .h5"
    )


def _read_csv(path: Path) -> Predictions:
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
            pts.append((x, y))
    return Predictions({k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in rows.items()})


def _read_npy(path: Path) -> Predictions:
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


def _read_h5(path: Path, group: Optional[str]) -> Predictions:
    import h5py

    out = Predictions()
    with h5py.File(path, "r") as f:
        root = f
        if group:
            if group not in f:
                raise ValueError(f"{path.name}: no group {group!r}; top-level members: {sorted(f.keys())[:10]}")
            root = f[group]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = check_xy(obj[()], f"predictions for image {name!r}")

        root.visititems(visit)
    if not out:
        raise ValueError(f"{path.name}: no datasets found under {group or '/'}; expected one (N, 2) dataset per image id")
    return out


def save_predictions(predictions: Mapping[str, object], path) -> Path:
    """Write predictions to ``.csv``, ``.npz`` or ``.h5`` (by suffix); the inverse of :func:`load_predictions`.

    Positions are (x, y) [px]. CSV files list an image without predictions as a
    row with empty x and y.
    """
    preds = _as_dict(predictions)
    path = Path(path)
    suffix = path.suffix.lower()
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
    elif suffix in (".h5", ".hdf5", ".hdf"):
        import h5py

        with h5py.File(path, "w") as f:
            for k, xy in preds.items():
                d = f.create_dataset(k, data=xy)
                d.attrs["units"] = "px"
                d.attrs["axes"] = "column, (x, y)"
    else:
        raise ValueError(f"save_predictions writes .csv, .npz or .h5, got {path.name!r}")
    return path
