"""Seeds: every simulated image is a pure function of (dataset version, split, index)."""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["image_seed", "log_uniform"]


def image_seed(version: str, split: str, index: int, stream: int = 0) -> int:
    """Seed of image ``index`` of ``split`` in dataset ``version`` (``stream`` 0: pixels, 1: parameters).

    A pure function: ``SeedSequence([crc32(version), crc32(split), index, stream])``.

    Examples
    --------
    >>> image_seed("1.0.0", "test", 0) == image_seed("1.0.0", "test", 0) != image_seed("1.0.0", "train", 0)
    True
    """
    ss = np.random.SeedSequence([zlib.crc32(version.encode()), zlib.crc32(split.encode()), int(index), int(stream)])
    return int(ss.generate_state(1, np.uint32)[0])


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw between ``lo`` and ``hi`` (> 0), uniform in the logarithm (numpy's exp and log)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
