"""Benchmark the fast simulator and the build; compare with abTEM PRISM where it is installed.

Prints images/s of the fast simulator at 256 x 256 and 512 x 512 (one process and a pool of
``--workers`` processes, measured side by side in this run), the time of the same SrTiO3 scan by
the fast model and by abTEM PRISM with frozen phonons (and their ratio), and optionally the wall
time of the whole default build (``--full-build``).

    PYTHONPATH=. python scripts/bench_build.py [--n 48] [--workers 2] [--no-abtem] [--full-build]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace


def _one(params):
    from atomdata.sim.stem.image import simulate_image

    return simulate_image(params).image.shape


def _init():
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def throughput(size: int, n: int, workers: int) -> tuple[float, float]:
    """Images/s of baseline SrTiO3 test images (PSNR 20 dB, flyback 1 px) in 1 process and in a pool."""
    from atomdata.sim.stem.benchmark import pixel_size_for
    from atomdata.sim.stem.catalog import get_structure
    from atomdata.sim.stem.image import ImageParams, simulate_image

    get_structure("sto100")
    base = ImageParams("sto100", shape=(size, size), pixel_size_A=pixel_size_for("sto100", 5.5), psnr_db=20.0,
                       flyback_error_px=1.0)
    params = [replace(base, seed=i) for i in range(n)]
    _init()
    simulate_image(params[0])
    t = time.perf_counter()
    for p in params:
        simulate_image(p)
    serial = n / (time.perf_counter() - t)
    with ProcessPoolExecutor(workers, initializer=_init) as pool:
        list(pool.map(_one, params[:workers]))  # warm up the workers
        t = time.perf_counter()
        list(pool.map(_one, params, chunksize=max(1, n // (4 * workers))))
        parallel = n / (time.perf_counter() - t)
    return serial, parallel


def abtem_ratio(num_configs: int) -> dict:
    from atomdata.sim.stem.fidelity import abtem_haadf, fast_haadf, fit_fast_model, sto_slab

    ref = abtem_haadf(sto_slab((3, 3, 5)), num_configs=num_configs)
    fit = fit_fast_model(ref)
    reps = 50
    t = time.perf_counter()
    for _ in range(reps):
        fast_haadf(ref.atoms, shape=ref.image.shape, pixel_size_A=ref.pixel_size_A, origin_A=ref.origin_A,
                   exponent=fit["exponent"], fwhm_pm=fit["fwhm_pm"])
    fast_s = (time.perf_counter() - t) / reps
    return {"shape": ref.image.shape, "abtem_s": ref.seconds, "fast_s": fast_s, **fit}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="images per throughput measurement")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-abtem", action="store_true")
    ap.add_argument("--configs", type=int, default=4, help="frozen-phonon configurations for abTEM")
    ap.add_argument("--full-build", action="store_true", help="also time the whole default build")
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    for size in (256, 512):
        s, p = throughput(size, args.n, args.workers)
        print(f"fast simulator {size}x{size}: {s:6.1f} img/s (1 process), {p:6.1f} img/s ({args.workers} processes)")
    if not args.no_abtem:
        try:
            r = abtem_ratio(args.configs)
        except ImportError as e:
            print(f"abTEM comparison skipped: {e}")
        else:
            print(f"same SrTiO3 [100] scan {r['shape'][1]}x{r['shape'][0]} px (3x3x5 cells, {args.configs} frozen "
                  f"phonons): abTEM PRISM {r['abtem_s']:.1f} s, fast model {r['fast_s'] * 1e3:.2f} ms, "
                  f"ratio {r['abtem_s'] / r['fast_s']:.0f}x; fitted n = {r['exponent']:.2f}, "
                  f"FWHM = {r['fwhm_pm']:.0f} pm, Pearson r = {r['pearson']:.4f}")
    if args.full_build:
        from atomdata.build.builder import build_dataset

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            out = build_dataset(tmp, workers=args.workers, progress=False)
            wall = time.perf_counter() - t
            from atomdata.storage import read_manifest

            man = read_manifest(out)
            print(f"full default build ({man.n_images} images, {args.workers} workers): {wall:.1f} s wall")
    print(f"load average {os.getloadavg()[0]:.1f} at end (other processes slow these figures down)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
