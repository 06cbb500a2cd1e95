"""Robustness: property-based fuzzing of every reader with mutated real files.

Each reader gets real files written by atomdata's own writers (split files gzip-compressed and
uncompressed, manifests, the registry, predictions in every format, a Wei-layout file, weights,
a training checkpoint), mutated by hypothesis (byte edits, or edits of the parsed structure).
The property: the reader either succeeds or raises one of its documented errors, whose message
names the file -- never another exception, and the CLI prints exactly one line. HDF5 files are
read in a forked child per example: the HDF5 library itself can loop forever or crash on a
deliberately damaged file (atomdata cannot fix that; it hashes files before parsing whenever a
checksum is known, and parses uploaded .h5 predictions in a child with a deadline), so such
examples are counted ("hdf5 hang/crash") instead of hanging the suite.

Fast by default (a few examples per reader); ``--runslow`` runs 200 per reader.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tiny_dataset
from helpers import make_image, make_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robust import in_child, mutate, tally
from wei_layout import write_wei_file

from atomdata import cli
from atomdata.evaluation import load_predictions, save_predictions
from atomdata.sources.registry import load_registry
from atomdata.sources.wei import open_wei
from atomdata.storage import SizeLimitError, SplitFormatError, UnsafePathError, dataset_dir, validate_path, write_split

SIZES = [pytest.param(8, id="fast"), pytest.param(200, id="slow", marks=pytest.mark.slow)]
EDITS = st.lists(st.tuples(st.sampled_from(["set", "xor", "cut", "drop", "insert"]), st.integers(0, 999_999),
                           st.integers(0, 255)), min_size=1, max_size=6)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
                      st.text(max_size=12), st.sampled_from(["../x", "/etc/passwd", ".h", "..", "", "a/b"]))
JSON_VALUE = st.recursive(JSON_LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                          max_size=3), max_leaves=6)


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """Real files written by atomdata's writers, one per reader."""
    d = tmp_path_factory.mktemp("originals")
    ds = tiny_dataset.build(d / "ds")
    recs = [make_record(i, n_columns=4) for i in range(3)]
    raw = write_split(d / "raw.h5", ((r, make_image(r, seed=i)) for i, r in enumerate(recs)), split="test",
                      compression=None)
    preds = {"test-00000": np.array([[1.5, 2.5], [3.0, 4.0]]), "test-00001": np.zeros((0, 2))}
    files = {"split": ds / "test.h5", "split-raw": raw, "manifest": ds / "manifest.json", "dataset": ds}
    for suffix in (".csv", ".npz", ".h5"):
        files[f"predictions{suffix}"] = save_predictions(preds, d / f"preds{suffix}")
    table = np.array([("test-00000", 1.5, 2.5), ("test-00001", 3.0, 4.0)],
                     dtype=[("image_id", "U16"), ("x", "f8"), ("y", "f8")])
    np.save(d / "preds.npy", table)
    files["predictions.npy"] = d / "preds.npy"
    names = ["img1", "img2"]
    rng = np.random.default_rng(0)
    write_wei_file(d / "wei.h5", {n: rng.random((16, 20)).astype(np.float32) for n in names},
                   {n: rng.uniform(1, 14, (3, 2)) for n in names}, names,
                   [{"Material/Orientation": "WS2[0001]", "pixel size (pm)": 10.0, "contrast": 0.5} for _ in names])
    files["wei"] = d / "wei.h5"
    from atomdata.sources.registry import Registry, save_registry
    from atomdata.sources.registry import entry_from_dataset as entry

    files["registry"] = save_registry(Registry(datasets=[entry(ds)]), d / "registry.json")
    import torch

    from atomdata.models.train.state import save

    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 2, 3)
    save({"state_dict": net.state_dict(), "meta": {"model": "tiny"}}, d / "weights.pt")
    files["weights"] = d / "weights.pt"
    opt = torch.optim.Adam(net.parameters())
    save({"format": "atomdata-train-checkpoint/1", "fingerprint": "f" * 64, "state_dict": net.state_dict(),
          "optimizer": opt.state_dict(), "step": 3, "history": [], "elapsed_s": 1.0,
          "rng": {"torch": torch.random.get_rng_state()}}, d / "checkpoint.pt")
    files["checkpoint"] = d / "checkpoint.pt"
    return files


def _mutated(src: Path, edits, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    out = where / src.name
    out.write_bytes(mutate(src.read_bytes(), edits))
    return out


def _classify(outcome: str) -> None:
    """Count the outcome; fail on anything but success, a documented refusal, or an HDF5 hang/crash."""
    if outcome == "hang" or outcome.startswith("crash"):
        tally("fuzz: hdf5 hang/crash (upstream, counted)")
        return
    assert outcome in ("ok", "refused"), outcome


# -- split files ------------------------------------------------------------------------------------------
def _validate_split(path: str) -> str:
    try:
        validate_path(path)
        outcome = "ok"
    except (SplitFormatError, UnsafePathError, SizeLimitError, FileNotFoundError) as e:
        if Path(path).name not in str(e):
            return f"LEAK message without the file name: {e}"
        outcome = "refused"
    except Exception as e:
        return f"LEAK {type(e).__name__}: {e}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(["validate", path])
    lines = err.getvalue().splitlines()
    if rc != (0 if outcome == "ok" else 1) or (rc and (len(lines) != 1 or Path(path).name not in lines[0])):
        return f"LEAK cli rc {rc}: {err.getvalue()!r}"
    return outcome


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("which", ["split", "split-raw"])
def test_fuzz_split_file_bytes(originals, tmp_path, n, which):
    @_settings(n)
    @given(edits=EDITS)
    def run(edits):
        tally("fuzz: split file bytes")
        _classify(in_child(_validate_split, str(_mutated(originals[which], edits, tmp_path / "m"))))

    run()


ATTRS = ["format", "format_version", "schema_version", "n_images", "image_groups", "species_names", "split",
         "complete", "array_names"]
DATASETS = ["records", "image_id", "subset", "pixel_size_A", "image_group", "image_row", "columns/xy",
            "columns/offsets", "columns/species", "columns/target", "images/32x32"]
ARRAYS = st.one_of(
    st.integers(-3, 40).map(lambda v: np.array(v)),
    st.lists(st.integers(-2**31, 2**31 - 1), max_size=8).map(lambda v: np.array(v, dtype=np.int64)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=8).map(np.array),
    st.lists(st.text(max_size=8), max_size=4).map(lambda v: np.array(v, dtype=object)),
)
STRUCT_EDIT = st.one_of(
    st.tuples(st.just("attr"), st.sampled_from(ATTRS), JSON_LEAF | st.integers(-5, 5)),
    st.tuples(st.just("del-attr"), st.sampled_from(ATTRS), st.none()),
    st.tuples(st.just("replace"), st.sampled_from(DATASETS), ARRAYS),
    st.tuples(st.just("delete"), st.sampled_from(DATASETS), st.none()),
    st.tuples(st.just("element"), st.sampled_from(DATASETS), st.integers(-2**40, 2**40)),
)


def _edit_structure(path: Path, edits) -> None:
    with h5py.File(path, "r+") as f:
        for kind, name, value in edits:
            if kind == "attr":
                f.attrs[name] = json.dumps(value) if isinstance(value, (list, dict)) or value is None else value
            elif kind == "del-attr" and name in f.attrs:
                del f.attrs[name]
            elif kind in ("replace", "delete") and name in f:
                del f[name]
                if kind == "replace":
                    f.create_dataset(name, data=value, dtype=h5py.string_dtype() if value.dtype == object else None)
            elif kind == "element" and name in f and f[name].size and f[name].dtype.kind in "iuf":
                ds = f[name]
                idx = tuple(0 for _ in ds.shape)
                ds[idx] = np.clip(value, np.iinfo(np.int32).min, np.iinfo(np.int32).max) if ds.dtype.kind in "iu" \
                    else float(value)


@pytest.mark.parametrize("n", SIZES)
def test_fuzz_split_file_structure(originals, tmp_path, n):
    @_settings(n)
    @given(edits=st.lists(STRUCT_EDIT, min_size=1, max_size=4))
    def run(edits):
        tally("fuzz: split file structure")
        p = tmp_path / "s" / "test.h5"
        p.parent.mkdir(exist_ok=True)
        shutil.copy2(originals["split"], p)
        try:
            _edit_structure(p, edits)
        except (TypeError, ValueError, OverflowError):
            return  # h5py refused to write that edit
        _classify(in_child(_validate_split, str(p)))

    run()


# -- manifests and the registry ------------------------------------------------------------------------
def _json_edit(doc, path_choice: int, value, delete: bool):
    """Replace (or delete) the leaf or branch number ``path_choice`` of a JSON document."""
    nodes = []

    def walk(obj, parent, key):
        nodes.append((parent, key))
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, obj, k)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, obj, i)

    walk(doc, None, None)
    parent, key = nodes[path_choice % len(nodes)]
    if parent is None:
        return value
    if delete:
        del parent[key]
    else:
        parent[key] = value
    return doc


@pytest.mark.parametrize("n", SIZES)
def test_fuzz_manifest(originals, tmp_path, n):
    @_settings(n)
    @given(edits=st.lists(st.tuples(st.integers(0, 10_000), JSON_VALUE, st.booleans()), min_size=1, max_size=3),
           raw=st.none() | EDITS)
    def run(edits, raw):
        tally("fuzz: manifest")
        folder = tmp_path / "ds"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(originals["dataset"], folder)
        doc = json.loads((folder / "manifest.json").read_text())
        for where, value, delete in edits:
            doc = _json_edit(doc, where, value, delete)
        text = json.dumps(doc).encode()
        (folder / "manifest.json").write_bytes(mutate(text, raw) if raw else text)
        outside = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
        try:
            validate_path(folder)
        except (SplitFormatError, UnsafePathError, FileNotFoundError) as e:
            assert "manifest" in str(e) or "ds" in str(e), e
        assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == outside

    run()


@pytest.mark.parametrize("n", SIZES)
def test_fuzz_registry(originals, tmp_path, n):
    @_settings(n)
    @given(edits=st.lists(st.tuples(st.integers(0, 10_000), JSON_VALUE, st.booleans()), min_size=1, max_size=3),
           raw=st.none() | EDITS)
    def run(edits, raw):
        tally("fuzz: registry")
        doc = json.loads(originals["registry"].read_text())
        for where, value, delete in edits:
            doc = _json_edit(doc, where, value, delete)
        text = json.dumps(doc).encode()
        p = tmp_path / "registry.json"
        p.write_bytes(mutate(text, raw) if raw else text)
        try:
            reg = load_registry(p)
        except ValueError as e:
            assert str(p) in str(e)
            return
        for d in reg.datasets:  # every name a registry can hold stays a folder inside the cache
            folder = dataset_dir(d.name, d.version, tmp_path / "cache", create=False)
            assert folder.parent.parent == tmp_path / "cache"

    run()


# -- predictions ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("suffix", [".csv", ".npz", ".npy", ".h5"])
def test_fuzz_predictions(originals, tmp_path, n, suffix):
    @_settings(n)
    @given(edits=EDITS)
    def run(edits):
        tally(f"fuzz: predictions {suffix}")
        p = _mutated(originals[f"predictions{suffix}"], edits, tmp_path / "m")
        try:
            preds = load_predictions(p)
        except ValueError as e:  # PredictionsError, SizeLimitError, UnsafePathError, bad positions
            assert p.name in str(e), e
            return
        for k, xy in preds.items():
            assert isinstance(k, str) and xy.dtype == np.float64 and xy.ndim == 2 and xy.shape[1] == 2
            assert np.isfinite(xy).all()

    run()


# -- the Wei file, weights, checkpoints --------------------------------------------------------------------
def _read_wei(path: str) -> str:
    try:
        split = open_wei(path)
        for i in range(len(split)):
            split.record(i)
            split.image(i)
        return "ok"
    except (SplitFormatError, UnsafePathError, SizeLimitError, FileNotFoundError) as e:
        return "refused" if Path(path).name in str(e) else f"LEAK message without the file name: {e}"
    except Exception as e:
        return f"LEAK {type(e).__name__}: {e}"


@pytest.mark.parametrize("n", SIZES)
def test_fuzz_wei_file(originals, tmp_path, n):
    @_settings(n)
    @given(edits=EDITS)
    def run(edits):
        tally("fuzz: wei file")
        _classify(in_child(_read_wei, str(_mutated(originals["wei"], edits, tmp_path / "m"))))

    run()


@pytest.mark.parametrize("n", SIZES)
def test_fuzz_weights_and_checkpoints(originals, tmp_path, n):
    from atomdata.models.train.state import read_checkpoint
    from atomdata.models.weights import WeightsError, load_state_dict_file

    @_settings(n)
    @given(edits=EDITS, which=st.sampled_from(["weights", "checkpoint"]))
    def run(edits, which):
        tally(f"fuzz: {which}")
        p = _mutated(originals[which], edits, tmp_path / "m")
        if which == "weights":
            try:
                load_state_dict_file(p)
            except WeightsError as e:
                assert p.name in str(e)
        else:
            try:
                read_checkpoint(p, fmt="atomdata-train-checkpoint/1", fingerprint="f" * 64)
            except ValueError as e:
                assert p.name in str(e)

    run()
