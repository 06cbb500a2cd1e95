"""The ``atomdata`` command line: a thin shell over the library functions.

Each sub-command parses its arguments and calls one public function; nothing
here does work a script could not do by calling the same function.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional

__all__ = ["main", "build_parser"]


def _cmd_info(args) -> int:
    from .info import dataset_summary, format_summary

    summary = dataset_summary(args.path)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _cmd_validate(args) -> int:
    from .info import validate_path

    for line in validate_path(args.path, deep=not args.quick):
        print(line)
    print("valid")
    return 0


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="Summarise a split file or dataset folder: counts, subsets, metric ranges.")
    p.add_argument("path", help="A split .h5 file or a dataset folder holding manifest.json.")
    p.add_argument("--json", action="store_true", help="Print the summary as JSON.")
    p.set_defaults(func=_cmd_info)


def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="Check schema, structure and checksums; non-zero exit on failure.")
    p.add_argument("path", help="A split .h5 file or a dataset folder holding manifest.json.")
    p.add_argument("--quick", action="store_true", help="Structure only; skip reading every record and image.")
    p.set_defaults(func=_cmd_validate)


def _cmd_fetch(args) -> int:
    import logging

    from .loaders import SOURCES, load

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="atomdata fetch: %(message)s")
    result = load(args.name, args.version, args.split, cache_dir=args.cache,
                  sources=tuple(args.source) if args.source else SOURCES, progress=not args.quiet)
    print(getattr(result, "path", result))
    return 0


def _add_fetch(sub) -> None:
    p = sub.add_parser("fetch", help="Get a dataset version into the cache (cache, Foundry, HTTPS, local build); "
                                     "print its folder or split file.")
    p.add_argument("name", nargs="?", default=None, help="Dataset name (default: atomdata-benchmark).")
    p.add_argument("--version", default=None, help="Version, e.g. 1.0.0, or 1.0 for the latest 1.0.x.")
    p.add_argument("--split", default=None, help="Fetch only this split (train, val, test, generality).")
    p.add_argument("--cache", default=None, help="Cache folder (default: ATOMDATA_CACHE or the user cache).")
    p.add_argument("--source", action="append", choices=["cache", "foundry", "https", "build"],
                   help="Source to try; repeat for several, in order (default: all, in the order cache, "
                        "foundry, https, build).")
    p.add_argument("--quiet", action="store_true", help="No progress bars or log lines.")
    p.set_defaults(func=_cmd_fetch)


def _cmd_cite(args) -> int:
    from .cite import cite

    sys.stdout.write(cite(args.name, args.version, format=args.format))
    return 0


def _add_cite(sub) -> None:
    p = sub.add_parser("cite", help="Print the citation of a dataset version and of the works it builds on.")
    p.add_argument("name", nargs="?", default=None, help="Dataset name (default: atomdata-benchmark).")
    p.add_argument("--version", default=None, help="Version, e.g. 1.0.0 (default: this release's version).")
    p.add_argument("--format", default="bibtex", choices=["bibtex", "cff", "datacite"],
                   help="bibtex (default), cff (CITATION.cff YAML) or datacite (JSON).")
    p.set_defaults(func=_cmd_cite)

def _cmd_build(args) -> int:
    from .build import build_dataset

    out = build_dataset(args.out, quick=args.quick, workers=args.workers, progress=not args.no_progress,
                        splits=args.splits, compression=None if args.compression == "none" else args.compression)
    print(out)
    if args.preview:
        from .preview import preview_montage

        print(preview_montage(out, args.preview))
    return 0


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="Simulate the benchmark (splits + manifest.json); resumable, parallel.")
    p.add_argument("--out", default=None, help="Output folder (default: the cache folder of the version).")
    p.add_argument("--quick", action="store_true", help="Small but complete build for tests (version <v>-quick).")
    p.add_argument("--workers", type=int, default=None, help="Worker processes (default: available CPUs).")
    p.add_argument("--splits", nargs="+", default=None, metavar="SPLIT",
                   help="Only these splits (train val test generality).")
    p.add_argument("--preview", default=None, metavar="PNG", help="Also write a montage of one image per subset.")
    p.add_argument("--compression", default="gzip", choices=["gzip", "lzf", "none"],
                   help="Image compression (default gzip, the released bytes; none: faster random reads, larger files).")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    p.set_defaults(func=_cmd_build)


#: Functions that add one sub-command each; other modules' commands are appended here.
_COMMANDS: list[Callable] = [_add_info, _add_validate]
_COMMANDS += [_add_fetch, _add_cite]


def _cmd_publish(args) -> int:
    from .paths import dataset_dir
    from .publish import format_summary, prepare_submission, submit_submission

    sub = prepare_submission(args.path or dataset_dir(), staging_dir=args.staging, data_source=args.data_source,
                             test=args.test, update=args.update, deep=not args.quick)
    print(format_summary(sub))
    if args.submit:
        source_id = submit_submission(sub, interactive=True)
        print(f"submitted: MDF Connect source_id {source_id} (check progress on the MDF status page)")
    else:
        print("dry run: nothing was submitted (add --submit --data-source URL to publish)")
    return 0


def _add_publish(sub) -> None:
    p = sub.add_parser("publish", help="Stage (dry run, default) or submit a dataset version to Foundry/MDF.")
    p.add_argument("path", nargs="?", default=None,
                   help="Dataset folder with manifest.json (default: the default version in the cache).")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", dest="submit", action="store_false", default=False,
                      help="Check, build and stage the submission only (default).")
    mode.add_argument("--submit", dest="submit", action="store_true",
                      help="Submit through MDF Connect (token from $ATOMDATA_MDF_TOKEN, else a Globus login).")
    p.add_argument("--staging", default=None, help="Staging folder (default: <PATH>-publish beside PATH).")
    p.add_argument("--data-source", default=None, help="Globus URL of the uploaded data/ folder (for --submit).")
    p.add_argument("--test", action="store_true", help="Use MDF's test pipeline.")
    p.add_argument("--update", action="store_true", help="Update an earlier submission of this source name.")
    p.add_argument("--quick", action="store_true", help="Structural checks only; skip reading every image.")
    p.set_defaults(func=_cmd_publish)


_COMMANDS.append(_add_publish)


def _cmd_evaluate(args) -> int:
    from .evaluate import Criteria, evaluate
    from .evaluate.split import resolve_split_path

    path = resolve_split_path(args.data, args.split)
    criteria = Criteria(id_recall_min=args.recall_min, id_precision_min=args.precision_min,
                        position_accuracy_max_A=args.accuracy_max_A)
    from .evaluate.inputs import load_predictions

    preds = load_predictions(args.predictions, group=args.h5_group)
    report, _ = evaluate(preds, path, protocol=args.protocol, tolerance_A=args.tolerance_A,
                         model_name=args.model_name, model_version=args.model_version, criteria=criteria,
                         subsets=args.subset or None, missing=args.missing, non_target=args.non_target,
                         out_dir=args.out, plots_dir=args.plots, n_boot=args.n_boot, max_overlays=args.max_overlays,
                         progress=not args.quiet)
    from .evaluate.report import format_markdown

    print(format_markdown(report))
    if args.out:
        print(f"report written to {args.out} (report.json, per_image.csv, summary.md)")
    if args.plots:
        print(f"plots written to {args.plots}")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="Score predicted column positions against a split; write reports and plots.")
    p.add_argument("--predictions", required=True,
                   help="Predictions file: .csv (image_id,x,y), .npz (one (N, 2) array per image id), "
                        ".npy (structured image_id,x,y) or .h5 (one dataset per image id); (x, y) in px.")
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
    p.add_argument("--h5-group", dest="h5_group", help="HDF5 group holding the per-image datasets.")
    p.add_argument("--recall-min", type=float, default=0.90, help="Cutoff criterion: ID-recall below this fails.")
    p.add_argument("--precision-min", type=float, default=0.95, help="Cutoff criterion: ID-precision below this fails.")
    p.add_argument("--accuracy-max-A", dest="accuracy_max_A", type=float, default=0.30,
                   help="Cutoff criterion: RMS accuracy above this (Angstrom) fails.")
    p.add_argument("--max-overlays", type=int, default=6, help="Overlay plots of the worst-scoring images (default 6).")
    p.add_argument("--n-boot", type=int, default=1000, help="Bootstrap replicates for confidence intervals.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(func=_cmd_evaluate)


_COMMANDS.append(_add_evaluate)


def _cmd_train(args) -> int:
    from .models.train import train
    from .storage import sha256_file

    path = train(args.model, args.data, out=args.out, steps=args.steps, batch_size=args.batch_size,
                 crop_px=args.crop_px, lr=args.lr, sigma_px=args.sigma_px, seed=args.seed, val_every=args.val_every,
                 checkpoint_every=args.checkpoint_every, device=args.device, resume=args.resume,
                 checkpoint_dir=args.checkpoint_dir, stop_at=args.stop_at, workers=args.workers,
                 quick=args.quick, progress=not args.quiet)
    print(path)
    print(f"sha256 {sha256_file(path)}")
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="Train a model's weights on the train split (default recipe: a few minutes "
                                     "on 2 CPU cores); checkpoints, resume, fixed seeds.")
    p.add_argument("model", help="Model to train (lin-atomsegnet).")
    p.add_argument("--data", default=None,
                   help="Dataset folder with train.h5 and val.h5 (default: the benchmark in the cache, built if missing).")
    p.add_argument("--out", default=None,
                   help="Weights file to write (default: <cache>/weights/lin-atomsegnet-gaussianmask.pt).")
    p.add_argument("--quick", action="store_true",
                   help="The short CI recipe (seconds); writes <cache>/weights/<name>-quick.pt unless --out is given.")
    p.add_argument("--steps", type=int, default=None, help="Optimiser steps (default: the recipe's, 400).")
    p.add_argument("--batch-size", type=int, default=None, help="Crops per step (default 4).")
    p.add_argument("--crop-px", type=int, default=None, help="Training crop side in px, a multiple of 4 (default 64).")
    p.add_argument("--lr", type=float, default=None, help="Peak learning rate (default 2e-3).")
    p.add_argument("--sigma-px", type=float, default=None, help="Gaussian mask width in px (default 1.5).")
    p.add_argument("--seed", type=int, default=None, help="Seed of initialisation, sample order and augmentation (default 0).")
    p.add_argument("--val-every", type=int, default=None, help="Validate every N steps (default 100).")
    p.add_argument("--checkpoint-every", type=int, default=None, help="Checkpoint every N steps (default 100).")
    p.add_argument("--checkpoint-dir", default=None, help="Checkpoint folder (default: <cache>/train/<model>-<hash>/).")
    p.add_argument("--stop-at", type=int, default=None, help="Stop after this step, keeping a checkpoint to resume from.")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available).")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0).")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="Start over instead of resuming.")
    p.add_argument("--quiet", action="store_true", help="No progress bar or summary line.")
    p.set_defaults(func=_cmd_train)


_COMMANDS.append(_add_train)


def _cmd_reproduce(args) -> int:
    import logging

    from .reproduce import reproduce

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    kwargs = {"models": args.models} if args.models else {}
    result = reproduce(args.out, quick=args.quick, data=args.data, protocol=args.protocol,
                       tolerance_A=args.tolerance_A, train_missing=not args.no_train, n_boot=args.n_boot,
                       max_seeds=args.max_seeds, reuse_predictions=not args.no_reuse, progress=not args.quiet,
                       **kwargs)
    print(result.report_path.read_text())
    print(f"report: {result.report_path}")
    print(f"total time: {result.timings_s['total']:.0f} s")
    for name, why in result.models_skipped.items():
        print(f"not run: {name}: {why}")
    return 0


def _add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="Build the benchmark if missing, run every model, compare cutoffs with the paper.")
    p.add_argument("--out", default=None, help="Output folder (default ./reproduction or ./reproduction-quick).")
    p.add_argument("--quick", action="store_true", help="Use the quick build (minutes on 2 cores; coarse cutoffs).")
    p.add_argument("--data", default=None, help="A dataset folder with manifest.json instead of the cached/built default.")
    p.add_argument("--models", nargs="+", default=None, help="Registry names to run (default: all three).")
    p.add_argument("--protocol", default="one_to_one", choices=["one_to_one", "wei2022"])
    p.add_argument("--tolerance-A", type=float, default=None, help="Match tolerance [Å] (default: the protocol's).")
    p.add_argument("--no-train", action="store_true", help="Skip lin-atomsegnet instead of training it when its weights are missing.")
    p.add_argument("--n-boot", type=int, default=1000, help="Bootstrap replicates for confidence intervals.")
    p.add_argument("--max-seeds", type=int, default=None,
                   help="Use only the first N seeds of every sweep point (faster; coarser confidence intervals).")
    p.add_argument("--no-reuse", action="store_true",
                   help="Predict everything again instead of reusing predictions saved in --out by an earlier run.")
    p.add_argument("--quiet", action="store_true", help="No progress bars.")
    p.set_defaults(func=_cmd_reproduce)


_COMMANDS.append(_add_reproduce)

_COMMANDS.append(_add_build)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``atomdata`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="atomdata",
        description="atomdata: a benchmark for locating atomic columns in HAADF-STEM images.",
    )
    parser.add_argument("--version", action="version", version=f"atomdata {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line; returns the exit code (errors print one line to stderr, exit 1)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError, OSError, RuntimeError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"atomdata {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
