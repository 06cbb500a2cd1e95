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
