"""CPU inference of the two CNN wrappers: today's PyTorch path vs ONNX Runtime, side by side, against a roofline.

For each CNN locator (``ziatdinov-atomnet-cubic``, ``lin-atomsegnet``) it times the full
``predict_batch`` (scaling, padding, forward pass, locator) on 256 x 256 SrTiO3-like images with
``backend="torch"`` (the path before ONNX Runtime: eager PyTorch, channels-last) and
``backend="onnxruntime"``, alternately, several rounds (load from other processes hits both
alike), and prints:

* images/s of each, and the ratio (goal >= 1.5);
* the forward pass's float32 work per image (multiply-adds of every convolution, counted with
  hooks) and the achieved GFLOP/s;
* the fraction of this CPU's measured float32 matmul throughput (``torch.mm`` of 2048 x 2048 on
  all threads, best of several) that achieved rate is -- a roofline for a compute-bound network;
* whether both back-ends found the same columns on these images;
* the AtomNet wrapper vs the published code path (:func:`published_locate`, which re-reads the
  weights on every call, as the published servable did), as before.

Usage::

    PYTHONPATH=. python scripts/bench_models.py [--rounds 3] [--batch 8] [--threads N] [--lin-weights PATH]

Without ``--lin-weights`` (or trained weights in the cache) ``lin-atomsegnet`` runs untrained
weights: the same arithmetic in the network, but its watershed locator sees a different map.
"""
from __future__ import annotations

import argparse
import os
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


def conv_flops(net, shape) -> float:
    """float32 FLOPs (2 x multiply-adds) of every Conv2d of ``net`` on one (1, 1, H, W) input."""
    import torch

    total = [0.0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total[0] += 2.0 * out.numel() * k

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        net.to(memory_format=torch.contiguous_format)(torch.zeros(1, 1, *shape))
    for h in handles:
        h.remove()
    net.to(memory_format=torch.channels_last)
    return total[0]


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matmul throughput [GFLOP/s] of ``torch.mm`` on this CPU with torch's threads."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_once(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _same_columns(a: list, b: list, tol: float = 0.01) -> tuple[int, int, float]:
    """(columns of ``a`` with a column of ``b`` within ``tol`` px, columns of ``a``, largest distance [px])."""
    from scipy.spatial import cKDTree

    same = n = 0
    worst = 0.0
    for p, q in zip(a, b):
        n += len(p)
        if len(p) and len(q):
            d = cKDTree(q).query(p)[0]
            same += int((d <= tol).sum())
            worst = max(worst, float(d.max()))
        elif len(p):
            worst = float("inf")
    return same, n, worst


def pipeline(args, zw, lin_opts, lin_note) -> None:
    """The reproduction's prediction step, today's way and the new way, alternately (2 rounds each)."""
    from atomdata.build.engine import task_runner
    from atomdata.models.parallel import LocatorSpec, PredictionJob, predict_jobs
    from atomdata.models.predict import predict_split
    from atomdata.sources import open_split

    split = open_split(args.data, "test")
    step = max(1, len(split) // args.pipeline)
    idx = list(range(0, len(split), step))[:args.pipeline]
    names = {"ziatdinov-atomnet-cubic": {"weights": zw}, "lin-atomsegnet": lin_opts}
    old = {n: models_get(n, backend="torch", **o) for n, o in names.items()}
    specs = [LocatorSpec.of(n, backend="onnxruntime", **o) for n, o in names.items()]
    jobs = [PredictionJob(s.name, s, split, idx) for s in specs]
    t_old, t_new = [], []
    got_old = got_new = None
    for _ in range(2):
        t = time.perf_counter()
        got_old = {n: predict_split(loc, split, indices=idx, progress=False) for n, loc in old.items()}
        t_old.append(time.perf_counter() - t)
        t = time.perf_counter()
        with task_runner("processes", workers=2) as runner:
            got_new = predict_jobs(jobs, runner=runner, progress=False)
        t_new.append(time.perf_counter() - t)
    n = 2 * len(idx)
    print(f"reproduction prediction step, {len(idx)} test images x 2 CNNs (lin-atomsegnet: {lin_note}):")
    print(f"  today (sequential, PyTorch, {__import__('torch').get_num_threads()} threads): "
          f"{n / min(t_old):.2f} img/s; new (ONNX Runtime, 2 processes x 1 thread, models interleaved): "
          f"{n / min(t_new):.2f} img/s; speed-up {min(t_old) / min(t_new):.2f}x")
    for name in names:
        same, total, worst = _same_columns([got_new[name][k] for k in got_old[name]], list(got_old[name].values()))
        print(f"  {name}: columns identical to 0.01 px {same}/{total}, largest shift {worst:.3g} px")


def compare(args, zw, lin_opts) -> None:
    """Columns of the PyTorch and ONNX Runtime back-ends on the same test images: identical to 0.01 px?"""
    from atomdata.models.predict import predict_split
    from atomdata.sources import open_split

    split = open_split(args.data, "test")
    idx = list(np.linspace(0, len(split) - 1, min(args.compare, len(split))).round().astype(int))
    names = {"ziatdinov-atomnet-cubic": {"weights": zw}}
    if "untrained" not in lin_opts:
        names["lin-atomsegnet"] = lin_opts
    for name, opts in names.items():
        got = {b: predict_split(models_get(name, backend=b, **opts), split, indices=idx, progress=False)
               for b in ("torch", "onnxruntime")}
        same, total, worst = _same_columns([got["onnxruntime"][k] for k in got["torch"]], list(got["torch"].values()))
        far = sum(int((np.asarray(d) > 0.5).sum()) for d in _distances(got["onnxruntime"], got["torch"]))
        counts = sum(len(got["onnxruntime"][k]) != len(got["torch"][k]) for k in got["torch"])
        print(f"{name}: {len(idx)} test images, columns identical to 0.01 px {same}/{total} ({same / max(total, 1):.2%}),"
              f" off by > 0.5 px {far}, images with another column count {counts}, largest shift {worst:.3g} px")


def _distances(a: dict, b: dict) -> list:
    from scipy.spatial import cKDTree

    return [cKDTree(b[k]).query(a[k])[0] if len(a[k]) and len(b[k]) else np.full(len(a[k]), np.inf) for k in b]


def models_get(name, **opts):
    from atomdata import models

    return models.get(name, device="cpu", **opts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", "--repeats", type=int, default=3, help="alternating timing rounds (median reported)")
    ap.add_argument("--batch", type=int, default=8, help="images per predict_batch call")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256], help="image sizes [px] (default 256)")
    ap.add_argument("--threads", type=int, default=None, help="torch / ONNX Runtime threads (default torch's)")
    ap.add_argument("--weights", default=None, help="path of cubic-best_weights.pt")
    ap.add_argument("--lin-weights", default=None, help="trained lin-atomsegnet weights (default: the cache)")
    ap.add_argument("--pipeline", type=int, default=0, metavar="N",
                    help="also time the reproduction's prediction step on N test images per model of --data: "
                         "today's (one model after another, PyTorch) vs the new (ONNX Runtime, both models "
                         "interleaved on a 2-process pool)")
    ap.add_argument("--data", default="/work/ref/full-1.0.0", help="dataset folder for --pipeline")
    ap.add_argument("--only-pipeline", action="store_true", help="skip the per-wrapper table")
    ap.add_argument("--compare", type=int, default=0, metavar="N",
                    help="only compare the columns of the two back-ends on N evenly spaced images of the --data "
                         "test split (AtomNet, and lin-atomsegnet when trained weights exist) and exit")
    args = ap.parse_args(argv)

    import torch

    from atomdata import models
    from atomdata.models.weights import WeightsError, resolve_weights
    from atomdata.models.ziatdinov import ZIATDINOV_CUBIC_WEIGHTS

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        zw = resolve_weights(ZIATDINOV_CUBIC_WEIGHTS, args.weights, download=False).path
    except WeightsError:
        zw = SHARED_WEIGHTS
    try:
        lin_opts = {"weights": args.lin_weights} if args.lin_weights else {}
        models.get("lin-atomsegnet", device="cpu", **lin_opts)
        lin_note = "trained weights"
    except WeightsError:
        lin_opts, lin_note = {"untrained": True}, "untrained weights (locator sees another map)"

    px = 0.15
    peak = matmul_gflops()
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[0]
    print(f"# bench_models: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"float32 matmul peak {peak:.1f} GFLOP/s (torch.mm 2048^2), load average {load0} at start, "
          f"batch {args.batch}, sizes {args.sizes}, {args.rounds} rounds")
    if args.compare:
        compare(args, zw, lin_opts)
        return 0
    if args.pipeline:
        pipeline(args, zw, lin_opts, lin_note)
    if args.only_pipeline:
        return 0
    for size in args.sizes:
        table(args, size, px, peak, zw, lin_opts, lin_note)
    with open("/proc/loadavg") as f:
        print(f"# load average {f.read().split()[0]} at end (other processes share the cores)")
    return 0


def table(args, size, px, peak, zw, lin_opts, lin_note) -> None:
    """Per-wrapper rows at one image size: torch vs ONNX Runtime, roofline, same columns; the published path."""
    from atomdata import models
    from atomdata.models.ziatdinov_reference import published_locate

    images = [srtio3_image(size, px, seed=k) for k in range(args.batch)]
    print(f"{'size':>5} {'model':<26} {'backend':<12} {'img/s':>7} {'GFLOP/img':>10} {'GFLOP/s':>8} {'of peak':>8}")
    for name, opts, note in (("ziatdinov-atomnet-cubic", {"weights": zw}, "published weights"),
                             ("lin-atomsegnet", lin_opts, lin_note)):
        locs = {b: models.get(name, device="cpu", backend=b, **opts) for b in ("torch", "onnxruntime")}
        flops = conv_flops(locs["torch"].net, (size, size))
        results = {b: loc.predict_batch(images, pixel_sizes_A=px) for b, loc in locs.items()}  # warm-up
        times: dict = {b: [] for b in locs}
        for _ in range(args.rounds):
            for b, loc in locs.items():
                times[b].append(_once(lambda: loc.predict_batch(images, pixel_sizes_A=px)) / len(images))
        for b in locs:
            s = statistics.median(times[b])
            print(f"{size:>5} {name:<26} {b:<12} {1 / s:7.2f} {flops / 1e9:10.2f} {flops / s / 1e9:8.1f} "
                  f"{flops / s / 1e9 / peak:8.0%}")
        same, n, worst = _same_columns(results["onnxruntime"], results["torch"])
        print(f"{size:>5} {name:<26} onnxruntime / torch speed = {statistics.median(times['torch']) / statistics.median(times['onnxruntime']):.2f}x"
              f" ({note}); columns identical to 0.01 px: {same}/{n}, largest shift {worst:.3g} px")
    # the published code path, as before (AtomNet only)
    z = models.get("ziatdinov-atomnet-cubic", weights=zw, device="cpu")
    t_wrap = [_once(lambda: z.predict(images[0], pixel_size_A=px)) for _ in range(args.rounds)]
    t_ref = [_once(lambda: published_locate(images[0], zw)) for _ in range(args.rounds)]
    print(f"{size:>5} ziatdinov-atomnet-cubic wrapper (one image, {z.forward.backend}) / published code path speed = "
          f"{statistics.median(t_ref) / statistics.median(t_wrap):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
