"""The data model: typed records of one image and of a dataset version, and the boundary checks.

Conventions used everywhere in atomdata
---------------------------------------
* Positions are ``(x, y)`` in **pixels**: ``x`` is the column index, ``y`` the
  row index, and the origin is the *centre* of the top-left pixel. Arrays of
  positions have shape ``(N, 2)``; images are indexed ``image[y, x]``.
* Physical quantities carry their unit in the field name (``pixel_size_A``,
  ``resolution_pm``, ``dose_e_per_A2``) and in the field description.
* A *target* column is a labelled column that is scored; the others are labels
  kept for training and plots but never scored.

This is the lowest layer of atomdata: it imports nothing else of the package.
"""
from __future__ import annotations

from atomdata.schema.checks import MAX_POSITION_PX, check_file_name, check_finite, check_image, check_pixel_size, check_xy
from atomdata.schema.columns import Column, ColumnSet
from atomdata.schema.constants import SCHEMA_VERSION, SPLITS
from atomdata.schema.export import json_schemas
from atomdata.schema.manifest import Creator, DatasetManifest, SplitInfo
from atomdata.schema.records import (
    METRIC_FIELDS,
    ImageRecord,
    Lattice,
    MetricValue,
    Provenance,
    QualityMetrics,
    StructureKind,
)

__all__ = [
    "SCHEMA_VERSION",
    "SPLITS",
    "METRIC_FIELDS",
    "StructureKind",
    "Lattice",
    "Column",
    "ColumnSet",
    "MetricValue",
    "QualityMetrics",
    "Provenance",
    "ImageRecord",
    "SplitInfo",
    "Creator",
    "DatasetManifest",
    "json_schemas",
    "check_xy",
    "check_pixel_size",
    "check_image",
    "check_finite",
    "check_file_name",
    "MAX_POSITION_PX",
]
