import json
import subprocess
import sys

import h5py
import pytest
from helpers import make_image, make_record

from atomdata.cli import main
from atomdata.schema import DatasetManifest, SplitInfo
from atomdata.storage import sha256_file, write_manifest, write_split


@pytest.fixture
def dataset(tmp_path):
    recs = [make_record(i, subset=("a" if i < 3 else "b")) for i in range(5)]
    path = tmp_path / "test.h5"
    write_split(path, ((r, make_image(r, seed=i)) for i, r in enumerate(recs)), split="test",
                dataset_name="unit", dataset_version="1.0.0")
    manifest = DatasetManifest(
        name="unit", version="1.0.0", title="unit test data",
        splits={"test": SplitInfo(file="test.h5", sha256=sha256_file(path), size_bytes=path.stat().st_size,
                                  n_images=5, n_columns=sum(len(r.columns) for r in recs), subsets={"a": 3, "b": 2})},
    )
    write_manifest(tmp_path, manifest)
    return tmp_path


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "atomdata", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "info" in out.stdout and "validate" in out.stdout


def test_info_counts_and_ranges(dataset, capsys):
    assert main(["info", str(dataset / "test.h5"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_images"] == 5
    assert summary["subsets"] == {"a": 3, "b": 2}
    assert summary["metrics"]["contrast"] == {"min": 0.48, "max": 0.48}
    assert main(["info", str(dataset)]) == 0
    assert "unit 1.0.0" in capsys.readouterr().out


def test_validate_ok_and_checksum_failure(dataset, capsys):
    assert main(["validate", str(dataset)]) == 0
    assert "sha256 ok" in capsys.readouterr().out
    with h5py.File(dataset / "test.h5", "a") as f:
        f.attrs["note"] = "tampered"
    assert main(["validate", str(dataset)]) == 1
    err = capsys.readouterr().err
    assert "differs from the manifest" in err and "test.h5" in err


def test_validate_reports_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert main(["validate", str(bad)]) == 1
    assert "bad.h5" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.h5")]) == 1
    assert "split file not found" in capsys.readouterr().err
