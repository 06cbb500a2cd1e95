"""Radar plot of one image's estimated metrics over each model's cutoff polygon.

Each axis is one metric, normalised over the range the cutoffs were measured on: centre = best
tested image quality, edge = worst (``r = (v - best) / (worst - best)``). A model's polygon
passes through its cutoffs (on the edge when it never failed); the image's point is inside a
model's region on an axis when it lies nearer the centre than the polygon. Estimates past the
tested range are drawn just outside the edge; metrics that were not estimated have no point. The
dose axis, swept over four decades, is logarithmic.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["LOG_AXES", "radius", "plot_assessment_radar"]

_LABELS = {"atoms_per_100px": "atoms/100 px", "contrast": "contrast", "psnr_db": "PSNR [dB]",
           "resolution_pm": "resolution [pm]", "dose_e_per_A2": "dose [e/Å²]", "flyback_error_px": "flyback [px]",
           "random_drift": "drift"}


#: Axes swept over decades, drawn on a log scale.
LOG_AXES = ("dose_e_per_A2",)


def radius(value: Optional[float], *, tested_min: float, tested_max: float, worse_when: str,
           log: bool = False) -> Optional[float]:
    """Position of ``value`` on a radar axis: 0 = best tested quality, 1 = worst (None stays None).

    Examples
    --------
    >>> radius(20.0, tested_min=2.0, tested_max=28.0, worse_when="lower")
    0.3076923076923077
    >>> radius(100.0, tested_min=10.0, tested_max=100000.0, worse_when="lower", log=True)
    0.75
    """
    if value is None:
        return None
    if log:
        value, tested_min, tested_max = (np.log10(max(v, 1e-300)) for v in (value, tested_min, tested_max))
    best, worst = (tested_min, tested_max) if worse_when == "higher" else (tested_max, tested_min)
    return float((value - best) / ((worst - best) or 1.0))


def plot_assessment_radar(metrics: dict, verdicts, *, path=None, title: str = ""):
    """Draw the image's point over every model's polygon; save to ``path`` (PNG) and return it, else the figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from atomdata.evaluation.plots import radar_axes
    from atomdata.storage import atomic_path

    axes_info = {}
    for v in verdicts:
        for p in v.metrics:
            if p.tested_min is not None:
                axes_info.setdefault(p.metric, p)
    names = sorted(axes_info)
    fig, ax, theta = radar_axes(len(names), size_in=7, r_max=1.2, edge_label="edge of\ntested range", label_pad=12)
    labels = []
    for k in names:
        p = axes_info[k]
        best, worst = (p.tested_min, p.tested_max) if p.worse_when == "higher" else (p.tested_max, p.tested_min)
        labels.append(f"{_LABELS.get(k, k)}\n{best:g} → {worst:g}" + (" (log)" if k in LOG_AXES else ""))
    ax.set_xticklabels(labels, fontsize=8)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for m, v in enumerate(verdicts):
        by = {p.metric: p for p in v.metrics}
        r = []
        for k in names:
            p = by.get(k)
            if p is None or p.tested_min is None:
                r.append(np.nan)
            elif p.cutoff is None:
                r.append(1.0)
            else:
                r.append(min(max(radius(p.cutoff, tested_min=p.tested_min, tested_max=p.tested_max,
                                        worse_when=p.worse_when, log=k in LOG_AXES), 0.0), 1.0))
        r = np.array(r)
        col = colors[m % len(colors)]
        tag = "recommended" if v.recommended else v.status
        ax.plot(np.r_[theta, theta[:1]], np.r_[r, r[:1]], "-", color=col, lw=2, label=f"{v.model} ({tag})")
        ax.fill(np.r_[theta, theta[:1]], np.nan_to_num(np.r_[r, r[:1]]), color=col, alpha=0.1)
    pts = []
    for t, k in zip(theta, names):
        p = axes_info[k]
        rv = radius(metrics.get(k), tested_min=p.tested_min, tested_max=p.tested_max, worse_when=p.worse_when,
                    log=k in LOG_AXES)
        if rv is not None:
            pts.append((t, min(max(rv, 0.0), 1.15)))
    if pts:
        t, rr = np.array(pts).T
        ax.plot(t, rr, "D", color="black", ms=7, label="this image", zorder=5)
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.13), fontsize=8)
    ax.set_title(title or "Image vs model cutoffs (centre = best tested quality)", pad=28, fontsize=10)
    if path is None:
        return fig
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
