"""Training model weights on a benchmark's train split: ``atomdata train`` (deterministic, resumable)."""
from __future__ import annotations

from atomdata.models.train.loop import CHECKPOINT_FORMAT, checkpoint_dir_for, train, trainable
from atomdata.models.train.recipe import DEFAULT_RECIPE, QUICK_RECIPE, TrainRecipe

__all__ = ["TrainRecipe", "DEFAULT_RECIPE", "QUICK_RECIPE", "CHECKPOINT_FORMAT", "train", "trainable",
           "checkpoint_dir_for"]
