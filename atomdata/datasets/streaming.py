"""Streaming PyTorch dataset over one or many split files: :class:`IterableAtomColumnDataset`.

Items are the dicts of :mod:`atomdata.datasets.atoms`; positions are (x, y) in pixels.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from atomdata.datasets.items import ItemBuilder, species_names_of, unknown_choice
from atomdata.sources import open_split
from atomdata.storage import SplitFile, SplitLike

__all__ = ["IterableAtomColumnDataset"]


class IterableAtomColumnDataset(IterableDataset):
    """Streaming dataset: reads shard by shard, block by block; each DataLoader worker reads its own blocks.

    The work is cut into blocks of ``block_size`` consecutive images of one shard
    (a shard is one split file or SplitLike object); block k goes to worker
    ``k % num_workers``. A worker opens a shard when it reaches its first block
    and closes it when it moves to the next shard, so memory stays bounded by one
    open file and one image at a time. Items are the same dicts as
    :class:`AtomColumnDataset`'s and do not depend on the number of workers (only
    their order does).

    Parameters
    ----------
    shards : path, SplitLike, or a sequence of them
        Split files, dataset folders (with ``split``), or reader objects.
    split : str
        Split to read from dataset folders.
    shuffle : bool
        Shuffle the block order and the images within each block (seeded by
        ``seed`` and the epoch; with ``seed=None`` by torch's global generator).
    block_size : int
        Images per block [images].
    subset, label, transform, seed, normalize, species_names, only_targets, **label_kwargs
        As for :class:`AtomColumnDataset`.
    """

    def __init__(self, shards, split: str = "train", *, subset=None, label: Optional[str] = "heatmap",
                 transform: Optional[Callable] = None, shuffle: bool = False, seed: Optional[int] = None,
                 block_size: int = 256, normalize: str = "minmax", species_names: Optional[Sequence[str]] = None,
                 only_targets: Optional[bool] = None, **label_kwargs):
        if isinstance(shards, (str, os.PathLike)) or isinstance(shards, SplitLike):
            shards = [shards]
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1 image, got {block_size}")
        self.split = split
        self.subset = subset
        self.shuffle = shuffle
        self.block_size = int(block_size)
        self._shards: list = []
        readers = []
        for s in shards:
            reader = open_split(s, split)
            readers.append(reader)
            # keep paths, not open files: each worker opens the shards it reads
            self._shards.append(reader.path if isinstance(reader, SplitFile) else reader)
        if not readers:
            raise ValueError("shards is empty: pass at least one split file, dataset folder or reader")
        self.species_names = species_names_of(readers, species_names)
        if subset is None:
            self._sizes = [len(r) for r in readers]
        else:
            wanted = [subset] if isinstance(subset, str) else list(subset)
            have = [np.asarray(r.subsets, dtype=object) for r in readers]
            valid = sorted(set().union(*(h.tolist() for h in have)))
            for w in wanted:
                if w not in valid:
                    raise unknown_choice("subset", w, valid)
            self._sizes = [int(np.isin(h, wanted).sum()) for h in have]
        for r in readers:
            if isinstance(r, SplitFile):
                r.close()
        self._builder = ItemBuilder(label=label, transform=transform, normalize=normalize, seed=seed,
                                     species_names=self.species_names, only_targets=only_targets,
                                     label_kwargs=label_kwargs)
        self._totals = [len(r) for r in readers]

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle order and augmentations of ``epoch`` (with a ``seed``); call before each epoch."""
        self._builder.epoch = int(epoch)

    def __len__(self) -> int:
        return int(sum(self._sizes))

    def _blocks(self) -> list[tuple[int, int, int]]:
        return [(s, a, min(a + self.block_size, n)) for s, n in enumerate(self._totals)
                for a in range(0, n, self.block_size)]

    def _order_seed(self, info) -> list[int]:
        """Seed of the shuffle order, the same in every worker of one epoch."""
        if self._builder.seed is not None:
            return [int(self._builder.seed), int(self._builder.epoch), 2**31]
        if info is not None:  # the DataLoader seeds worker w with base_seed + w
            return [int(info.seed - info.id) % 2**63]
        return [int(torch.randint(0, 2**62, (1,)).item())]

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        blocks = self._blocks()
        order_seed = self._order_seed(info) if self.shuffle else None
        if order_seed is not None:
            blocks = [blocks[k] for k in np.random.default_rng(order_seed).permutation(len(blocks))]
        wanted = None if self.subset is None else ([self.subset] if isinstance(self.subset, str) else list(self.subset))
        current, reader, keep = None, None, None
        try:
            for s, a, b in blocks[wid::nw]:
                if s != current:
                    if isinstance(reader, SplitFile):
                        reader.close()
                    src = self._shards[s]
                    reader = SplitFile(src) if isinstance(src, Path) else src
                    keep = None if wanted is None else np.isin(np.asarray(reader.subsets, dtype=object), wanted)
                    current = s
                idx = np.arange(a, b)
                if keep is not None:
                    idx = idx[keep[a:b]]
                if order_seed is not None:
                    idx = np.random.default_rng([*order_seed, s, a]).permutation(idx)
                for j in idx:
                    yield self._builder.build(reader, int(j), rng_key=(s, int(j)))
        finally:
            if isinstance(reader, SplitFile):
                reader.close()

    def __repr__(self) -> str:
        lines = [
            f"Number of datapoints: {len(self)}",
            f"Shards: {len(self._shards)} ({sum(self._totals)} images, blocks of {self.block_size})",
            f"Split: {self.split}",
        ]
        if self.subset is not None:
            lines.append(f"Subset: {self.subset}")
        lines.append(f"Label: {self._builder.describe_label()}")
        lines.append(f"Shuffle: {self.shuffle}")
        if self._builder.transform is not None:
            lines.append("Transform: " + repr(self._builder.transform).replace("\n", "\n    "))
        return f"{type(self).__name__}\n    " + "\n    ".join(lines)


