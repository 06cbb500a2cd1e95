"""Evaluation reports: JSON (machine-readable), CSV (one row per image), Markdown (summary tables).

:func:`evaluate` is the one-call entry point behind ``atomdata evaluate``:
read predictions, score a split, average, find cutoffs, write the report files
and, optionally, the plots.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, Field

from atomdata.evaluation.aggregate import Aggregate
from atomdata.evaluation.cutoffs import Criteria, Cutoff, sweep_cutoffs
from atomdata.evaluation.split import SplitScores, score_split

__all__ = ["EvaluationReport", "build_report", "write_report", "format_markdown", "evaluate"]

REPORT_JSON = "report.json"
PER_IMAGE_CSV = "per_image.csv"
SUMMARY_MD = "summary.md"


class EvaluationReport(BaseModel):
    """Everything needed to cite and compare one evaluation."""

    atomdata_version: str
    created: str = Field(description="ISO 8601 time of the evaluation (UTC).")
    dataset_name: Optional[str] = None
    dataset_version: Optional[str] = None
    split: Optional[str] = None
    model_name: Optional[str] = None
    model_version: Optional[str] = None
    protocol: str
    tolerance_A: Optional[float] = Field(description="Match tolerance [Å]; None = the protocol default.")
    tolerance_note: str = Field(description="The tolerance rule in words.")
    options: dict[str, Any] = Field(default_factory=dict)
    criteria: Criteria
    n_images: int
    aggregates: dict[str, Aggregate] = Field(description="'all' and one entry per subset.")
    cutoffs: list[Cutoff] = Field(default_factory=list)


def _tolerance_note(protocol: str, tolerance_A: Optional[float]) -> str:
    if protocol == "wei2022":
        if tolerance_A is None:
            return "wei2022: dx^2 + dy^2 < 5 px^2 in each image's pixels; predictions within 1% of an edge dropped"
        return f"wei2022: distance < {tolerance_A} Å; predictions within 1% of an edge dropped"
    from atomdata.evaluation.scores import DEFAULT_TOLERANCE_A

    return f"one_to_one: optimal one-to-one pairs at distance <= {tolerance_A or DEFAULT_TOLERANCE_A} Å"


def build_report(split_scores: SplitScores, *, model_name: Optional[str] = None,
                 model_version: Optional[str] = None, criteria: Optional[Criteria] = None,
                 n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> EvaluationReport:
    """Aggregate scores per subset and compute sweep cutoffs into an :class:`EvaluationReport`."""
    from atomdata._version import __version__

    criteria = criteria or Criteria()
    return EvaluationReport(
        atomdata_version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        dataset_name=split_scores.dataset_name, dataset_version=split_scores.dataset_version,
        split=split_scores.split, model_name=model_name, model_version=model_version,
        protocol=split_scores.protocol, tolerance_A=split_scores.tolerance_A,
        tolerance_note=_tolerance_note(split_scores.protocol, split_scores.tolerance_A),
        options=dict(split_scores.options, n_boot=n_boot, confidence=confidence, seed=seed),
        criteria=criteria, n_images=len(split_scores),
        aggregates=split_scores.aggregate(n_boot=n_boot, confidence=confidence, seed=seed),
        cutoffs=sweep_cutoffs(split_scores, criteria=criteria, n_boot=n_boot, confidence=confidence, seed=seed),
    )


def _fmt(v: Optional[float], digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _fmt_ci(s, digits: int = 3) -> str:
    if s.value is None:
        return "n/a"
    if s.ci_low is None or s.ci_high is None:
        return _fmt(s.value, digits)
    return f"{s.value:.{digits}f} [{s.ci_low:.{digits}f}, {s.ci_high:.{digits}f}]"


def _cutoff_ci(c: Cutoff) -> str:
    """The cutoff's confidence interval in words: a bound beyond the tested range is named so."""
    if c.cutoff is None and c.p_never_fails in (None, 1.0):
        return "n/a"
    if c.ci_low is None and c.ci_high is None and c.p_never_fails is None:
        return "n/a"  # one seed: no interval
    lo = _fmt(c.ci_low, 4) if c.ci_low is not None else ("below range" if c.worse_when == "lower" else "n/a")
    hi = _fmt(c.ci_high, 4) if c.ci_high is not None else ("beyond range" if c.worse_when == "higher" else "n/a")
    return f"[{lo}, {hi}]"


def format_markdown(report: EvaluationReport) -> str:
    """A Markdown summary: identity, per-subset scores (micro, with CIs) and cutoffs."""
    lines = [
        f"# atomdata evaluation: {report.model_name or 'unnamed model'} {report.model_version or ''}".rstrip(),
        "",
        f"- dataset: {report.dataset_name} {report.dataset_version}, split `{report.split}`, "
        f"{report.n_images} images",
        f"- protocol: `{report.protocol}` ({report.tolerance_note})",
        f"- criteria: ID-recall >= {report.criteria.id_recall_min}, ID-precision >= "
        f"{report.criteria.id_precision_min}, accuracy <= {report.criteria.position_accuracy_max_A} Å",
        f"- atomdata {report.atomdata_version}, {report.created}",
        "",
        f"## Scores (micro-average, {int(report.aggregates['all'].confidence * 100)} % bootstrap CI; "
        "macro = mean over images)",
        "",
        "| subset | images | ID-recall | ID-precision | accuracy [Å] | macro recall | macro precision "
        "| macro accuracy [Å] |",
        "| --- | ---: | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for name, a in report.aggregates.items():
        lines.append(
            f"| {name} | {a.n_images} | {_fmt_ci(a.micro['id_recall'])} | {_fmt_ci(a.micro['id_precision'])} | "
            f"{_fmt_ci(a.micro['position_accuracy_A'])} | {_fmt(a.macro['id_recall'].value)} | "
            f"{_fmt(a.macro['id_precision'].value)} | {_fmt(a.macro['position_accuracy_A'].value)} |")
    if report.cutoffs:
        lines += ["", "## Cutoffs (first failing criterion along the sweep; None = never fails in the tested range)",
                  "", "| subset | metric | gets worse when | cutoff | CI | failed first | tested range |",
                  "| --- | --- | --- | ---: | --- | --- | --- |"]
        for c in report.cutoffs:
            ci = _cutoff_ci(c)
            cut = "None" if c.cutoff is None else _fmt(c.cutoff, 4) + (" (at start)" if c.failed_at_start else "")
            lines.append(f"| {c.subset} | {c.metric} | {c.worse_when} | {cut} | {ci} | {c.failed_first or '-'} | "
                         f"{c.tested_min:g} - {c.tested_max:g} |")
    return "\n".join(lines) + "\n"


def write_report(report: EvaluationReport, split_scores: SplitScores, out_dir) -> dict[str, Path]:
    """Write ``report.json``, ``per_image.csv`` and ``summary.md`` into ``out_dir``; returns their paths."""
    from atomdata.storage import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / REPORT_JSON, "csv": out / PER_IMAGE_CSV, "markdown": out / SUMMARY_MD}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(report.model_dump_json(indent=2) + "\n")
    rows = split_scores.rows()
    with atomic_path(paths["csv"]) as tmp:
        with open(tmp, "w", newline="") as f:
            fields = list(rows[0]) if rows else ["image_id"]
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(format_markdown(report))
    return paths


def evaluate(
    predictions,
    split,
    *,
    protocol: str = "one_to_one",
    tolerance_A: Optional[float] = None,
    model_name: Optional[str] = None,
    model_version: Optional[str] = None,
    criteria: Optional[Criteria] = None,
    subsets: Optional[Sequence[str]] = None,
    missing: str = "error",
    non_target: str = "ignore",
    visibility: str = "resolved",
    out_dir=None,
    plots_dir=None,
    n_boot: int = 1000,
    seed: int = 0,
    max_overlays: int = 6,
    progress: bool = False,
    scheduler: str = "processes",
    workers: Optional[int] = 1,
    address: Optional[str] = None,
    split_name: str = "test",
    verify: bool = True,
) -> tuple[EvaluationReport, SplitScores]:
    """Score a split and write the report (and plots): what ``atomdata evaluate`` runs.

    Parameters
    ----------
    predictions : dict or path-like
        ``{image_id: (N, 2) array of (x, y) px}`` or a predictions file.
    split : SplitLike, path-like or str
        The split to score against: anything :func:`atomdata.sources.open_split` resolves.
    split_name : str
        Which split of a dataset folder (default ``"test"``).
    verify : bool
        Run :func:`atomdata.storage.verify_split` before scoring (default). Pass False only for a
        split the caller opened with ``open_split(..., verify=True)``.
    out_dir, plots_dir : path-like, optional
        Where to write ``report.json``/``per_image.csv``/``summary.md`` and the PNG plots.
    max_overlays : int
        Number of per-image overlay plots (the worst-scoring images).
    protocol, tolerance_A, subsets, missing, non_target, visibility, progress, scheduler, workers, address
        As :func:`score_split` (the engine scores the images; reports and plots are made here).
    model_name, model_version, criteria, n_boot, seed
        As :func:`build_report`.

    Raises
    ------
    SplitFormatError
        The split fails the checks of ``atomdata validate --quick`` (see
        :func:`atomdata.storage.verify_split`): nothing is scored.

    Returns
    -------
    (EvaluationReport, SplitScores)
    """
    from atomdata.evaluation.inputs import load_predictions
    from atomdata.sources import open_split

    predictions = load_predictions(predictions)
    split = open_split(split, split_name, verify=verify)  # the checks of `validate --quick`; hashed before parsing
    scores = score_split(predictions, split, protocol=protocol, tolerance_A=tolerance_A, subsets=subsets,
                         missing=missing, non_target=non_target, visibility=visibility, progress=progress,
                         scheduler=scheduler, workers=workers, address=address, verify=False)
    report = build_report(scores, model_name=model_name, model_version=model_version, criteria=criteria,
                          n_boot=n_boot, seed=seed)
    if out_dir is not None:
        write_report(report, scores, out_dir)
    if plots_dir is not None:
        from atomdata.evaluation.plots import write_plots

        write_plots(report, scores, plots_dir, split=split, predictions=predictions, max_overlays=max_overlays)
    return report, scores


def report_json(report: EvaluationReport) -> dict:
    """The report as a plain dict (what ``report.json`` holds)."""
    return json.loads(report.model_dump_json())
