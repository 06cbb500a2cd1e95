"""Incoherent HAADF-STEM image formation with exact column labels, and the atom-column benchmark recipe.

* :mod:`~atomdata.sim.stem.structures` / :mod:`~atomdata.sim.stem.catalog` -- crystal structures
  projected to atomic columns (ASE);
* :mod:`~atomdata.sim.stem.probe`, :mod:`~atomdata.sim.stem.scan`, :mod:`~atomdata.sim.stem.render`,
  :mod:`~atomdata.sim.stem.image` -- probe, scan path, rendering, the full image model;
* :mod:`~atomdata.sim.stem.benchmark` -- splits, sweeps and seeds of each benchmark version;
* :mod:`~atomdata.sim.stem.fidelity` -- comparison with abTEM (optional extra).
"""
from __future__ import annotations

from atomdata.sim.stem.benchmark import DATASET_NAME, DEFAULT_VERSION, BenchmarkConfig, benchmark_config, split_specs
from atomdata.sim.stem.catalog import STRUCTURES, get_structure
from atomdata.sim.stem.image import ImageParams, SimulatedImage, simulate_image

__all__ = ["DATASET_NAME", "DEFAULT_VERSION", "BenchmarkConfig", "benchmark_config", "split_specs", "STRUCTURES",
           "get_structure", "ImageParams", "SimulatedImage", "simulate_image"]
