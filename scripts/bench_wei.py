"""Benchmark the Wei reader against plain h5py on a synthetic file in the published layout.

Writes N images (default 299, 256 x 256 float32, ~150 columns each, like the
published wei_atom.h5) with the tests' layout writer, then times, side by side
in one run: opening (metadata table + member names), reading every image, and
building every record, against reading the same arrays with h5py directly.

    PYTHONPATH=. python scripts/bench_wei.py [--n 299] [--size 256]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from wei_layout import write_wei_file  # noqa: E402

from atomdata.sources.wei.reader import open_wei


def _best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=299)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    names = [f"img{k}" for k in range(args.n)]
    images = {n: rng.random((args.size, args.size)).astype(np.float32) for n in names}
    coords = {n: rng.uniform(0, args.size - 1, (150, 2)) for n in names}
    rows = [{"material": "SrTiO3[100]", "space group": 221, "type": "simulated", "contrast": 0.5,
             "pixel size (pm)": 10.0, "PSNR (dB)": 20.0, "resolution (pm)": 120.0, "peak intensity": 1.0}
            for _ in names]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "wei_atom.h5"
        write_wei_file(path, images, coords, names, rows, raw=False)

        def h5_open():
            with h5py.File(path) as f:
                list(f["imgs"].keys()), f["metadata/table"][()]

        def h5_images():
            with h5py.File(path) as f:
                for n in names:
                    f["imgs"][n][()], f["coords"][n][()]

        split = open_wei(path)

        def wei_images():
            for i in range(len(split)):
                split.image(i), split.columns(i)

        t_open_h5, t_open = _best(h5_open), _best(lambda: open_wei(path))
        t_img_h5, t_img = _best(h5_images), _best(wei_images)
        t_rec = _best(lambda: [split.record(i) for i in range(len(split))], repeat=1)
    print(f"{args.n} images of {args.size}x{args.size} float32, 150 columns each")
    print(f"open: open_wei {t_open * 1e3:.1f} ms vs h5py keys+table {t_open_h5 * 1e3:.1f} ms "
          f"(ratio {t_open / t_open_h5:.2f})")
    print(f"all images+coords: WeiSplit {t_img * 1e3:.1f} ms vs h5py {t_img_h5 * 1e3:.1f} ms "
          f"(ratio {t_img / t_img_h5:.2f})")
    print(f"all records (schema-validated): {t_rec * 1e3:.1f} ms ({t_rec / args.n * 1e3:.2f} ms per record)")


if __name__ == "__main__":
    main()
