"""Microscope-file commands: ``locate`` (columns from a registered model) and ``assess`` (which model to trust)."""
from __future__ import annotations

import json

__all__ = ["COMMANDS"]


def cmd_locate(args) -> int:
    from atomdata.models.locate import locate_files

    options = {"weights": args.weights} if args.weights else {}
    if args.device:
        options["device"] = args.device
    results = locate_files(args.files, model=args.model, out_dir=args.out, pixel_size_A=args.pixel_size_A,
                           overlay=not args.no_overlay, progress=not args.quiet, **options)
    for r in results:
        print(f"{r.source['name']}: {len(r.xy)} columns ({r.pixel_size_A:.4g} Å/px, {r.source['calibration']}) "
              f"-> {r.csv}")
    return 0


def add_locate(sub) -> None:
    p = sub.add_parser("locate", help="Find the atomic columns in microscope files (.dm3/.dm4/.emd/.ser/.tif/.png/"
                                      ".npy/.h5) with a registered model; a CSV and an overlay PNG per image.")
    p.add_argument("files", nargs="+", help="Microscope files; every image and every frame of a stack is located.")
    p.add_argument("--model", required=True, help="Registered locator: "
                                                  "ziatdinov-atomnet-cubic, lin-atomsegnet, baseline-peaks.")
    p.add_argument("--out", default="columns", help="Output folder (default ./columns).")
    p.add_argument("--pixel-size-A", type=float, default=None,
                   help="Pixel size in Å/px for every image, instead of the files' calibration (needed for .npy, "
                        "PNG and uncalibrated files).")
    p.add_argument("--weights", default=None, help="Weights file of the model (default: the model's own lookup).")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N.")
    p.add_argument("--no-overlay", action="store_true", help="Do not write the overlay PNGs.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(func=cmd_locate)


def cmd_assess(args) -> int:
    from atomdata.assess import assess_files, format_table, load_model_cutoffs

    table = load_model_cutoffs(args.cutoffs)
    results = assess_files(args.files, out_dir=args.out, pixel_size_A=args.pixel_size_A, family=args.family,
                           models=args.models, cutoffs=table, progress=not args.quiet and not args.json)
    if args.json:
        print(json.dumps({"cutoffs": table["source"], "images": [r.to_dict() for r in results]}, indent=2, default=str))
    else:
        print(format_table(results, cutoffs_source=table["source"]))
        if args.out:
            print(f"details: {args.out}/assess.json")
    return 0


def add_assess(sub) -> None:
    p = sub.add_parser("assess", help="Estimate an image's quality metrics (sampling, resolution, PSNR, contrast, "
                                      "flyback) and say which models met the criteria on such images.")
    p.add_argument("files", nargs="+", help="Microscope files; every image and every frame of a stack is assessed.")
    p.add_argument("--out", default=None, help="Folder for assess.json and one radar PNG per image.")
    p.add_argument("--pixel-size-A", type=float, default=None,
                   help="Pixel size in Å/px for every image, instead of the files' calibration.")
    p.add_argument("--family", default=None,
                   help="Material family of the cutoffs (sto, ws2); default: the one whose lattice matches the image.")
    p.add_argument("--models", nargs="+", default=None, help="Only these models (default: all with cutoffs).")
    p.add_argument("--cutoffs", default=None,
                   help="Cutoff table (scripts/make_model_cutoffs.py); default: the packaged one.")
    p.add_argument("--json", action="store_true", help="Print JSON instead of the table.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(func=cmd_assess)


COMMANDS = [add_locate, add_assess]
