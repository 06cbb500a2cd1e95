"""Dataset commands: ``info``, ``validate``, ``fetch``, ``cite``, ``build``, ``publish``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from atomdata.cli.common import add_engine_options, existing_folder

__all__ = ["COMMANDS"]


def cmd_info(args) -> int:
    from atomdata.storage.info import dataset_summary, format_summary

    summary = dataset_summary(args.path)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def cmd_validate(args) -> int:
    from atomdata.storage.verify import validate_path

    for line in validate_path(args.path, deep=not args.quick):
        print(line)
    print("valid")
    return 0


def add_info(sub) -> None:
    p = sub.add_parser("info", help="Summarise a split file or dataset folder: counts, subsets, metric ranges.")
    p.add_argument("path", help="A split .h5 file or a dataset folder holding manifest.json.")
    p.add_argument("--json", action="store_true", help="Print the summary as JSON.")
    p.set_defaults(func=cmd_info)


def add_validate(sub) -> None:
    p = sub.add_parser("validate", help="Check schema, structure and checksums; non-zero exit on failure.")
    p.add_argument("path", help="A split .h5 file or a dataset folder holding manifest.json.")
    p.add_argument("--quick", action="store_true", help="Structure only; skip reading every record and image.")
    p.set_defaults(func=cmd_validate)



def cmd_fetch(args) -> int:
    import logging

    from atomdata.sources.loaders import SOURCES, load

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="atomdata fetch: %(message)s")
    result = load(args.name, args.version, args.split, cache_dir=existing_folder(args.cache, "--cache"),
                  sources=tuple(args.source) if args.source else SOURCES, progress=not args.quiet)
    print(getattr(result, "path", result))
    return 0


def add_fetch(sub) -> None:
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
    p.set_defaults(func=cmd_fetch)


def cmd_cite(args) -> int:
    from atomdata.sources.citation import cite
    from atomdata.storage import atomic_path

    text = cite(args.name, args.version, format=args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    with atomic_path(Path(args.output)) as tmp:
        tmp.write_text(text)
    print(f"wrote {args.output}")
    return 0


def add_cite(sub) -> None:
    p = sub.add_parser("cite", help="Print the citation of a dataset version and of the works it builds on.")
    p.add_argument("name", nargs="?", default=None, help="Dataset name (default: atomdata-benchmark).")
    p.add_argument("--version", default=None, help="Version, e.g. 1.0.0 (default: this release's version).")
    p.add_argument("--format", default="bibtex", choices=["bibtex", "cff", "datacite"],
                   help="bibtex (default), cff (CITATION.cff YAML) or datacite (JSON).")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="Write the citation to FILE (e.g. CITATION.cff) instead of printing it.")
    p.set_defaults(func=cmd_cite)


def cmd_build(args) -> int:
    from atomdata.build import build_dataset

    out = build_dataset(args.out, name=args.name, version=args.version, quick=args.quick, workers=args.workers,
                        progress=not args.no_progress, splits=args.splits,
                        compression=None if args.compression == "none" else args.compression,
                        scheduler=args.scheduler, address=args.address, shared_fs=True if args.shared_fs else None)
    print(out)
    if args.preview:
        from atomdata.build.preview import preview_montage

        print(preview_montage(out, args.preview))
    return 0


def add_build(sub) -> None:
    p = sub.add_parser("build", help="Simulate a dataset version (splits + manifest.json); resumable, parallel.")
    p.add_argument("name", nargs="?", default=None,
                   help="Dataset to build (default: atomdata-benchmark, the atom-column benchmark).")
    p.add_argument("--version", default=None, help="Version to build (default: this release's default version).")
    p.add_argument("--out", default=None, help="Output folder (default: the cache folder of the version).")
    p.add_argument("--quick", action="store_true", help="Small but complete build for tests (version <v>-quick).")
    add_engine_options(p, what="the simulation of the shards")
    p.add_argument("--shared-fs", action="store_true",
                   help="With --address: the Dask workers can write into --out (default: they return each shard's "
                        "bytes and this process writes them).")
    p.add_argument("--splits", nargs="+", default=None, metavar="SPLIT",
                   help="Only these splits (train val test generality).")
    p.add_argument("--preview", default=None, metavar="PNG", help="Also write a montage of one image per subset.")
    p.add_argument("--compression", default="gzip", choices=["gzip", "lzf", "none"],
                   help="Image compression (default gzip, the released bytes; none: faster random reads, larger files).")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    p.set_defaults(func=cmd_build)


def cmd_publish(args) -> int:
    from atomdata.sources import DEFAULT_DATASET, DEFAULT_VERSION
    from atomdata.sources.publish import format_summary, prepare_submission, submit_submission
    from atomdata.storage import dataset_dir

    path = args.path or dataset_dir(DEFAULT_DATASET, DEFAULT_VERSION, create=False)
    sub = prepare_submission(path, staging_dir=args.staging, data_source=args.data_source,
                             test=args.test, update=args.update, deep=not args.quick)
    print(format_summary(sub))
    if args.submit:
        source_id = submit_submission(sub, interactive=True)
        print(f"submitted: MDF Connect source_id {source_id} (check progress on the MDF status page)")
    else:
        print("dry run: nothing was submitted (add --submit --data-source URL to publish)")
    return 0


def add_publish(sub) -> None:
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
    p.set_defaults(func=cmd_publish)


#: Functions that add one sub-command each, in help order.
COMMANDS = [add_info, add_validate, add_fetch, add_cite, add_build, add_publish]
