"""A classical, training-free locator: smoothing, local maxima, sub-pixel refinement.

Steps, with every length given in Angstrom and converted with the image's pixel size:

1. Gaussian smoothing with ``sigma_A`` (:func:`scipy.ndimage.gaussian_filter`).
2. Local maxima of the smoothed image (:func:`skimage.feature.peak_local_max`): the highest
   pixel within half of ``min_separation_A`` each way, above ``threshold_rel`` of the
   smoothed image's range.
3. Sub-pixel refinement of each maximum in a disc of radius ``refine_radius_A``:
   ``"com"`` -- centre of mass of the smoothed intensity above the disc's minimum, iterated
   with the disc re-centred; ``"gaussian"`` -- then a least-squares fit of a round 2-D Gaussian
   plus constant background to the raw image (Levenberg-Marquardt, all columns at once);
   ``None`` -- the integer maxima.

Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of the
top-left pixel.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import ndimage

from atomdata.models.base import Locator

__all__ = ["PeakBaseline", "refine_centre_of_mass", "refine_gaussian"]

_REFINE = (None, "com", "gaussian")


def _disc_offsets(radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    r = int(np.ceil(radius_px))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    inside = dx ** 2 + dy ** 2 <= radius_px ** 2
    return dx[inside].astype(np.float64), dy[inside].astype(np.float64)


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Values at integer pixel positions (x, y), clipped to the image (edge pixels repeat)."""
    h, w = image.shape
    return image[np.clip(y, 0, h - 1).astype(np.intp), np.clip(x, 0, w - 1).astype(np.intp)]


def refine_centre_of_mass(image: np.ndarray, xy: np.ndarray, *, radius_px: float, iterations: int = 10) -> np.ndarray:
    """Refine positions by the centre of mass of the intensity above the local minimum in a disc.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Indexed ``image[y, x]`` (usually the smoothed image).
    xy : ndarray, shape (N, 2)
        Starting positions (x, y) px.
    radius_px : float
        Disc radius [px]; the disc is re-centred on the current estimate at each iteration
        and sampled by bilinear interpolation.
    iterations : int
        Number of re-centring iterations.

    Returns
    -------
    ndarray, shape (N, 2)
        Refined (x, y) px.  A column whose centre would move by more than ``radius_px`` keeps
        its previous position.

    Examples
    --------
    >>> yy, xx = np.mgrid[:21, :21]
    >>> im = np.exp(-((xx - 10.3) ** 2 + (yy - 9.8) ** 2) / 8)
    >>> refine_centre_of_mass(im, np.array([[10.0, 10.0]]), radius_px=4).round(1)
    array([[10.3,  9.8]])
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2).copy()
    if len(xy) == 0:
        return xy
    dx, dy = _disc_offsets(radius_px)
    h, w = image.shape
    start = xy.copy()
    for _ in range(iterations):
        # the disc follows the sub-pixel estimate (bilinear samples), so a symmetric peak is a fixed point
        px = xy[:, :1] + dx[None, :]
        py = xy[:, 1:] + dy[None, :]
        inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
        vals = ndimage.map_coordinates(image, [py.ravel(), px.ravel()], order=1, mode="nearest").reshape(px.shape)
        floor = np.where(inside, vals, np.inf).min(axis=1, keepdims=True)
        wts = np.where(inside, vals - floor, 0.0)
        total = wts.sum(axis=1)
        ok = total > 0
        new = xy.copy()
        new[ok, 0] = (wts[ok] * px[ok]).sum(axis=1) / total[ok]
        new[ok, 1] = (wts[ok] * py[ok]).sum(axis=1) / total[ok]
        moved = np.hypot(*(new - start).T) <= radius_px
        xy[moved] = new[moved]
    return xy


def refine_gaussian(image: np.ndarray, xy: np.ndarray, *, radius_px: float, sigma_px: float,
                    iterations: int = 30) -> np.ndarray:
    """Refine positions by fitting ``A exp(-r^2 / 2 s^2) + B`` to the pixels of a disc per column.

    All columns are fitted together by a vectorised Levenberg-Marquardt least-squares loop
    (one 5 x 5 damped normal-equation solve per column and iteration).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Indexed ``image[y, x]`` (the raw image).
    xy : ndarray, shape (N, 2)
        Starting positions (x, y) px.
    radius_px : float
        Fit-window radius [px], a disc around the pixel nearest to each start.
    sigma_px : float
        Starting Gaussian width [px].
    iterations : int
        Levenberg-Marquardt iterations.

    Returns
    -------
    ndarray, shape (N, 2)
        Fitted (x, y) px; a fit with a non-positive amplitude or width, or one that moves
        farther than ``radius_px``, keeps the start.

    Examples
    --------
    >>> yy, xx = np.mgrid[:21, :21]
    >>> im = 5 + np.exp(-((xx - 10.3) ** 2 + (yy - 9.8) ** 2) / 8)
    >>> refine_gaussian(im, np.array([[10.0, 10.0]]), radius_px=5, sigma_px=2).round(3)
    array([[10.3,  9.8]])
    """
    start = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(start) == 0:
        return start.copy()
    dx, dy = _disc_offsets(radius_px)
    h, w = image.shape
    px = np.rint(start[:, :1]) + dx[None, :]
    py = np.rint(start[:, 1:]) + dy[None, :]
    weight = ((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)).astype(np.float64)
    vals = _sample(image, px, py)
    lo = np.where(weight > 0, vals, np.inf).min(axis=1)
    hi = np.where(weight > 0, vals, -np.inf).max(axis=1)
    p = np.column_stack([np.maximum(hi - lo, 1e-12), start, np.full(len(start), float(sigma_px)), lo])

    def residual_and_jacobian(p):
        a, xc, yc, s, b = (p[:, k:k + 1] for k in range(5))
        ex, ey = px - xc, py - yc
        r2 = ex * ex + ey * ey
        e = np.exp(-r2 / (2 * s * s))
        res = (a * e + b - vals) * weight
        ae = a * e * weight
        jac = np.stack([e * weight, ae * ex / s ** 2, ae * ey / s ** 2, ae * r2 / s ** 3, weight], axis=-1)
        return res, jac

    res, jac = residual_and_jacobian(p)
    cost = (res ** 2).sum(axis=1)
    damping = np.full(len(p), 1e-3)
    eye = np.eye(5)
    for _ in range(iterations):
        jtj = np.einsum("nmi,nmj->nij", jac, jac)
        grad = np.einsum("nmi,nm->ni", jac, res)
        lhs = jtj + damping[:, None, None] * (jtj * eye + 1e-12 * eye)
        try:
            step = np.linalg.solve(lhs, -grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        trial = p + step
        trial[:, 3] = np.abs(trial[:, 3]) + 1e-6
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            new_res, new_jac = residual_and_jacobian(trial)
            new_cost = (new_res ** 2).sum(axis=1)
        better = np.isfinite(new_cost) & (new_cost < cost)
        p[better], res[better], jac[better], cost[better] = trial[better], new_res[better], new_jac[better], new_cost[better]
        damping = np.where(better, damping / 3, damping * 4)
    out = start.copy()
    ok = (p[:, 0] > 0) & (p[:, 3] > 0) & (np.hypot(p[:, 1] - start[:, 0], p[:, 2] - start[:, 1]) <= radius_px)
    ok &= np.isfinite(p).all(axis=1) & (hi > lo)
    out[ok] = p[ok, 1:3]
    return out


class PeakBaseline(Locator):
    """Gaussian smoothing + local maxima + sub-pixel refinement; registry name ``baseline-peaks``.

    Parameters
    ----------
    sigma_A : float
        Smoothing width [Å].
    min_separation_A : float
        Smallest distance between two columns [Å]. A maximum must be the highest pixel
        within half this distance (``peak_local_max(min_distance=...)``, whose square
        window reaches ``min_distance`` px each way, is given half the separation in
        pixels, at least 1): a full-separation window would reach into the tails of a
        brighter neighbour and lose faint columns such as S2 next to W.
    threshold_rel : float
        Keep maxima above ``min + threshold_rel * (max - min)`` of the smoothed image.
    refine : {"com", "gaussian", None}
        Sub-pixel refinement (see the module docstring).
    refine_radius_A : float, optional
        Refinement window radius [Å]; default ``min_separation_A / 2``.
    border_px : int, optional
        Maxima closer than this to the image border [px] are ignored; default half the
        separation in pixels (at least 1).  0 keeps them all.

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64]
    >>> im = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y in [(20.2, 30.6), (41.5, 30.0)])
    >>> PeakBaseline().predict(im, pixel_size_A=0.15).round(1)
    array([[20.2, 30.6],
           [41.5, 30. ]])
    """

    name = "baseline-peaks"
    version = "1"
    description = ("Classical baseline: Gaussian smoothing, skimage.feature.peak_local_max with a separation in "
                   "Angstrom, centre-of-mass (optionally 2-D Gaussian) sub-pixel refinement; no training.")
    citation = ("atomdata baseline; S. van der Walt et al., 'scikit-image: image processing in Python', "
                "PeerJ 2:e453 (2014)")
    licence = "MIT (atomdata)"

    def __init__(self, *, sigma_A: float = 0.25, min_separation_A: float = 1.2, threshold_rel: float = 0.1,
                 refine: Optional[str] = "com", refine_radius_A: Optional[float] = None,
                 border_px: Optional[int] = None):
        for label, value in (("sigma_A", sigma_A), ("min_separation_A", min_separation_A)):
            if not value > 0:
                raise ValueError(f"{label} must be > 0 Angstrom, got {value!r}")
        if not 0 <= threshold_rel < 1:
            raise ValueError(f"threshold_rel must be in [0, 1), got {threshold_rel!r}")
        if refine not in _REFINE:
            raise ValueError(f"refine must be one of {_REFINE}, got {refine!r}")
        if refine_radius_A is not None and not refine_radius_A > 0:
            raise ValueError(f"refine_radius_A must be > 0 Angstrom or None, got {refine_radius_A!r}")
        self.sigma_A = float(sigma_A)
        self.min_separation_A = float(min_separation_A)
        self.threshold_rel = float(threshold_rel)
        self.refine = refine
        self.refine_radius_A = None if refine_radius_A is None else float(refine_radius_A)
        self.border_px = border_px

    def _locate(self, image, pixel_size_A):
        from skimage.feature import peak_local_max

        sigma_px = self.sigma_A / pixel_size_A
        smooth = ndimage.gaussian_filter(image, sigma_px, mode="nearest") if sigma_px >= 0.1 else image
        lo, hi = float(smooth.min()), float(smooth.max())
        if not hi > lo:
            return np.empty((0, 2)), np.empty(0, np.int64)
        min_distance = max(1, int(round(0.5 * self.min_separation_A / pixel_size_A)))
        border = max(1, min_distance // 2) if self.border_px is None else int(self.border_px)
        peaks = peak_local_max(smooth, min_distance=min_distance, threshold_abs=lo + self.threshold_rel * (hi - lo),
                               exclude_border=border if border > 0 else False)
        xy = peaks[:, ::-1].astype(np.float64)  # (row, col) -> (x, y)
        radius_A = self.refine_radius_A if self.refine_radius_A is not None else self.min_separation_A / 2
        radius_px = max(1.0, radius_A / pixel_size_A)
        if self.refine in ("com", "gaussian"):
            xy = refine_centre_of_mass(smooth, xy, radius_px=radius_px)
        if self.refine == "gaussian":
            xy = refine_gaussian(image, xy, radius_px=radius_px, sigma_px=max(1.0, 2 * sigma_px))
        return xy, np.zeros(len(xy), np.int64)

    def _options(self):
        return {"sigma_A": self.sigma_A, "min_separation_A": self.min_separation_A,
                "threshold_rel": self.threshold_rel, "refine": self.refine,
                "refine_radius_A": self.refine_radius_A, "border_px": self.border_px}
