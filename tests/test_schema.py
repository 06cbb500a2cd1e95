import json
import math

import numpy as np
import pytest
from helpers import make_record
from pydantic import ValidationError

from atomdata.schema import ColumnSet, DatasetManifest, ImageRecord, Lattice, Provenance, QualityMetrics, json_schemas


def test_record_json_round_trip_keeps_columns():
    rec = make_record(3, n_columns=7)
    again = ImageRecord.model_validate_json(rec.model_dump_json())
    assert again == rec
    assert again.columns == rec.columns
    assert again.columns.target.sum() == rec.columns.target.sum()


@pytest.mark.parametrize("value", [-0.1, 0.0])
def test_pixel_size_must_be_positive(value):
    with pytest.raises(ValidationError, match=rf"pixel_size_A must be a finite number > 0 \[Å/px\], got {value}"):
        QualityMetrics(pixel_size_A=value)


def test_psnr_as_string_is_rejected():
    with pytest.raises(ValidationError, match="psnr_db.*nominal must be a number, got 'high'|nominal must be a number, got 'high'"):
        QualityMetrics(pixel_size_A=0.1, psnr_db={"nominal": "high"})


def test_nan_metric_is_rejected():
    with pytest.raises(ValidationError, match="finite"):
        QualityMetrics(pixel_size_A=0.1, contrast={"measured": math.nan})


def test_contrast_outside_unit_interval_is_rejected():
    with pytest.raises(ValidationError, match=r"contrast.nominal must be within \[0, 1\], got 1.5"):
        QualityMetrics(pixel_size_A=0.1, contrast={"nominal": 1.5})


def test_nan_coordinate_is_rejected():
    with pytest.raises(ValueError, match=r"column 1 has a non-finite position"):
        ColumnSet.from_arrays([[1.0, 2.0], [np.nan, 3.0]], ["Sr", "Sr"])


def test_column_outside_image_is_rejected():
    rec = make_record(0, shape=(16, 16))
    data = rec.model_dump()
    data["columns"][0]["x"] = 15.6  # past W - 0.5
    with pytest.raises(ValidationError, match=r"column 0 at \(x, y\) = \(15.600.*outside the image of shape \(H, W\) = \(16, 16\)"):
        ImageRecord.model_validate(data)


def test_column_on_pixel_border_is_inside():
    ColumnSet.from_arrays([[-0.5, -0.5], [15.49, 15.49]], "W").check_inside((16, 16))


def test_wrong_shape_of_positions():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        ColumnSet(np.zeros((3, 3)), np.array(["a"] * 3), np.ones(3, bool))


def test_zone_axis_and_space_group_are_checked():
    with pytest.raises(ValidationError, match="zone_axis must look like"):
        Lattice(material="Si", formula="Si", zone_axis="110")
    with pytest.raises(ValidationError, match="space_group"):
        Lattice(material="Si", formula="Si", zone_axis="[110]", space_group=231)


def test_simulated_provenance_needs_simulator():
    with pytest.raises(ValidationError, match="simulator is required"):
        Provenance(kind="simulated")


def test_unknown_field_is_rejected():
    with pytest.raises(ValidationError, match="pixel_size"):
        QualityMetrics(pixel_size_A=0.1, pixel_size=0.1)


def test_manifest_version_must_be_semver():
    with pytest.raises(ValidationError, match="semantic version like '1.0.0', got '1.0'"):
        DatasetManifest(name="x", version="1.0", title="t")


def test_json_schema_validates_a_real_record():
    jsonschema = pytest.importorskip("jsonschema")
    rec = make_record(1)
    instance = json.loads(rec.model_dump_json())
    schema = json_schemas()["image_record"]
    jsonschema.Draft202012Validator(schema).validate(instance)
    instance["quality"]["pixel_size_A"] = "big"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(instance)
    instance = json.loads(rec.model_dump_json())
    instance["columns"][0]["x"] = "left"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(instance)


def test_checked_in_json_schema_matches_models():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_schemas", root / "scripts" / "make_schemas.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, text in mod.render().items():
        path = root / "schemas" / name
        assert path.exists(), f"{path} missing: run python scripts/make_schemas.py"
        assert path.read_text(encoding="utf-8") == text, f"{path} drifted from the models: run python scripts/make_schemas.py"
