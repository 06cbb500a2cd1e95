"""The data side of training: the endless sample stream, the datasets of a recipe, the validation batch."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from atomdata.datasets.atoms import AtomColumnDataset
from atomdata.datasets.transforms import CenterCrop, Compose, RandomCrop, RandomFlip, RandomRot90
from atomdata.models.train.recipe import TrainRecipe
from atomdata.sources import DatasetNotFoundError, load, open_split
from atomdata.storage import sha256_file

__all__ = ["StepStream", "open_data", "dataset_record", "make_datasets", "val_batch"]


class StepStream:
    """Map-style view of the training stream: item ``g`` is the g-th sample of the whole run.

    Picklable (DataLoader workers get a copy): it sets the dataset's epoch per item, so every
    worker draws the same augmentation for the same sample.
    """

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)
        self.n = len(dataset)
        self._perm_epoch, self._perm = -1, None

    def __len__(self) -> int:  # the stream is endless; the sampler decides what is read
        return sys.maxsize

    def index(self, g: int) -> tuple[int, int]:
        epoch, pos = divmod(int(g), self.n)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(self.n)
            self._perm_epoch = epoch
        return epoch, int(self._perm[pos])

    def __getitem__(self, g: int) -> dict:
        epoch, j = self.index(g)
        self.dataset.set_epoch(epoch)
        return self.dataset[j]


def open_data(data, val_data, progress: bool):
    """(train reader, train path or None, val reader or None); ``data=None``: the default benchmark, built if missing."""
    if data is None:
        data = load(progress=progress)
    train_reader = open_split(data, "train")
    train_path = getattr(train_reader, "path", None)
    if val_data is not None:
        val_reader = open_split(val_data, "val")
    elif isinstance(data, (str, os.PathLike)) and Path(data).expanduser().is_dir():
        try:
            val_reader = open_split(data, "val")
        except (DatasetNotFoundError, ValueError):
            val_reader = None
    else:
        val_reader = None
    return train_reader, (Path(train_path) if train_path is not None else None), val_reader


def dataset_record(reader, path: Optional[Path]) -> dict:
    """What the weights were trained on (recorded in the checkpoint and the weights file)."""
    return {
        "name": getattr(reader, "dataset_name", None),
        "version": getattr(reader, "dataset_version", None),
        "split": getattr(reader, "split", "train"),
        "n_images": len(reader),
        "file": path.name if path is not None else None,
        "sha256": sha256_file(path) if path is not None else None,
    }


def make_datasets(recipe: TrainRecipe, train_reader, val_reader):
    """The training dataset (random crops, flips, rotations) and the validation one (centre crops) of a recipe."""
    steps = [RandomCrop(recipe.crop_px)]
    if recipe.augment:
        steps += [RandomFlip(), RandomRot90()]
    train_ds = AtomColumnDataset(train_reader, "train", label="heatmap", transform=Compose(steps),
                                 seed=recipe.seed, sigma_px=recipe.sigma_px)
    if len(train_ds) == 0:
        raise ValueError("the train split holds no images; nothing to train on")
    val_ds = None
    if val_reader is not None and recipe.val_images > 0 and len(val_reader) > 0:
        val_ds = AtomColumnDataset(val_reader, "val", label="heatmap", transform=CenterCrop(recipe.val_crop_px),
                                   sigma_px=recipe.sigma_px)
    return train_ds, val_ds


def val_batch(recipe: TrainRecipe, val_ds):
    """Stacked (images, label maps) of the fixed validation crops, or None."""
    if val_ds is None:
        return None
    n = min(recipe.val_images, len(val_ds))
    idx = np.unique(np.linspace(0, len(val_ds) - 1, n).round().astype(int))
    items = [val_ds[int(i)] for i in idx]
    return torch.stack([it["image"] for it in items]), torch.stack([it["label"] for it in items])
