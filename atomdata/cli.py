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


def _cmd_build(args) -> int:
    from .build import build_dataset

    out = build_dataset(args.out, quick=args.quick, workers=args.workers, progress=not args.no_progress,
                        splits=args.splits)
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
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    p.set_defaults(func=_cmd_build)


#: Functions that add one sub-command each; other modules' commands are appended here.
_COMMANDS: list[Callable] = [_add_info, _add_validate]
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
