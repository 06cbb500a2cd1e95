"""Helpers shared by the command modules: checking folder arguments."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["existing_folder"]


def existing_folder(value: Optional[str], option: str) -> Optional[Path]:
    """``value`` as a Path when it names an existing folder, None when not given; else a one-line error.

    A mistyped cache folder must not start a download or a build into a new folder.
    """
    if value is None:
        return None
    p = Path(value).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{option} {p} is not an existing folder; create it first (mkdir -p {p}) "
                                "or fix the path")
    return p
