"""Throughput of each locator's full predict (network + locator) on CPU, side by side in one run.

For every image size it prints images/s of

* ``ziatdinov-atomnet-cubic`` (``predict`` one image at a time, and ``predict_batch``),
* the published Ziatdinov code path (:func:`atomdata.models.ziatdinov_reference.published_locate`,
  which, like the published servable, reads the weights on every call),
* ``lin-atomsegnet`` (untrained weights: same arithmetic as trained ones),
* ``baseline-peaks`` with centre-of-mass and with Gaussian-fit refinement,

and the ratio wrapper / published path measured in the same run (goal: >= 1).  Wrapper and
published path are timed alternately so that load from other processes hits both alike.

Usage::

    PYTHONPATH=. python scripts/bench_models.py [--sizes 256 1024] [--repeats 3] [--weights PATH]

The weights are found as the wrapper finds them (``--weights``, ``ATOMDATA_ZIATDINOV_WEIGHTS``,
the cache) or, failing that, in ``../shared/reference/ziatdinov_atomnet/`` beside the checkout.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED_WEIGHTS = REPO.parent / "shared" / "reference" / "ziatdinov_atomnet" / "cubic-best_weights.pt"


def srtio3_image(size: int, pixel_size_A: float = 0.15, seed: int = 0) -> np.ndarray:
    """A noisy SrTiO3 [100]-like image (Sr, Ti-O, O columns), rendered patch by patch."""
    rng = np.random.default_rng(seed)
    a = 3.905 / pixel_size_A
    sigma = 0.4 / pixel_size_A
    r = int(4 * sigma)
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    image = np.zeros((size + 2 * r, size + 2 * r))
    n = int(size / a) + 2
    for i in range(-1, n):
        for j in range(-1, n):
            for fx, fy, amp in ((0, 0, 1.0), (0.5, 0.5, 0.55), (0.5, 0, 0.15), (0, 0.5, 0.15)):
                x, y = (i + fx) * a + 3.3 + r, (j + fy) * a + 5.7 + r
                ix, iy = int(round(x)), int(round(y))
                if r <= ix < size + r and r <= iy < size + r:
                    image[iy - r:iy + r + 1, ix - r:ix + r + 1] += amp * np.exp(
                        -((dx + ix - x) ** 2 + (dy + iy - y) ** 2) / (2 * sigma ** 2))
    image = image[r:r + size, r:r + size]
    return image + rng.normal(0, 0.05, image.shape)


def _time(fn, repeats: int) -> float:
    """Median wall time [s] of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _weights(path):
    from atomdata.models.weights import WeightsError, resolve_weights
    from atomdata.models.ziatdinov import ZIATDINOV_CUBIC_WEIGHTS

    try:
        return resolve_weights(ZIATDINOV_CUBIC_WEIGHTS, path, download=False).path
    except WeightsError:
        if SHARED_WEIGHTS.exists():
            return SHARED_WEIGHTS
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="images per predict_batch call")
    parser.add_argument("--weights", default=None, help="path of cubic-best_weights.pt")
    args = parser.parse_args(argv)

    import torch

    from atomdata import models
    from atomdata.models.ziatdinov_reference import published_locate

    weights = _weights(args.weights)
    ziat = models.get("ziatdinov-atomnet-cubic", weights=weights, device="cpu")
    lin = models.get("lin-atomsegnet", untrained=True, device="cpu")
    base_com = models.get("baseline-peaks")
    base_fit = models.get("baseline-peaks", refine="gaussian")
    px = 0.15

    print(f"# bench_models: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), repeats={args.repeats}")
    print(f"{'size':>6} {'model':<38} {'s/image':>9} {'images/s':>9}")
    for size in args.sizes:
        image = srtio3_image(size, px)
        batch = [srtio3_image(size, px, seed=k) for k in range(args.batch)]
        # wrapper and published path alternately, several rounds
        t_wrap, t_ref = [], []
        for _ in range(args.repeats):
            t_wrap.append(_time(lambda: ziat.predict(image, pixel_size_A=px), 1))
            t_ref.append(_time(lambda: published_locate(image, weights), 1))
        rows = [
            ("ziatdinov-atomnet-cubic predict", statistics.median(t_wrap)),
            ("ziatdinov published code path", statistics.median(t_ref)),
            (f"ziatdinov-atomnet-cubic batch of {args.batch}",
             _time(lambda: ziat.predict_batch(batch, pixel_sizes_A=px), args.repeats) / args.batch),
            ("lin-atomsegnet predict (untrained)", _time(lambda: lin.predict(image, pixel_size_A=px), args.repeats)),
            ("baseline-peaks (com)", _time(lambda: base_com.predict(image, pixel_size_A=px), args.repeats)),
            ("baseline-peaks (gaussian fit)", _time(lambda: base_fit.predict(image, pixel_size_A=px), max(1, args.repeats // 2))),
        ]
        for label, sec in rows:
            print(f"{size:>6} {label:<38} {sec:>9.3f} {1 / sec:>9.2f}")
        ratio = statistics.median(t_ref) / statistics.median(t_wrap)
        n_wrap, n_ref = len(ziat.predict(image, pixel_size_A=px)), len(published_locate(image, weights))
        print(f"{size:>6} ratio wrapper/published speed = {ratio:.2f}x "
              f"(columns found: wrapper {n_wrap}, published {n_ref})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
