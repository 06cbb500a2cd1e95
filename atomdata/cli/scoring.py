"""Scoring command: ``evaluate``."""
from __future__ import annotations

from atomdata.cli.common import add_engine_options

__all__ = ["COMMANDS"]


def _print_report(markdown: str, args) -> int:
    """The report on screen, then where its files went; the exit status."""
    print(markdown)
    if args.out:
        print(f"report written to {args.out} (report.json, per_image.csv, summary.md)")
    if args.plots:
        print(f"plots written to {args.plots}")
    return 0


def cmd_evaluate_segmentation(args, split) -> int:
    from atomdata.evaluation.cutoffs import SegmentationCriteria
    from atomdata.evaluation.mask_inputs import load_mask_predictions
    from atomdata.evaluation.seg_report import evaluate_segmentation, format_segmentation_markdown

    preds = load_mask_predictions(args.predictions, image_ids=split.image_ids, group=args.h5_group)
    criteria = SegmentationCriteria(pixel_iou_min=args.iou_min, detection_f1_min=args.f1_min,
                                    size_error_max=args.size_error_max)
    report, _ = evaluate_segmentation(preds, split, model_name=args.model_name, model_version=args.model_version,
                                      criteria=criteria, subsets=args.subset or None, missing=args.missing,
                                      out_dir=args.out, plots_dir=args.plots, n_boot=args.n_boot,
                                      max_overlays=args.max_overlays, progress=not args.quiet)
    return _print_report(format_segmentation_markdown(report), args)


def cmd_evaluate(args) -> int:
    from atomdata.evaluation import Criteria, evaluate
    from atomdata.sources import open_split

    # the checks of `validate --quick`, the manifest's SHA-256 compared before the file is parsed
    split = open_split(args.data, args.split or "test", name=args.dataset, verify=True)
    if "instances" in getattr(split, "array_names", []):  # a segmentation split (HRTEM task)
        return cmd_evaluate_segmentation(args, split)
    criteria = Criteria(id_recall_min=args.recall_min, id_precision_min=args.precision_min,
                        position_accuracy_max_A=args.accuracy_max_A)
    from atomdata.evaluation.inputs import load_predictions

    preds = load_predictions(args.predictions, group=args.h5_group)
    report, _ = evaluate(preds, split, verify=False, protocol=args.protocol,
                         tolerance_A=args.tolerance_A,
                         model_name=args.model_name, model_version=args.model_version, criteria=criteria,
                         subsets=args.subset or None, missing=args.missing, non_target=args.non_target,
                         visibility=args.visibility,
                         out_dir=args.out, plots_dir=args.plots, n_boot=args.n_boot, max_overlays=args.max_overlays,
                         progress=not args.quiet, scheduler=args.scheduler, address=args.address,
                         workers=args.workers if args.workers else (None if args.scheduler == "dask" else 1))
    from atomdata.evaluation.report import format_markdown

    return _print_report(format_markdown(report), args)


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="Score predicted column positions (or particle masks, on a segmentation "
                                        "split) against a split; write reports and plots.")
    p.add_argument("--predictions", required=True,
                   help="Predictions file: .csv (image_id,x,y), .npz (one (N, 2) array per image id), "
                        ".npy (structured image_id,x,y) or .h5 (one dataset per image id); (x, y) in px. "
                        "On a segmentation split: a folder of <image_id>.png/.npy masks, .npz or .h5 (one (H, W) "
                        "mask or instance image per id) or an (N, H, W) .npy stack in split order.")
    p.add_argument("--dataset", default=None, help="Registered dataset name when --data is not a folder or file "
                                                   "(e.g. atomdata-hrtem).")
    p.add_argument("--data", help="A split .h5 file or a dataset folder (default: the built default dataset).")
    p.add_argument("--split", help="Split name inside the dataset folder (default: test).")
    p.add_argument("--protocol", choices=("one_to_one", "wei2022"), default="one_to_one",
                   help="Matching protocol (default one_to_one; wei2022 = the published protocol).")
    p.add_argument("--tolerance-A", dest="tolerance_A", type=float, default=None,
                   help="Match tolerance in Angstrom (default: 0.5 for one_to_one; 5 px^2 for wei2022).")
    p.add_argument("--out", help="Folder for report.json, per_image.csv and summary.md.")
    p.add_argument("--plots", help="Folder for the radar, sweep and overlay PNGs.")
    p.add_argument("--model-name", help="Model name recorded in the report.")
    p.add_argument("--model-version", help="Model version recorded in the report.")
    p.add_argument("--subset", action="append", help="Score only this subset (repeatable).")
    p.add_argument("--missing", choices=("error", "empty", "skip"), default="error",
                   help="Images without predictions: fail (default), score as empty, or skip.")
    p.add_argument("--non-target", dest="non_target", choices=("ignore", "false_positive"), default="ignore",
                   help="Predictions on non-target columns: ignored (default) or counted as false positives.")
    p.add_argument("--visibility", choices=("resolved", "all"), default="resolved",
                   help="Score only columns the noise-free image resolves (default; benchmark 1.1.0 and later) "
                        "or every column of a visible species.")
    p.add_argument("--h5-group", dest="h5_group", help="HDF5 group holding the per-image datasets.")
    p.add_argument("--recall-min", type=float, default=0.90, help="Cutoff criterion: ID-recall below this fails.")
    p.add_argument("--precision-min", type=float, default=0.95, help="Cutoff criterion: ID-precision below this fails.")
    p.add_argument("--accuracy-max-A", dest="accuracy_max_A", type=float, default=0.30,
                   help="Cutoff criterion: RMS accuracy above this (Angstrom) fails.")
    p.add_argument("--iou-min", type=float, default=0.80, help="Segmentation cutoff: pixel IoU below this fails.")
    p.add_argument("--f1-min", type=float, default=0.80,
                   help="Segmentation cutoff: detection F1 (IoU >= 0.5 matches) below this fails.")
    p.add_argument("--size-error-max", type=float, default=0.10,
                   help="Segmentation cutoff: relative particle-size error above this fails.")
    p.add_argument("--max-overlays", type=int, default=6, help="Overlay plots of the worst-scoring images (default 6).")
    p.add_argument("--n-boot", type=int, default=1000, help="Bootstrap replicates for confidence intervals.")
    add_engine_options(p, what="the scoring of the images",
                       workers_default="1, here; with --scheduler dask the available CPUs")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(func=cmd_evaluate)


COMMANDS = [add_evaluate]
