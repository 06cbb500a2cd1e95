"""Benchmark of the evaluator: the one-to-one matcher at 10^4 .. 10^6 columns (time, memory, ratio to a naive
all-pairs implementation at 10^4 columns), and scoring a whole built split, side by side with another checkout.

Data: a square lattice (spacing 10 px) with Gaussian jitter (0.5 px), 3 % of the columns missing and 3 %
spurious predictions; tolerance 3 px. Each size runs in a fresh subprocess so its peak memory (ru_maxrss)
is its own. Usage::

    PYTHONPATH=. python scripts/bench_evaluate.py            # 1e4, 1e5, 1e6 + naive at 1e4
    PYTHONPATH=. python scripts/bench_evaluate.py --sizes 10000 --naive-size 3000

Split-level row: ``score_split`` of predictions for every image of a built split (the test split of the
full benchmark), this checkout (A) against another checkout's source (B, e.g. a worktree of an older
commit), alternating A B A B in fresh subprocesses; the ratio B/A is taken pair by pair::

    git worktree add /tmp/old <commit>
    PYTHONPATH=. python scripts/bench_evaluate.py --split DATASET/test.h5 --baseline-src /tmp/old --repeats 5

Predictions are the target columns moved by N(0, 0.3 px) with 3 % dropped and 3 % spurious (seeded), so
the matcher does the work a real locator's output asks of it; both checkouts must give the same scores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def lattice(n: int, seed: int = 0):
    """(pred, gt) arrays (x, y) px: about n ground-truth columns and n predictions."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    g = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n] * 10.0
    keep = rng.random(n) >= 0.03
    pred = g[keep] + rng.normal(0, 0.5, (int(keep.sum()), 2))
    n_sp = int(0.03 * n)
    pred = np.vstack([pred, rng.uniform(0, side * 10.0, (n_sp, 2))])
    return rng.permutation(pred), g


def naive(pred, gt, radius):
    """All-pairs reference: dense squared distances and one dense assignment."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    d2 = cdist(pred, gt, "sqeuclidean")
    big = (min(d2.shape) + 1) * (radius ** 2 + 1.0)
    cost = np.where(d2 <= radius ** 2, d2, big)
    del d2
    r, c = linear_sum_assignment(cost)
    ok = cost[r, c] < big
    return r[ok], c[ok], cost[r, c][ok]


def run_one(n: int, which: str) -> dict:
    import resource

    from atomdata.evaluation.matching import match_one_to_one

    pred, gt = lattice(n)
    match_one_to_one(pred[:50], gt[:50], 3.0)  # warm up: imports and first-call overhead are not timed
    naive(pred[:50], gt[:50], 3.0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    cpu0 = time.process_time()
    if which == "fast":
        m = match_one_to_one(pred, gt, 3.0)
        n_match, sq = len(m), float(np.sum(m.dist_px ** 2))
    else:
        r, c, d2 = naive(pred, gt, 3.0)
        n_match, sq = len(r), float(d2.sum())
    dt = time.perf_counter() - t
    dc = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "which": which, "seconds": dt, "cpu_seconds": dc, "matches": n_match, "sum_sq_px2": sq,
            "peak_rss_MB": rss / 1024, "rss_increase_MB": (rss - rss0) / 1024}


def split_predictions(path: str, seed: int = 0) -> dict:
    """Realistic predictions for every image of the split file at ``path`` (read with h5py alone)."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "r") as f:
        ids = [s.decode() if isinstance(s, bytes) else s for s in f["image_id"][()]]
        off, xy, target = f["columns/offsets"][()], f["columns/xy"][()], f["columns/target"][()]
    out = {}
    for i, image_id in enumerate(ids):
        t = xy[off[i]:off[i + 1]][target[off[i]:off[i + 1]]]
        keep = t[rng.random(len(t)) >= 0.03]
        keep = keep + rng.normal(0, 0.3, keep.shape)
        hi = xy[off[i]:off[i + 1]].max(axis=0) if off[i + 1] > off[i] else np.array([64.0, 64.0])
        spurious = rng.uniform(0, 1, (max(1, int(0.03 * len(t))), 2)) * hi
        out[image_id] = np.vstack([keep, spurious])
    return out


def run_split(path: str) -> dict:
    """Time ``score_split`` on a whole split with the atomdata found on sys.path (old or new layout)."""
    try:
        from atomdata.evaluation import score_split
    except ImportError:  # a checkout from before the evaluation subpackage
        from atomdata.evaluate import score_split
    preds = split_predictions(path)
    t, c = time.perf_counter(), time.process_time()
    scores = score_split(preds, path, check_axes=False)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    return {"seconds": dt, "cpu_seconds": dc, "images": len(scores.scores),
            "tp": int(sum(s.tp for s in scores.scores)), "fp": int(sum(s.fp for s in scores.scores)),
            "fn": int(sum(s.fn for s in scores.scores))}


def split_row(path: str, baseline_src: str, repeats: int) -> int:
    import os

    def sub(src):
        env = dict(os.environ, PYTHONPATH=src, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        out = subprocess.run([sys.executable, __file__, "--split-one", path], capture_output=True, text=True,
                             check=True, env=env, cwd=src)
        return json.loads(out.stdout.strip().splitlines()[-1])

    here = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    rows = []
    for _ in range(repeats):
        rows.append((sub(here), sub(baseline_src)))
    a, b = rows[0]
    same = all((x["tp"], x["fp"], x["fn"]) == (a["tp"], a["fp"], a["fn"]) for pair in rows for x in pair)
    ratios = sorted(y["cpu_seconds"] / x["cpu_seconds"] for x, y in rows)
    wall = sorted(y["seconds"] / x["seconds"] for x, y in rows)
    med = lambda v: v[len(v) // 2]  # noqa: E731
    print(f"score_split of {path}: {a['images']} images, TP {a['tp']}, FP {a['fp']}, FN {a['fn']} "
          f"(same scores in every run of both checkouts: {same})")
    print(f"{'run':>4} {'A cpu s':>9} {'B cpu s':>9} {'B/A cpu':>8} {'A wall s':>9} {'B wall s':>9}")
    for k, (x, y) in enumerate(rows):
        print(f"{k:>4} {x['cpu_seconds']:>9.2f} {y['cpu_seconds']:>9.2f} {y['cpu_seconds'] / x['cpu_seconds']:>8.2f} "
              f"{x['seconds']:>9.2f} {y['seconds']:>9.2f}")
    print(f"speed-up of A over B ({baseline_src}): median {med(ratios):.2f}x CPU (min {ratios[0]:.2f}, max "
          f"{ratios[-1]:.2f}), median {med(wall):.2f}x wall")
    return 0 if same else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default=None, help="Score this split file (split-level row) instead of the matcher sizes.")
    ap.add_argument("--baseline-src", default=None, help="Source folder of the checkout to compare with (B).")
    ap.add_argument("--repeats", type=int, default=5, help="A/B pairs for the split-level row.")
    ap.add_argument("--split-one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--naive-size", type=int, default=10_000)
    ap.add_argument("--one", nargs=2, metavar=("N", "WHICH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.split_one:
        print(json.dumps(run_split(args.split_one)))
        return 0
    if args.split:
        if not args.baseline_src:
            print(json.dumps(run_split(args.split)))
            return 0
        return split_row(args.split, args.baseline_src, args.repeats)
    if args.one:
        print(json.dumps(run_one(int(args.one[0]), args.one[1])))
        return 0

    def sub(n, which):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), which], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    print("wall = elapsed seconds; cpu = process CPU seconds (the fair figure on a shared machine; one thread)")
    print(f"{'columns':>9} {'impl':>6} {'wall s':>9} {'cpu s':>9} {'matches':>9} {'peak RSS MB':>12} "
          f"{'RSS increase MB':>16}")
    fast = {}
    for n in args.sizes:
        r = sub(n, "fast")
        fast[n] = r
        print(f"{n:>9} {'fast':>6} {r['seconds']:>9.3f} {r['cpu_seconds']:>9.3f} {r['matches']:>9} {r['peak_rss_MB']:>12.0f} "
              f"{r['rss_increase_MB']:>16.0f}")
    if args.naive_size:
        n = args.naive_size
        f = fast.get(n) or sub(n, "fast")
        r = sub(n, "naive")
        print(f"{n:>9} {'naive':>6} {r['seconds']:>9.3f} {r['cpu_seconds']:>9.3f} {r['matches']:>9} {r['peak_rss_MB']:>12.0f} "
              f"{r['rss_increase_MB']:>16.0f}")
        same = f["matches"] == r["matches"] and abs(f["sum_sq_px2"] - r["sum_sq_px2"]) <= 1e-6 * max(1, r["sum_sq_px2"])
        print(f"naive / fast ratio at {n} columns: wall {r['seconds'] / f['seconds']:.0f}x, "
              f"cpu {r['cpu_seconds'] / f['cpu_seconds']:.0f}x "
              f"(same optimum: {same})")
    if len(args.sizes) >= 2:
        a, b = args.sizes[0], args.sizes[-1]
        print(f"cpu time per column {a} -> {b}: {fast[a]['cpu_seconds'] / a * 1e6:.2f} -> "
              f"{fast[b]['cpu_seconds'] / b * 1e6:.2f} us; RSS increase per column: "
              f"{fast[b]['rss_increase_MB'] * 1e6 / b / 1024:.2f} kB at {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
