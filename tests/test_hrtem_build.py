"""The HRTEM benchmark recipe: splits, byte-identical and resumable builds, records, registry, cite, Foundry."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from atomdata.build import build_dataset
from atomdata.build.recipes import get_recipe
from atomdata.schema import json_schemas
from atomdata.schema.hrtem import HRTEMRecord, hrtem_record
from atomdata.sim.hrtem import DATASET_NAME, hrtem_config
from atomdata.sim.recipe import Recipe
from atomdata.sources.citation import cite
from atomdata.sources.foundry.metadata import datacite_record, foundry_block
from atomdata.sources.registry import load_registry
from atomdata.storage import SplitFile, read_manifest


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("hrtem") / "q", name=DATASET_NAME, quick=True, workers=2,
                         progress=False)


def test_recipe_is_registered_and_implements_the_protocol():
    rec = get_recipe(DATASET_NAME, quick=True)
    assert isinstance(rec, Recipe) and rec.version == "1.0.0-quick"
    full = hrtem_config()
    assert {s: full.n_images(s) for s in full.splits} == {"train": 240, "val": 32, "test": 120, "generality": 48}
    with pytest.raises(ValueError, match="Unknown split 'tset'. Valid splits: train, val, test, generality."):
        full.n_images("tset")
    with pytest.raises(ValueError, match="no HRTEM benchmark config for version '2.0.0'"):
        hrtem_config(version="2.0.0")


def test_test_split_sweeps_every_axis_with_several_seeds():
    specs = hrtem_config().n_images("test")
    from atomdata.sim.hrtem.benchmark import split_specs

    sweeps = {}
    for s in split_specs(hrtem_config(), "test"):
        sw = s.extra["sweep"]
        sweeps.setdefault(sw["metric"], set()).add((sw["value"], sw["seed_index"]))
    assert set(sweeps) == {"dose_e_per_A2", "defocus_offset_nm", "diameter_nm", "support_thickness_nm",
                           "pixel_size_A", "off_axis_deg", "atomic_number"}
    assert all(len({k for _, k in v}) == 3 for v in sweeps.values()) and specs == 120


def test_quick_build_is_byte_identical_whatever_the_workers(quick, tmp_path):
    again = build_dataset(tmp_path / "again", name=DATASET_NAME, quick=True, workers=1, progress=False)
    a, b = read_manifest(quick), read_manifest(again)
    assert {k: v.sha256 for k, v in a.splits.items()} == {k: v.sha256 for k, v in b.splits.items()}
    assert set(a.splits) == {"train", "val", "test", "generality"}


def test_build_resumes_from_finished_splits(tmp_path):
    out = build_dataset(tmp_path / "r", name=DATASET_NAME, quick=True, splits=["val"], workers=1, progress=False)
    mtime = (out / "val.h5").stat().st_mtime_ns
    build_dataset(out, name=DATASET_NAME, quick=True, splits=["val", "generality"], workers=1, progress=False)
    assert (out / "val.h5").stat().st_mtime_ns == mtime
    assert set(read_manifest(out).splits) == {"val", "generality"}


def test_masks_instances_and_particle_records_round_trip(quick):
    with SplitFile(quick / "test.h5") as s:
        assert s.array_names == ["instances", "mask"]
        assert s.h5["arrays/mask/64x64"].chunks == (1, 64, 64)  # chunked like the images
        for i in range(len(s)):
            rec = s.record(i)
            h = hrtem_record(rec.extra)
            inst, mask = s.array("instances", i), s.array("mask", i)
            assert np.array_equal(mask, (inst > 0).astype(np.uint8))
            areas = np.bincount(inst.ravel(), minlength=len(h.particles) + 1)[1:]
            assert [p.area_px for p in h.particles] == areas.tolist()
            for p in h.particles:
                mine = inst == p.instance_id
                touching = set(np.unique(inst[binary_dilation(mine, iterations=2)])) - {0, p.instance_id}
                if p.area_px and not p.cut_by_border and not touching:  # alone: its pixels centre on its atoms
                    ys, xs = np.nonzero(mine)
                    assert abs(xs.mean() - p.center_xy[0]) < 2.5 and abs(ys.mean() - p.center_xy[1]) < 2.5
            assert h.conditions.pixel_size_A == rec.pixel_size_A
            assert len(rec.columns) == 0 and rec.dtype == "float32"


def test_hrtem_record_schema_is_exported_and_errors_are_clear():
    assert "hrtem_record" in json_schemas()
    with pytest.raises(KeyError, match="not an image of the HRTEM segmentation task"):
        hrtem_record({"sweep": {}})
    with pytest.raises(ValueError, match="instance_id 1..1 in order"):
        HRTEMRecord.model_validate({"conditions": {"voltage_kV": 300, "defocus_nm": 50, "Cs_mm": 1, "focal_spread_nm": 3,
                                                   "convergence_mrad": 0.2, "dose_e_per_A2": None,
                                                   "support_thickness_nm": 5, "pixel_size_A": 0.5,
                                                   "slice_thickness_A": 5},
                                    "particles": [{"instance_id": 2, "element": "Au", "shape": "wulff",
                                                   "diameter_nm": 3, "projected_diameter_nm": 3, "n_atoms": 500,
                                                   "zone_axis": "[110]", "off_axis_deg": 0, "twinned": False,
                                                   "center_xy": [1, 2], "area_px": 10, "cut_by_border": False}]})


def test_registry_cite_and_foundry_know_the_dataset(quick):
    reg = load_registry()
    entry = reg.resolve(DATASET_NAME)
    assert entry.version == "1.0.0" and entry.build.options["name"] == DATASET_NAME and not entry.published
    bib = cite(DATASET_NAME, format="bibtex")
    assert "10.1038/s41524-020-00363-x" in bib and "10.1038/s41524-024-01336-0" in bib
    assert "10.1107/S205327331401643X" in bib
    dc = json.loads(cite(DATASET_NAME, format="datacite"))
    assert "HRTEM" in dc["resourceType"]["resourceType"]
    m = read_manifest(quick)
    keys = [k["key"][0] for k in foundry_block(m, dataset_dir=quick)["keys"]]
    assert "arrays/mask" in keys and "arrays/instances" in keys and not any(k.startswith("columns/") for k in keys)
    assert datacite_record(m)["subjects"][1] == {"subject": "HRTEM"}


@pytest.mark.foundry
def test_publish_dry_run_stages_the_hrtem_dataset(quick, tmp_path):
    pytest.importorskip("foundry")
    from atomdata.sources.publish import prepare_submission

    sub = prepare_submission(quick, staging_dir=tmp_path / "stage", deep=False)
    foundry = json.loads((tmp_path / "stage" / "foundry.json").read_text())
    assert {"arrays/mask", "arrays/instances"} <= {k["key"][0] for k in foundry["keys"]}
    assert sorted(p.name for p in (tmp_path / "stage" / "data").iterdir()) == [
        "generality.h5", "manifest.json", "test.h5", "train.h5", "val.h5"]
    assert sub is not None
