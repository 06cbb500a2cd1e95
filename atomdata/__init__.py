"""atomdata: a versioned, citable benchmark for locating atomic columns in HAADF-STEM images.

Importing atomdata is light (numpy, pydantic, h5py); torch, matplotlib and
foundry-ml are imported only by the modules that need them.

Coordinates everywhere are (x, y) in pixels (x = column index, y = row index,
origin at the centre of the top-left pixel) unless a name says Angstrom.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .schema import (  # noqa: E402
    SCHEMA_VERSION,
    Column,
    ColumnSet,
    DatasetManifest,
    ImageRecord,
    Lattice,
    Provenance,
    QualityMetrics,
)
from .storage import SplitFile, SplitWriter, open_split  # noqa: E402
from .loaders import load  # noqa: E402
from .cite import cite  # noqa: E402
from .wei import open_wei  # noqa: E402

__all__ = [
    "__version__",
    "SCHEMA_VERSION",
    "Column",
    "ColumnSet",
    "DatasetManifest",
    "ImageRecord",
    "Lattice",
    "Provenance",
    "QualityMetrics",
    "SplitFile",
    "SplitWriter",
    "open_split",
    "load",
    "cite",
    "open_wei",
]
