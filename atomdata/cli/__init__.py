"""The ``atomdata`` command line: a thin shell over the library functions.

Each sub-command parses its arguments and calls one public function; nothing
here does work a script could not do by calling the same function. Every error
prints one line naming the problem (exit 1), whatever its type; ``--debug`` shows
the traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from atomdata._version import __version__
from atomdata.cli import data, microscope, models, reproduction, scoring

__all__ = ["main", "build_parser", "error_line"]

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
    except Exception as e:
        if args.debug:
            raise
        print(f"atomdata {args.command}: error: {error_line(e)}", file=sys.stderr)
        return 1


def error_line(e: BaseException) -> str:
    """One line describing error ``e``: its message (lines joined); the type too for an unexpected kind of error.

    Examples
    --------
    >>> error_line(ValueError("pixel_size_A must be > 0, got -0.1"))
    'pixel_size_A must be > 0, got -0.1'
    >>> error_line(ZeroDivisionError("division by zero"))
    'ZeroDivisionError: division by zero (unexpected: rerun with --debug for the traceback)'
    """
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = " ".join(part.strip() for part in msg.splitlines() if part.strip()) or type(e).__name__
    if not isinstance(e, (ValueError, FileNotFoundError, KeyError, OSError, RuntimeError, ImportError)):
        msg = f"{type(e).__name__}: {msg} (unexpected: rerun with --debug for the traceback)"
    return msg


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
