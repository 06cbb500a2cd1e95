"""PyTorch dataset over HRTEM nanoparticle-segmentation splits (``atomdata-hrtem``).

Item (a dict)
-------------
``image``
    ``torch.float32`` (1, H, W), indexed ``image[0, y, x]``; normalised after the transforms
    (default per-image min-max to [0, 1]).
``mask``
    ``torch.float32`` (1, H, W): 1 on particle pixels, 0 on the support (the split's ``mask`` array).
``instances``
    ``torch.int64`` (H, W): 0 = support, k = particle k (``dataset.record(i).extra["hrtem"]["particles"][k - 1]``).
``pixel_size_A``
    float [Å/px] after the transforms.
``image_id``, ``subset``, ``index``
    Identity of the image in its split file.

Transforms from :mod:`atomdata.datasets.transforms` move ``mask`` and ``instances`` with the image
(crops, flips, quarter turns, rescaling with nearest-pixel labels). The default ``collate_fn``
of :class:`torch.utils.data.DataLoader` batches items of equal size.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from atomdata.datasets.items import NORMALIZATIONS, normalise, subset_indices, unknown_choice
from atomdata.datasets.transforms import apply_transform
from atomdata.sources import open_split

__all__ = ["NanoparticleDataset", "HRTEM_DATASET"]

#: The registered name of the HRTEM segmentation benchmark.
HRTEM_DATASET = "atomdata-hrtem"


class NanoparticleDataset(Dataset):
    """Map-style dataset of HRTEM images with particle masks; items are dicts (see the module notes).

    Parameters
    ----------
    root_or_split : path, str or None
        Anything :func:`atomdata.sources.open_split` resolves (a dataset folder, a split file, a
        cache root); None: the HRTEM benchmark in the cache.
    split : str
        ``train``, ``val``, ``test`` or ``generality``.
    subset : str or sequence of str, optional
        Keep only these subsets (e.g. ``"np_sim_dose_e_per_A2"``).
    transform : callable, optional
        Applied to the numpy sample (keys image, mask, instances, pixel_size_A) before normalisation.
    download : bool
        Build/fetch with :func:`atomdata.sources.load` when missing.
    name, version : str, optional
        Registered dataset (default ``atomdata-hrtem``) and version.
    seed : int, optional
        Augmentations of item i in epoch e use ``default_rng([seed, e, i])`` (worker-count independent).
    normalize : {"minmax", "zscore", "none"}

    Raises
    ------
    ValueError
        When the split has no ``mask`` array (not a segmentation split) or for an unknown option.

    Examples
    --------
    >>> from atomdata.build import build_dataset
    >>> import tempfile
    >>> folder = build_dataset(tempfile.mkdtemp(), name="atomdata-hrtem", quick=True, splits=["val"],
    ...                        workers=1, progress=False)
    >>> ds = NanoparticleDataset(folder, "val")
    >>> item = ds[0]
    >>> item["image"].shape, item["mask"].shape, item["instances"].dtype
    (torch.Size([1, 64, 64]), torch.Size([1, 64, 64]), torch.int64)
    """

    def __init__(self, root_or_split=None, split: str = "train", *, subset=None, transform: Optional[Callable] = None,
                 download: bool = False, name: Optional[str] = None, version: Optional[str] = None,
                 seed: Optional[int] = None, normalize: str = "minmax"):
        if normalize not in NORMALIZATIONS:
            raise unknown_choice("normalization", normalize, NORMALIZATIONS)
        self.reader = open_split(root_or_split, split, name=name or HRTEM_DATASET, version=version, download=download)
        if "mask" not in getattr(self.reader, "array_names", []):
            raise ValueError(f"split {getattr(self.reader, 'path', split)} has no 'mask' array: not a segmentation "
                             f"split; build one with `atomdata build {HRTEM_DATASET}`")
        self.root = getattr(self.reader, "path", None)
        self.split = getattr(self.reader, "split", split)
        self.subset = subset
        self.indices = subset_indices(self.reader, subset)
        self.transform = transform
        self.seed = seed
        self.normalize = normalize
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentations of ``epoch`` (only matters with a ``seed``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def sample(self, i: int) -> dict:
        """Item ``i`` as numpy arrays, before transforms and normalisation."""
        j = int(self.indices[i])
        r = self.reader
        return {"image": np.asarray(r.image(j), dtype=np.float32), "mask": r.array("mask", j),
                "instances": r.array("instances", j), "pixel_size_A": float(r.pixel_sizes_A[j]),
                "image_id": r.image_ids[j], "subset": str(r.subsets[j]), "index": j}

    def __getitem__(self, i: int) -> dict:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} images")
        i %= n
        rng = None if self.seed is None else np.random.default_rng([self.seed, self.epoch, int(self.indices[i])])
        s = apply_transform(self.transform, self.sample(i), rng)
        out = dict(s)
        out.update(image=torch.from_numpy(np.ascontiguousarray(normalise(s["image"], self.normalize))[None]),
                   mask=torch.from_numpy(np.ascontiguousarray(s["mask"], dtype=np.float32)[None]),
                   instances=torch.from_numpy(np.ascontiguousarray(s["instances"]).astype(np.int64)))
        return out

    def record(self, i: int):
        """The :class:`~atomdata.schema.ImageRecord` of item ``i`` (its ``extra["hrtem"]`` lists the particles)."""
        return self.reader.record(int(self.indices[i]))

    def __repr__(self) -> str:
        name, ver = getattr(self.reader, "dataset_name", None), getattr(self.reader, "dataset_version", None)
        lines = [f"Number of datapoints: {len(self)}", f"Root location: {self.root}", f"Split: {self.split}",
                 f"Version: {name} {ver}"]
        if self.transform is not None:
            lines.append("Transform: " + repr(self.transform).replace("\n", "\n    "))
        return f"{type(self).__name__}\n    " + "\n    ".join(lines)
