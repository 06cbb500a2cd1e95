"""Plot one dataset item: the image with its labelled columns, and its label map (matplotlib, imported lazily)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

__all__ = ["plot_sample"]


def plot_sample(sample: dict, *, species_names: Optional[Sequence[str]] = None, show_label: bool = True,
                axes=None, title: Optional[str] = None):
    """Show an item's image with its columns, and its label map beside it.

    Target columns are drawn as filled dots coloured by species, other columns as
    hollow circles; positions (x, y) [px] are plotted on ``image[y, x]`` with the
    pixel centres at integer coordinates. Needs matplotlib (imported here).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    def arr(v):
        return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)

    img = arr(sample["image"])
    img = img[0] if img.ndim == 3 else img
    lab = arr(sample["label"]) if show_label and "label" in sample else None
    show_map = lab is not None and lab.ndim == 3
    if axes is None:
        fig, axes = plt.subplots(1, 2 if show_map else 1, figsize=(8 if show_map else 4, 4), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
    fig = axes[0].figure
    ax = axes[0]
    ax.imshow(img, cmap="gray", origin="upper")
    xy = arr(sample.get("xy", np.zeros((0, 2)))).reshape(-1, 2)
    mask = arr(sample.get("target_mask", np.ones(len(xy), bool))).astype(bool)
    codes = arr(sample.get("species", np.zeros(len(xy), np.int64)))
    cmap = plt.get_cmap("tab10")
    for c in np.unique(codes) if len(codes) else []:
        sel = codes == c
        label = species_names[int(c)] if species_names is not None and 0 <= c < len(species_names) else str(c)
        color = cmap(int(c) % 10)
        ax.scatter(xy[sel & mask, 0], xy[sel & mask, 1], s=12, color=color, label=label)
        ax.scatter(xy[sel & ~mask, 0], xy[sel & ~mask, 1], s=16, facecolors="none", edgecolors=color)
    if len(codes):
        ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title or str(sample.get("image_id", "")))
    ax.set_axis_off()
    if show_map and len(axes) > 1:
        axes[1].imshow(lab.max(axis=0), cmap="magma", origin="upper")
        axes[1].set_title("label")
        axes[1].set_axis_off()
    fig.tight_layout()
    return fig
