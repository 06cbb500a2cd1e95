"""Which model can I trust on this image? Quality metrics estimated from an image, placed on model cutoffs.

* :func:`estimate_quality` -- the benchmark's image-quality metrics from one image alone;
* :func:`place` -- an image's metrics against each model's measured cutoffs
  (``atomdata/data/model_cutoffs.json``, :func:`load_model_cutoffs`);
* :func:`assess_files` / :func:`format_table` -- ``atomdata assess`` on microscope files.

The layer sits between :mod:`atomdata.evaluation` and :mod:`atomdata.reproduce`: it reads images
through :mod:`atomdata.sources` and the cutoffs the evaluation measured (as a packaged table), and
imports neither torch nor a model, so assessing an image never loads a network.
"""
from __future__ import annotations

from atomdata.assess.estimate import ESTIMATED_METRICS, QualityEstimate, estimate_quality
from atomdata.assess.lattice import Lattice2D, find_lattice
from atomdata.assess.placement import MetricPlacement, ModelVerdict, load_model_cutoffs, place, place_metric
from atomdata.assess.report import AssessedImage, assess_files, assess_image, format_table, material_family

__all__ = [
    "ESTIMATED_METRICS",
    "QualityEstimate",
    "estimate_quality",
    "Lattice2D",
    "find_lattice",
    "MetricPlacement",
    "ModelVerdict",
    "load_model_cutoffs",
    "place",
    "place_metric",
    "AssessedImage",
    "assess_files",
    "assess_image",
    "format_table",
    "material_family",
]
