"""Read a pandas ``DataFrame.to_hdf(..., format="table")`` group with h5py alone (no pandas, no PyTables).

pandas stores a table-format frame as an HDF5 group holding

* ``table``: a compound dataset, one row per frame row, with an ``index`` field
  and either ``values_block_<k>`` fields (each a block of columns of one dtype,
  shape ``(n_columns_in_block,)`` per row) or, for ``data_columns``, one field
  per column;
* ``_i_table``: PyTables' index of the table (ignored here);
* attributes naming the columns: on ``table``, ``<field>_kind`` is the list of
  column names of that field, pickled with protocol 0; ``<field>_dtype`` is
  the pandas dtype ('float64', 'bool', 'bytes96', ...) and ``<field>_meta``
  'str' for text. On the group, ``non_index_axes`` holds the frame's column
  order and ``pandas_type`` is ``'frame_table'``.

The pickled attributes are decoded by an unpickler that refuses every global,
so only plain lists, tuples, strings and numbers can come out of them.
"""
from __future__ import annotations

import io
import math
import pickle
from typing import Any

import h5py
import numpy as np

from atomdata.storage.hdf5 import read_whole

__all__ = ["PandasTableError", "read_pandas_table", "is_pandas_table"]


class PandasTableError(ValueError):
    """An HDF5 group is not a pandas table-format frame this reader understands."""


class _PlainUnpickler(pickle.Unpickler):
    """Unpickle plain containers only: any class or function reference is refused."""

    def find_class(self, module, name):  # pragma: no cover - only hit by hostile files
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an HDF5 attribute")


def _attr_text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.tobytes()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("latin-1")
    return str(value)


#: Largest metadata table read [bytes]: the published one (299 rows) takes about 100 kB.
_MAX_TABLE_BYTES = 64 << 20
#: Largest pickled attribute decoded [bytes]: column-name lists are a few hundred bytes.
_MAX_PICKLE_BYTES = 1 << 16


def _unpickle_attr(value) -> Any:
    raw = value.tobytes() if isinstance(value, np.ndarray) else value
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    if len(raw) > _MAX_PICKLE_BYTES:
        raise PandasTableError(f"a pickled attribute of {len(raw)} bytes is larger than the {_MAX_PICKLE_BYTES} "
                               "bytes a list of column names takes; refusing to decode it")
    return _PlainUnpickler(io.BytesIO(bytes(raw)), encoding="latin-1").load()


def is_pandas_table(group) -> bool:
    """True when ``group`` looks like a pandas table-format frame (a ``table`` compound dataset)."""
    return (
        isinstance(group, h5py.Group)
        and isinstance(group.get("table"), h5py.Dataset)
        and group["table"].dtype.names is not None
    )


def _column_names(table: h5py.Dataset, field: str) -> list[str]:
    kind = table.attrs.get(f"{field}_kind")
    if kind is None:
        return [field]
    try:
        names = _unpickle_attr(kind)
    except Exception as e:
        raise PandasTableError(
            f"{table.name}: cannot decode the column names in attribute {field}_kind ({e})"
        ) from e
    if isinstance(names, (str, bytes)):
        names = [names]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _to_python(value, pandas_dtype: str, meta: str, encoding: str) -> Any:
    if isinstance(value, (bytes, np.bytes_)):
        text = bytes(value).decode(encoding, errors="replace")
        return None if text == "nan" else text  # pandas' nan_rep for missing strings
    if pandas_dtype == "bool":
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        v = float(value)
        return None if math.isnan(v) else v
    if isinstance(value, np.bool_):
        return bool(value)
    return value.item() if isinstance(value, np.generic) else value


def read_pandas_table(group: h5py.Group) -> tuple[list[Any], list[dict[str, Any]]]:
    """Read a pandas table-format frame stored in ``group``.

    Parameters
    ----------
    group : h5py.Group
        The group pandas wrote with ``df.to_hdf(path, key=<group>, format="table")``.

    Returns
    -------
    index : list
        The frame's index values (str for a string index, int for an integer one).
    rows : list of dict
        One dict per row, column name -> Python value (``None`` for NaN / missing),
        in the frame's column order.

    Raises
    ------
    PandasTableError
        When the group has no ``table`` compound dataset, or its column names
        cannot be decoded.
    """
    if not is_pandas_table(group):
        members = sorted(group.keys()) if isinstance(group, h5py.Group) else []
        if isinstance(group, h5py.Group) and _attr_text(group.attrs.get("pandas_type", b"")) == "frame":
            raise PandasTableError(
                f"{group.name}: this is a pandas *fixed*-format frame (members {members}); only the table "
                "format is read without pandas. Re-save it with df.to_hdf(..., format='table')"
            )
        raise PandasTableError(
            f"{getattr(group, 'name', group)}: expected a pandas table-format frame (a 'table' compound "
            f"dataset, usually beside an '_i_table' group), found members {members}"
        )
    table = group["table"]
    encoding = _attr_text(group.attrs.get("encoding", b"UTF-8")) or "UTF-8"
    data = read_whole(table, limit_bytes=_MAX_TABLE_BYTES, what=f"the metadata table {table.name}")
    fields = [f for f in data.dtype.names if f != "index"]
    if "index" not in data.dtype.names:
        raise PandasTableError(f"{table.name}: the table has no 'index' field (fields: {list(data.dtype.names)})")
    columns: list[tuple[str, str, int]] = []  # (column name, field, position in block)
    dtypes: dict[str, tuple[str, str]] = {}
    for field in fields:
        names = _column_names(table, field)
        width = int(np.prod(data.dtype[field].shape)) if data.dtype[field].shape else 1
        if len(names) != width:
            raise PandasTableError(
                f"{table.name}: field {field!r} holds {width} column(s) but {field}_kind names {len(names)}: {names}"
            )
        dtypes[field] = (
            _attr_text(table.attrs.get(f"{field}_dtype", b"")),
            _attr_text(table.attrs.get(f"{field}_meta", b"")),
        )
        for k, name in enumerate(names):
            columns.append((name, field, k))
    order = _frame_column_order(group)
    if order:
        rank = {name: i for i, name in enumerate(order)}
        columns.sort(key=lambda c: rank.get(c[0], len(rank)))
    index = [_to_python(v, "", "", encoding) for v in data["index"]]
    rows = []
    for row in data:
        out: dict[str, Any] = {}
        for name, field, k in columns:
            cell = row[field]
            value = cell.reshape(-1)[k] if isinstance(cell, np.ndarray) else cell
            out[name] = _to_python(value, *dtypes[field], encoding)
        rows.append(out)
    return index, rows


def _frame_column_order(group: h5py.Group) -> list[str]:
    raw = group.attrs.get("non_index_axes")
    if raw is None:
        return []
    try:
        axes = _unpickle_attr(raw)
        return [str(n) for n in axes[0][1]]
    except Exception:
        return []
