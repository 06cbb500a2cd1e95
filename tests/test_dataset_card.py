"""DATASET_CARD.md: the Hugging Face card layout, and its sample record and quick-build files are real."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from atomdata.build import build_dataset
from atomdata.storage import SplitFile, read_manifest

CARD = Path(__file__).resolve().parents[1] / "DATASET_CARD.md"
TEXT = CARD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("card") / "quick", quick=True, progress=False)


def _table_after(marker: str) -> dict[str, list[str]]:
    """Rows of the Markdown table that follows ``marker``: file name -> the other cells."""
    rows = {}
    for line in TEXT.split(marker, 1)[1].lstrip().splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if cells[0].endswith(".h5"):
            rows[cells[0]] = cells[1:]
    return rows


def test_yaml_header_has_the_hub_fields():
    m = re.match(r"---\n(.*?)\n---\n", TEXT, re.S)
    assert m, "DATASET_CARD.md must start with a YAML header between --- lines"
    meta = yaml.safe_load(m.group(1))
    assert meta["license"] == "cc-by-4.0"
    assert meta["pretty_name"] and meta["tags"] and meta["task_categories"]
    assert meta["size_categories"] == ["1K<n<10K"]  # 4,048 images in 1.0.0


def test_sections_of_the_card():
    headings = re.findall(r"^##+ (.+)$", TEXT, re.M)
    for name in ("Motivation", "Composition", "One sample record", "Collection process", "Labelling process",
                 "Uses", "Limitations and biases", "Maintenance", "Versions", "1.0.0", "Citation", "Licence"):
        assert name in headings, f"DATASET_CARD.md lacks a '{name}' section"
    assert "Out-of-scope uses" in TEXT and "Errata" in TEXT and "Contact" in TEXT


def test_version_1_0_0_table_adds_up_to_the_composition():
    rows = _table_after("<!-- files: 1.0.0 -->")
    assert sorted(rows) == ["generality.h5", "test.h5", "train.h5", "val.h5"]
    images = sum(int(r[0]) for r in rows.values())
    columns = sum(int(r[1]) for r in rows.values())
    size = sum(int(r[2]) for r in rows.values())
    assert all(re.fullmatch(r"[0-9a-f]{64}", r[3]) for r in rows.values())
    assert f"{images:,} images" in TEXT and f"{columns:,} labelled columns" in TEXT
    assert f"{round(size / 1e6)} MB" in TEXT


def test_quick_build_files_are_the_ones_in_the_card(quick):
    rows = _table_after("<!-- quick-files: 1.0.0-quick -->")
    manifest = read_manifest(quick)
    assert manifest.version == "1.0.0-quick"
    built = {info.file: [str(info.n_images), str(info.n_columns), str(info.size_bytes), info.sha256]
             for info in manifest.splits.values()}
    assert built == rows


def test_quick_build_of_1_1_0_has_the_files_in_the_card(tmp_path):
    from atomdata.build import build_dataset

    rows = _table_after("<!-- quick-files: 1.1.0-quick -->")
    folder = build_dataset(tmp_path / "q11", version="1.1.0", quick=True, workers=1, progress=False)
    manifest = read_manifest(folder)
    assert manifest.version == "1.1.0-quick"
    built = {info.file: [str(info.n_images), str(info.n_columns), str(info.size_bytes), info.sha256]
             for info in manifest.splits.values()}
    assert built == rows


def test_version_1_1_0_table_is_complete():
    rows = _table_after("<!-- files: 1.1.0 -->")
    assert sorted(rows) == ["generality.h5", "test.h5", "train.h5", "val.h5"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", r[3]) for r in rows.values())
    assert sum(int(r[0]) for r in rows.values()) == 4016


def test_sample_record_is_the_first_test_record_of_the_quick_build(quick):
    m = re.search(r"<!-- sample-record: 1.0.0-quick test 0 -->\n```json\n(.*?)\n```", TEXT, re.S)
    assert m, "DATASET_CARD.md lacks its sample record"
    record = SplitFile(quick / "test.h5").record(0)
    assert json.loads(m.group(1)) == json.loads(record.model_dump_json())
    assert m.group(1) == record.model_dump_json(indent=2)
