"""What a dataset recipe offers the builder: the contract between a simulation task and :mod:`atomdata.build`.

A *recipe* defines one version of one simulated dataset: its splits, how many images
each holds, and how to make image ``index`` of a split -- a pure function of
``(recipe, split, index)``, so shards can be built anywhere and merged in order.
Each imaging task has its own recipe (:class:`atomdata.sim.stem.benchmark.BenchmarkConfig`
for the atom-column benchmark); the builder, storage and sources serve all of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from atomdata.schema import ImageRecord

__all__ = ["Sample", "Recipe", "cached_specs", "config_fingerprint"]


@dataclass
class Sample:
    """One simulated image as the builder writes it.

    ``arrays`` holds per-image label arrays stored beside the image (e.g. the masks of a
    segmentation task), keyed by dataset name; empty for the atom-column benchmark.
    """

    record: ImageRecord
    image: np.ndarray
    arrays: dict = field(default_factory=dict)


@runtime_checkable
class Recipe(Protocol):
    """A dataset version the builder can make (see the module notes)."""

    #: Registered dataset name, e.g. ``"atomdata-benchmark"``.
    dataset_name: str
    #: Version, e.g. ``"1.0.0"`` (``"1.0.0-quick"`` for the quick config of 1.0.0).
    version: str
    #: Images per shard file.
    shard_size: int

    @property
    def splits(self) -> tuple[str, ...]:
        """Split names in manifest order."""

    @property
    def simulator_version(self) -> str:
        """Version of the image formation: bumped whenever the same parameters would give other pixels."""

    @property
    def made_by(self) -> str:
        """The release recorded in the files (``created_by``), pinned per recipe version."""

    def fingerprint(self) -> str:
        """Short hash of everything that decides the bytes: shards of another fingerprint are never reused."""

    def to_dict(self) -> dict:
        """JSON form stored in the manifest's ``generator``."""

    def manifest_text(self) -> tuple[str, str]:
        """``(title, description)`` of the dataset version, for its manifest."""

    def n_images(self, split: str) -> int:
        """Number of images of ``split`` (``ValueError`` naming the valid splits for an unknown one)."""

    def make(self, split: str, index: int) -> Sample:
        """Image ``index`` of ``split``: a pure function of ``(recipe, split, index)``."""


def config_fingerprint(config: dict, simulator_version: str) -> str:
    """Short hash (12 hex digits) of a recipe's config and its simulator version.

    Shards built under another fingerprint are never reused; the value is also recorded in the manifest.
    """
    import hashlib
    import json

    blob = json.dumps({"config": config, "simulator": simulator_version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


_SPECS: dict = {}


def cached_specs(config, split: str, make_specs):
    """``make_specs(config, split)``, computed once per process and config (a worker builds many shards of one split).

    Keyed by the recipe's ``fingerprint()``, the split and the function, so recipes never share entries;
    at most 16 entries are kept.
    """
    key = (getattr(make_specs, "__module__", ""), getattr(make_specs, "__qualname__", ""), config.fingerprint(), split)
    if key not in _SPECS:
        if len(_SPECS) > 16:
            _SPECS.clear()
        _SPECS[key] = make_specs(config, split)
    return _SPECS[key]
