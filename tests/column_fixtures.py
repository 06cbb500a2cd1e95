"""Noise-free column images and small split files for the torch-dataset and transform tests.

Written independently of atomdata.datasets.labels: images are sums of Gaussians evaluated
at pixel centres (x = column index, y = row index, origin at the centre of the
top-left pixel), and peaks are located by a three-point parabola fit of log(I).
"""
from __future__ import annotations

import numpy as np

from atomdata.schema import ColumnSet, DatasetManifest, ImageRecord, Lattice, Provenance, QualityMetrics, SplitInfo
from atomdata.storage import SplitFile, sha256_file, write_manifest, write_split


def random_columns(shape, n, *, min_dist=6.0, margin=3.0, seed=0) -> np.ndarray:
    """Up to ``n`` (x, y) px positions at least ``min_dist`` apart and ``margin`` inside the image."""
    rng = np.random.default_rng(seed)
    h, w = shape
    out: list[np.ndarray] = []
    for _ in range(50 * n):
        p = np.array([rng.uniform(margin, w - 1 - margin), rng.uniform(margin, h - 1 - margin)])
        if all(np.hypot(*(p - q)) >= min_dist for q in out):
            out.append(p)
        if len(out) == n:
            break
    return np.array(out).reshape(-1, 2)


def render_columns(xy, shape, *, sigma_px=1.3, heights=None, background=0.0) -> np.ndarray:
    """Sum of Gaussians of width ``sigma_px`` centred at ``xy`` (x, y) px, sampled at pixel centres."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full(shape, float(background))
    heights = np.ones(len(xy)) if heights is None else heights
    for (x, y), a in zip(np.asarray(xy, float), heights):
        img += a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma_px**2))
    return img


def peak_near(img, x, y, *, search=2) -> tuple[float, float] | None:
    """Sub-pixel maximum nearest (x, y): the brightest pixel within ``search`` px, refined by a
    parabola through log-intensities. None if that pixel is on the image border."""
    h, w = img.shape
    cx, cy = int(round(x)), int(round(y))
    y0, y1 = max(cy - search, 0), min(cy + search + 1, h)
    x0, x1 = max(cx - search, 0), min(cx + search + 1, w)
    win = img[y0:y1, x0:x1]
    r, c = np.unravel_index(int(np.argmax(win)), win.shape)
    r, c = r + y0, c + x0
    if not (0 < r < h - 1 and 0 < c < w - 1):
        return None
    lo = float(img.min())

    def vertex(m, z, p):
        m, z, p = (np.log(max(v - lo, 1e-12)) for v in (m, z, p))
        d = m - 2 * z + p
        return 0.0 if d == 0 else 0.5 * (m - p) / d

    return c + vertex(img[r, c - 1], img[r, c], img[r, c + 1]), r + vertex(img[r - 1, c], img[r, c], img[r + 1, c])


def column_record(i, xy, *, split="train", subset="demo", shape=(32, 32), dtype="float32", pixel_size_A=0.1,
                  species=None, target=None) -> ImageRecord:
    n = len(xy)
    species = np.array(["Sr", "Ti-O", "O"])[np.arange(n) % 3] if species is None else species
    target = (species != "O") if target is None else target
    return ImageRecord(
        image_id=f"{split}-{i:05d}", split=split, subset=subset, shape=shape, dtype=dtype,
        lattice=Lattice(material="SrTiO3", formula="SrTiO3", zone_axis="[100]"),
        quality=QualityMetrics(pixel_size_A=pixel_size_A),
        provenance=Provenance(kind="simulated", simulator="tests", seed=i),
        columns=ColumnSet.from_arrays(xy, species, target),
    )


def column_samples(n, *, split="train", shape=(32, 32), n_columns=6, subsets=("a", "b"), seed=0,
                   pixel_size_A=0.1, dtype="float32"):
    """``n`` (record, image) pairs: Gaussian columns at random sub-pixel positions."""
    for i in range(n):
        xy = random_columns(shape, n_columns, seed=seed + i, min_dist=min(6.0, shape[0] / 3))
        img = render_columns(xy, shape, background=0.1) * 1000
        rec = column_record(i, xy, split=split, subset=subsets[i % len(subsets)], shape=shape, dtype=dtype,
                            pixel_size_A=pixel_size_A * (1 + 0.1 * (i % 3)))
        yield rec, img.astype(dtype)


def write_column_split(path, n=8, *, compression="gzip", **kw) -> SplitFile:
    """Write ``n`` column images to a split file and open it."""
    write_split(path, column_samples(n, **kw), split=kw.get("split", "train"), dataset_name="unit",
                dataset_version="9.9.9", compression=compression)
    return SplitFile(path)


def write_dataset_folder(folder, *, splits=("train", "test"), n=6, name="atomdata-benchmark",
                         version="1.0.0", **kw):
    """A dataset folder: ``manifest.json`` + ``<split>.h5`` for each split."""
    folder.mkdir(parents=True, exist_ok=True)
    infos = {}
    for k, split in enumerate(splits):
        path = folder / f"{split}.h5"
        write_split(path, column_samples(n, split=split, seed=100 * k, **kw), split=split, dataset_name=name,
                    dataset_version=version)
        s = SplitFile(path)
        infos[split] = SplitInfo(file=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size,
                                 n_images=len(s), n_columns=int(s._arr("columns/offsets")[-1]),
                                 subsets={})
        s.close()
    write_manifest(folder, DatasetManifest(name=name, version=version, title="unit-test dataset", splits=infos))
    return folder
