"""Reproducing the published comparison (Wei et al. 2023): ``atomdata reproduce``."""
from __future__ import annotations

from atomdata.reproduce.pipeline import DEFAULT_MODELS, ReproductionResult, reproduce
from atomdata.reproduce.published import compare_cutoffs, published_cutoffs
from atomdata.reproduce.report import summary_lines, write_reproduction_report

__all__ = ["DEFAULT_MODELS", "ReproductionResult", "reproduce", "published_cutoffs", "compare_cutoffs",
           "summary_lines", "write_reproduction_report"]
