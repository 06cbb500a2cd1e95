"""Running a locator over a split: :func:`predict_split` (batched, with a progress bar)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

__all__ = ["predict_split"]


def predict_split(locator, split, *, subsets: Optional[Sequence[str]] = None, indices: Optional[Sequence[int]] = None,
                  batch_size: int = 8, progress: bool = True, desc: Optional[str] = None) -> dict[str, np.ndarray]:
    """Run a locator over (a subset of) a split; returns ``{image_id: (N, 2) (x, y) px}``.

    ``split`` is any :class:`~atomdata.storage.SplitLike`; ``indices`` (image indices) or
    ``subsets`` (subset names) select the images; they go to ``locator.predict_batch`` in
    batches of ``batch_size``. Positions are (x, y) in pixels (x = column index, y = row
    index, origin at the centre of the top-left pixel).
    """
    from tqdm.auto import tqdm

    ids = list(split.image_ids)
    subs = [str(s) for s in split.subsets]
    if indices is None:
        indices = [i for i in range(len(ids)) if subsets is None or subs[i] in subsets]
    idx = list(indices)
    pixel = np.asarray(split.pixel_sizes_A, dtype=float)
    out: dict[str, np.ndarray] = {}
    with tqdm(total=len(idx), desc=desc or "predict", unit="img", disable=not progress) as bar:
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            images = [split.image(i) for i in chunk]
            preds = locator.predict_batch(images, pixel_sizes_A=[float(pixel[i]) for i in chunk])
            for i, xy in zip(chunk, preds):
                out[ids[i]] = np.asarray(xy, dtype=float).reshape(-1, 2)
            bar.update(len(chunk))
    return out
