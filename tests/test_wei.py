"""The original Wei benchmark reader, on small files written in the published layout by the tests."""
from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from helpers import make_image, make_record
from hypothesis import given, settings
from hypothesis import strategies as st
from wei_layout import write_pandas_table, write_wei_file

from atomdata import storage
from atomdata.sources.wei._pytables import PandasTableError, read_pandas_table
from atomdata.sources.wei.reader import WEI_SPECIES, WeiFormatError, open_wei
from atomdata.storage import SplitLike, SplitWriter

# Member names in file (alphabetical) order differ from natural order: img10 sorts before img2 in HDF5.
NAMES = ["img0", "img1", "img2", "img10"]
SHAPES = {"img0": (16, 20), "img1": (24, 24), "img2": (16, 20), "img10": (12, 30)}


def _rows():
    base = {
        "Material/Orientation": "WS2[0001]",
        "space group": 187,
        "type": "simulated",
        "contrast": 0.5,
        "dose (e-/A^2)": 2.0e4,
        "flyback error": 0.25,
        "peak intensity": 1234.5,
        "pixel size (pm)": 10.0,
        "PSNR (dB)": 20.0,
        "probe current (pA)": 30.0,
        "random drift": 0.02,
        "resolution (pm)": 120.0,
        "atoms/100px": 5.5,
    }
    rows = [dict(base) for _ in NAMES]
    rows[1].update({"Material/Orientation": "SrTiO3[100]", "space group": 221, "type": "experimental",
                    "pixel size (pm)": 12.5, "dose (e-/A^2)": None, "contrast": 1.7})
    rows[2].update({"Material/Orientation": "SrTiO3[100]", "space group": 221, "resolution (pm)": 301.0})
    rows[3].update({"pixel size (pm)": 8.0, "flyback error": 1.5})
    return rows


def _images():
    rng = np.random.default_rng(0)
    return {n: rng.random(SHAPES[n]).astype(np.float32) for n in NAMES}


def _coords():
    rng = np.random.default_rng(1)
    out = {}
    for k, n in enumerate(NAMES):
        h, w = SHAPES[n]
        out[n] = np.column_stack([rng.uniform(0, w - 1, 3 + k), rng.uniform(0, h - 1, 3 + k)])
    out["img2"] = np.vstack([out["img2"], [[25.0, 3.0]]])  # x = 25 lies outside the 20-px-wide image
    return out


@pytest.fixture
def wei_file(tmp_path):
    path = tmp_path / "wei_atom.h5"
    write_wei_file(path, _images(), _coords(), NAMES, _rows())
    return path


def test_layout_is_what_the_reader_expects(wei_file):
    with h5py.File(wei_file) as f:
        assert set(f) == {"imgs", "raw", "coords", "metadata"}
        assert set(f["metadata"]) == {"table", "_i_table"}
        assert f["metadata/table"].dtype.names[0] == "index"


def test_records_map_the_metadata(wei_file):
    split = open_wei(wei_file)
    assert isinstance(split, SplitLike)
    assert len(split) == 4
    assert split.image_ids == ["img0", "img1", "img2", "img10"]  # natural order, not HDF5's
    np.testing.assert_allclose(split.pixel_sizes_A, [0.10, 0.125, 0.10, 0.08])
    assert list(split.subsets) == ["ws2_sim", "sto_exp", "sto_sim", "ws2_sim"]

    r = split.record(0)
    q = r.quality
    assert r.image_id == "img0" and r.split == "train" and r.shape == (16, 20) and r.dtype == "float32"
    assert q.pixel_size_A == pytest.approx(0.10)
    assert q.contrast.nominal == 0.5 and q.psnr_db.nominal == 20.0 and q.resolution_pm.nominal == 120.0
    assert q.dose_e_per_A2.nominal == 2.0e4 and q.flyback_error_px.nominal == 0.25
    assert q.random_drift.nominal == 0.02 and q.atoms_per_100px.nominal == 5.5
    assert (r.lattice.formula, r.lattice.zone_axis, r.lattice.space_group) == ("WS2", "[0001]", 187)
    assert r.lattice.kind.value == "monolayer"
    assert r.provenance.kind == "simulated" and "10.18126/e73h-3w6n" in r.provenance.source

    r1 = split.record(1)
    assert (r1.lattice.formula, r1.lattice.zone_axis, r1.lattice.space_group) == ("SrTiO3", "[100]", 221)
    assert r1.provenance.kind == "experimental"
    assert r1.quality.dose_e_per_A2.nominal is None  # NaN in the table means "not given"
    assert split.record(2).quality.resolution_pm.nominal == 301.0


def test_unmapped_and_invalid_fields_are_kept(wei_file):
    split = open_wei(wei_file)
    r = split.record(0)
    assert r.extra["wei_name"] == "img0"
    assert r.extra["wei_metadata"] == {"peak intensity": 1234.5, "probe current (pA)": 30.0}
    r1 = split.record(1)
    assert r1.quality.contrast.nominal is None  # 1.7 is not a valid contrast ...
    assert r1.extra["wei_invalid"]["contrast"]["value"] == 1.7  # ... so it is kept, with the reason
    assert "contrast" in r1.extra["wei_invalid"]["contrast"]["error"]


def test_images_and_columns_are_the_stored_arrays(wei_file):
    split = open_wei(wei_file)
    images, coords = _images(), _coords()
    for i, name in enumerate(split.image_ids):
        np.testing.assert_array_equal(split.image(i), images[name])
        np.testing.assert_allclose(split.raw(i), images[name].astype(np.float64) * 2.0)
        record, image = split[i]
        assert image.shape == record.shape
        if name != "img2":
            np.testing.assert_array_equal(split.columns(i).xy, coords[name])
    cols = split.columns(split.index("img2"))
    assert len(cols) == len(coords["img2"]) - 1  # the column at x = 25 px is outside a 20-px-wide image
    assert cols.species_names == [WEI_SPECIES] and cols.target.all()
    assert split.record(split.index("img2")).extra["wei_columns_outside_xy"] == [[25.0, 3.0]]


def test_pickle_reopens_and_reads(wei_file):
    split = open_wei(wei_file)
    split.image(0)  # open the handle before pickling
    clone = pickle.loads(pickle.dumps(split))
    np.testing.assert_array_equal(clone.image(3), split.image(3))
    assert clone.record(1) == split.record(1)


def test_index_errors(wei_file):
    split = open_wei(wei_file)
    with pytest.raises(KeyError, match="nope"):
        split.index("nope")
    with pytest.raises(IndexError, match="out of range"):
        split.image(4)


def test_integer_index_pairs_by_name_column(tmp_path):
    rows = _rows()
    for name, row in zip(NAMES, rows):
        row["name"] = name
    rows = rows[::-1]  # rows in another order than the images
    path = tmp_path / "w.h5"
    write_wei_file(path, _images(), _coords(), list(range(4)), rows)
    split = open_wei(path)
    assert split.record(split.index("img1")).provenance.kind == "experimental"


def test_unpairable_rows_fail_clearly_unless_order_is_asked(tmp_path):
    path = tmp_path / "w.h5"
    write_wei_file(path, _images(), _coords(), list(range(4)), _rows())
    with pytest.raises(WeiFormatError, match="cannot pair metadata rows with images.*match='order'"):
        open_wei(path)
    split = open_wei(path, match="order")
    assert split.record(1).provenance.kind == "experimental"


def test_missing_pixel_size_needs_a_default(tmp_path):
    rows = _rows()
    rows[2]["pixel size (pm)"] = None
    path = tmp_path / "w.h5"
    write_wei_file(path, _images(), _coords(), NAMES, rows)
    with pytest.raises(WeiFormatError, match="'img2' has no usable pixel size.*pixel_size_A="):
        open_wei(path)
    assert open_wei(path, pixel_size_A=0.2).pixel_sizes_A[2] == 0.2


def test_atomdata_split_file_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "test.h5"
    with SplitWriter(path, split="test") as w:
        rec = make_record(0)
        w.add(rec, make_image(rec))
    with pytest.raises(WeiFormatError, match=r"missing group\(s\) \['imgs', 'coords', 'metadata'\].*open_split"):
        open_wei(path)


def test_other_metadata_layout_is_refused(tmp_path):
    path = tmp_path / "w.h5"
    write_wei_file(path, _images(), _coords(), NAMES, _rows())
    with h5py.File(path, "a") as f:
        del f["metadata"]
        g = f.create_group("metadata")
        g.create_dataset("axis0", data=np.array([b"contrast"]))
        g.create_dataset("block0_values", data=np.zeros((4, 1)))
    with pytest.raises(WeiFormatError, match="cannot read the metadata table.*'table' compound dataset"):
        open_wei(path)


def test_images_without_coords_are_named(tmp_path):
    coords = _coords()
    del coords["img10"]
    path = tmp_path / "w.h5"
    write_wei_file(path, _images(), coords, NAMES, _rows())
    with pytest.raises(WeiFormatError, match=r"images without coords \['img10'\]"):
        open_wei(path)


def test_bad_coords_shape_is_refused(tmp_path):
    coords = _coords()
    coords["img0"] = np.zeros((3, 3))
    path = tmp_path / "w.h5"
    write_wei_file(path, _images(), coords, NAMES, _rows())
    with pytest.raises(WeiFormatError, match=r"coords/img0 has shape \(3, 3\); expected \(N, 2\)"):
        open_wei(path).columns(0)


def test_not_hdf5_and_missing(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(WeiFormatError, match="not a readable HDF5 file"):
        open_wei(bad)
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        open_wei(tmp_path / "nope.h5")
    assert issubclass(WeiFormatError, storage.SplitFormatError)


_cell = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-(2**62), 2**62),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8),
    st.booleans(),
)


@settings(max_examples=30, deadline=None)
@given(
    template=st.lists(_cell, min_size=1, max_size=5),
    n_rows=st.integers(1, 4),
    data=st.data(),
)
def test_pandas_table_round_trip(tmp_path_factory, template, n_rows, data):
    """Whatever frame the test writer lays out, the h5py-only reader gets back cell by cell."""
    columns = [f"col {k}" for k in range(len(template))]

    def like(v):
        if isinstance(v, bool):
            return st.booleans()
        if isinstance(v, int):
            return st.integers(-(2**62), 2**62)
        if isinstance(v, float):
            return st.floats(allow_nan=False, allow_infinity=False, width=64)
        return st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8)

    rows = [{c: data.draw(like(v)) for c, v in zip(columns, template)} for _ in range(n_rows)]
    rows = [{c: (v if not (isinstance(v, str) and v == "nan") else "x") for c, v in r.items()} for r in rows]
    index = [f"r{k}" for k in range(n_rows)]
    path = tmp_path_factory.mktemp("tbl") / "t.h5"
    with h5py.File(path, "w") as f:
        write_pandas_table(f.create_group("metadata"), index, rows)
    with h5py.File(path) as f:
        got_index, got_rows = read_pandas_table(f["metadata"])
    assert got_index == index
    assert got_rows == rows
    assert [list(r) for r in got_rows] == [columns] * n_rows


def test_pandas_reader_refuses_a_dataset(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as f:
        g = f.create_group("metadata")
        g.create_dataset("table", data=np.zeros(3))
        with pytest.raises(PandasTableError, match="expected a pandas table-format frame"):
            read_pandas_table(g)


def test_torch_dataset_accepts_a_wei_split(wei_file):
    import torch

    from atomdata.datasets import AtomColumnDataset

    split = open_wei(wei_file)
    ds = AtomColumnDataset(split)
    assert len(ds) == len(split)
    sample = ds[1]
    values = sample.values() if isinstance(sample, dict) else sample
    shapes = [tuple(v.shape[-2:]) for v in values if isinstance(v, torch.Tensor) and v.ndim >= 2]
    assert (24, 24) in shapes
