"""Plots of an evaluation: radar of cutoffs, score-vs-metric curves, per-image overlays.

matplotlib is imported inside the functions (``import atomdata.evaluation``
stays light). Every function returns the matplotlib ``Figure`` and, given
``path``, saves it (PNG, SVG or PDF by suffix) and closes it.

Positions in overlays are ``(x, y)`` in pixels (x = column index, y = row
index, origin at the centre of the top-left pixel), drawn on ``image[y, x]``
with ``imshow`` so that pixel ``(x, y)`` is centred on the integer coordinates.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from atomdata.evaluation.cutoffs import Cutoff
from atomdata.evaluation.scores import ImageScore
from atomdata.schema import ColumnSet

__all__ = ["radar_radius", "radar_axes", "plot_radar", "plot_sweep", "overlay_counts", "plot_overlay", "write_plots"]

_SCORE_LABELS = {"id_recall": "ID-recall", "id_precision": "ID-precision", "position_accuracy_A": "accuracy [Å]",
                 "pixel_iou": "pixel IoU", "detection_f1": "detection F1 (IoU >= 0.5)",
                 "size_error_rel": "relative size error"}


def _save(fig, path):
    if path is None:
        return fig
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return fig


def radar_radius(c: Cutoff) -> float:
    """Radius of a cutoff on its radar axis, in [0, 1]; bigger = more robust.

    The axis spans the tested range, oriented so that the best image quality
    is at the centre and the worst at the edge: the radius is how far into the
    range of worsening quality the model keeps working. A model that never
    fails sits on the outer edge (1), one failing at the best tested value at
    the centre (0). A range spanning two decades or more (the dose sweep,
    10-10^5 e-/Å²) is read on a log axis.

    Examples
    --------
    >>> from atomdata.evaluation import find_cutoff
    >>> c = find_cutoff([100, 200, 300], [1.0, 0.95, 0.85], [1, 1, 1], [0.1] * 3,
    ...                 metric="resolution_pm", interpolation="linear", n_boot=0)
    >>> round(radar_radius(c), 6)
    0.75
    """
    if c.cutoff is None:
        return 1.0
    lo, hi, x = c.tested_min, c.tested_max, c.cutoff
    if lo > 0 and hi / lo >= 100 and x > 0:  # a range over decades (dose) is read on a log axis
        lo, hi, x = np.log10(lo), np.log10(hi), np.log10(x)
    span = hi - lo
    if span <= 0:
        return 0.0
    r = (x - lo) / span if c.worse_when == "higher" else (hi - x) / span
    return float(min(1.0, max(0.0, r)))


def _axis_label(subset: str, metric: str, lo: float, hi: float, worse_when: str) -> str:
    a, b = (lo, hi) if worse_when == "higher" else (hi, lo)
    return f"{subset}\n{a:g} → {b:g}"


def radar_axes(n: int, *, size_in: float, r_max: float, edge_label: str, label_pad: float):
    """A polar figure with ``n`` spokes clockwise from the top and rings at 25/50/75/100 % of the radius.

    Returns ``(fig, ax, theta)``; ``theta`` holds the spoke angles [rad]. ``edge_label`` names radius 1
    (e.g. "never fails"); ``r_max`` >= 1 leaves room beyond it; ``label_pad`` spaces the spoke labels.
    """
    import matplotlib.pyplot as plt

    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    fig, ax = plt.subplots(figsize=(size_in, size_in), subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_ylim(0, r_max)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["25 %", "50 %", "75 %", edge_label], fontsize=7, color="0.4")
    ax.set_xticks(theta)
    ax.tick_params(axis="x", pad=label_pad)
    return fig, ax, theta


def plot_radar(cutoffs_by_model: Mapping[str, Sequence[Cutoff]], *, path=None, title: Optional[str] = None):
    """Radar plot of cutoffs: one axis per sweep, one polygon per model.

    Parameters
    ----------
    cutoffs_by_model : mapping
        Model name -> its cutoffs (one per sweep subset).
    path : path-like, optional
        Save the figure here (PNG/SVG/PDF by suffix) and close it.
    title : str, optional

    Notes
    -----
    Each axis is normalised over its tested range (see :func:`radar_radius`):
    centre = best tested image quality, edge = worst; a larger area means a
    more robust model, like the radar figure of Wei et al. (2023). Never
    failing is drawn on the edge with a hollow marker; the axis label gives
    the tested range from centre to edge in the metric's unit.
    """
    import matplotlib.pyplot as plt

    axes: dict[str, Cutoff] = {}
    for cuts in cutoffs_by_model.values():
        for c in cuts:
            axes.setdefault(c.subset, c)
    names = sorted(axes)
    if not names:
        raise ValueError("no cutoffs to plot: the split has no sweep subsets (subset names <material>_sim_<metric>)")
    fig, ax, theta = radar_axes(len(names), size_in=7.5, r_max=1.05, edge_label="never\nfails", label_pad=14)
    ax.set_xticklabels([_axis_label(k, axes[k].metric, axes[k].tested_min, axes[k].tested_max, axes[k].worse_when)
                        for k in names], fontsize=8)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for m, (model, cuts) in enumerate(cutoffs_by_model.items()):
        by = {c.subset: c for c in cuts}
        r = np.array([radar_radius(by[k]) if k in by else np.nan for k in names])
        col = colors[m % len(colors)]
        rr = np.r_[r, r[:1]]
        tt = np.r_[theta, theta[:1]]
        ax.plot(tt, rr, "-", color=col, lw=2, label=model)
        ax.fill(tt, np.nan_to_num(rr), color=col, alpha=0.15)
        never = np.array([k in by and by[k].cutoff is None for k in names])
        ax.plot(theta[~never], r[~never], "o", color=col, ms=6)
        ax.plot(theta[never], r[never], "o", mfc="white", mec=col, mew=2, ms=8)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.12), fontsize=9)
    ax.set_title(title or "Cutoffs (centre = best tested quality, edge = worst / never fails)", pad=30, fontsize=11)
    return _save(fig, path)


def plot_sweep(cutoff: Cutoff, table: Optional[Mapping[str, np.ndarray]] = None, *, path=None,
               title: Optional[str] = None):
    """Scores versus the swept metric, with the criteria, the cutoff and its confidence interval.

    Parameters
    ----------
    cutoff : Cutoff
        Result of :func:`~atomdata.evaluation.find_cutoff` (holds the per-point means).
    table : mapping, optional
        Per-image scores (:meth:`SplitScores.sweep_table`), drawn as small dots.
    path : path-like, optional
        Save the figure here and close it.
    """
    import matplotlib.pyplot as plt

    crit = cutoff.criteria
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    x = np.array(cutoff.points["value"], dtype=float)
    for ax, (key, thr, how) in zip(axs, crit.rules()):
        if table is not None:
            ax.plot(table["value"], table[key], ".", color="0.6", ms=4, label="images")
        y = np.array([np.nan if v is None else v for v in cutoff.points[key]], dtype=float)
        ok = np.isfinite(y)
        if ok.sum() >= 2 and cutoff.interpolation == "pchip":
            from scipy.interpolate import PchipInterpolator

            xs = np.linspace(x[ok].min(), x[ok].max(), 300)
            ax.plot(xs, PchipInterpolator(x[ok], y[ok])(xs), "-", color="C0", lw=1.2)
        else:
            ax.plot(x[ok], y[ok], "-", color="C0", lw=1.2)
        ax.plot(x, y, "o", color="C0", label=f"mean per value ({cutoff.interpolation})")
        ax.axhline(thr, color="C3", ls="--", lw=1, label=f"criterion {thr:g}")
        c = cutoff.per_criterion.get(key)
        if c is not None:
            ax.axvline(c, color="C3", lw=1, alpha=0.6)
        if cutoff.cutoff is not None:
            ax.axvline(cutoff.cutoff, color="k", lw=1.5, label=f"cutoff {cutoff.cutoff:.4g}")
            lo = cutoff.ci_low if cutoff.ci_low is not None else (x.min() if cutoff.worse_when == "lower" else None)
            hi = cutoff.ci_high if cutoff.ci_high is not None else (x.max() if cutoff.worse_when == "higher" else None)
            if lo is not None and hi is not None and hi > lo:
                ax.axvspan(lo, hi, color="k", alpha=0.08, label=f"{int(cutoff.confidence * 100)} % CI")
        ax.set_xlabel(f"{cutoff.metric} (worse when {cutoff.worse_when})")
        ax.set_ylabel(_SCORE_LABELS.get(key, key.replace("_", " ")))
        if how == "below":
            ax.set_ylim(-0.02, 1.05)
        else:
            top = np.nanmax(np.r_[y, thr]) if np.isfinite(np.r_[y, thr]).any() else thr
            ax.set_ylim(0, 1.15 * top)
        if cutoff.tested_min > 0 and cutoff.tested_max / cutoff.tested_min >= 100:
            ax.set_xscale("log")  # a sweep over decades (dose), read on a log axis as on the radar
        if cutoff.worse_when == "lower":
            ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axs[0].legend(fontsize=7, loc="lower left")
    never = "never fails in the tested range" if cutoff.cutoff is None else \
        f"cutoff {cutoff.cutoff:.4g} ({cutoff.failed_first})"
    fig.suptitle(title or f"{cutoff.subset}: {never}", fontsize=11)
    return _save(fig, path)


def overlay_counts(score: ImageScore) -> dict[str, int]:
    """What an overlay draws, counted as the score counts it.

    ``gt_matched`` (= TP under ``one_to_one``), ``gt_missed`` (= FN: scored target columns
    with no match), ``gt_border`` (target columns in the unscored border band: neither TP nor
    FN), and per prediction status ``pred_tp``, ``pred_fp`` (= FP), ``pred_ignored``,
    ``pred_edge`` (not scored: in the border band or dropped by the edge rule).

    Examples
    --------
    >>> from atomdata.evaluation import score_image
    >>> s = score_image([[20.0, 20.0]], [[20.0, 20.0], [30.0, 30.0], [1.0, 20.0]], pixel_size_A=0.1,
    ...                 image_shape=(64, 64))
    >>> overlay_counts(s) == dict(gt_matched=1, gt_missed=1, gt_border=1, pred_tp=1, pred_fp=0,
    ...                           pred_ignored=0, pred_edge=0)
    True
    """
    border = score.gt_edge if score.gt_edge is not None else np.zeros(len(score.gt_matched), bool)
    st = score.pred_status
    return {
        "gt_matched": int((score.gt_matched & ~border).sum()),
        "gt_missed": int((~score.gt_matched & ~border).sum()),
        "gt_border": int(border.sum()),
        "pred_tp": int((st == 0).sum()),
        "pred_fp": int((st == 1).sum()),
        "pred_ignored": int((st == 2).sum()),
        "pred_edge": int((st == 3).sum()),
    }


def plot_overlay(image: np.ndarray, score: ImageScore, pred_xy, gt: ColumnSet, *, path=None,
                 title: Optional[str] = None):
    """An image with the ground truth and the scored predictions.

    Ground-truth target columns are circles of the match radius: green when matched, orange when
    missed (FN), dotted grey when they lie in the unscored border band (neither TP nor FN);
    non-target columns are small grey dots; predictions are marked TP (green +), FP (red x),
    ignored (grey +) and not scored at the edge (yellow x). The title and the legend count the
    same things (:func:`overlay_counts`): the legend's FN and FP are the score's. Positions are
    (x, y) px on ``image[y, x]``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import EllipseCollection
    from matplotlib.lines import Line2D

    pred = np.asarray(pred_xy, dtype=float).reshape(-1, 2)
    gt_xy = gt.target_xy
    r_px = score.tolerance_A / score.pixel_size_A
    n = overlay_counts(score)
    border = score.gt_edge if score.gt_edge is not None else np.zeros(len(gt_xy), bool)
    h, w = image.shape
    size = 7.0 * min(1.6, max(0.6, w / max(h, 1)))
    fig, ax = plt.subplots(figsize=(size, size * h / w + 0.6))
    ax.imshow(image, cmap="gray", interpolation="nearest")
    handles = []
    for mask, col, style, lab in (
            (score.gt_matched & ~border, "#2ca02c", "solid", "ground truth matched"),
            (~score.gt_matched & ~border, "#ff7f0e", "solid", "ground truth missed (FN)"),
            (border, "0.7", "dotted", "ground truth in border band (not scored)")):
        if mask.any():
            d = np.full(int(mask.sum()), 2 * r_px)
            ax.add_collection(EllipseCollection(d, d, np.zeros_like(d), units="xy", offsets=gt_xy[mask],
                                                offset_transform=ax.transData, facecolors="none",
                                                edgecolors=col, linestyles=style,
                                                linewidths=1.5 if col == "#ff7f0e" else 1.0))
            handles.append(Line2D([], [], ls="none", marker="o", ms=10, mfc="none", mec=col,
                                  label=f"{lab} ({int(mask.sum())})"))
    other = gt.xy[~gt.target]
    if len(other):
        ax.plot(other[:, 0], other[:, 1], ".", color="0.6", ms=3, label="non-target column")
    st = score.pred_status
    for code, marker, col, lab in ((0, "+", "#2ca02c", "TP"), (1, "x", "#d62728", "FP"),
                                   (2, "+", "0.5", "ignored (non-target)"), (3, "x", "#bcbd22", "at the edge (not scored)")):
        sel = st == code
        if sel.any():
            ax.plot(pred[sel, 0], pred[sel, 1], marker, color=col, ms=7, mew=1.6, ls="none", label=f"{lab} ({sel.sum()})")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    acc = "n/a" if math.isnan(score.position_accuracy_A) else f"{score.position_accuracy_A:.3f} Å"
    tp = f"TP pairs {score.tp}" if score.protocol == "wei2022" else f"TP {score.tp}"
    unscored = [f"{k} {what}" for k, what in ((n["gt_border"], "columns in the border band"),
                                              (n["pred_edge"], "predictions at the edge"),
                                              (n["pred_ignored"], "predictions on non-target columns")) if k]
    ax.set_title((title + "\n" if title else "") +
                 f"recall {score.id_recall:.3f}  precision {score.id_precision:.3f}  accuracy {acc}\n"
                 f"{tp}, FP {score.fp}, FN {score.fn}" + (f"; not scored: {', '.join(unscored)}" if unscored else ""),
                 fontsize=9)
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize=8, frameon=False)
    ax.set_xlabel("x [px]")
    ax.set_ylabel("y [px]")
    return _save(fig, path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name)


def write_plots(report, split_scores, plots_dir, *, split=None, predictions=None, max_overlays: int = 6,
                fmt: str = "png") -> list[Path]:
    """Write the radar (one per material), one sweep plot per sweep subset and overlays of the worst images.

    Overlays need ``split`` (for the images) and ``predictions``; the worst
    images are those with the lowest ID-recall + ID-precision. Returns the paths written.
    """
    from atomdata.evaluation.split import parse_sweep_subset

    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    model = report.model_name or "model"
    groups: dict[str, list[Cutoff]] = {}
    for c in report.cutoffs:
        parsed = parse_sweep_subset(c.subset)
        groups.setdefault(parsed[0] if parsed else "sweeps", []).append(c)
    for material, cuts in sorted(groups.items()):
        p = out / f"radar_{_safe(material)}.{fmt}"
        plot_radar({model: cuts}, path=p, title=f"{material}: cutoffs of {model} ({report.protocol})")
        written.append(p)
    for c in report.cutoffs:
        p = out / f"sweep_{_safe(c.subset)}.{fmt}"
        plot_sweep(c, split_scores.sweep_table(c.subset), path=p)
        written.append(p)
    if split is not None and predictions is not None and max_overlays > 0:
        from atomdata.sources import open_split

        split = open_split(split, "test")
        badness = [-(np.nan_to_num(s.id_recall) + np.nan_to_num(s.id_precision)) for s in split_scores.scores]
        order = np.argsort(badness, kind="stable")[::-1][:max_overlays]
        for k in order:
            image_id = split_scores.image_ids[k]
            i = split.index(image_id)
            p = out / f"overlay_{_safe(image_id)}.{fmt}"
            plot_overlay(split.image(i), split_scores.scores[k], predictions.get(image_id, np.zeros((0, 2))),
                         split.columns(i), path=p, title=f"{image_id} ({split_scores.subsets[k]})")
            written.append(p)
    return written
