"""Locate atomic columns in microscope files: ``atomdata locate FILES... --model NAME``.

For every image of every file (:func:`atomdata.sources.microscope.read_images`: every frame of a
stack, every image signal of a file) a registered locator finds the columns; per image this writes

* ``<name>.csv``: one row per column, ``x_px, y_px, x_A, y_A`` and ``score`` (the model's
  probability at the column where it has a probability map, else empty). Positions are (x, y):
  x = column index, y = row index, origin at the centre of the top-left pixel; ``x_A = x_px *
  pixel_size_A``;
* ``<name>.png``: the image with the columns drawn over it;

and ``locate.json`` lists every image with its file, frame, pixel size (and where it came
from), the number of columns and the locator's identity. Files are written atomically.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from atomdata.models.base import Locator
from atomdata.storage import atomic_path

__all__ = ["LocatedImage", "column_scores", "locate_files", "write_columns_csv", "plot_overlay"]

PathLike = Union[str, os.PathLike]


@dataclass
class LocatedImage:
    """The columns found in one image.

    ``xy`` (N, 2) float64 positions (x, y) px (origin at the centre of the top-left pixel);
    ``score`` (N,) float64 model scores (NaN where the model has none); ``source`` the image's
    :meth:`~atomdata.sources.microscope.MicroscopeImage.describe`; ``csv`` and ``png`` the files written.
    """

    xy: np.ndarray
    score: np.ndarray
    pixel_size_A: float
    source: dict
    csv: Optional[Path] = None
    png: Optional[Path] = None


def column_scores(locator: Locator, image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The locator's probability at each position (x, y) px, bilinear; NaN when it has no probability map.

    Examples
    --------
    >>> from atomdata import models
    >>> column_scores(models.get("baseline-peaks"), np.zeros((8, 8)), np.array([[1.0, 2.0]]))
    array([nan])
    """
    prob = getattr(locator, "probability", None)
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if prob is None or len(xy) == 0:
        return np.full(len(xy), np.nan)
    from scipy.ndimage import map_coordinates

    pmap = np.asarray(prob([np.asarray(image, np.float64)]))[0]
    return map_coordinates(pmap, [xy[:, 1], xy[:, 0]], order=1, mode="nearest").astype(np.float64)


def write_columns_csv(path: PathLike, xy, *, pixel_size_A: float, score=None) -> Path:
    """Write columns as CSV: ``x_px, y_px, x_A, y_A, score`` (x = column index, origin at the top-left pixel centre).

    Examples
    --------
    >>> import tempfile
    >>> p = write_columns_csv(Path(tempfile.mkdtemp()) / "c.csv", [[1.0, 2.0]], pixel_size_A=0.5)
    >>> p.read_text().splitlines()
    ['x_px,y_px,x_A,y_A,score', '1.0,2.0,0.5,1.0,']
    """
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    score = np.full(len(xy), np.nan) if score is None else np.asarray(score, np.float64)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["x_px", "y_px", "x_A", "y_A", "score"])
    for (x, y), s in zip(xy, score):
        w.writerow([repr(float(x)), repr(float(y)), repr(float(x * pixel_size_A)), repr(float(y * pixel_size_A)),
                    "" if np.isnan(s) else f"{s:.6g}"])
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(buf.getvalue())
    return path


def plot_overlay(image, xy, *, path: PathLike, title: str = "") -> Path:
    """Save the image (grey, min-max) with the columns (x, y) px as red dots (x = column index)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    a = np.asarray(image, np.float64)
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    h, w = a.shape
    fig, ax = plt.subplots(figsize=(6, 6 * h / w))
    ax.imshow(a, cmap="gray", interpolation="nearest")  # pixel centres at integer (x, y)
    ax.plot(xy[:, 0], xy[:, 1], ".", color="red", ms=max(1.0, min(6.0, 1500 / max(h, w))))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def locate_files(paths: Sequence[PathLike], *, model: Union[str, Locator], out_dir: PathLike = "columns",
                 pixel_size_A: Optional[float] = None, overlay: bool = True, progress: bool = True,
                 **model_options) -> list[LocatedImage]:
    """Run a locator on every image of the given files and write the columns (see the module notes).

    Parameters
    ----------
    paths : sequence of path-like
        Microscope files (:data:`atomdata.sources.microscope.SUFFIXES`).
    model : str or Locator
        A registered locator name (:func:`atomdata.models.available`) or a locator.
    out_dir : path-like
        Output folder (created).
    pixel_size_A : float, optional
        Pixel size [Å/px] for every image instead of the files' calibrations.
    overlay : bool
        Also write ``<name>.png``.
    progress : bool
        Show a progress bar over the images.
    **model_options
        Passed to :func:`atomdata.models.get` (e.g. ``weights=``, ``device=``).

    Returns
    -------
    list of LocatedImage
        In file order, then image order within each file.
    """
    from tqdm.auto import tqdm

    from atomdata.models import get
    from atomdata.sources.microscope import read_images

    images = [im for p in paths for im in read_images(p, pixel_size_A=pixel_size_A)]  # all errors before any work
    names = [im.name for im in images]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two inputs give the same output name ({', '.join(dup)}); locate them into separate folders")
    locator = get(model, **model_options) if isinstance(model, str) else model
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for im in tqdm(images, desc=f"locate ({locator.name})", unit="image", disable=not progress):
        xy = locator.predict(im.image, pixel_size_A=im.pixel_size_A)
        score = column_scores(locator, im.image, xy)
        res = LocatedImage(xy=xy, score=score, pixel_size_A=im.pixel_size_A, source=im.describe())
        res.csv = write_columns_csv(out / f"{im.name}.csv", xy, pixel_size_A=im.pixel_size_A, score=score)
        if overlay:
            res.png = plot_overlay(im.image, xy, path=out / f"{im.name}.png",
                                   title=f"{im.name}: {len(xy)} columns ({locator.name})")
        results.append(res)
    summary = {"model": locator.describe(), "images": [
        {**r.source, "n_columns": len(r.xy), "csv": r.csv.name, "png": r.png.name if r.png else None} for r in results]}
    with atomic_path(out / "locate.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2, default=str))
    return results
