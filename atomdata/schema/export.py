"""JSON Schema export of the public models (checked in under ``schemas/`` by ``scripts/make_schemas.py``)."""
from __future__ import annotations

from atomdata.schema.columns import Column
from atomdata.schema.constants import SCHEMA_VERSION
from atomdata.schema.hrtem import HRTEMRecord
from atomdata.schema.manifest import DatasetManifest
from atomdata.schema.records import ImageRecord

__all__ = ["json_schemas"]


def json_schemas() -> dict[str, dict]:
    """JSON Schema of every public model, keyed by file stem (e.g. 'image_record')."""
    schemas = {
        "image_record": ImageRecord.model_json_schema(),
        "dataset_manifest": DatasetManifest.model_json_schema(),
        "column": Column.model_json_schema(),
        "hrtem_record": HRTEMRecord.model_json_schema(),
    }
    for key, s in schemas.items():
        s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        s["$id"] = f"https://atomdata.org/schemas/{SCHEMA_VERSION}/{key}.json"
    return schemas
