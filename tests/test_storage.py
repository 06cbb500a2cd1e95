import io
import json
import os
import pickle
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from helpers import make_image, make_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomdata.schema import ColumnSet, ImageRecord
from atomdata.storage import SplitFile, SplitFormatError, SplitWriter, merge_splits, write_split


def _write(path, n=4, **kw):
    recs = [make_record(i, **kw) for i in range(n)]
    imgs = [make_image(r, seed=i) for i, r in enumerate(recs)]
    write_split(path, zip(recs, imgs), split=recs[0].split, dataset_name="unit", dataset_version="1.2.3")
    return recs, imgs


def test_round_trip_small(tmp_path):
    path = tmp_path / "test.h5"
    recs, imgs = _write(path)
    s = SplitFile(path)
    assert len(s) == 4
    assert s.dataset_version == "1.2.3"
    for i in range(4):
        assert s.record(i) == recs[i]
        np.testing.assert_array_equal(s.image(i), imgs[i])
        assert s.image(i).dtype == np.uint16
    assert s.index("test-00002") == 2
    with pytest.raises(KeyError, match="'nope' is not in split 'test'"):
        s.index("nope")
    with pytest.raises(IndexError, match="out of range"):
        s.image(4)


@st.composite
def _records(draw):
    n = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(["uint16", "float32", "uint8"]))  # one dtype per split
    out = []
    for i in range(n):
        h = draw(st.integers(1, 12))
        w = draw(st.integers(1, 12))
        k = draw(st.integers(0, 6))
        xs = draw(st.lists(st.floats(-0.5, w - 0.5, exclude_max=True), min_size=k, max_size=k))
        ys = draw(st.lists(st.floats(-0.5, h - 0.5, exclude_max=True), min_size=k, max_size=k))
        species = draw(st.lists(st.sampled_from(["Sr", "Ti-O", "O", "W", "S2"]), min_size=k, max_size=k))
        target = draw(st.lists(st.booleans(), min_size=k, max_size=k))
        rec = make_record(i, shape=(h, w), dtype=dtype, n_columns=0,
                          pixel_size_A=draw(st.floats(0.01, 2.0)))
        rec = rec.model_copy(update={"columns": ColumnSet.from_arrays(np.column_stack([xs, ys]) if k else np.zeros((0, 2)), species, target)})
        rec = ImageRecord.model_validate(rec.model_dump())
        out.append(rec)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=_records(), compression=st.sampled_from(["gzip", "lzf", None]))
def test_round_trip_is_lossless(tmp_path, recs, compression):
    path = tmp_path / f"rt-{compression}.h5"
    rng = np.random.default_rng(0)
    imgs = [(rng.random(r.shape) * 200).astype(r.dtype) for r in recs]
    with SplitWriter(path, split="test", compression=compression) as w:
        for r, im in zip(recs, imgs):
            w.add(r, im)
    s = SplitFile(path)
    s.validate()
    assert len(s) == len(recs)
    for i, (r, im) in enumerate(zip(recs, imgs)):
        got = s.record(i)
        assert got == r
        assert got.columns == r.columns
        np.testing.assert_array_equal(s.image(i), im)
    s.close()


def test_mixed_shapes_in_one_split(tmp_path):
    recs = [make_record(0, shape=(16, 16)), make_record(1, shape=(8, 24)), make_record(2, shape=(16, 16))]
    imgs = [make_image(r) for r in recs]
    write_split(tmp_path / "t.h5", zip(recs, imgs), split="test")
    s = SplitFile(tmp_path / "t.h5")
    assert sorted(s.image_groups) == ["16x16", "8x24"]
    for i in range(3):
        np.testing.assert_array_equal(s.image(i), imgs[i])


def test_one_dtype_per_image_shape(tmp_path):
    a, b = make_record(0, dtype="uint16"), make_record(1, dtype="float32")
    with pytest.raises(ValueError, match="image 1 has dtype float32 but this split stores 32x32 images as uint16"):
        with SplitWriter(tmp_path / "t.h5", split="test") as w:
            w.add(a, make_image(a))
            w.add(b, make_image(b))
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "test.h5"
    _write(path)
    data = path.read_bytes()
    bad = tmp_path / "trunc.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SplitFormatError, match="trunc.h5: not a readable HDF5 file"):
        SplitFile(bad)


def test_not_hdf5(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("hello")
    with pytest.raises(SplitFormatError, match="not a readable HDF5 file"):
        SplitFile(bad)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="split file not found"):
        SplitFile("/nonexistent/test.h5")


def test_wrong_schema_version_is_refused(tmp_path):
    path = tmp_path / "test.h5"
    _write(path)
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = "2.0.0"
    with pytest.raises(SplitFormatError, match="schema_version '2.0.0' is incompatible"):
        SplitFile(path)


def test_foreign_hdf5_file_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["imgs/a"] = np.zeros((4, 4))
    with pytest.raises(SplitFormatError, match="not an atomdata split file"):
        SplitFile(path)


def test_mismatched_lengths_are_named(tmp_path):
    path = tmp_path / "test.h5"
    _write(path)
    with h5py.File(path, "a") as f:
        del f["pixel_size_A"]
        f["pixel_size_A"] = np.ones(3)
    with pytest.raises(SplitFormatError, match=r"dataset 'pixel_size_A' has shape \(3,\), expected \(4,\)"):
        SplitFile(path)


def test_missing_dataset_is_named(tmp_path):
    path = tmp_path / "test.h5"
    _write(path)
    with h5py.File(path, "a") as f:
        del f["columns/offsets"]
    with pytest.raises(SplitFormatError, match="missing dataset 'columns/offsets'"):
        SplitFile(path)


def test_invalid_record_in_file_is_found_by_validate(tmp_path):
    path = tmp_path / "test.h5"
    _write(path)
    with h5py.File(path, "a") as f:
        rec = json.loads(f["records"][1])
        rec["quality"]["pixel_size_A"] = -1
        f["records"][1] = json.dumps(rec)
    s = SplitFile(path)
    with pytest.raises(SplitFormatError, match=r"(?s)record 1 \('test-00001'\) is invalid: .*pixel_size_A must be a finite number > 0 \[Å/px\], got -1"):
        s.validate()


def test_bad_record_is_rejected_at_write_and_nothing_is_left(tmp_path):
    path = tmp_path / "test.h5"
    rec = make_record(0)
    with pytest.raises(ValueError, match=r"has shape \(4, 4\) but its record says \(32, 32\)"):
        with SplitWriter(path, split="test") as w:
            w.add(rec, np.zeros((4, 4), np.uint16))
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_duplicate_ids_and_wrong_split(tmp_path):
    rec = make_record(0)
    with pytest.raises(ValueError, match="duplicate image_id 'test-00000'"):
        with SplitWriter(tmp_path / "a.h5", split="test") as w:
            w.add(rec, make_image(rec))
            w.add(rec, make_image(rec))
    with pytest.raises(ValueError, match="belongs to split 'test', not 'train'"):
        with SplitWriter(tmp_path / "b.h5", split="train") as w:
            w.add(rec, make_image(rec))
    assert list(tmp_path.iterdir()) == []


def test_killed_write_leaves_no_valid_file(tmp_path):
    """A writer process killed half-way leaves neither the target file nor anything that validates."""
    target = tmp_path / "test.h5"
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from helpers import make_record, make_image
        from atomdata.storage import SplitWriter
        with SplitWriter({str(target)!r}, split="test") as w:
            for i in range(50):
                r = make_record(i)
                w.add(r, make_image(r))
                if i == 20:
                    w._f.flush()
                    os._exit(9)  # die without cleanup, like SIGKILL
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert leftovers, "the killed writer should have left its temporary file"
    for p in leftovers:
        assert p.name.startswith(".test.h5.") and ".tmp" in p.name
        with pytest.raises(SplitFormatError):
            SplitFile(p)


def test_reading_one_image_touches_one_chunk(tmp_path):
    """Random access to image i reads about one chunk, not the file (10,000-image split)."""
    path = tmp_path / "big.h5"
    n, shape = 10_000, (64, 64)
    rng = np.random.default_rng(1)
    base = make_record(0, shape=shape, n_columns=3)
    with SplitWriter(path, split="test", compression="gzip") as w:
        for i in range(n):
            rec = base.model_copy(update={"image_id": f"img-{i:05d}"})
            w.add(rec, rng.integers(0, 60000, shape).astype(np.uint16))
    size = path.stat().st_size

    class Counting(io.FileIO):
        bytes_read = 0

        def readinto(self, b):
            k = super().readinto(b)
            Counting.bytes_read += k
            return k

    raw = Counting(path, "rb")
    with h5py.File(raw, "r") as f:
        ds = f["images/64x64"]
        chunk_bytes = ds.id.get_chunk_info(7321).size
        before = Counting.bytes_read
        img = ds[7321]
        touched = Counting.bytes_read - before
    assert img.shape == shape
    # one compressed chunk plus B-tree nodes: far below 1% of the file
    assert touched < chunk_bytes + 64 * 1024, (touched, chunk_bytes)
    assert touched < size / 100
    # and the SplitFile reader reads the same pixels
    s = SplitFile(path)
    np.testing.assert_array_equal(s.image(7321), img)


def test_split_file_pickles_and_reopens(tmp_path):
    path = tmp_path / "test.h5"
    recs, imgs = _write(path)
    s = SplitFile(path)
    s.image(0)
    t = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(t.image(3), imgs[3])
    assert t.record(2) == recs[2]


def test_merge_shards(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    recs = [make_record(i) for i in range(5)]
    imgs = [make_image(r, seed=i) for i, r in enumerate(recs)]
    write_split(a, zip(recs[:2], imgs[:2]), split="test")
    write_split(b, zip(recs[2:], imgs[2:]), split="test")
    out = merge_splits([a, b], tmp_path / "test.h5", split="test", dataset_name="m", dataset_version="1.0.0")
    s = SplitFile(out)
    assert s.image_ids == [r.image_id for r in recs]
    for i in range(5):
        assert s.record(i) == recs[i]
        np.testing.assert_array_equal(s.image(i), imgs[i])


def test_per_image_arrays_round_trip_through_write_and_merge(tmp_path):
    recs = [make_record(i) for i in range(3)]
    imgs = [make_image(r, seed=i) for i, r in enumerate(recs)]
    masks = [(img > np.median(img)).astype(np.uint8) for img in imgs]
    raws = [img.astype(np.float32) / 7.0 for img in imgs]
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_split(a, [(r, im, {"mask": m, "raw": f}) for r, im, m, f in zip(recs[:2], imgs[:2], masks[:2], raws[:2])],
                split="test")
    write_split(b, [(recs[2], imgs[2], {"mask": masks[2], "raw": raws[2]})], split="test")
    merged = merge_splits([a, b], tmp_path / "m.h5", split="test", dataset_name="unit", dataset_version="1.0.0")
    s = SplitFile(merged)
    assert s.array_names == ["mask", "raw"]
    for i in range(3):
        np.testing.assert_array_equal(s.array("mask", i), masks[i])
        np.testing.assert_array_equal(s.array("raw", i), raws[i])
        assert s.array("raw", i).dtype == np.float32
    s.validate(deep=True)
    with pytest.raises(KeyError, match="has no array 'instances'; its arrays: \\['mask', 'raw'\\]"):
        s.array("instances", 0)
    with h5py.File(a, "r") as f:
        assert f["arrays/mask"][next(iter(f["arrays/mask"]))].chunks[0] == 1  # one chunk per image, like images


def test_per_image_arrays_are_checked_and_absent_from_plain_splits(tmp_path):
    recs = [make_record(i) for i in range(2)]
    imgs = [make_image(r, seed=i) for i, r in enumerate(recs)]
    with pytest.raises(ValueError, match="has shape \\(3, 3\\); expected the image's"):
        write_split(tmp_path / "x.h5", [(recs[0], imgs[0], {"mask": np.zeros((3, 3))})], split="test")
    with pytest.raises(ValueError, match="every image of a split carries the same arrays"):
        write_split(tmp_path / "y.h5", [(recs[0], imgs[0], {"mask": np.zeros_like(imgs[0])}), (recs[1], imgs[1])],
                    split="test")
    with pytest.raises(ValueError, match="contains NaN"):
        write_split(tmp_path / "z.h5", [(recs[0], imgs[0], {"raw": np.full(imgs[0].shape, np.nan)})], split="test")
    assert not any(p.name.endswith(".h5") for p in tmp_path.iterdir())  # nothing half-written
    write_split(tmp_path / "plain.h5", zip(recs, imgs), split="test")
    with h5py.File(tmp_path / "plain.h5", "r") as f:
        assert "array_names" not in f.attrs and "arrays" not in f
    assert SplitFile(tmp_path / "plain.h5").array_names == []
