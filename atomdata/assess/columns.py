"""Column profiles: the probe's FWHM from Gaussians fitted on the lattice's column sites.

Positions are (x, y) px, x = column index, y = row index, origin at the centre of the top-left
pixel; images are ``image[y, x]``.

Method
------
Columns are the local maxima of the image smoothed by a Gaussian of 0.15 x the column spacing,
at least 0.6 x the spacing apart. Around each of the brightest ``n_columns`` of them (away from
the border) the pixels within 0.85 spacing are fitted (Levenberg-Marquardt,
``scipy.optimize.least_squares`` with an analytic Jacobian) by a plane plus one Gaussian on
*every possible column site* of the lattice family near the window
(:meth:`atomdata.assess.lattice.Lattice2D.site_basis_px`: for a perovskite also the faint O sites,
for a dichalcogenide also the hollow sites), with common widths ``sigma_x``, ``sigma_y``, one free
height per sub-lattice (4 on the square half grid: A, BO and two O sites; 3 on the triangular
grid: metal, chalcogen, hollow; an empty sub-lattice fits to about zero) and one free shift of the
whole site grid. Fitting every site matters once the columns overlap: a faint column left out of
the model raises the apparent background and makes the fitted columns too narrow; one height per
sub-lattice rather than per site keeps the widths from trading off against the heights.

The widths are the medians over the windows. The resolution is the FWHM
``2 sqrt(2 ln 2) sigma_y`` along y, the slow-scan direction, which per-line flyback jitter along x
does not broaden. Each fit also gives the noise-free height of its central column and the lowest
value of its columns (both on the plane's level at the window centre), which
:mod:`atomdata.assess.noise` uses for the PSNR. Images sampled finer than 10 px per spacing are
fitted on every k-th pixel (still point-sampled), which keeps the fits small.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ColumnFit", "fit_columns", "FWHM_PER_SIGMA"]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_MAX_SPACING_PX = 10.0


@dataclass(frozen=True)
class ColumnFit:
    """Median column widths and the fitted image range.

    Attributes
    ----------
    sigma_x_px, sigma_y_px : float
        Median Gaussian widths along x and y [px].
    peak : float
        Median of the fitted (noise-free) peak values of the fitted columns [image units].
    floor : float
        Median over the windows of the lowest value of the fitted model [image units]. Medians rather
        than the extremes: on a noisy image the largest peak and the lowest floor of many fits are
        biased outwards by the noise.
    n_fits : int
        Number of successful fits.
    """

    sigma_x_px: float
    sigma_y_px: float
    peak: float
    floor: float
    n_fits: int

    @property
    def fwhm_px(self) -> float:
        """Column FWHM along y [px]."""
        return FWHM_PER_SIGMA * self.sigma_y_px


def _fit_window(win: np.ndarray, sites: np.ndarray, classes: np.ndarray, sigma0: float, step: float):
    """Fit plane + Gaussians on ``sites`` (window px; shifted together; one height per site class) to one window.

    ``sites[0]`` is the central column. Returns (sigma_x, sigma_y, its fitted height, lowest fitted value) or None.
    """
    from scipy.optimize import least_squares

    h, w = win.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    xx, yy, data = xx.ravel() - w / 2, yy.ravel() - h / 2, win.ravel()
    sx0, sy0 = sites[:, 0] - w / 2, sites[:, 1] - h / 2
    lo_v, hi_v = float(win.min()), float(win.max())
    span = max(hi_v - lo_v, 1e-12)
    ix = np.clip(np.rint(sites[:, 0]).astype(int), 0, w - 1)
    iy = np.clip(np.rint(sites[:, 1]).astype(int), 0, h - 1)
    onehot = (classes[:, None] == np.arange(classes.max() + 1)[None, :]).astype(np.float64)  # (k, n_classes)
    amp0 = np.maximum((onehot.T @ (win[iy, ix] - lo_v)) / np.maximum(onehot.sum(0), 1), 0.05 * span)
    # p = [log sigma_x, log sigma_y, b0, bx, by, shift_x, shift_y, heights...]; unbounded for MINPACK's LM
    p0 = np.concatenate([[math.log(sigma0), math.log(sigma0), lo_v, 0.0, 0.0, 0.0, 0.0], amp0])

    def parts(p):
        sx, sy = math.exp(p[0]), math.exp(p[1])
        dx = xx[None, :] - (sx0 + p[5])[:, None]
        dy = yy[None, :] - (sy0 + p[6])[:, None]
        g = np.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2))  # (k, n)
        return sx, sy, dx, dy, g

    def residual(p):
        g = parts(p)[4]
        return (p[2] + p[3] * xx + p[4] * yy + (onehot @ p[7:]) @ g - data) / span

    def jacobian(p):
        sx, sy, dx, dy, g = parts(p)
        ag = (onehot @ p[7:])[:, None] * g
        j = np.empty((len(data), 7 + onehot.shape[1]))
        j[:, 0] = (ag * dx**2).sum(0) / sx**2
        j[:, 1] = (ag * dy**2).sum(0) / sy**2
        j[:, 2] = 1.0
        j[:, 3] = xx
        j[:, 4] = yy
        j[:, 5] = (ag * dx).sum(0) / sx**2
        j[:, 6] = (ag * dy).sum(0) / sy**2
        j[:, 7:] = g.T @ onehot
        return j / span

    try:
        res = least_squares(residual, p0, jac=jacobian, method="lm", max_nfev=200)
    except (ValueError, np.linalg.LinAlgError):
        return None
    p = res.x
    sx, sy = math.exp(p[0]), math.exp(p[1])
    if not (0.25 < sx < 4 * step and 0.25 < sy < 4 * step and abs(p[5]) < step and abs(p[6]) < step):
        return None  # ran away: no column profile in this window
    # the range of the columns alone (the plane's tilt would add noise to it on noisy images)
    columns = (onehot @ p[7:]) @ parts(p)[4]
    # the central column's height: the model at the centre site (the first of ``sites``)
    g_c = np.exp(-0.5 * (((sx0[0] - sx0) / sx) ** 2 + ((sy0[0] - sy0) / sy) ** 2))
    peak = float(p[2] + (onehot @ p[7:]) @ g_c)
    return sx, sy, peak, float(p[2] + columns.min())


def fit_columns(image, lattice, *, n_columns: int = 16) -> ColumnFit:
    """Fit Gaussians on the column sites around the brightest columns of an image (see the module notes).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The image ``image[y, x]``.
    lattice : atomdata.assess.lattice.Lattice2D
        The image's lattice (:func:`atomdata.assess.lattice.find_lattice`).
    n_columns : int
        How many of the brightest columns to fit around.

    Returns
    -------
    ColumnFit

    Raises
    ------
    ValueError
        No column could be fitted.

    Examples
    --------
    Gaussian columns of width 2 px on a SrTiO3-like lattice (see :func:`~atomdata.assess.lattice.find_lattice`):

    >>> from atomdata.assess.lattice import find_lattice
    >>> yy, xx = np.mgrid[0:128, 0:128]
    >>> sites = [(x, y, 1.0) for x in range(0, 144, 16) for y in range(0, 144, 16)]
    >>> sites += [(x + 8, y + 8, 0.5) for x, y, _ in sites]
    >>> img = sum(w * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2)) for x, y, w in sites)
    >>> fit = fit_columns(img, find_lattice(img))
    >>> round(fit.sigma_x_px, 3), round(fit.sigma_y_px, 3)
    (2.0, 2.0)
    """
    from threadpoolctl import threadpool_limits

    a = np.asarray(image, np.float64)
    stride = max(1, int(lattice.spacing_px // _MAX_SPACING_PX))
    with threadpool_limits(1):  # many small least-squares problems: BLAS threads only contend
        fit = _fit_columns(a[::stride, ::stride], lattice.site_basis_px() / stride, lattice.spacing_px / stride,
                           n_columns, 4 if lattice.family == "square" else 3)
    if stride == 1:
        return fit
    return ColumnFit(sigma_x_px=fit.sigma_x_px * stride, sigma_y_px=fit.sigma_y_px * stride, peak=fit.peak,
                     floor=fit.floor, n_fits=fit.n_fits)


def _site_classes(i: np.ndarray, j: np.ndarray, n_sub: int) -> np.ndarray:
    """Sub-lattice of each site (i, j) of the site grid: 4 on the square half grid, 3 on the triangular grid."""
    if n_sub == 4:
        return (i % 2) * 2 + (j % 2)
    return (i + 2 * j) % 3


def _fit_columns(a: np.ndarray, basis: np.ndarray, s: float, n_columns: int, n_sub: int) -> ColumnFit:
    from scipy.ndimage import gaussian_filter
    from skimage.feature import peak_local_max

    h, w = a.shape
    smooth = gaussian_filter(a, max(0.15 * s, 0.5))
    peaks = peak_local_max(smooth, min_distance=max(1, int(0.6 * s)), exclude_border=False)  # (row, col)
    if len(peaks) == 0:
        raise ValueError("no atomic column found to fit")
    xy = peaks[:, ::-1].astype(np.float64)
    r = int(math.ceil(0.85 * s))
    inner = ((xy[:, 0] >= r) & (xy[:, 0] <= w - 1 - r) & (xy[:, 1] >= r) & (xy[:, 1] <= h - 1 - r))
    cand = np.flatnonzero(inner)
    cand = cand[np.argsort(-smooth[peaks[cand, 0], peaks[cand, 1]])][:n_columns]
    step = float(min(np.hypot(*basis[:, 0]), np.hypot(*basis[:, 1])))
    # integer site indices covering the window plus a margin of one spacing
    inv = np.linalg.inv(basis)
    reach = r + 1.5 * s  # sites this far out still reach into the window when the columns are wide
    corners = np.array([[x, y] for x in (-reach, reach) for y in (-reach, reach)], float).T
    ij_max = int(np.ceil(np.abs(inv @ corners).max())) + 1
    ii, jj = np.meshgrid(np.arange(-ij_max, ij_max + 1), np.arange(-ij_max, ij_max + 1))
    offsets = (basis @ np.vstack([ii.ravel(), jj.ravel()])).T  # (M, 2) (x, y) px
    keep = np.flatnonzero(np.max(np.abs(offsets), axis=1) <= reach)
    keep = keep[np.argsort(np.hypot(*offsets[keep].T), kind="stable")]  # the centre site first
    offsets = offsets[keep]
    classes = _site_classes(ii.ravel()[keep], jj.ravel()[keep], n_sub)
    sigma0 = max(0.2 * s, 0.6)
    fits = []
    for j in cand:
        x0, y0 = int(xy[j, 0]), int(xy[j, 1])
        win = a[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
        centre = np.array([r + xy[j, 0] - x0, r + xy[j, 1] - y0])
        out = _fit_window(win, offsets + centre, classes, sigma0, step)
        if out is not None:
            fits.append(out)
    if not fits:
        raise ValueError("no atomic column could be fitted")
    f = np.array(fits)
    return ColumnFit(sigma_x_px=float(np.median(f[:, 0])), sigma_y_px=float(np.median(f[:, 1])),
                     peak=float(np.median(f[:, 2])), floor=float(np.median(f[:, 3])), n_fits=len(fits))
