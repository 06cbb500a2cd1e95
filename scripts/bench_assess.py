"""Validate `atomdata assess` on simulated test images whose true metrics are known.

On the sweep images of a benchmark test split (both materials, every sweep; `--seeds` images per
sweep point), this

1. estimates the quality metrics from each image alone (`atomdata.assess.estimate_quality`) and
   compares them with the values recorded when the image was simulated: per metric the median and
   90th percentile of the error (relative for atoms/100 px and resolution, absolute for PSNR [dB],
   contrast and flyback [px]), overall and per sweep, and how often the lattice family was right;
2. runs each model on each image and scores it against the labels (`score_image`, one-to-one,
   0.5 A; the criteria of the cutoffs: ID-recall >= 0.90, ID-precision >= 0.95, accuracy <= 0.30 A),
   which says whether the model really met the criteria on that image;
3. places each image on the packaged cutoffs as `atomdata assess` does and counts how often
   "recommended" agrees with "met" -- and, for comparison, how often it agrees when the true values
   of the same metrics are placed instead of the estimates (what the cutoff table itself allows,
   whatever the estimators).

    ATOMDATA_ZIATDINOV_WEIGHTS=.../cubic-best_weights.pt \
    python scripts/bench_assess.py /work/ref/full-1.0.0/test.h5 --seeds 2 --out bench_assess.json

Re-run on 1.1.0 by passing its test split (and --cutoffs for a regenerated table).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from atomdata.assess import ESTIMATED_METRICS, assess_image, load_model_cutoffs, place
from atomdata.assess.report import material_family
from atomdata.evaluation import Criteria, score_image
from atomdata.sources import open_split

METRICS = {  # metric -> (relative error?, unit of the error)
    "atoms_per_100px": (True, "%"),
    "resolution_pm": (True, "%"),
    "psnr_db": (False, "dB"),
    "contrast": (False, ""),
    "flyback_error_px": (False, "px"),
}
LATTICE = {"sto": "square", "ws2": "hexagonal"}


def select(split, seeds: int) -> list[int]:
    out = []
    for i, sub in enumerate(str(s) for s in split.subsets):
        if "_sim_" not in sub:
            continue
        sweep = (split.metadata(i).get("extra") or {}).get("sweep") or {}
        if int(sweep.get("seed_index", 0)) < seeds:
            out.append(i)
    return out


def met_criteria(score, criteria: Criteria) -> bool:
    acc = score.position_accuracy_A
    return bool(score.id_recall >= criteria.id_recall_min and score.id_precision >= criteria.id_precision_min
                and acc is not None and not math.isnan(acc) and acc <= criteria.position_accuracy_max_A)


def summarise(values) -> dict:
    a = np.abs(np.asarray([v for v in values if v is not None and np.isfinite(v)], float))
    if len(a) == 0:
        return {"n": 0, "median": None, "p90": None}
    return {"n": int(len(a)), "median": float(np.median(a)), "p90": float(np.percentile(a, 90))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", help="Test split file (e.g. /work/ref/full-1.0.0/test.h5).")
    ap.add_argument("--seeds", type=int, default=2, help="Images per sweep point (seed indices 0..N-1).")
    ap.add_argument("--models", nargs="+", default=["ziatdinov-atomnet-cubic", "lin-atomsegnet", "baseline-peaks"])
    ap.add_argument("--weights", nargs="*", default=[], metavar="MODEL=PATH", help="Weights file per model.")
    ap.add_argument("--cutoffs", default=None, help="Cutoff table (default: the packaged one).")
    ap.add_argument("--out", default="bench_assess.json", help="JSON with every figure and the per-image rows.")
    ap.add_argument("--reuse", default=None, metavar="JSON",
                    help="An earlier output of this script on the same split: take the models' outcomes from it "
                         "instead of running the models again (only the estimates are redone).")
    a = ap.parse_args(argv)

    from tqdm.auto import tqdm

    from atomdata import models as registry
    from atomdata.models.predict import predict_split

    split = open_split(a.split)
    table = load_model_cutoffs(a.cutoffs)
    idx = select(split, a.seeds)
    ids = list(split.image_ids)
    subsets = [str(s) for s in split.subsets]
    pixel = np.asarray(split.pixel_sizes_A, float)
    print(f"{len(idx)} sweep images of {a.split} ({len({subsets[i] for i in idx})} sweeps, seeds < {a.seeds})")

    weights = dict(w.split("=", 1) for w in a.weights)
    outcomes: dict[str, dict[str, bool]] = {}
    skipped = {}
    if a.reuse:
        old = json.loads(Path(a.reuse).read_text())
        if Path(old["split"]).resolve() != Path(a.split).resolve():
            raise SystemExit(f"--reuse {a.reuse} was made on {old['split']}, not {a.split}")
        for name in a.models:
            met = {r["image_id"]: r["met"][name] for r in old["rows"] if name in r.get("met", {})}
            if all(ids[i] in met for i in idx):
                outcomes[name] = met
                print(f"{name}: outcomes reused from {a.reuse}")
    for name in a.models:
        if name in outcomes:
            continue
        try:
            loc = registry.get(name, **({"weights": weights[name]} if name in weights else {}))
        except Exception as e:  # noqa: BLE001 - a missing model is reported, the rest still runs
            skipped[name] = f"{type(e).__name__}: {e}"
            print(f"skipping {name}: {skipped[name]}")
            continue
        preds = predict_split(loc, split, indices=idx, desc=name)
        crit = Criteria()
        outcomes[name] = {}
        for i in idx:
            s = score_image(preds[ids[i]], split.columns(i), pixel_size_A=float(pixel[i]),
                            image_shape=tuple(split.image_shape(i)))
            outcomes[name][ids[i]] = met_criteria(s, crit)
    run_models = list(outcomes)

    rows = []
    t0 = time.perf_counter()
    for i in tqdm(idx, desc="assess", unit="img"):
        rec = split.record(i)
        truth = rec.quality.values()
        material = subsets[i].split("_sim_")[0]
        est, fam, verdicts = assess_image(split.image(i), pixel_size_A=float(pixel[i]), table=table,
                                          models=run_models or None)
        e = est.metrics()
        row = {"image_id": ids[i], "subset": subsets[i], "material": material,
               "lattice_ok": est.lattice_family == LATTICE.get(material), "family": fam,
               "truth": {m: truth.get(m) for m in METRICS}, "estimate": {m: e.get(m) for m in METRICS},
               "recommended": {v.model: v.recommended for v in verdicts},
               "met": {m: outcomes[m][ids[i]] for m in run_models}}
        true_metrics = {k: truth.get(k) for k in ESTIMATED_METRICS}  # the same metrics, true values
        row["recommended_true_metrics"] = {v.model: v.recommended for v in place(
            true_metrics, family=material_family(LATTICE[material], table), table=table, models=run_models)}
        for m, (rel, _) in METRICS.items():
            t, v = truth.get(m), e.get(m)
            row.setdefault("error", {})[m] = None if t is None or v is None else ((v / t - 1) if rel else (v - t))
        rows.append(row)
    secs = (time.perf_counter() - t0) / max(len(idx), 1)

    report = {"split": str(a.split), "n_images": len(idx), "seeds": a.seeds, "cutoffs": table["source"],
              "models": run_models, "models_skipped": skipped, "seconds_per_image_assess": secs, "estimators": {},
              "lattice_family_correct": float(np.mean([r["lattice_ok"] for r in rows])) if rows else None}
    for m, (rel, unit) in METRICS.items():
        errs = [r["error"][m] for r in rows]
        per = {}
        for sub in sorted({r["subset"] for r in rows}):
            per[sub] = summarise([r["error"][m] for r in rows if r["subset"] == sub])
        report["estimators"][m] = {"relative": rel, "unit": unit, "all": summarise(errs),
                                   "not_estimated": sum(1 for r in rows if r["estimate"][m] is None and r["truth"][m] is not None),
                                   "signed_median": float(np.nanmedian([x for x in errs if x is not None])) if any(
                                       x is not None for x in errs) else None,
                                   "per_sweep": per}
    agree = {}
    for key in ("recommended", "recommended_true_metrics"):
        per_model = {}
        pairs = []
        for m in run_models:
            hits = [r[key][m] == r["met"][m] for r in rows if m in r[key]]
            conf = {"recommended_and_met": sum(1 for r in rows if r[key].get(m) and r["met"][m]),
                    "recommended_not_met": sum(1 for r in rows if r[key].get(m) and not r["met"][m]),
                    "not_recommended_met": sum(1 for r in rows if not r[key].get(m) and r["met"][m]),
                    "not_recommended_not_met": sum(1 for r in rows if not r[key].get(m) and not r["met"][m])}
            per_model[m] = {"agreement": float(np.mean(hits)) if hits else None, "n": len(hits), **conf}
            pairs += hits
        agree[key] = {"agreement": float(np.mean(pairs)) if pairs else None, "n_pairs": len(pairs), "per_model": per_model}
    report["agreement"] = agree["recommended"]
    report["agreement_with_true_metrics"] = agree["recommended_true_metrics"]
    report["rows"] = rows
    Path(a.out).write_text(json.dumps(report, indent=1, default=str))

    print(f"\nestimator errors on {len(rows)} images (|error|: median / 90th percentile):")
    for m, d in report["estimators"].items():
        s = d["all"]
        k = 100 if d["relative"] else 1
        if s["n"]:
            print(f"  {m:18s} {s['median'] * k:8.3g} / {s['p90'] * k:8.3g} {d['unit']}  (n={s['n']}, "
                  f"not estimated {d['not_estimated']})")
    print(f"  lattice family right on {report['lattice_family_correct']:.1%} of images")
    print(f"recommendation agrees with the real outcome on {agree['recommended']['agreement']:.1%} of "
          f"{agree['recommended']['n_pairs']} (image, model) pairs; with the true metrics placed instead: "
          f"{agree['recommended_true_metrics']['agreement']:.1%}")
    for m, d in agree["recommended"]["per_model"].items():
        print(f"  {m:26s} {d['agreement']:.1%}  (recommended & met {d['recommended_and_met']}, recommended & missed "
              f"{d['recommended_not_met']}, not recommended & met {d['not_recommended_met']}, "
              f"not recommended & missed {d['not_recommended_not_met']})")
    print(f"assess: {secs:.2f} s per image; details in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
