"""atomdata: versioned, citable benchmarks for machine learning on atomic-resolution images.

``import atomdata`` is light: it loads nothing until a name is used. The names
below are loaded on first access (a module ``__getattr__``), so torch, scipy and
matplotlib are imported only by the parts that need them.

Coordinates everywhere are (x, y) in pixels (x = column index, y = row index,
origin at the centre of the top-left pixel) unless a name says Angstrom.

Examples
--------
>>> import atomdata
>>> atomdata.__version__ == atomdata._version.__version__
True
>>> sorted(set(atomdata.__all__) - set(dir(atomdata)))  # every public name resolves
[]
"""
from __future__ import annotations

import importlib

from atomdata._version import __version__

#: Public name -> the module that defines it (imported on first access).
_EXPORTS = {
    # data model
    "SCHEMA_VERSION": "atomdata.schema",
    "Column": "atomdata.schema",
    "ColumnSet": "atomdata.schema",
    "DatasetManifest": "atomdata.schema",
    "ImageRecord": "atomdata.schema",
    "Lattice": "atomdata.schema",
    "Provenance": "atomdata.schema",
    "QualityMetrics": "atomdata.schema",
    # split files
    "SplitFile": "atomdata.storage",
    "SplitWriter": "atomdata.storage",
    # getting data
    "open_split": "atomdata.sources",
    "load": "atomdata.sources",
    "cite": "atomdata.sources",
    "open_wei": "atomdata.sources",
    # torch
    "AtomColumnDataset": "atomdata.datasets",
    # scoring
    "evaluate": "atomdata.evaluation",
    "score_image": "atomdata.evaluation",
}
#: Subpackages reachable as attributes (``atomdata.models.get(...)``).
_SUBPACKAGES = ("schema", "sim", "storage", "build", "sources", "datasets", "models", "evaluation", "reproduce")

__all__ = ["__version__", *_EXPORTS, "models"]  # noqa: F822 (loaded by __getattr__)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"atomdata.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'atomdata' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES))
