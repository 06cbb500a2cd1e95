"""PyTorch datasets over atomdata splits: items, training labels, augmentations, batching, plots.

The names below load on first use (``import atomdata.datasets`` alone imports
nothing heavy); :mod:`atomdata.datasets.labels` and
:mod:`atomdata.datasets.transforms` need only numpy.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "AtomColumnDataset": "atomdata.datasets.atoms",
    "NanoparticleDataset": "atomdata.datasets.segmentation",
    "IterableAtomColumnDataset": "atomdata.datasets.streaming",
    "collate_columns": "atomdata.datasets.collate",
    "plot_sample": "atomdata.datasets.plot",
    "NORMALIZATIONS": "atomdata.datasets.items",
    "LABELS": "atomdata.datasets.labels",
    "render_label": "atomdata.datasets.labels",
    "DatasetNotFoundError": "atomdata.sources.resolve",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'atomdata.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
