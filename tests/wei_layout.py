"""Write small files in the layout of the published Wei benchmark (``wei_atom.h5``) with h5py alone.

Groups ``imgs``, ``raw``, ``coords`` hold one member per image; ``metadata`` is a
pandas frame in PyTables' *table* format, written here field by field exactly as
``DataFrame.to_hdf(path, key="metadata", format="table")`` lays it out: a
``table`` compound dataset (``index`` + one ``values_block_<k>`` field per dtype
block, column names pickled (protocol 0) in ``values_block_<k>_kind``) beside an
``_i_table`` index group. Strings are one fixed-width bytes block, as pandas 1.x
(the version of the published file) wrote object columns.
"""
from __future__ import annotations

import pickle

import h5py
import numpy as np


def _attr(obj, name: str, value, *, utf8: bool = True) -> None:
    """Write a scalar string attribute the way PyTables does (NULLTERM; UTF-8 text, ASCII pickles)."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    if name in obj.attrs:
        del obj.attrs[name]
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(max(len(raw), 1))
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    tid.set_cset(h5py.h5t.CSET_UTF8 if utf8 else h5py.h5t.CSET_ASCII)
    attr = h5py.h5a.create(obj.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    attr.write(np.array(raw, dtype=f"S{max(len(raw), 1)}"), mtype=tid)


def _p(obj, name: str, value) -> None:
    """A Python object attribute, pickled with protocol 0 as PyTables does for lists and tuples."""
    _attr(obj, name, pickle.dumps(value, protocol=0), utf8=False)


def write_pandas_table(group: h5py.Group, index: list, rows: list[dict]) -> None:
    """Write ``rows`` (dicts with the same keys, in column order) as a pandas table-format frame."""
    columns = list(rows[0])
    blocks: list[tuple[str, list[str]]] = []  # (kind, columns) in pandas' block order
    for kind in ("float", "int", "bool", "str"):
        cols = [c for c in columns if _kind(rows[0][c]) == kind]
        if cols:
            blocks.append((kind, cols))
    if all(isinstance(v, str) for v in index):
        width = max(len(v.encode()) for v in index)
        fields = [("index", f"S{width}")]
        index_kind = b"string"
    else:
        fields = [("index", "<i8")]
        index_kind = b"integer"
    for k, (kind, cols) in enumerate(blocks):
        if kind == "str":
            width = max(len(str(r[c]).encode()) for r in rows for c in cols)
            fields.append((f"values_block_{k}", f"S{width}", (len(cols),)))
        else:
            fields.append((f"values_block_{k}", {"float": "<f8", "int": "<i8", "bool": "u1"}[kind], (len(cols),)))
    data = np.zeros(len(rows), dtype=fields)
    data["index"] = [v.encode() if isinstance(v, str) else v for v in index]
    for k, (kind, cols) in enumerate(blocks):
        for j, c in enumerate(cols):
            values = [r[c] for r in rows]
            if kind == "str":
                values = [b"nan" if v is None else str(v).encode() for v in values]
            elif kind == "float":
                values = [np.nan if v is None else v for v in values]
            data[f"values_block_{k}"][:, j] = values
    t = group.create_dataset("table", data=data, maxshape=(None,), chunks=True)
    for key, value in (("CLASS", "TABLE"), ("VERSION", "2.7"), ("TITLE", "")):
        _attr(t, key, value)
    t.attrs["NROWS"] = np.int64(len(rows))
    _attr(t, "index_kind", index_kind)
    for i, (name, *_rest) in enumerate(fields):
        _attr(t, f"FIELD_{i}_NAME", name)
    for k, (kind, cols) in enumerate(blocks):
        _p(t, f"values_block_{k}_kind", cols)
        itemsize = data.dtype[f"values_block_{k}"].base.itemsize
        _attr(t, f"values_block_{k}_dtype",
              {"float": "float64", "int": "int64", "bool": "bool", "str": f"bytes{8 * itemsize}"}[kind])
        if kind == "str":
            _attr(t, f"values_block_{k}_meta", "str")
        else:
            _p(t, f"values_block_{k}_meta", None)
    for key, value in (("CLASS", "GROUP"), ("VERSION", "1.0"), ("TITLE", ""), ("pandas_type", "frame_table"),
                       ("pandas_version", "0.15.2"), ("table_type", "appendable_frame"), ("encoding", "UTF-8"),
                       ("errors", "strict")):
        _attr(group, key, value)
    group.attrs["levels"] = np.int64(1)
    _p(group, "index_cols", [(0, "index")])
    _p(group, "values_cols", [f"values_block_{k}" for k in range(len(blocks))])
    _p(group, "non_index_axes", [(1, columns)])
    _p(group, "data_columns", [])
    _p(group, "nan_rep", "nan")
    _p(group, "info", {1: {"names": [None], "type": "Index"}, "index": {}})
    idx = group.create_group("_i_table")
    for key, value in (("CLASS", "TINDEX"), ("VERSION", "1.0"), ("TITLE", "Indexes container for table /metadata/table")):
        _attr(idx, key, value)


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float) or value is None:
        return "float"
    return "str"


def write_wei_file(path, images: dict, coords: dict, index: list, rows: list[dict], *, raw: bool = True) -> None:
    """Write a Wei-layout file: ``images``/``coords`` map member name -> array; ``rows`` the metadata frame."""
    with h5py.File(path, "w") as f:
        gi, gc = f.create_group("imgs"), f.create_group("coords")
        gr = f.create_group("raw") if raw else None
        for name, img in images.items():
            gi.create_dataset(name, data=img)
            if gr is not None:
                gr.create_dataset(name, data=img.astype(np.float64) * 2.0)
        for name, xy in coords.items():
            gc.create_dataset(name, data=xy)
        write_pandas_table(f.create_group("metadata"), index, rows)
