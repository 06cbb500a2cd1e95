"""Scaling of the build: process pool vs Dask, 1 and 2 workers, side by side in one run.

Builds the same shards of benchmark 1.0.0 (default: the first ``--shards`` shards of the
``train`` split, ``shard_size`` 64 images of 256 x 256 px, exactly the shards ``atomdata build``
makes) four ways, interleaved round by round so that load from other processes hits all alike:

* ``pool x1``, ``pool x2``: :func:`atomdata.build.executors.run_tasks` (a process pool);
* ``dask x1``, ``dask x2``: a ``distributed.LocalCluster`` of 1 or 2 worker processes, each shard a
  Dask task returning its bytes (the no-shared-filesystem path), as ``--scheduler dask`` runs it.

It prints images/s of each; the Dask per-task overhead -- (wall time of the tasks on 1 worker -
the time the shard function itself ran) / that time, the goal being < 5 % at the default shard
size; the peak resident memory of a worker process (max RSS); the time and bytes per image
(uncompressed shard, and the gzip split files of the full build from its manifest); and writes
everything as JSON (``--json PATH``) for the scaling docs.

Usage::

    PYTHONPATH=. python scripts/bench_scale.py [--shards 4] [--rounds 1] [--json scale.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REF_MANIFEST = Path("/work/ref/full-1.0.0/manifest.json")


def timed_shard(recipe, split: str, k: int) -> tuple[int, float, float, float]:
    """Build shard ``k`` as the Dask path does (its bytes).

    Returns (bytes, wall seconds in the task, CPU seconds of the task, worker max RSS [MiB]).
    CPU seconds hardly depend on other processes' load: they are the cost per image to plan with.
    """
    from atomdata.build.builder import shard_bytes

    t, c = time.perf_counter(), time.process_time()
    data = shard_bytes(recipe, split, k)
    return (len(data), time.perf_counter() - t, time.process_time() - c,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def merge_cost(recipe, split: str, n_shards: int) -> dict:
    """CPU seconds per image of merging shards into one gzip split file (one writer), and of building them."""
    import tempfile

    from atomdata.build.builder import build_shard
    from atomdata.storage import merge_splits

    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"s{k}.h5" for k in range(n_shards)]
        c = time.process_time()
        n = sum(build_shard(recipe, split, k, p) for k, p in enumerate(paths))
        build_cpu = time.process_time() - c
        c, t = time.process_time(), time.perf_counter()
        merge_splits(paths, Path(tmp) / "merged.h5", split=split, dataset_name=recipe.dataset_name,
                     dataset_version=recipe.version, compression="gzip", created_by=recipe.made_by)
        merge_cpu, merge_wall = time.process_time() - c, time.perf_counter() - t
        size = (Path(tmp) / "merged.h5").stat().st_size
    return {"n_images": n, "build_cpu_s_per_image": build_cpu / n, "merge_cpu_s_per_image": merge_cpu / n,
            "merge_wall_s_per_image": merge_wall / n, "merged_bytes_per_image": size / n}


def run_pool(recipe, split, shards, workers):
    from atomdata.build.executors import run_tasks

    t = time.perf_counter()
    got = [r for _, r in run_tasks(timed_shard, [(recipe, split, k) for k in shards], workers=workers)]
    return time.perf_counter() - t, got


def run_dask(client, recipe, split, shards):
    from atomdata.build.dask_executor import run_dask as run

    t = time.perf_counter()
    got = [r for _, r in run(client, timed_shard, [(recipe, split, k) for k in shards])]
    return time.perf_counter() - t, got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=4, help="shards per measurement (default 4)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    ap.add_argument("--merge-only", action="store_true",
                    help="only measure the cost of building 2 shards in this process and merging them (gzip)")
    args = ap.parse_args(argv)

    import contextlib

    from atomdata.build.dask_executor import dask_client
    from atomdata.build.recipes import get_recipe

    recipe = get_recipe(version="1.0.0")
    shards = list(range(args.shards))
    n_img = sum(min(recipe.shard_size, recipe.n_images(args.split) - k * recipe.shard_size) for k in shards)
    with open("/proc/loadavg") as f:
        load0 = float(f.read().split()[0])
    print(f"# bench_scale: {os.cpu_count()} CPUs, load average {load0} at start; {len(shards)} shards x "
          f"{recipe.shard_size} images of {recipe.image_size}^2 px ({args.split}, benchmark {recipe.version})")
    if args.merge_only:
        m = merge_cost(recipe, args.split, 2)
        print(f"in this process, {m['n_images']} images: build {m['build_cpu_s_per_image']:.3f} CPU s/img; merge "
              f"into one gzip split file {m['merge_cpu_s_per_image']:.4f} CPU s/img "
              f"({m['merge_wall_s_per_image']:.4f} s/img wall), {m['merged_bytes_per_image'] / 1e3:.0f} kB/img")
        if args.json:
            Path(args.json).write_text(json.dumps(m, indent=2))
        return 0
    stack = contextlib.ExitStack()
    clusters = {}
    for n in (1, 2):  # the LocalClusters `--scheduler dask` starts
        client = stack.enter_context(dask_client(workers=n, announce=None))
        client.run(lambda: __import__("atomdata.sim.stem.benchmark"))  # imports done before timing
        clusters[n] = (None, client)
    best: dict = {}
    for _ in range(args.rounds):
        for label, fn in (("pool x1", lambda: run_pool(recipe, args.split, shards, 1)),
                          ("dask x1", lambda: run_dask(clusters[1][1], recipe, args.split, shards)),
                          ("pool x2", lambda: run_pool(recipe, args.split, shards, 2)),
                          ("dask x2", lambda: run_dask(clusters[2][1], recipe, args.split, shards))):
            wall, got = fn()
            if label not in best or wall < best[label][0]:
                best[label] = (wall, got)
    stack.close()

    results = {"load_average_start": load0, "n_images": n_img, "shard_size": recipe.shard_size,
               "image_size": recipe.image_size, "rows": {}}
    print(f"{'engine':<9} {'img/s':>7} {'task s/img':>11} {'CPU s/img':>10} {'worker max RSS':>15}")
    for label, (wall, got) in best.items():
        task_s = sum(g[1] for g in got)
        cpu_s = sum(g[2] for g in got)
        rss = max(g[3] for g in got)
        results["rows"][label] = {"wall_s": wall, "images_per_s": n_img / wall, "task_s": task_s,
                                  "task_s_per_image": task_s / n_img, "cpu_s_per_image": cpu_s / n_img,
                                  "worker_max_rss_MiB": rss}
        print(f"{label:<9} {n_img / wall:7.2f} {task_s / n_img:11.3f} {cpu_s / n_img:10.3f} {rss:12.0f} MiB")
    d1 = results["rows"]["dask x1"]
    overhead = (d1["wall_s"] - d1["task_s"]) / d1["task_s"]
    results["dask_overhead_fraction"] = overhead
    results["shard_seconds"] = d1["task_s"] / len(shards)
    shard_bytes_per_image = sum(g[0] for g in best["dask x1"][1]) / n_img
    results["uncompressed_bytes_per_image"] = shard_bytes_per_image
    print(f"Dask per-task overhead at {recipe.shard_size} images/shard (1 worker): {overhead:.1%} of a shard's "
          f"{results['shard_seconds']:.1f} s (goal < 5 %)")
    for a, b in (("pool x2", "pool x1"), ("dask x2", "dask x1"), ("dask x2", "pool x2")):
        r = results["rows"][a]["images_per_s"] / results["rows"][b]["images_per_s"]
        results[f"{a} / {b}"] = r
        print(f"{a} / {b} speed: {r:.2f}x")
    print(f"uncompressed shard: {shard_bytes_per_image / 1e3:.0f} kB/image")
    if REF_MANIFEST.exists():
        man = json.loads(REF_MANIFEST.read_text())
        size = sum(s["size_bytes"] for s in man["splits"].values())
        n = sum(s["n_images"] for s in man["splits"].values())
        results["gzip_bytes_per_image_full_build"] = size / n
        print(f"gzip split files of the full 1.0.0 build: {size / n / 1e3:.0f} kB/image ({n} images, {size / 1e6:.0f} MB)")
    with open("/proc/loadavg") as f:
        results["load_average_end"] = float(f.read().split()[0])
    print(f"# load average {results['load_average_end']} at end (other processes share the cores)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
