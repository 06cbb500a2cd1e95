"""Foundry metadata, foundry-ml's offline get_as_dict on our split files, and fetch_with_foundry's failure modes."""
from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import sys
import threading

import h5py
import numpy as np
import pytest
from dataset_folder import write_dataset

from atomdata.sources import foundry as fy
from atomdata.storage import SplitFile


@pytest.fixture
def offline(monkeypatch):
    """Fail loudly on any network connection or Globus login attempt."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] if len(args) > 1 else kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    mdf_toolbox = pytest.importorskip("mdf_toolbox")
    monkeypatch.setattr(mdf_toolbox, "login", refuse)


def test_block_and_datacite_from_manifest(tmp_path):
    m = write_dataset(tmp_path / "1.0.0", {"train": [(32, 32)] * 3, "test": [(32, 32)] * 2})
    block = fy.foundry_block(m, dataset_dir=tmp_path / "1.0.0")
    assert block["short_name"] == "demo_bench" and block["data_type"] == "hdf5" and block["n_items"] == 5
    assert block["splits"] == [{"type": "train", "path": "train.h5", "label": "train"},
                               {"type": "test", "path": "test.h5", "label": "test"}]
    keys = {k["key"][0]: k for k in block["keys"]}
    assert keys["images/32x32"]["type"] == "input"
    assert keys["columns/xy"]["type"] == "target" and keys["columns/xy"]["units"] == "px"
    assert keys["pixel_size_A"]["units"] == "Å/px"
    with h5py.File(tmp_path / "1.0.0" / "train.h5") as f:  # every key names a dataset in the files
        assert all(k in f for k in keys)
    assert "images" in {k["key"][0] for k in fy.foundry_block(m)["keys"]}  # without the files: the group

    dc = fy.datacite_record(m)
    assert dc["creators"][0]["creatorName"] == "Doe, Jane"
    assert dc["creators"][0]["nameIdentifiers"][0]["nameIdentifier"] == "0000-0002-1825-0097"
    assert dc["publicationYear"] == 2025 and dc["version"] == "1.0.0" and "identifier" not in dc
    assert dc["rightsList"][0]["rightsURI"].startswith("https://creativecommons.org/licenses/by/4.0")
    doi = fy.datacite_record(m.model_copy(update={"doi": "10.18126/abcd-1234"}))
    assert doi["identifier"] == {"identifier": "10.18126/abcd-1234", "identifierType": "DOI"}
    assert fy.source_id_for(m) == "foundry_demo_bench_v1.0"


@pytest.mark.foundry
def test_metadata_validates_with_foundry_models(tmp_path):
    pytest.importorskip("foundry")
    m = write_dataset(tmp_path / "1.0.0", {"test": [(16, 16)]})
    block, dc = fy.foundry_block(m, dataset_dir=tmp_path / "1.0.0"), fy.datacite_record(m)
    fy.validate_foundry_metadata(block, dc)
    with pytest.raises(ValueError, match="invalid foundry block"):
        fy.validate_foundry_metadata({**block, "keys": [{"key": ["x"], "unit": "px"}]}, dc)
    with pytest.raises(ValueError, match="invalid DataCite record"):
        fy.validate_foundry_metadata(block, {k: v for k, v in dc.items() if k != "titles"})


@pytest.mark.foundry
def test_foundry_get_as_dict_reads_our_splits_offline(tmp_path, offline):
    pytest.importorskip("foundry")
    folder = tmp_path / "cache" / "demo-bench" / "1.0.0"
    write_dataset(folder, {"train": [(32, 32)] * 3, "test": [(32, 32)] * 2})
    data = fy.foundry_dataset(folder).get_as_dict()
    assert set(data) == {"train", "test"}
    for split in ("train", "test"):
        ref = SplitFile(folder / f"{split}.h5")
        inputs, targets = data[split]["input"], data[split]["target"]
        images = inputs["images/32x32"]
        assert isinstance(images, np.ndarray) and images.shape == (len(ref), 32, 32)
        per_image = np.split(targets["columns/xy"], targets["columns/offsets"][1:-1])
        for i in range(len(ref)):
            np.testing.assert_array_equal(images[inputs["image_row"][i]], ref.image(i))
            np.testing.assert_array_equal(per_image[i], ref.columns(i).xy)
        assert [s.decode() for s in inputs["image_id"]] == ref.image_ids
        np.testing.assert_array_equal(inputs["pixel_size_A"], ref.pixel_sizes_A)


@pytest.mark.foundry
def test_mixed_shapes_expose_the_image_group(tmp_path, offline):
    pytest.importorskip("foundry")
    folder = tmp_path / "1.0.0"
    write_dataset(folder, {"train": [(32, 32), (24, 40)], "test": [(32, 32)]})
    data = fy.foundry_dataset(folder).get_as_dict()
    group = data["train"]["input"]["images"]
    ref = SplitFile(folder / "train.h5")
    names = ref.image_groups
    inputs = data["train"]["input"]
    for i in range(len(ref)):
        stack = group[names[inputs["image_group"][i]]]
        np.testing.assert_array_equal(stack[inputs["image_row"][i]], ref.image(i))


@pytest.mark.foundry
def test_foundry_dataset_checks_the_folder(tmp_path):
    pytest.importorskip("foundry")
    folder = tmp_path / "1.0.0"
    write_dataset(folder, {"test": [(16, 16)]})
    (folder / "2.0").mkdir()
    with pytest.raises(ValueError, match=r"version-named folder\(s\) \['2.0'\]"):
        fy.foundry_dataset(folder)
    (folder / "2.0").rmdir()
    (folder / "test.h5").unlink()
    with pytest.raises(FileNotFoundError, match=r"\['test.h5'\]"):
        fy.foundry_dataset(folder)


def test_fetch_without_foundry_ml_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "foundry", None)  # makes `import foundry` raise ImportError
    with pytest.raises(fy.FoundryUnavailable) as e:
        fy.fetch_with_foundry("foundry_x_v1.0", tmp_path)
    assert str(e.value) == "foundry-ml is needed for Foundry downloads: pip install 'atomdata[foundry]'"


@pytest.mark.foundry
def test_fetch_without_credentials_never_logs_in(tmp_path, monkeypatch, offline):
    pytest.importorskip("foundry")
    monkeypatch.setenv(fy.TOKENS_ENV, str(tmp_path / "no-such-tokens.cfg"))
    with pytest.raises(fy.FoundryUnavailable, match="no Globus credentials.*no-such-tokens.cfg"):
        fy.fetch_with_foundry("foundry_x_v1.0", tmp_path / "out")
    empty = tmp_path / "empty.cfg"
    empty.write_text("")
    monkeypatch.setenv(fy.TOKENS_ENV, str(empty))
    with pytest.raises(fy.FoundryUnavailable, match="no usable Globus credentials.*NoSavedTokens"):
        fy.fetch_with_foundry("foundry_x_v1.0", tmp_path / "out")


class _ListingClient:
    """Stands in for Globus Transfer's ``operation_ls`` (the one call foundry-ml's listing makes)."""

    def __init__(self, tree: dict[str, list[str]]):
        self.tree = tree

    def operation_ls(self, endpoint, path):
        return {"path": path, "DATA": [{"name": n, "type": "file"} for n in self.tree.get(path, [])]}


@pytest.fixture
def mdf_server(tmp_path):
    """Serve ``<root>/foundry/<source_id>/`` over HTTP on 127.0.0.1."""
    root = tmp_path / "www"
    sid = root / "foundry" / "foundry_demo_v1.0"
    sid.mkdir(parents=True)
    (sid / "test.h5").write_bytes(b"split bytes " * 100)
    (sid / "manifest.json").write_text('{"name": "demo"}')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", sid
    server.shutdown()
    server.server_close()


@pytest.mark.foundry
def test_fetch_downloads_listed_files_atomically(tmp_path, mdf_server):
    pytest.importorskip("foundry")
    url, sid = mdf_server
    client = _ListingClient({"/foundry/foundry_demo_v1.0/": ["manifest.json", "test.h5"]})
    out = tmp_path / "out"
    got = fy.fetch_with_foundry("foundry_demo_v1.0", out, transfer_client=client, base_url=url, progress=False)
    assert sorted(p.name for p in got) == ["manifest.json", "test.h5"]
    assert (out / "test.h5").read_bytes() == (sid / "test.h5").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.h5"]  # no staging left

    good = hashlib.sha256((sid / "test.h5").read_bytes()).hexdigest()
    out2 = tmp_path / "out2"
    with pytest.raises(ValueError, match=f"checksum mismatch for test.h5.*expected sha256 {'0' * 64}, got {good}"):
        fy.fetch_with_foundry("foundry_demo_v1.0", out2, ["test.h5"], transfer_client=client, base_url=url,
                              expected_sha256={"test.h5": "0" * 64}, progress=False)
    assert list(out2.iterdir()) == []  # the bad download was deleted
    with pytest.raises(fy.FoundryUnavailable, match=r"has no file\(s\) \['val.h5'\]"):
        fy.fetch_with_foundry("foundry_demo_v1.0", out2, ["val.h5"], transfer_client=client, base_url=url)
    (sid / "test.h5").unlink()
    with pytest.raises(fy.FoundryUnavailable, match="download of test.h5 .* failed"):
        fy.fetch_with_foundry("foundry_demo_v1.0", out2, ["test.h5"], transfer_client=client, base_url=url,
                              progress=False)
    assert list(out2.iterdir()) == []
