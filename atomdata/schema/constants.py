"""Constants of the data model: its version and the split names of atomdata's benchmarks."""
from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "SPLITS"]

#: Version of this data model. Files written with another *major* version are
#: refused by the readers; bump the minor version for backwards-compatible
#: additions (new optional fields).
SCHEMA_VERSION = "1.0.0"

#: Split names used by atomdata's own benchmarks.
SPLITS = ("train", "val", "test", "generality")
