"""atomdata.load and the version registry, with tiny real datasets and a real HTTP server on 127.0.0.1."""
import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
import tiny_dataset
from local_http import FileServer, dead_url

from atomdata.sources.loaders import DatasetUnavailableError, check_wei_layout, load
from atomdata.sources.registry import (
    DEFAULT_DATASET,
    DEFAULT_VERSION,
    REGISTRY_ENV,
    BuildRecipe,
    Registry,
    UnknownVersionError,
    entry_from_dataset,
    load_registry,
    mdf_url,
    save_registry,
)
from atomdata.storage import SplitFile, SplitFormatError

NET = ("cache", "https")


def _serve_files(folder: Path, prefix: str = "/tiny_v1.0") -> dict[str, bytes]:
    return {f"{prefix}/{p.name}": p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def _registry(tmp_path, entries) -> Path:
    return save_registry(Registry(datasets=list(entries)), tmp_path / "registry.json")


def _entry(folder: Path, base_url: str, *, published=True, **kw):
    """Registry entry of a tiny dataset folder whose files are served under ``base_url``."""
    e = entry_from_dataset(folder, source_id="tiny_v1.0", published=published,
                           build=BuildRecipe(function="tiny_dataset:build",
                                             options={"name": "tiny", "version": kw.pop("build_version", None)
                                                      or json.loads((folder / "manifest.json").read_text())["version"]}),
                           **kw)
    files = [f.model_copy(update={"url": f"{base_url}/{f.file}"}) for f in e.files]
    return e.model_copy(update={"files": files})


@pytest.fixture
def tiny(tmp_path):
    return tiny_dataset.build(tmp_path / "release", version="1.0.0")


def test_https_load_split_then_cache_without_network(tmp_path, tiny):
    cache = tmp_path / "cache"
    with FileServer(_serve_files(tiny)) as srv:
        reg = _registry(tmp_path, [_entry(tiny, srv.url("/tiny_v1.0"))])
        split = load("tiny", version="1.0", split="test", cache_dir=cache, sources=NET, progress=False, registry=reg)
        assert isinstance(split, SplitFile) and len(split) == 2
        assert srv.gets("/tiny_v1.0/train.h5") == []  # only the requested split (and the manifest) was fetched
    folder = cache / "tiny" / "1.0.0"
    assert (folder / "test.h5").read_bytes() == (tiny / "test.h5").read_bytes()
    ref = SplitFile(tiny / "test.h5")
    np.testing.assert_array_equal(split.image(1), ref.image(1))
    np.testing.assert_array_equal(split.columns(0).xy, ref.columns(0).xy)
    # server gone: the verified cache alone serves the split
    again = load("tiny", version="1.0.0", split="test", cache_dir=cache, sources=("cache",), registry=reg)
    assert again.image_ids == ref.image_ids


def test_cache_dir_from_environment(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("ATOMDATA_CACHE", str(tmp_path / "envcache"))
    with FileServer(_serve_files(tiny)) as srv:
        monkeypatch.setenv(REGISTRY_ENV, str(_registry(tmp_path, [_entry(tiny, srv.url("/tiny_v1.0"))])))
        folder = load("tiny", sources=NET, progress=False)
    assert folder == tmp_path / "envcache" / "tiny" / "1.0.0"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == \
        ["manifest.json", "test.h5", "train.h5"]


def test_server_down_falls_back_to_build_and_logs_why(tmp_path, tiny, caplog):
    url = dead_url("/tiny_v1.0")
    reg = _registry(tmp_path, [_entry(tiny, url)])
    caplog.set_level(logging.INFO, logger="atomdata")
    split = load("tiny", split="train", cache_dir=tmp_path / "c", progress=False, registry=reg,
                 sources=("cache", "foundry", "https", "build"))
    assert len(split) == 3
    # the build reproduced the registered split bytes
    assert (tmp_path / "c/tiny/1.0.0/train.h5").read_bytes() == (tiny / "train.h5").read_bytes()
    text = caplog.text
    assert "skipping source 'cache'" in text
    assert "source 'foundry'" in text
    assert "source 'https' failed" in text and url.split("/tiny")[0] in text
    assert "ready in" in text and "(source 'build')" in text


def test_build_must_reproduce_registered_bytes(tmp_path, tiny):
    entry = _entry(tiny, dead_url())
    other = tiny_dataset.build(tmp_path / "other", version="1.0.0", seed=7)  # other image bytes
    entry = entry.model_copy(update={"build": BuildRecipe(function="tiny_dataset:build",
                                                          options={"name": "tiny", "version": "1.0.0", "seed": 7})})
    assert (other / "train.h5").read_bytes() != (tiny / "train.h5").read_bytes()
    reg = _registry(tmp_path, [entry])
    with pytest.raises(DatasetUnavailableError, match=r"build: .*does not reproduce the released bytes"):
        load("tiny", cache_dir=tmp_path / "c", sources=("build",), progress=False, registry=reg)
    assert not (tmp_path / "c/tiny/1.0.0/train.h5").exists()


def test_wrong_checksum_on_server_is_an_error_and_cache_stays_clean(tmp_path, tiny):
    files = _serve_files(tiny)
    files["/tiny_v1.0/test.h5"] = files["/tiny_v1.0/test.h5"][:-10] + b"0123456789"  # corrupted on the server
    with FileServer(files) as srv:
        reg = _registry(tmp_path, [_entry(tiny, srv.url("/tiny_v1.0"))])
        with pytest.raises(DatasetUnavailableError, match=r"https: .*test\.h5.*does not match"):
            load("tiny", split="test", cache_dir=tmp_path / "c", sources=NET, progress=False, registry=reg)
    folder = tmp_path / "c/tiny/1.0.0"
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) == ["manifest.json"]


def test_corrupt_cache_is_replaced_by_download(tmp_path, tiny):
    cache = tmp_path / "c"
    with FileServer(_serve_files(tiny)) as srv:
        reg = _registry(tmp_path, [_entry(tiny, srv.url("/tiny_v1.0"))])
        folder = load("tiny", cache_dir=cache, sources=NET, progress=False, registry=reg)
        data = bytearray((folder / "train.h5").read_bytes())
        data[-1] ^= 0xFF
        (folder / "train.h5").write_bytes(bytes(data))
        with pytest.raises(DatasetUnavailableError, match=r"cache: the cached copy is not valid"):
            load("tiny", cache_dir=cache, sources=("cache",), progress=False, registry=reg)
        load("tiny", cache_dir=cache, sources=NET, progress=False, registry=reg)
    assert (folder / "train.h5").read_bytes() == (tiny / "train.h5").read_bytes()


def test_unpublished_version_is_not_downloaded(tmp_path, tiny):
    reg = _registry(tmp_path, [_entry(tiny, dead_url(), published=False)])
    with pytest.raises(DatasetUnavailableError) as info:
        load("tiny", cache_dir=tmp_path / "c", sources=("cache", "foundry", "https"), registry=reg)
    msg = str(info.value)
    assert "cache: nothing cached" in msg
    assert "foundry: tiny 1.0.0 is not published" in msg
    assert "https: tiny 1.0.0 is not published yet" in msg


def test_unpublished_build_is_checked_against_its_manifest(tmp_path, tiny):
    """Without registered checksums the built files are checked against their own manifest."""
    entry = _entry(tiny, dead_url(), published=False)
    entry = entry.model_copy(update={"files": [f.model_copy(update={"sha256": None, "size_bytes": None})
                                               for f in entry.files]})
    reg = _registry(tmp_path, [entry])
    folder = load("tiny", cache_dir=tmp_path / "c", sources=("cache", "https", "build"), progress=False, registry=reg)
    (folder / "test.h5").write_bytes(b"not hdf5")
    with pytest.raises(DatasetUnavailableError, match="cached copy is not valid"):
        load("tiny", cache_dir=tmp_path / "c", sources=("cache",), registry=reg)


def test_version_resolution(tmp_path, tiny):
    base = _entry(tiny, "http://127.0.0.1:9/x")
    entries = [base.model_copy(update={"version": v}) for v in ["1.0.0", "1.0.1", "1.1.0", "2.0.0-rc1", "1.0.2-quick"]]
    reg = Registry(datasets=entries)
    assert reg.resolve("tiny", "1.0").version == "1.0.1"
    assert reg.resolve("tiny", "v1.0").version == "1.0.1"
    assert reg.resolve("tiny", "1").version == "1.1.0"
    assert reg.resolve("tiny", None).version == "1.1.0"  # latest release, not a pre-release
    assert reg.resolve("tiny", "2.0.0-rc1").version == "2.0.0-rc1"
    assert reg.versions("tiny") == ["1.0.0", "1.0.1", "1.0.2-quick", "1.1.0", "2.0.0-rc1"]
    with pytest.raises(UnknownVersionError, match=r"Unknown version '1\.2' of 'tiny'\. Known versions: 1\.0\.0, 1\.0\.1"):
        reg.resolve("tiny", "1.2")
    with pytest.raises(UnknownVersionError, match=r"Unknown dataset 'tinyy'\. Known datasets: tiny"):
        reg.resolve("tinyy")


def test_load_errors_name_valid_choices(tmp_path, tiny):
    reg = _registry(tmp_path, [_entry(tiny, dead_url())])
    with pytest.raises(ValueError, match=r"Unknown split 'tset' for tiny 1\.0\.0\. Valid splits: train, test\."):
        load("tiny", split="tset", registry=reg)
    with pytest.raises(ValueError, match=r"Valid sources: cache, foundry, https, build"):
        load("tiny", sources=("ftp",), registry=reg)
    with pytest.raises(UnknownVersionError, match="Known versions: 1.0.0"):
        load("tiny", version="9.9", registry=reg)


def _write_wei_layout(path: Path) -> None:
    with h5py.File(path, "w") as f:
        for g in ("imgs", "raw", "coords", "metadata"):
            f.create_group(g)
        f["imgs/a"] = np.zeros((8, 8), np.float32)
        f["raw/a"] = np.zeros((8, 8), np.float32)
        f["coords/a"] = np.array([[1.0, 2.0]])


def test_wei_download_checked_by_layout(tmp_path):
    good, bad = tmp_path / "good.h5", tmp_path / "bad.h5"
    _write_wei_layout(good)
    with h5py.File(bad, "w") as f:
        f["images"] = np.zeros(3)
    packaged = load_registry().resolve("wei_atom_locating", "1.1")
    with FileServer({"/wei/wei_atom.h5": good.read_bytes(), "/bad/wei_atom.h5": bad.read_bytes()}) as srv:
        for prefix, ok in (("/wei", True), ("/bad", False)):
            files = [f.model_copy(update={"url": srv.url(f"{prefix}/{f.file}")}) for f in packaged.files]
            reg = Registry(datasets=[packaged.model_copy(update={"files": files})])
            cache = tmp_path / f"cache{prefix.replace('/', '_')}"
            if ok:
                folder = load("wei_atom_locating", version="1.1", cache_dir=cache, sources=NET, progress=False,
                              registry=reg)
                assert (folder / "wei_atom.h5").read_bytes() == good.read_bytes()
                assert folder.parts[-2:] == ("wei_atom_locating", "1.1.0")
            else:
                with pytest.raises(DatasetUnavailableError, match=r"not in the Wei benchmark layout: missing imgs"):
                    load("wei_atom_locating", cache_dir=cache, sources=NET, progress=False, registry=reg)
                with pytest.raises(DatasetUnavailableError, match="nothing cached|missing"):
                    load("wei_atom_locating", cache_dir=cache, sources=("cache",), registry=reg)
    with pytest.raises(SplitFormatError, match="not a readable HDF5"):
        check_wei_layout(tmp_path / "registry-missing.h5")


def test_packaged_registry():
    reg = load_registry()
    assert reg.resolve().name == DEFAULT_DATASET and reg.resolve().version == DEFAULT_VERSION
    quick = reg.resolve(DEFAULT_DATASET, DEFAULT_VERSION + "-quick")
    assert quick.build is not None and quick.build.options == {"quick": True}
    assert reg.resolve(DEFAULT_DATASET, "1.0").version == DEFAULT_VERSION
    wei = reg.resolve("wei_atom_locating")
    assert wei.doi == "10.18126/e73h-3w6n" and wei.reader == "wei" and wei.build is None
    assert [f.url for f in wei.files] == [mdf_url("foundry_wei_atom_locating_benchmark_v1.1", "wei_atom.h5")]
    assert mdf_url("s", "f.h5") == "https://data.materialsdatafacility.org/foundry/s/f.h5"
    for e in reg.datasets:
        # every published atomdata-layout version pins its bytes; every file of a published version has a URL
        if e.published:
            assert all(f.url for f in e.files)
            if e.reader == "atomdata":
                assert all(f.sha256 and f.size_bytes is not None for f in e.files)
        if e.name == DEFAULT_DATASET:
            assert sorted(e.splits) == ["generality", "test", "train", "val"]


def test_registry_env_and_bad_file(tmp_path, monkeypatch):
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "nope.json"))
    with pytest.raises(FileNotFoundError, match=f"nope.json.*{REGISTRY_ENV}"):
        load_registry()
    (tmp_path / "bad.json").write_text('{"datasets": [{"name": 1}]}')
    with pytest.raises(ValueError, match="bad.json is not a valid atomdata registry"):
        load_registry(tmp_path / "bad.json")


def test_entry_from_dataset_pins_bytes_and_detects_drift(tmp_path, tiny):
    e = entry_from_dataset(tiny, source_id="foundry_tiny_v1.0")
    assert [f.file for f in e.files] == ["manifest.json", "train.h5", "test.h5"]
    assert e.files[1].url == mdf_url("foundry_tiny_v1.0", "train.h5")
    import hashlib
    assert e.files[2].sha256 == hashlib.sha256((tiny / "test.h5").read_bytes()).hexdigest()
    (tiny / "test.h5").write_bytes((tiny / "test.h5").read_bytes() + b"x")
    with pytest.raises(ValueError, match=r"test\.h5: sha256 .* differ from the manifest"):
        entry_from_dataset(tiny)


def test_make_registry_script_registers_a_built_version(tmp_path, tiny):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    reg = _registry(tmp_path, [])
    r = subprocess.run([sys.executable, str(repo / "scripts/make_registry.py"), str(tiny), "--source-id",
                        "foundry_tiny_v1.0", "--published", "--registry", str(reg)],
                       capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(repo), "PATH": ""})
    assert r.returncode == 0, r.stderr
    entry = load_registry(reg).resolve("tiny", "1.0")
    assert entry.published and entry.source_id == "foundry_tiny_v1.0"
    assert entry.split_file("train").url == mdf_url("foundry_tiny_v1.0", "train.h5")
    assert entry.split_file("train").size_bytes == (tiny / "train.h5").stat().st_size
