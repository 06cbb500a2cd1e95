"""The visibility rule: a column is scored only where the noise-free image resolves it.

Rule (``VISIBILITY_RULE = "resolved-maximum/1"``)
-------------------------------------------------
A target column is *resolved* when the noise-free image has a local intensity maximum that

1. is a strict local maximum of its 3 x 3 neighbourhood (equal to the neighbourhood maximum and
   above the neighbourhood minimum, so flat regions hold none),
2. lies closer to this column than to any other labelled column (target or not), and
3. lies within ``radius_px`` of it (default :func:`default_radius_px`: a quarter of the nearest
   target-column spacing, at least 0.75 px so that a column between pixel centres still owns the
   nearest pixel).

The noise-free image is the one the recipe forms without noise and without the zero-mean scan-line
jitter (labels do not follow the jitter either), but with the probe, any added blur, the drift and
the background. Columns that fail the rule stay in the labels as non-target columns (never false
negatives; a prediction on one is ignored), and the record notes how many target columns the
image resolves.

Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of the
top-left pixel; images are ``image[y, x]``.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

__all__ = ["VISIBILITY_RULE", "local_maxima", "default_radius_px", "resolved_columns"]

#: Name and version of the rule, stored with every record it was applied to.
VISIBILITY_RULE = "resolved-maximum/1"


def local_maxima(image: np.ndarray) -> np.ndarray:
    """Positions (x, y) [px] of the strict 3 x 3 local maxima of ``image`` (H, W), shape (M, 2).

    A pixel is a maximum when it equals the largest value of its 3 x 3 neighbourhood and exceeds
    the smallest (pixels outside the image do not count).

    Examples
    --------
    >>> img = np.zeros((5, 7)); img[2, 5] = 1.0
    >>> local_maxima(img).tolist()
    [[5.0, 2.0]]
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    a = np.asarray(image, dtype=np.float64)
    hi = maximum_filter(a, size=3, mode="constant", cval=-np.inf)
    lo = minimum_filter(a, size=3, mode="constant", cval=np.inf)
    y, x = np.nonzero((a == hi) & (a > lo))
    return np.column_stack([x, y]).astype(np.float64)


def default_radius_px(spacing_px: float) -> float:
    """Default search radius [px]: ``max(0.25 * spacing_px, 0.75)`` for a nearest column spacing [px].

    Examples
    --------
    >>> default_radius_px(12.0), default_radius_px(2.0)
    (3.0, 0.75)
    """
    return max(0.25 * float(spacing_px), 0.75)


def resolved_columns(clean: np.ndarray, xy, *, target=None, radius_px: Optional[float] = None) -> np.ndarray:
    """Which labelled columns the noise-free image ``clean`` resolves (see the module notes).

    Parameters
    ----------
    clean : ndarray (H, W)
        Noise-free image, indexed ``clean[y, x]``.
    xy : array_like (N, 2)
        All labelled column positions (x, y) [px] (target and non-target: a maximum is owned by
        the nearest labelled column of any kind).
    target : array_like (N,) bool, optional
        Which columns are scoring targets (default all). Non-target columns are never reported
        as resolved; they only compete for maxima.
    radius_px : float, optional
        Largest distance [px] between a column and its maximum. Default
        :func:`default_radius_px` of the median nearest-neighbour distance of the target columns.

    Returns
    -------
    ndarray (N,) bool
        True for target columns the image resolves.

    Examples
    --------
    Two equal Gaussian columns (sigma 4 px) are resolved when they are more than 2 sigma apart:

    >>> from atomdata.sim.stem.render import render_columns
    >>> from atomdata.sim.stem.probe import GaussianProbe, sigma_to_fwhm
    >>> def pair(d):
    ...     xy = [[40.0, 20.0], [40.0 + d, 20.0]]
    ...     img = render_columns(xy, [1, 1], shape=(41, 90), pixel_size_A=0.1,
    ...                          probe=GaussianProbe(sigma_to_fwhm(40.0)))
    ...     return resolved_columns(img, xy).tolist()
    >>> pair(9.0), pair(7.0)
    ([True, True], [False, False])
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    tgt = np.ones(n, bool) if target is None else np.asarray(target, dtype=bool).reshape(-1)
    if len(tgt) != n:
        raise ValueError(f"target has {len(tgt)} entries but xy has {n} columns")
    out = np.zeros(n, bool)
    if n == 0 or not tgt.any():
        return out
    from scipy.spatial import cKDTree

    if radius_px is None:
        pts = xy[tgt]
        spacing = float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1])) if len(pts) > 1 else math.inf
        radius_px = default_radius_px(spacing) if math.isfinite(spacing) else 0.75
    if not (radius_px > 0 and math.isfinite(radius_px)):
        raise ValueError(f"radius_px must be a finite number > 0 [px], got {radius_px!r}")
    peaks = local_maxima(clean)
    if len(peaks) == 0:
        return out
    dist, owner = cKDTree(xy).query(peaks, k=1)
    hit = owner[dist <= radius_px]
    out[hit] = True
    return out & tgt
