"""Building datasets from their recipes: sharded, parallel, resumable, byte-reproducible."""
from __future__ import annotations

from atomdata.build.builder import build_dataset, build_shard, shard_bytes, shard_path, shard_ranges
from atomdata.build.engine import SCHEDULERS, task_runner
from atomdata.build.executors import default_workers, run_tasks
from atomdata.build.recipes import RECIPES, get_recipe

__all__ = ["build_dataset", "build_shard", "default_workers", "get_recipe", "RECIPES", "run_tasks", "SCHEDULERS",
           "shard_bytes", "shard_path", "shard_ranges", "task_runner"]
