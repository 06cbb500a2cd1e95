"""Training the HRTEM U-Net segmenter: ``atomdata train hrtem-unet`` (deterministic, resumable, CPU or CUDA).

Step ``t`` draws its batch (image indices and augmentations) from ``default_rng([seed, t])`` and
the dataset's per-item generator ``[seed, t, index]``, so a run resumed from a checkpoint makes the
same steps as an uninterrupted one. The loss is binary cross-entropy on the logits plus the soft
Dice loss (both on the mask); Adam with linear warm-up and cosine decay. Checkpoints (model,
optimiser, step, torch RNG) go to ``checkpoint_dir/last.pt`` every ``checkpoint_every`` steps.
The weights file holds the state dict, the architecture, the recipe and the fingerprint of run
and data, and its bytes depend only on those.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from atomdata.datasets.segmentation import NanoparticleDataset
from atomdata.datasets.transforms import CenterCrop, Compose, RandomCrop, RandomFlip, RandomRot90
from atomdata.models.train.state import resolve_device, save
from atomdata.models.unet import HRTEM_UNET, SegUNet
from atomdata.storage import cache_dir

__all__ = ["SegTrainRecipe", "DEFAULT_SEG_RECIPE", "QUICK_SEG_RECIPE", "train_segmenter", "WEIGHTS_FORMAT"]

#: Format tag of the weights file.
WEIGHTS_FORMAT = "atomdata-segmenter-weights/1"


@dataclass(frozen=True)
class SegTrainRecipe:
    """Every setting that decides the U-Net weights (lengths in pixels)."""

    steps: int = 800
    batch_size: int = 8
    crop_px: int = 96
    lr: float = 2e-3
    warmup_steps: int = 30
    base_channels: int = 16
    depth: int = 3
    seed: int = 0
    val_images: int = 16
    checkpoint_every: int = 100

    def __post_init__(self):
        m = 2**self.depth
        if self.crop_px % m:
            raise ValueError(f"crop_px must be a multiple of {m} (2**depth), got {self.crop_px}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")

    def lr_at(self, step: int) -> float:
        """Learning rate of ``step``: linear warm-up from lr/10, cosine decay to lr/100."""
        if step < self.warmup_steps:
            return self.lr * (0.1 + 0.9 * step / max(1, self.warmup_steps))
        t = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


DEFAULT_SEG_RECIPE = SegTrainRecipe()
QUICK_SEG_RECIPE = SegTrainRecipe(steps=6, batch_size=2, crop_px=32, base_channels=4, depth=2, val_images=2,
                                  checkpoint_every=3)


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return bce + dice


def _fingerprint(recipe: SegTrainRecipe, data_ids: dict) -> str:
    fields = dataclasses.asdict(recipe)
    fields.pop("checkpoint_every")
    return hashlib.sha256(json.dumps({"model": HRTEM_UNET, "recipe": fields, "data": data_ids},
                                     sort_keys=True).encode()).hexdigest()


def _val_iou(net, val_ds, crop_px: int, device) -> Optional[float]:
    if val_ds is None or len(val_ds) == 0:
        return None
    net.eval()
    inter = union = 0.0
    with torch.no_grad():
        for i in range(len(val_ds)):
            item = val_ds[i]
            p = torch.sigmoid(net(item["image"][None].to(device)))[0] > 0.5
            t = item["mask"].to(device) > 0.5
            inter += float((p & t).sum())
            union += float((p | t).sum())
    net.train()
    return inter / union if union else None


def train_segmenter(data=None, *, out=None, recipe: Optional[SegTrainRecipe] = None, quick: bool = False,
                    device=None, resume: bool = True, checkpoint_dir=None, stop_at: Optional[int] = None,
                    progress: bool = True, **overrides) -> Path:
    """Train the U-Net on the ``train`` split of ``data`` (default the HRTEM benchmark in the cache).

    Parameters
    ----------
    data : path-like, optional
        Dataset folder with ``train.h5`` (and ``val.h5`` for the validation IoU).
    out : path-like, optional
        Weights file (default ``<cache>/weights/hrtem-unet.pt``, ``hrtem-unet-quick.pt`` with ``quick``).
    recipe : SegTrainRecipe, optional
        Default :data:`DEFAULT_SEG_RECIPE` (:data:`QUICK_SEG_RECIPE` with ``quick``); ``overrides``
        (e.g. ``steps=100``) replace fields.
    stop_at : int, optional
        Stop after this many steps, keeping the checkpoint (to resume later).

    Returns
    -------
    Path
        The weights file (or the checkpoint when stopped early).
    """
    from tqdm.auto import tqdm

    recipe = recipe or (QUICK_SEG_RECIPE if quick else DEFAULT_SEG_RECIPE)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        recipe = dataclasses.replace(recipe, **overrides)
    dev = resolve_device(device)
    aug = Compose([RandomCrop(recipe.crop_px), RandomFlip(), RandomRot90()])
    train_ds = NanoparticleDataset(data, "train", transform=aug, seed=recipe.seed, normalize="zscore",
                                   download=data is None)
    try:
        val_all = NanoparticleDataset(data if data is not None else train_ds.root.parent, "val",
                                      transform=CenterCrop(recipe.crop_px * 2), normalize="zscore")
        keep = np.linspace(0, len(val_all) - 1, min(recipe.val_images, len(val_all))).round().astype(int)
        val_all.indices = val_all.indices[np.unique(keep)]
    except (FileNotFoundError, ValueError):
        val_all = None
    ids = {"dataset": f"{train_ds.reader.dataset_name} {train_ds.reader.dataset_version}", "n_train": len(train_ds)}
    fp = _fingerprint(recipe, ids)
    out = Path(out) if out is not None else cache_dir() / "weights" / f"{HRTEM_UNET}{'-quick' if quick else ''}.pt"
    ckdir = Path(checkpoint_dir) if checkpoint_dir else cache_dir() / "train" / f"{HRTEM_UNET}-{fp[:12]}"
    ck = ckdir / "last.pt"

    torch.manual_seed(recipe.seed)
    net = SegUNet(base_channels=recipe.base_channels, depth=recipe.depth).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    start = 0
    if resume and ck.is_file():
        state = torch.load(ck, map_location=dev, weights_only=False)
        if state.get("fingerprint") == fp:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            torch.random.set_rng_state(state["torch_rng"])
            start = int(state["step"])
    end = recipe.steps if stop_at is None else min(recipe.steps, int(stop_at))
    net.train()
    n = len(train_ds)
    for step in tqdm(range(start, end), initial=start, total=recipe.steps, desc=f"train {HRTEM_UNET}",
                     disable=not progress):
        rng = np.random.default_rng([recipe.seed, step])
        train_ds.set_epoch(step)
        items = [train_ds[int(i)] for i in rng.integers(0, n, recipe.batch_size)]
        x = torch.stack([it["image"] for it in items]).to(dev)
        y = torch.stack([it["mask"] for it in items]).to(dev)
        for g in opt.param_groups:
            g["lr"] = recipe.lr_at(step)
        opt.zero_grad()
        loss = _loss(net(x), y)
        loss.backward()
        opt.step()
        done = step + 1
        if done % recipe.checkpoint_every == 0 or done == end:
            ckdir.mkdir(parents=True, exist_ok=True)
            save({"fingerprint": fp, "step": done, "model": net.state_dict(), "optimizer": opt.state_dict(),
                  "torch_rng": torch.random.get_rng_state()}, ck)
    if end < recipe.steps:
        return ck
    meta = {"model": HRTEM_UNET, "fingerprint": fp, "recipe": dataclasses.asdict(recipe), "data": ids,
            "device": dev.type, "val_iou": _val_iou(net, val_all, recipe.crop_px, dev)}
    out.parent.mkdir(parents=True, exist_ok=True)
    save({"format": WEIGHTS_FORMAT, "meta": meta, "architecture": {"base_channels": recipe.base_channels,
                                                                   "depth": recipe.depth},
          "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}, out)
    return out
