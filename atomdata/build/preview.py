"""Montage PNG of a built dataset: one image per subset with its column labels overlaid.

matplotlib is imported only when a montage is drawn. Labels are drawn at their
(x, y) pixel positions (x = column index, y = row index, origin at the centre
of the top-left pixel): targets as red dots, non-target columns as small cyan dots.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from atomdata.schema import SPLITS
from atomdata.storage import SplitFile

__all__ = ["preview_montage", "pick_examples"]


def pick_examples(split: SplitFile, *, position: float = 0.5) -> list[tuple[str, int]]:
    """One image index per subset of ``split``: ``(subset, index)`` in order of first appearance.

    For sweep subsets (records with ``extra["sweep"]``) the image is the first
    seed at the sweep point at ``position`` (0 = first value, 1 = last value);
    otherwise the image at that fraction of the subset.
    """
    if not 0.0 <= position <= 1.0:
        raise ValueError(f"position must be within [0, 1], got {position}")
    subsets = split.subsets
    out = []
    for name in dict.fromkeys(subsets.tolist()):
        idx = np.flatnonzero(subsets == name)
        out.append((str(name), int(idx[int(round(position * (len(idx) - 1)))])))
    return out


def _caption(record) -> str:
    sweep = record.extra.get("sweep")
    if sweep:
        return f"{record.subset}\n{sweep['metric']} = {sweep['value']:.4g}"
    q = record.quality
    return f"{record.subset}\n{q.pixel_size_A:.3f} Å/px, PSNR {q.psnr_db.value or float('nan'):.1f} dB"


def preview_montage(
    dataset,
    out_png,
    *,
    splits: Optional[Sequence[str]] = None,
    position: float = 0.5,
    ncols: int = 6,
    tile_inches: float = 2.4,
    dpi: int = 90,
) -> Path:
    """Draw one image per subset of a dataset, with labels overlaid, into ``out_png``.

    Parameters
    ----------
    dataset : path-like
        A dataset folder (with ``<split>.h5`` files) or a single split file.
    out_png : path-like
        Output PNG (written atomically).
    splits : sequence of str, optional
        Splits to include, in order (default: all present of train, val, test, generality).
    position : float
        Where along each subset (or sweep) to take the image, 0..1 (see :func:`pick_examples`).
    ncols, tile_inches, dpi
        Layout of the figure.

    Returns
    -------
    Path
        ``out_png``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from atomdata.storage import atomic_path

    root = Path(dataset)
    if root.is_file():
        files = [root]
    else:
        names = list(SPLITS) if splits is None else list(splits)
        files = [root / f"{s}.h5" for s in names if (root / f"{s}.h5").exists()]
        if not files:
            raise FileNotFoundError(f"no split files ({', '.join(n + '.h5' for n in names)}) in {root}; "
                                    "run `atomdata build` first")
    items = []
    for f in files:
        sf = SplitFile(f)
        items += [(sf, i) for _, i in pick_examples(sf, position=position)]
    nrows = max(1, math.ceil(len(items) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * tile_inches, nrows * (tile_inches + 0.45)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (sf, i) in zip(axes.ravel(), items):
        rec, img = sf.record(i), sf.image(i)
        ax.imshow(img, cmap="gray", interpolation="nearest")
        cols = rec.columns
        tgt, other = cols.xy[cols.target], cols.xy[~cols.target]
        ms = max(0.5, 40.0 / math.sqrt(max(len(cols), 1)))
        if len(other):
            ax.plot(other[:, 0], other[:, 1], ".", color="cyan", ms=ms * 0.6, alpha=0.8)
        if len(tgt):
            ax.plot(tgt[:, 0], tgt[:, 1], ".", color="red", ms=ms, alpha=0.8)
        ax.set_xlim(-0.5, img.shape[1] - 0.5)
        ax.set_ylim(img.shape[0] - 0.5, -0.5)
        ax.set_title(_caption(rec), fontsize=7)
    fig.tight_layout()
    out = Path(out_png)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    for sf, _ in items:
        sf.close()
    return out
