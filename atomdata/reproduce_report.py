"""Write the outputs of :func:`atomdata.reproduce.reproduce`: REPORT.md and the comparison tables."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Optional

__all__ = ["write_reproduction_report", "format_comparison_markdown"]

_COLS = ["material", "metric", "model", "published", "ours", "ci_low", "ci_high", "difference",
         "relative_difference", "agreement", "failed_first", "tested_min", "tested_max"]


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def format_comparison_markdown(rows: list[dict]) -> str:
    """Markdown table of ours-vs-published cutoffs (None = never fails in the tested range, shown as 'never')."""
    head = "| material | metric | model | published | ours [95 % CI] | ours - published | agreement | first failing criterion |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        ours = "never" if r["ours"] is None else _fmt(r["ours"])
        if r["ours"] is not None and r["ci_low"] is not None and r["ci_high"] is not None:
            ours += f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        if r["failed_at_start"]:
            ours += " (fails at best quality)"
        pub = "-" if r["agreement"] == "not published" else ("never" if r["published"] is None else _fmt(r["published"]))
        diff = "-"
        if r["difference"] is not None:
            diff = f"{r['difference']:+.3g}"
            if r["relative_difference"] is not None:
                diff += f" ({100 * r['relative_difference']:+.0f} %)"
        lines.append(f"| {r['material']} | {r['metric']} | {r['model']} | {pub} | {ours} | {diff} | "
                     f"{r['agreement']} | {r['failed_first'] or '-'} |")
    return "\n".join(lines)


def _generality_table(generality: dict, published: dict) -> str:
    lines = ["| model | ID-recall (micro) | ID-precision (micro) | accuracy [Å] | published recall / precision / RMS [px] |",
             "|---|---|---|---|---|"]
    pub = published.get("generality_set_means", {})
    names = {v: k for k, v in published.get("model_names", {}).items()}
    for model, aggs in generality.items():
        a = aggs.get("all", {})
        micro = a.get("micro", {}) if isinstance(a, dict) else {}

        def val(key):
            v = micro.get(key)
            if isinstance(v, dict):
                v = v.get("value")
            return _fmt(v)

        p = pub.get(names.get(model, ""), None)
        ptxt = " / ".join(_fmt(x) for x in p) if p else "-"
        lines.append(f"| {model} | {val('id_recall')} | {val('id_precision')} | {val('position_accuracy_A')} | {ptxt} |")
    return "\n".join(lines)


def write_reproduction_report(result, *, quick: bool, protocol: str, tolerance_A: Optional[float]) -> Path:
    """Write ``cutoffs_comparison.{csv,json}``, ``generality.json`` and ``REPORT.md`` into ``result.out_dir``."""
    from . import __version__
    from .reproduce import published_cutoffs
    from .storage import read_manifest

    out = Path(result.out_dir)
    published = published_cutoffs()
    with open(out / "cutoffs_comparison.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_COLS, extrasaction="ignore")
        w.writeheader()
        for r in result.comparison:
            w.writerow(r)
    (out / "cutoffs_comparison.json").write_text(json.dumps(result.comparison, indent=2))
    (out / "generality.json").write_text(json.dumps(result.generality, indent=2, default=str))
    manifest = read_manifest(result.dataset_dir)
    lines = [
        "# Reproduction of the published atom-finding benchmark",
        "",
        f"atomdata {__version__}; dataset {manifest.name} {manifest.version} ({result.dataset_dir}); "
        f"protocol `{protocol}`, tolerance {tolerance_A if tolerance_A is not None else 'default'} Å; "
        f"criteria ID-recall < {published['criteria']['id_recall_min']}, ID-precision < "
        f"{published['criteria']['id_precision_min']}, accuracy > {published['criteria']['position_accuracy_max_angstrom']} Å."
        + (" **Quick run** (small build: few seeds and sweep points; cutoffs are coarse)." if quick else ""),
        "",
        f"Published values: {published['citation']} Source: {published['source']}.",
        "",
        "## Cutoffs: published vs ours",
        "",
        "`never` = the criterion never failed in the tested range; `-` = no published value.",
        "",
        format_comparison_markdown(result.comparison),
        "",
    ]
    for png in sorted(out.glob("radar_*.png")):
        lines += [f"![{png.stem}]({png.name})", ""]
    if result.generality:
        lines += ["## Generality split", "", _generality_table(result.generality, published), "",
                  "The published generality means are over 12 hard *experimental* images; ours are over the "
                  "simulated hard structures of the `generality` split, so they are not like for like.", ""]
    if result.models_skipped:
        lines += ["## Models not run", ""]
        lines += [f"- `{m}`: {why}" for m, why in result.models_skipped.items()]
        lines.append("")
    lines += ["## Time", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result.timings_s.items()]
    lines += ["", "Per-model reports (JSON, per-image CSV, Markdown, sweep and overlay plots) are in the model folders."]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
