"""Getting datasets: the version registry, downloads, Foundry/MDF, the Wei file, publishing, citing.

* :func:`open_split` -- the one resolver from anything that names a split to a reader;
* :func:`load` -- a registered dataset version into the cache (cache, Foundry, HTTPS, local build);
* :func:`open_wei` -- the original Wei et al. benchmark file as a split;
* :func:`cite` -- the citation of a dataset version and the works it builds on;
* :mod:`atomdata.sources.publish` -- staging and submitting a version to Foundry/MDF.
"""
from __future__ import annotations

from atomdata.sources.citation import cite
from atomdata.sources.loaders import SOURCES, DatasetUnavailableError, load
from atomdata.sources.registry import DEFAULT_DATASET, DEFAULT_VERSION, Registry, UnknownVersionError, load_registry
from atomdata.sources.resolve import DatasetNotFoundError, open_split, resolve_dataset
from atomdata.sources.wei import WeiSplit, open_wei

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_VERSION",
    "SOURCES",
    "DatasetNotFoundError",
    "DatasetUnavailableError",
    "UnknownVersionError",
    "Registry",
    "load_registry",
    "open_split",
    "resolve_dataset",
    "load",
    "open_wei",
    "WeiSplit",
    "cite",
]
