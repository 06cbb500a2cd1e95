"""PyTorch datasets: locating splits, item contents, workers under fork and spawn, streaming, memory."""
from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
import torch
from column_fixtures import peak_near, write_column_split, write_dataset_folder
from torch.utils.data import DataLoader

from atomdata.datasets.atoms import AtomColumnDataset
from atomdata.datasets.collate import collate_columns
from atomdata.datasets.plot import plot_sample
from atomdata.datasets.streaming import IterableAtomColumnDataset
from atomdata.datasets.transforms import Compose, GaussianNoise, RandomCrop, RandomFlip, RandomRot90
from atomdata.sources import DEFAULT_DATASET, DEFAULT_VERSION, DatasetNotFoundError
from atomdata.storage import SplitFile
from atomdata.storage.paths import dataset_dir


@pytest.fixture
def split_path(tmp_path):
    write_column_split(tmp_path / "train.h5", n=10, shape=(32, 32)).close()
    return tmp_path / "train.h5"


def _aug():
    return Compose([RandomCrop(24), RandomFlip(), RandomRot90(), GaussianNoise(0.02)])


# -- locating data -------------------------------------------------------------------------------
def test_accepts_split_file_dataset_folder_cache_root_default_cache_and_reader(tmp_path):
    folder = write_dataset_folder(dataset_dir(DEFAULT_DATASET, DEFAULT_VERSION), splits=("train", "test"), n=4)  # the ATOMDATA_CACHE default
    ids = SplitFile(folder / "test.h5").image_ids
    for source in (folder / "test.h5", folder, str(folder.parent.parent), None, SplitFile(folder / "test.h5")):
        ds = AtomColumnDataset(source, split="test")
        assert len(ds) == 4 and [ds[i]["image_id"] for i in range(4)] == ids, source
        assert ds.split == "test"


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=re.escape(
            f"Dataset not found in root='{tmp_path}' for split 'train'. Run `atomdata build` or pass download=True.")):
        AtomColumnDataset(tmp_path, split="train")


def test_unknown_split_subset_label_and_option_list_the_valid_ones(tmp_path, split_path):
    folder = write_dataset_folder(tmp_path / "ds", splits=("train", "val"), n=2)
    with pytest.raises(ValueError, match=r"Unknown split 'tset'. Valid splits: train, val."):
        AtomColumnDataset(folder, split="tset")
    with pytest.raises(ValueError, match=r"Unknown subset 'c'. Valid subsets: a, b."):
        AtomColumnDataset(split_path, subset="c")
    with pytest.raises(ValueError, match=r"Unknown label 'mask'. Valid labels: heatmap, disk, species, coords, none."):
        AtomColumnDataset(split_path, label="mask")
    with pytest.raises(TypeError, match=r"\['radius_A'\] do not apply to label 'heatmap'; valid options: sigma_px"):
        AtomColumnDataset(split_path, label="heatmap", radius_A=0.5)
    with pytest.raises(ValueError, match="sigma must be a finite length > 0"):
        AtomColumnDataset(split_path, sigma_px=0)


def test_download_fetches_into_root_then_loads(tmp_path):
    """download=True resolves the version through atomdata.sources.loaders (here: the local quick build) into root."""
    root = tmp_path / "root"
    with pytest.raises(DatasetNotFoundError, match=r"Dataset not found in root=.*Run `atomdata build` or pass download=True"):
        AtomColumnDataset(root, split="val", version="1.0.0-quick")
    ds = AtomColumnDataset(root, split="val", version="1.0.0-quick", download=True)
    assert len(ds) > 0
    assert (root / "atomdata-benchmark" / "1.0.0-quick" / "val.h5").is_file()
    item = ds[0]
    assert item["image"].shape[0] == 1 and item["xy"].shape[1] == 2
    # a second dataset finds the files without downloading again
    assert len(AtomColumnDataset(root, split="val", version="1.0.0-quick")) == len(ds)


def test_repr_shows_count_root_split_version(split_path):
    r = repr(AtomColumnDataset(split_path, subset="a", transform=_aug(), sigma_A=0.2))
    for part in ("Number of datapoints: 5", f"Root location: {split_path}", "Split: train", "Version: unit 9.9.9",
                 "Subset: a", "Label: heatmap(sigma_A=0.2)", "RandomCrop"):
        assert part in r, (part, r)


# -- items ---------------------------------------------------------------------------------------------
def test_item_keys_dtypes_shapes_and_values(split_path):
    split = SplitFile(split_path)
    ds = AtomColumnDataset(split_path, subset="b")
    assert len(ds) == 5
    item = ds[1]
    j = item["index"]
    assert j == 3 and item["image_id"] == split.image_ids[3] and item["subset"] == "b"
    cols = split.columns(j)
    img = item["image"]
    assert img.dtype == torch.float32 and img.shape == (1, 32, 32)
    assert float(img.min()) == 0.0 and float(img.max()) == pytest.approx(1.0)
    raw = split.image(j).astype(np.float64)
    np.testing.assert_allclose(img[0].numpy(), (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-6)
    assert item["xy"].dtype == torch.float32 and item["xy"].shape == (len(cols), 2)
    np.testing.assert_allclose(item["xy"].numpy(), cols.xy, atol=1e-5)
    assert item["species"].dtype == torch.int64
    assert [ds.species_names[k] for k in item["species"]] == cols.species.tolist()
    assert ds.species_names == sorted(set(split.species_names))
    assert item["target_mask"].dtype == torch.bool
    np.testing.assert_array_equal(item["target_mask"].numpy(), cols.target)
    assert item["pixel_size_A"] == pytest.approx(split.pixel_sizes_A[j])
    assert ds.record(1).image_id == item["image_id"]


def test_heatmap_target_peaks_on_target_columns_only(split_path):
    ds = AtomColumnDataset(split_path, label="heatmap", sigma_A=0.15)
    item = ds[2]
    hm = item["label"][0].numpy().astype(np.float64)
    assert item["label"].shape == (1, 32, 32)
    xy, mask = item["xy"].numpy(), item["target_mask"].numpy()
    for (x, y), is_target in zip(xy, mask):
        if is_target:
            px, py = peak_near(hm, x, y)
            assert np.hypot(px - x, py - y) < 1e-3
        else:
            assert hm[int(round(y)), int(round(x))] < 0.05  # non-target (O) columns are not drawn
    # sigma in Å: 0.15 Å at this image's pixel size
    sigma_px = 0.15 / item["pixel_size_A"]
    x, y = xy[mask][0]
    c, r = int(round(x)), int(round(y))
    assert hm[r, c] == pytest.approx(np.exp(-((c - x) ** 2 + (r - y) ** 2) / (2 * sigma_px**2)), abs=1e-5)


def test_other_targets(split_path):
    item = AtomColumnDataset(split_path, label="coords")[0]
    np.testing.assert_array_equal(item["label"].numpy(), item["xy"].numpy()[item["target_mask"].numpy()])
    ds = AtomColumnDataset(split_path, label="species", radius_A=0.2)
    item = ds[0]
    assert item["label"].shape == (len(ds.species_names), 32, 32)
    for (x, y), code in zip(item["xy"].numpy(), item["species"].numpy()):
        assert item["label"][code, int(round(y)), int(round(x))] == 1  # every column, targets or not
    disk = AtomColumnDataset(split_path, label="disk", radius_px=2.0)[0]["label"]
    assert disk.shape == (1, 32, 32) and set(torch.unique(disk).tolist()) == {0.0, 1.0}
    assert AtomColumnDataset(split_path, label=None)[0]["label"].shape == (0,)


def test_transformed_item_target_follows_the_transformed_labels(split_path):
    ds = AtomColumnDataset(split_path, transform=Compose([RandomCrop(20), RandomRot90(ks=[1])]), seed=1, sigma_px=1.0)
    item = ds[4]
    assert item["image"].shape == (1, 20, 20)
    img = item["image"][0].numpy().astype(np.float64)
    hm = item["label"][0].numpy().astype(np.float64)
    for (x, y), t in zip(item["xy"].numpy(), item["target_mask"].numpy()):
        if 2 <= x <= 17 and 2 <= y <= 17:
            p = peak_near(img, x, y)
            assert np.hypot(p[0] - x, p[1] - y) < 0.01  # label on the image's maximum
            if t:
                assert hm[int(round(y)), int(round(x))] > 0.6


def test_seeded_augmentation_is_per_item_and_per_epoch(split_path):
    ds = AtomColumnDataset(split_path, transform=_aug(), seed=3)
    a, b = ds[0], ds[0]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["xy"], b["xy"])
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["image"], a["image"])
    unseeded = AtomColumnDataset(split_path, transform=_aug())
    assert not torch.equal(unseeded[0]["image"], unseeded[0]["image"])


def test_dataset_is_picklable_and_reopens(split_path):
    ds = AtomColumnDataset(split_path, transform=_aug(), seed=0, subset="a")
    first = ds[1]
    clone = pickle.loads(pickle.dumps(ds))
    again = clone[1]
    for k in ("image", "label", "xy", "species", "target_mask"):
        assert torch.equal(first[k], again[k]), k
    assert clone.reader._f is None or clone.reader._pid == os.getpid()


# -- workers -----------------------------------------------------------------------------------------
def _batches(ds, **kw):
    return list(DataLoader(ds, batch_size=3, collate_fn=collate_columns, **kw))


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], torch.Tensor):
                assert torch.equal(x[k], y[k]), k
            else:
                assert x[k] == y[k], k


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_two_workers_yield_the_same_items_as_none(split_path, start_method):
    ds = AtomColumnDataset(split_path, transform=_aug(), seed=11)
    single = _batches(ds)
    multi = _batches(ds, num_workers=2, multiprocessing_context=start_method)
    _assert_same_batches(single, multi)
    assert sum(len(b["image_id"]) for b in multi) == 10


@pytest.mark.parametrize("start_method", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_streaming_workers_read_every_image_once(tmp_path, start_method):
    paths = []
    for k in range(3):
        write_column_split(tmp_path / f"shard{k}.h5", n=7, seed=10 * k).close()
        paths.append(tmp_path / f"shard{k}.h5")
    ds = IterableAtomColumnDataset(paths, block_size=4, transform=_aug(), seed=5, shuffle=True)
    assert len(ds) == 21
    single = {(b["index"], b["xy"].numpy().tobytes(), b["image"].numpy().tobytes()) for b in ds}
    assert len(single) == 21
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=start_method)
    multi = [(b["index"], b["xy"].numpy().tobytes(), b["image"].numpy().tobytes()) for b in loader]
    assert len(multi) == 21 and set(multi) == single


def test_streaming_items_equal_map_style_items(split_path):
    stream = IterableAtomColumnDataset(split_path, transform=_aug(), seed=2, subset="a", block_size=3)
    mapped = AtomColumnDataset(split_path, transform=_aug(), seed=2, subset="a")
    got = list(stream)
    assert [g["index"] for g in got] == mapped.indices.tolist()
    for g, i in zip(got, range(len(mapped))):
        m = mapped[i]
        assert torch.equal(g["image"], m["image"]) and torch.equal(g["label"], m["label"])


def test_streaming_shuffle_is_seeded_and_changes_with_epoch(split_path):
    ds = IterableAtomColumnDataset(split_path, shuffle=True, seed=1, block_size=4, label=None)
    first = [b["index"] for b in ds]
    assert sorted(first) == list(range(10)) and first == [b["index"] for b in ds]
    ds.set_epoch(1)
    assert [b["index"] for b in ds] != first
    with pytest.raises(ValueError, match="Unknown subset 'z'. Valid subsets: a, b."):
        IterableAtomColumnDataset(split_path, subset="z")


# -- collate and plot --------------------------------------------------------------------------------
def test_collate_pads_columns_and_lists_strings(split_path):
    ds = AtomColumnDataset(split_path, label="coords")
    items = [ds[i] for i in range(4)]
    b = collate_columns(items)
    n = [len(it["xy"]) for it in items]
    assert b["image"].shape == (4, 1, 32, 32)
    assert b["xy"].shape == (4, max(n), 2) and b["column_mask"].shape == (4, max(n))
    assert b["n_columns"].tolist() == n
    for k, it in enumerate(items):
        assert torch.equal(b["xy"][k, : n[k]], it["xy"]) and not b["column_mask"][k, n[k]:].any()
        assert (b["species"][k, n[k]:] == -1).all() and not b["target_mask"][k, n[k]:].any()
        m = len(it["label"])
        assert torch.equal(b["label"][k, :m], it["label"]) and b["label_valid"][k].sum() == m
    assert b["image_id"] == [it["image_id"] for it in items] and b["subset"] == ["a", "b", "a", "b"]
    assert b["pixel_size_A"].dtype == torch.float64 and b["index"].tolist() == [0, 1, 2, 3]
    heat = collate_columns([AtomColumnDataset(split_path)[i] for i in range(2)])
    assert heat["label"].shape == (2, 1, 32, 32)


def test_collate_refuses_images_of_different_shapes(tmp_path, split_path):
    write_column_split(tmp_path / "other.h5", n=1, shape=(24, 24)).close()
    a = AtomColumnDataset(split_path)[0]
    b = AtomColumnDataset(tmp_path / "other.h5")[0]
    with pytest.raises(ValueError, match=r"different shapes \[\(1, 24, 24\), \(1, 32, 32\)\]; add a RandomCrop"):
        collate_columns([a, b])


def test_plot_sample_draws_every_column(split_path):
    ds = AtomColumnDataset(split_path, label="species", radius_A=0.2)
    item = ds[0]
    fig = ds.plot(item)
    drawn = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert drawn == len(item["xy"]) and len(fig.axes) == 2
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {
        ds.species_names[k] for k in item["species"].tolist()}
    fig2 = plot_sample(AtomColumnDataset(split_path, label="coords")[0])
    assert len(fig2.axes) == 1


# -- memory ------------------------------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_iterating_ten_thousand_images_keeps_memory_bounded(tmp_path):
    from column_fixtures import column_record

    from atomdata.storage import SplitWriter

    path = tmp_path / "big.h5"
    rng = np.random.default_rng(0)
    base = column_record(0, [[8.0, 8.0], [20.5, 12.25], [14.0, 25.0]], shape=(32, 32))
    with SplitWriter(path, split="train") as w:
        for i in range(10_000):
            img = rng.random((32, 32), dtype=np.float32)
            w.add(base.model_copy(update={"image_id": f"train-{i:05d}"}), img)
    for ds in (AtomColumnDataset(path, transform=Compose([RandomFlip(), RandomRot90()]), seed=0),
               IterableAtomColumnDataset(path, block_size=500)):
        loader = DataLoader(ds, batch_size=64, collate_fn=collate_columns)
        seen, rss = 0, []
        for k, b in enumerate(loader):
            seen += len(b["image_id"])
            if k % 10 == 0:
                rss.append(_rss_mb())
        assert seen == 10_000
        warm = rss[len(rss) // 10]  # after the label arrays are cached
        assert max(rss) - warm < 25, f"resident memory grew by {max(rss) - warm:.1f} MB over 10^4 images"
        # the whole file's images would be 40 MB: far above the allowed growth

