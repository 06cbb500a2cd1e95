"""Reproducing the published comparison (Wei et al. 2023): ``atomdata reproduce``."""
from __future__ import annotations

from atomdata.reproduce.pipeline import DEFAULT_MODELS, REPRODUCE_VERSION, ReproductionResult, reproduce
from atomdata.reproduce.published import compare_cutoffs, published_cutoffs
from atomdata.reproduce.published_images import reproduce_published_images
from atomdata.reproduce.report import summary_lines, write_reproduction_report

__all__ = ["DEFAULT_MODELS", "REPRODUCE_VERSION", "ReproductionResult", "reproduce", "reproduce_published_images",
           "published_cutoffs", "compare_cutoffs", "summary_lines", "write_reproduction_report"]
