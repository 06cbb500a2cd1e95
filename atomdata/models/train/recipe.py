"""The training recipe of atomdata's own weights: every setting that decides them.

See :mod:`atomdata.models.train` for how a recipe is run.  Lengths are in pixels (``crop_px``,
``sigma_px``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TrainRecipe", "DEFAULT_RECIPE", "QUICK_RECIPE"]

_LOSSES = ("mse", "bce")


@dataclass(frozen=True)
class TrainRecipe:
    """Every setting that decides the trained weights (plus how often to validate and checkpoint).

    Parameters
    ----------
    steps : int
        Optimiser steps.
    batch_size : int
        Crops per step.
    crop_px : int
        Side of the square training crops [px]; a multiple of 4 (the U-Net pools twice).
    lr : float
        Peak learning rate of Adam.
    warmup_steps : int
        Steps of linear warm-up from ``lr / 10`` to ``lr``; then cosine decay to ``lr / 100``.
    weight_decay : float
        Adam weight decay (L2).
    sigma_px : float
        Width (standard deviation) of the Gaussian mask of each column [px].
    loss : {"mse", "bce"}
        Mean squared error, or binary cross-entropy against the mask as soft labels.
    fg_weight : float
        Extra loss weight of the mask: pixel weights are ``1 + fg_weight * mask``, so the loss
        also asks for full-height peaks at weak columns (e.g. S2 beside W in WS2) instead of
        letting the network hedge on them.
    head_gain, head_bias : float
        Initial scale and shift of the network's last BatchNorm (before the sigmoid); (1, 0) is
        PyTorch's default.  (3, -3) starts the output near 0 on the background, which lowers
        the loss much faster, but in a 400-step run the network then hedges on weak columns
        (their peaks stay below the watershed's atom marker), so the default keeps (1, 0).
    seed : int
        Seed of the initialisation, the sample order and the augmentations.
    augment : bool
        Random flips and 90-degree rotations of the crops.
    val_images : int
        Validation images (evenly spaced over the ``val`` split; 0 disables validation).
    val_crop_px : int
        Side of the centre crop of each validation image [px]; a multiple of 4.
    val_every : int
        Validate every this many steps (and after the last step).
    checkpoint_every : int
        Write a checkpoint every this many steps (and after the last step).

    Examples
    --------
    >>> r = TrainRecipe(steps=10, crop_px=32)
    >>> r.lr_at(0) < r.lr_at(r.warmup_steps) == r.lr
    True
    """

    steps: int = 400
    batch_size: int = 4
    crop_px: int = 64
    lr: float = 2e-3
    warmup_steps: int = 30
    weight_decay: float = 0.0
    sigma_px: float = 1.5
    loss: str = "mse"
    fg_weight: float = 0.0
    head_gain: float = 1.0
    head_bias: float = 0.0
    seed: int = 0
    augment: bool = True
    val_images: int = 16
    val_crop_px: int = 128
    val_every: int = 100
    checkpoint_every: int = 100

    def __post_init__(self):
        for name in ("steps", "batch_size", "crop_px", "val_crop_px", "val_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainRecipe.{name} must be an integer >= 1, got {value!r}")
        for name in ("warmup_steps", "val_images", "seed"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TrainRecipe.{name} must be an integer >= 0, got {value!r}")
        for name in ("crop_px", "val_crop_px"):
            if getattr(self, name) % 4:
                raise ValueError(f"TrainRecipe.{name} must be a multiple of 4 (the U-Net pools twice), "
                                 f"got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainRecipe.lr must be > 0, got {self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"TrainRecipe.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (math.isfinite(self.fg_weight) and self.fg_weight >= 0):
            raise ValueError(f"TrainRecipe.fg_weight must be >= 0, got {self.fg_weight!r}")
        if not (math.isfinite(self.head_gain) and math.isfinite(self.head_bias)):
            raise ValueError(f"TrainRecipe.head_gain and head_bias must be finite, got {self.head_gain!r}, "
                             f"{self.head_bias!r}")
        if not (math.isfinite(self.sigma_px) and self.sigma_px > 0):
            raise ValueError(f"TrainRecipe.sigma_px must be > 0 [px], got {self.sigma_px!r}")
        if self.loss not in _LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}. Valid losses: {', '.join(_LOSSES)}.")

    def to_dict(self) -> dict:
        """Plain-JSON form (stored in checkpoints and in the weights' ``meta``)."""
        return dataclasses.asdict(self)

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step`` (0-based): linear warm-up, then cosine decay."""
        if step < self.warmup_steps:
            return self.lr * (0.1 + 0.9 * step / self.warmup_steps)
        span = max(self.steps - self.warmup_steps, 1)
        t = min(max(step - self.warmup_steps, 0) / span, 1.0)
        return self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


#: The recipe of atomdata's ``lin-atomsegnet`` weights (about 3.5 minutes on 2 idle CPU cores).
DEFAULT_RECIPE = TrainRecipe()
#: The recipe of ``train(..., quick=True)``: seconds, for CI and ``atomdata reproduce --quick``
#: (64 x 64 quick-build images); the weights locate columns only roughly.
QUICK_RECIPE = TrainRecipe(steps=60, batch_size=4, crop_px=32, warmup_steps=10, val_images=6, val_crop_px=64,
                           val_every=30, checkpoint_every=30)
