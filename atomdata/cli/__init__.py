"""The ``atomdata`` command line: a thin shell over the library functions.

Each sub-command parses its arguments and calls one public function; nothing
here does work a script could not do by calling the same function. Errors
print one line naming the problem (exit 1); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from atomdata._version import __version__
from atomdata.cli import data, microscope, models, reproduction, scoring

__all__ = ["main", "build_parser"]

#: Functions that add one sub-command each, in help order.
_COMMANDS = [*data.COMMANDS, *scoring.COMMANDS, *models.COMMANDS, *microscope.COMMANDS, *reproduction.COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``atomdata`` command."""
    parser = argparse.ArgumentParser(
        prog="atomdata",
        description="atomdata: versioned benchmarks for machine learning on atomic-resolution images.",
    )
    parser.add_argument("--version", action="version", version=f"atomdata {__version__}")
    parser.add_argument("--debug", action="store_true", help="Show the full traceback of an error.")
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
        if args.debug:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"atomdata {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
