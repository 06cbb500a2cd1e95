"""Robustness: publishing, fetching, validating and building never touch a path outside their folders.

Every name read from data that becomes a path goes through one rule (schema.check_file_name,
storage.member_path): traversal (``..``), absolute names, separators and hidden names are refused,
symbolic links out of a folder are refused when reading and replaced (never followed) when
writing. Each case checks a folder *outside* with a tempting target (a valid split file with the
manifest's own checksum) before and after: it must be byte-for-byte and time-stamp unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tiny_dataset
from hostile_http import HostileServer, honest
from robust import one_line_error, snapshot, tally

from atomdata import cli
from atomdata.sources import open_split
from atomdata.sources.loaders import DatasetUnavailableError, load
from atomdata.sources.registry import Registry, entry_from_dataset, load_registry, save_registry
from atomdata.storage import UnsafePathError, dataset_dir, member_path, validate_path, verify_dataset

TRAVERSAL = ["../outside/test.h5", "{outside}/test.h5", "sub/../../outside/test.h5", "..", ".test.h5", "",
             "a\\..\\..\\outside\\test.h5", "test.h5\n"]


@pytest.fixture
def world(tmp_path):
    """(dataset folder, outside folder): the outside one holds a copy of the split file and a secret."""
    ds = tiny_dataset.build(tmp_path / "ds")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy2(ds / "test.h5", outside / "test.h5")
    (outside / "secret.txt").write_text("do not touch")
    return ds, outside


def _set_file_name(ds: Path, split: str, name: str) -> None:
    m = json.loads((ds / "manifest.json").read_text())
    m["splits"][split]["file"] = name
    (ds / "manifest.json").write_text(json.dumps(m))


def _commands(ds: Path, tmp_path: Path) -> dict[str, list[str]]:
    preds = tmp_path / "preds.csv"
    preds.write_text("image_id,x,y\n")
    return {"validate": ["validate", str(ds)], "validate-quick": ["validate", str(ds), "--quick"],
            "info": ["info", str(ds)],
            "evaluate": ["evaluate", "--data", str(ds), "--predictions", str(preds), "--missing", "empty",
                         "--n-boot", "10", "--quiet"]}


@pytest.mark.parametrize("name", TRAVERSAL)
def test_manifest_names_outside_the_folder_are_refused_everywhere(world, tmp_path, name, capsys):
    ds, outside = world
    name = name.format(outside=outside)
    _set_file_name(ds, "test", name)
    before, inside_before = snapshot(outside), snapshot(ds)
    for what, argv in _commands(ds, tmp_path).items():
        tally("paths")
        assert cli.main(argv) == 1, what
        line = one_line_error(capsys.readouterr().err, argv[0])
        assert "file name" in line and "manifest" in line, (what, line)
    for call in (lambda: validate_path(ds), lambda: verify_dataset(ds), lambda: open_split(ds, "test"),
                 lambda: entry_from_dataset(ds)):
        tally("paths")
        with pytest.raises(ValueError, match="file name"):
            call()
    assert snapshot(outside) == before and snapshot(ds) == inside_before


def test_symlink_out_of_the_folder_is_refused_when_reading(world, tmp_path, capsys):
    ds, outside = world
    (ds / "test.h5").unlink()
    (ds / "test.h5").symlink_to(outside / "test.h5")  # same bytes: the manifest's checksum would match
    before = snapshot(outside)
    for what, argv in _commands(ds, tmp_path).items():
        tally("paths")
        assert cli.main(argv) == 1, what
        assert "outside" in one_line_error(capsys.readouterr().err, argv[0])
    for call in (lambda: validate_path(ds), lambda: open_split(ds, "test"), lambda: entry_from_dataset(ds)):
        tally("paths")
        with pytest.raises(UnsafePathError, match="symbolic link"):
            call()
    assert snapshot(outside) == before


def test_symlink_inside_the_folder_is_fine(world):
    ds, _ = world
    (ds / "real").mkdir()
    os.replace(ds / "test.h5", ds / "real" / "test.h5")
    (ds / "test.h5").symlink_to(Path("real") / "test.h5")
    tally("paths")
    assert any("sha256 ok" in line for line in validate_path(ds))


def test_member_path_rule():
    tally("paths", 6)
    assert member_path("/data", "test.h5") == Path("/data/test.h5")
    for bad in ("../x", "/etc/passwd", "a/b", ".lock", "..", ""):
        with pytest.raises(UnsafePathError):
            member_path("/data", bad)


# -- registry and fetch ------------------------------------------------------------------------------------
def _raw_registry(tmp_path: Path, release: Path, **edits) -> Path:
    entry = json.loads(entry_from_dataset(release, published=True).model_dump_json())
    for key, value in edits.items():
        if key == "file":
            entry["files"][1]["file"] = value
        elif key == "build":
            entry["build"] = value
        else:
            entry[key] = value
    p = tmp_path / "registry.json"
    p.write_text(json.dumps({"registry_version": 1, "datasets": [entry]}))
    return p


@pytest.mark.parametrize("edit", [
    {"file": "../../outside/test.h5"}, {"file": "/etc/passwd"}, {"file": ".verified.json"},
    {"name": "../../outside"}, {"name": ".."}, {"version": "1.0.0/../../x"},
    {"build": {"function": "os:system", "options": {}}},
    {"build": {"function": "atomdata.build:build_dataset", "options": {"out_dir": "/tmp/x"}}},
    {"build": {"function": "atomdata.build:build_dataset", "options": {"workers": 10000}}},
])
def test_registry_names_and_builders_are_checked(world, tmp_path, edit, monkeypatch, capsys):
    ds, outside = world
    reg = _raw_registry(tmp_path, ds, **edit)
    before = snapshot(outside)
    tally("paths")
    with pytest.raises(ValueError, match=r"not a valid atomdata registry"):
        load_registry(reg)
    monkeypatch.setenv("ATOMDATA_REGISTRY", str(reg))
    cache = tmp_path / "cache"
    cache.mkdir()
    tally("paths")
    assert cli.main(["fetch", "tiny", "--cache", str(cache), "--quiet"]) == 1
    assert "not a valid atomdata registry" in one_line_error(capsys.readouterr().err, "fetch")
    assert snapshot(outside) == before and not any(cache.iterdir())


def _https_entry(release: Path, url: str):
    e = entry_from_dataset(release, source_id="tiny_v1.0", published=True)
    return e.model_copy(update={"files": [f.model_copy(update={"url": f"{url}/{f.file}"}) for f in e.files]})


@pytest.mark.parametrize("where", ["file", "part", "lock", "stamps"])
def test_fetch_never_writes_through_links_in_the_cache(world, tmp_path, where):
    ds, outside = world
    victim = outside / "secret.txt"
    cache = tmp_path / "cache"
    folder = cache / "tiny" / "1.0.0"
    folder.mkdir(parents=True)
    link = {"file": "test.h5", "part": ".test.h5.part", "lock": ".test.h5.lock", "stamps": ".verified.json"}[where]
    (folder / link).symlink_to(victim)
    before = snapshot(outside)
    routes = {f"/tiny/{p.name}": honest(p.read_bytes()) for p in ds.iterdir()}
    with HostileServer(routes) as srv:
        reg = save_registry(Registry(datasets=[_https_entry(ds, srv.url("/tiny"))]), tmp_path / "reg.json")
        split = load("tiny", split="test", cache_dir=cache, sources=("cache", "https"), progress=False, registry=reg)
    tally("paths")
    assert len(split) == 2 and not (folder / "test.h5").is_symlink()
    assert (folder / "test.h5").read_bytes() == (ds / "test.h5").read_bytes()
    assert snapshot(outside) == before


def test_fetch_refuses_a_cache_folder_linked_outside(world, tmp_path):
    ds, outside = world
    cache = tmp_path / "cache"
    (cache / "tiny").mkdir(parents=True)
    (cache / "tiny" / "1.0.0").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    tally("paths", 2)
    with pytest.raises(UnsafePathError, match="outside"):
        dataset_dir("tiny", "1.0.0", cache)
    reg = save_registry(Registry(datasets=[_https_entry(ds, "http://127.0.0.1:9/tiny")]), tmp_path / "reg.json")
    with pytest.raises(UnsafePathError):
        load("tiny", cache_dir=cache, progress=False, registry=reg)
    assert snapshot(outside) == before


def test_a_registry_entry_built_by_hand_still_cannot_name_other_code(world, tmp_path):
    ds, outside = world
    entry = entry_from_dataset(ds, published=False)
    evil = entry.build.model_construct(function="os:system", options={"command": "touch pwned"})  # skips validation
    reg = Registry(datasets=[entry.model_copy(update={"build": evil})])
    tally("paths")
    with pytest.raises(DatasetUnavailableError, match="not one of atomdata's builders"):
        load("tiny", cache_dir=tmp_path / "c", sources=("build",), progress=False, registry=reg)
    assert not (Path.cwd() / "pwned").exists()


# -- publish ----------------------------------------------------------------------------------------------


@pytest.fixture
def release(tmp_path):
    pytest.importorskip("foundry")
    pytest.importorskip("mdf_connect_client")
    from dataset_folder import write_dataset

    root = tmp_path / "R"
    write_dataset(root / "data", {"train": [(32, 32)] * 2, "test": [(32, 32)] * 2})
    return root


@pytest.mark.parametrize("staging", ["R", "R/data", "R/data/stage"])
def test_publish_refuses_an_overlapping_staging_folder(release, tmp_path, staging, capsys):
    before = snapshot(release / "data")
    tally("paths")
    assert cli.main(["publish", str(release / "data"), "--staging", str(tmp_path / staging), "--quick"]) == 1
    assert "overlaps the dataset folder" in one_line_error(capsys.readouterr().err, "publish")
    assert snapshot(release / "data") == before


def test_publish_never_writes_through_links(release, tmp_path, capsys):
    from atomdata.sources.publish import prepare_submission

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.json").write_text("{}")
    staging = tmp_path / "stage"
    staging.mkdir()
    (staging / "foundry.json").symlink_to(outside / "keep.json")
    before = snapshot(outside)
    prepare_submission(release / "data", staging_dir=staging, deep=False)
    tally("paths", 2)
    assert not (staging / "foundry.json").is_symlink() and snapshot(outside) == before
    (staging / "data").rename(tmp_path / "old-data")
    (staging / "data").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        prepare_submission(release / "data", staging_dir=staging, deep=False)
    assert snapshot(outside) == before


def test_publish_twice_into_the_same_staging_keeps_the_dataset(release, tmp_path):
    from atomdata.sources.publish import prepare_submission

    before = snapshot(release / "data")
    for _ in range(2):
        prepare_submission(release / "data", staging_dir=tmp_path / "stage", deep=False)
    tally("paths")
    assert snapshot(release / "data") == before


# -- HDF5 files that point outside themselves ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["external-link", "external-storage", "virtual"])
def test_hdf5_files_that_refer_to_other_files_are_refused(world, tmp_path, kind, capsys):
    ds, outside = world
    secret = outside / "secret.txt"
    target = tmp_path / "alone" / "test.h5"  # no manifest beside it (one would refuse the changed bytes first)
    target.parent.mkdir()
    shutil.copy2(ds / "test.h5", target)
    with h5py.File(target, "a") as f:
        if kind == "external-link":
            f["leak"] = h5py.ExternalLink(str(outside / "test.h5"), "/records")
        elif kind == "external-storage":
            f.create_dataset("leak", shape=(4,), dtype="u1", external=[(str(secret), 0, 4)])
        else:
            layout = h5py.VirtualLayout(shape=(2,), dtype="f8")
            layout[:] = h5py.VirtualSource(str(outside / "test.h5"), "pixel_size_A", shape=(2,))
            f.create_virtual_dataset("leak", layout)
    preds = tmp_path / "p.h5"
    with h5py.File(preds, "w") as f:
        f.create_dataset("test-00000", data=np.zeros((1, 2)))
        f.create_dataset("test-00001", shape=(4,), dtype="u1", external=[(str(secret), 0, 4)])
    for argv in (["validate", str(target)], ["info", str(target)],
                 ["evaluate", "--data", str(outside / "test.h5"), "--predictions", str(preds), "--quiet"]):
        tally("paths")
        assert cli.main(argv) == 1
        assert "self-contained" in one_line_error(capsys.readouterr().err, argv[0])
