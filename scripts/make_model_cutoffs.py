"""Regenerate atomdata/data/model_cutoffs.json (the cutoffs `atomdata assess` places images on).

Reads the cutoffs an `atomdata reproduce` run wrote into its output folder
(`cutoffs_comparison.json`, or `cutoffs_comparison.csv` when only that was kept) and writes, per
model and material family, every metric's cutoff, confidence interval, tested range, direction
and first failing criterion, with the dataset version and how the table was made.

    python scripts/make_model_cutoffs.py scripts/reproduction --dataset-version 1.0.0 \
        --manifest /work/ref/full-1.0.0/manifest.json \
        --made-by "atomdata reproduce (full 1.0.0, protocol one_to_one, tolerance 0.5 A)"

`--manifest` (the dataset's manifest.json) adds each sweep's tested values, which `assess` uses to
tell an image just past an interpolated cutoff (borderline) from one past a failing tested value.

The lead regenerates it from the 1.1.0 reproduction the same way.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from atomdata.schema import METRIC_FIELDS

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = {
    "sto": {"lattice": "square", "description": "SrTiO3 [100]: perovskite A and BO columns on a centred square lattice"},
    "ws2": {"lattice": "hexagonal", "description": "monolayer WS2 [0001]: metal and chalcogen columns on a honeycomb"},
}


def _num(v):
    if v is None or v == "":
        return None
    return float(v)


def read_rows(folder: Path) -> tuple[list[dict], str]:
    js, cs = folder / "cutoffs_comparison.json", folder / "cutoffs_comparison.csv"
    if js.is_file():
        return json.loads(js.read_text()), js.name
    if cs.is_file():
        with open(cs, newline="") as f:
            return list(csv.DictReader(f)), cs.name
    raise FileNotFoundError(f"{folder}: no cutoffs_comparison.json or .csv; pass the output folder of `atomdata reproduce`")


def sweep_values(manifest: dict) -> dict:
    """(material or None, metric) -> sorted tested values of the benchmark's sweeps, from a dataset manifest.

    1.0.0 lists one set of sweeps for both materials (``[{"metric", "values"}, ...]``: material None);
    1.1.0 one per material (``{material: {metric: values}}``).
    """
    sweeps = ((manifest.get("generator") or {}).get("config") or {}).get("sweeps") or []
    if isinstance(sweeps, dict):
        return {(fam, metric): sorted(float(v) for v in values)
                for fam, by_metric in sweeps.items() for metric, values in by_metric.items()}
    return {(None, s["metric"]): sorted(float(v) for v in s["values"]) for s in sweeps}


def build_table(rows: list[dict], *, dataset_version: str, made_by: str, source_file: str,
                tested_values: dict | None = None) -> dict:
    models: dict = {}
    for r in rows:
        metric, fam = r["metric"], r["material"]
        worse = METRIC_FIELDS[metric]
        lo, hi, cut = _num(r["tested_min"]), _num(r["tested_max"]), _num(r.get("ours"))
        at_start = r.get("failed_at_start")
        if at_start is None or at_start == "":  # the CSV has no column: failing at the best tested value
            at_start = cut is not None and cut == (lo if worse == "higher" else hi)
        elif isinstance(at_start, str):
            at_start = at_start.lower() == "true"
        models.setdefault(r["model"], {}).setdefault(fam, {})[metric] = {
            "cutoff": cut, "ci_low": _num(r.get("ci_low")), "ci_high": _num(r.get("ci_high")),
            "tested_min": lo, "tested_max": hi, "worse_when": worse,
            "failed_first": r.get("failed_first") or None, "failed_at_start": bool(at_start),
        }
        values = (tested_values or {}).get((fam, metric)) or (tested_values or {}).get((None, metric))
        if values:
            models[r["model"]][fam][metric]["tested_values"] = values
    return {
        "description": "Per model and material family: the value of each image-quality metric past which the model "
                       "fails (ID-recall < 0.90, ID-precision < 0.95 or position accuracy > 0.30 A), measured on the "
                       "one-metric sweeps of the benchmark's test split. cutoff null = never failed in the tested "
                       "range; tested_values = the swept values. Used by `atomdata assess`.",
        "source": {"dataset": "atomdata-benchmark", "version": dataset_version, "made_by": made_by,
                   "file": source_file, "script": "scripts/make_model_cutoffs.py"},
        "families": FAMILIES,
        "models": models,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="Output folder of `atomdata reproduce`.")
    ap.add_argument("--dataset-version", required=True, help="Benchmark version the reproduction ran on.")
    ap.add_argument("--made-by", required=True, help="How the reproduction was run (command, protocol, tolerance).")
    ap.add_argument("--manifest", type=Path, default=None, help="The dataset's manifest.json (adds the tested values).")
    ap.add_argument("--out", type=Path, default=ROOT / "atomdata" / "data" / "model_cutoffs.json")
    a = ap.parse_args(argv)
    rows, name = read_rows(a.folder)
    tested = sweep_values(json.loads(a.manifest.read_text())) if a.manifest else None
    table = build_table(rows, dataset_version=a.dataset_version, made_by=a.made_by, source_file=name,
                        tested_values=tested)
    a.out.write_text(json.dumps(table, indent=1) + "\n")
    n = sum(len(m) for f in table["models"].values() for m in f.values())
    print(f"wrote {a.out} ({len(table['models'])} models, {n} cutoffs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
