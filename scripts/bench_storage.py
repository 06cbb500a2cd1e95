"""Random-access read throughput of split files vs a raw numpy memmap of the same bytes.

Writes N images of H x W uint16 (Poisson noise, like a detector image) once as a raw .npy and as atomdata
split files with each compression setting, then reads the same random indices from each, side by side, in
one run. Prints MB/s and the ratio to the memmap (goal for the default layout: >= 0.5).

    python scripts/bench_storage.py [--n 2000] [--size 256] [--reads 4000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atomdata.schema import ColumnSet, ImageRecord, Lattice, Provenance, QualityMetrics
from atomdata.storage import SplitFile, SplitWriter


def _record(i: int, size: int) -> ImageRecord:
    return ImageRecord(
        image_id=f"img-{i:06d}", split="test", subset="bench", shape=(size, size), dtype="uint16",
        lattice=Lattice(material="SrTiO3", formula="SrTiO3", zone_axis="[100]"),
        quality=QualityMetrics(pixel_size_A=0.1),
        provenance=Provenance(kind="simulated", simulator="bench"),
        columns=ColumnSet.from_arrays([[1.0, 1.0]], "Sr"),
    )


def _timeit(read, idx, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for i in idx:
            read(int(i))
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images in the split")
    ap.add_argument("--size", type=int, default=256, help="image side [px]")
    ap.add_argument("--reads", type=int, default=4000, help="random reads per layout")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    images = rng.poisson(400, (args.n, args.size, args.size)).astype(np.uint16)
    idx = rng.integers(0, args.n, args.reads)
    nbytes = images[0].nbytes * args.reads / 1e6
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        np.save(d / "raw.npy", images)
        mm = np.load(d / "raw.npy", mmap_mode="r")
        layouts = {}
        for comp in (None, "lzf", "gzip"):
            path = d / f"{comp}.h5"
            with SplitWriter(path, split="test", compression=comp) as w:
                for i in range(args.n):
                    w.add(_record(i, args.size), images[i])
            layouts[str(comp)] = (SplitFile(path), path.stat().st_size)
        # warm the page cache for every file so the comparison is of decoding, not disk
        for s, _ in layouts.values():
            for i in range(args.n):
                s.image(i)
        t_mm = _timeit(lambda i: np.array(mm[i]), idx)
        print(f"{args.n} images of {args.size}x{args.size} uint16, {args.reads} random reads (best of 3)")
        print(f"{'layout':<26}{'file MB':>9}{'MB/s':>10}{'ratio to memmap':>18}")
        print(f"{'raw .npy memmap':<26}{images.nbytes / 1e6:>9.1f}{nbytes / t_mm:>10.0f}{1.0:>18.2f}")
        for name, (s, size) in layouts.items():
            t = _timeit(s.image, idx)
            label = {"None": "split, uncompressed", "lzf": "split, lzf", "gzip": "split, gzip-1 (default)"}[name]
            print(f"{label:<26}{size / 1e6:>9.1f}{nbytes / t:>10.0f}{t_mm / t:>18.2f}")
            s.close()


if __name__ == "__main__":
    main()
