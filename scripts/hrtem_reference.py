"""Score the trained U-Net and the classical baseline on the HRTEM benchmark; print the acceptance tables.

    python scripts/hrtem_reference.py --data DIR --weights hrtem-unet.pt --out OUT [--split test]

Writes OUT/<model>/masks.npz (predicted masks), then runs `atomdata evaluate` on them (OUT/<model>/report/
and OUT/<model>/plots/), and prints per sweep the mean pixel IoU of each model at the best-quality end of
the sweep, the cutoff of each model, and the overall scores. Uses the same functions as the CLI.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atomdata.cli import main as cli
from atomdata.evaluation.mask_inputs import save_mask_predictions
from atomdata.models.segmenter import ClassicalSegmenter
from atomdata.models.unet import UNetSegmenter
from atomdata.sim.hrtem.benchmark import SWEEPS
from atomdata.sources import open_split

#: The best-quality end of each sweep: the largest value when images get harder as it falls, else the smallest.
BEST_END = {metric: (max if worse == "lower" else min) for metric, worse in SWEEPS.items()}


def predict(model, split) -> tuple[dict, float]:
    t0 = time.perf_counter()
    masks = {split.image_ids[i]: model.predict(split.image(i), pixel_size_A=float(split.pixel_sizes_A[i]))
             for i in range(len(split))}
    return masks, (time.perf_counter() - t0) / max(1, len(split))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--n-boot", type=int, default=1000)
    args = p.parse_args(argv)
    split = open_split(args.data, args.split)
    out = Path(args.out)
    reports = {}
    for name, model in (("hrtem-unet", UNetSegmenter(args.weights)), ("classical", ClassicalSegmenter())):
        masks, sec = predict(model, split)
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        save_mask_predictions(masks, d / "masks.npz")
        cli(["evaluate", "--data", args.data, "--split", args.split, "--predictions", str(d / "masks.npz"),
             "--out", str(d / "report"), "--plots", str(d / "plots"), "--model-name", name, "--n-boot",
             str(args.n_boot), "--quiet"])
        reports[name] = json.loads((d / "report" / "report.json").read_text())
        reports[name]["seconds_per_image"] = sec
    print(f"\n## {args.split}: pixel IoU at the best-quality end of each sweep, and cutoffs\n")
    print("| sweep | best end | U-Net IoU | baseline IoU | U-Net cutoff (failed first) | baseline cutoff |")
    print("|---|---|---|---|---|---|")

    per = {}
    for name in reports:
        with open(out / name / "report" / "per_image.csv") as fh:
            per[name] = list(csv.DictReader(fh))
    cuts = {n: {c["subset"]: c for c in r["cutoffs"]} for n, r in reports.items()}
    for sub in sorted(cuts["hrtem-unet"]):
        metric = cuts["hrtem-unet"][sub]["metric"]
        vals = sorted({float(r["sweep_value"]) for r in per["hrtem-unet"] if r["subset"] == sub})
        best = BEST_END[metric](vals)

        def iou(name):
            xs = [float(r["pixel_iou"]) for r in per[name] if r["subset"] == sub and float(r["sweep_value"]) == best]
            return np.nanmean(xs)

        def cut(name):
            c = cuts[name][sub]
            return "never fails" if c["cutoff"] is None else f"{c['cutoff']:.4g} ({c['failed_first']})"

        print(f"| {sub} | {best:g} | {iou('hrtem-unet'):.3f} | {iou('classical'):.3f} | {cut('hrtem-unet')} | "
              f"{cut('classical')} |")
    print("\n| model | pixel IoU | Dice | detection F1 | size error [nm] | size W1 (pooled) [nm] | s/image |")
    print("|---|---|---|---|---|---|---|")
    for name, r in reports.items():
        o = {k: ("-" if v["value"] is None else f"{v['value']:.3f}") for k, v in r["overall"].items()}
        print(f"| {name} | {o['pixel_iou']} | {o['dice']} | {o['detection_f1']} | {o['size_error_nm']} | "
              f"{o['pooled_size_w1_nm']} | {r['seconds_per_image']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
