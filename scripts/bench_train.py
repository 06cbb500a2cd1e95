"""Train lin-atomsegnet with the default recipe (or load weights) and score it on held-out test images.

Usage::

    PYTHONPATH=. python scripts/bench_train.py --data DATASET_DIR [--weights PATH] [--steps N] [--out PATH]

Without ``--weights`` it runs ``atomdata.models.train.train`` (timed, wall clock) and then scores
the result; with ``--weights`` it only scores.  Scoring: every ``sto_sim_*`` / ``ws2_sim_*`` test
image whose swept metric is at its good-quality end (the first or last sweep point, whichever is the
better one) is located by the trained model and by ``baseline-peaks``, side by side, and scored with
``atomdata.evaluation.score_image`` (one-to-one matching, 0.5 A tolerance).  Prints mean ID-recall,
ID-precision and RMS accuracy per material.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from atomdata import models
from atomdata.evaluation import score_image
from atomdata.models.train import train
from atomdata.storage import SplitFile

#: which end of each sweep is the good-quality one
_GOOD_END = {"atoms_per_100px": "min", "contrast": "max", "psnr_db": "max", "resolution_pm": "min",
             "flyback_error_px": "min", "random_drift": "min", "dose_e_per_A2": "max"}


def good_images(split: SplitFile) -> list[int]:
    """Indices of the test images at the good-quality end of each sweep."""
    chosen = []
    subsets = np.asarray(split.subsets)
    for subset in sorted(set(subsets.tolist())):
        idx = np.flatnonzero(subsets == subset)
        values = np.array([split.record(int(i)).extra["sweep"]["value"] for i in idx], dtype=float)
        metric = split.record(int(idx[0])).extra["sweep"]["metric"]
        best = values.min() if _GOOD_END[metric] == "min" else values.max()
        chosen += [int(i) for i, v in zip(idx, values) if v == best]
    return chosen


def score(locator, split: SplitFile, indices) -> dict:
    per_material: dict[str, list] = {}
    t0 = time.perf_counter()
    for i in indices:
        rec = split.record(i)
        pred = locator.predict(split.image(i), pixel_size_A=rec.quality.pixel_size_A)
        s = score_image(pred, split.columns(i), pixel_size_A=rec.quality.pixel_size_A)
        per_material.setdefault(rec.subset.split("_")[0], []).append(
            (s.id_recall, s.id_precision, s.position_accuracy_A))
    out = {m: {"n": len(v), "id_recall": float(np.mean([r for r, _, _ in v])),
               "id_precision": float(np.mean([p for _, p, _ in v])),
               "rms_A": float(np.nanmean([a for _, _, a in v]))} for m, v in per_material.items()}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset folder with train.h5, val.h5, test.h5")
    ap.add_argument("--weights", help="score these weights instead of training")
    ap.add_argument("--out", default=None, help="where train() writes the weights")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--crop-px", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--sigma-px", type=float, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--loss", default=None, choices=["mse", "bce"])
    ap.add_argument("--fg-weight", type=float, default=None)
    ap.add_argument("--head-gain", type=float, default=None)
    ap.add_argument("--head-bias", type=float, default=None)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    report = {"load_average_before": os.getloadavg()}
    weights = args.weights
    if weights is None:
        import dataclasses

        from atomdata.models.train import DEFAULT_RECIPE

        changes = {k: v for k, v in dict(loss=args.loss, fg_weight=args.fg_weight, head_gain=args.head_gain, head_bias=args.head_bias).items()
                   if v is not None}
        t0 = time.perf_counter()
        weights = train("lin-atomsegnet", args.data, out=args.out, steps=args.steps, crop_px=args.crop_px,
                        batch_size=args.batch_size, sigma_px=args.sigma_px, lr=args.lr, resume=False,
                        recipe=dataclasses.replace(DEFAULT_RECIPE, **changes))
        report["train_wall_s"] = round(time.perf_counter() - t0, 1)
        report["load_average_after"] = os.getloadavg()
    test = SplitFile(os.path.join(args.data, "test.h5"))
    idx = good_images(test)
    lin = models.get("lin-atomsegnet", weights=weights, device="cpu")
    report["training"] = {k: lin.meta.get(k) for k in ("steps", "final_val_loss", "wall_time_s")}
    report["lin-atomsegnet"] = score(lin, test, idx)
    if not args.no_baseline:
        report["baseline-peaks"] = score(models.get("baseline-peaks"), test, idx)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
