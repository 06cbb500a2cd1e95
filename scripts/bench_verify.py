"""What the evaluator's split verification costs: verify_split = SHA-256 + open + label checks, per split.

    .venv/bin/python scripts/bench_verify.py /work/ref/full-1.0.0/test.h5

Prints the median of 3 runs of each part (the file is read once first, so the page cache is warm).
"""
from __future__ import annotations

import statistics
import sys
import time

from atomdata.storage import SplitFile, sha256_file, verify_split


def _median_s(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(path: str) -> None:
    sha256_file(path)
    n = len(SplitFile(path))
    whole = _median_s(lambda: verify_split(path))
    digest = _median_s(lambda: sha256_file(path))
    labels = _median_s(lambda: SplitFile(path).validate(deep=False))
    print(f"{path}: {n} images; verify_split {whole:.2f} s = SHA-256 {digest:.2f} s + open and label checks "
          f"{labels:.2f} s (median of 3)")


if __name__ == "__main__":
    main(sys.argv[1])
