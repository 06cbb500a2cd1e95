"""Rendering projected columns into a noise-free image: analytic Gaussians or band-limited Fourier placement.

Positions are ``(x, y)`` in pixels (x = column index, y = row index, origin at
the centre of the top-left pixel); images are ``image[y, x]``. Column positions
are exact to floating-point precision, never rounded to pixels (the method is
described in :mod:`atomdata.sim.stem.image`, step 2).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from atomdata.schema import check_pixel_size
from atomdata.sim.stem.probe import AberrationProbe, GaussianProbe, fwhm_to_sigma

__all__ = ["render_columns"]

_TRUNCATE_SIGMA = 5.0


# -- rendering ---------------------------------------------------------------------
def _gauss_matrix(centres, grid, sigma):
    """(N, len(grid)) samples of unit Gaussians at ``grid`` (increasing), zero beyond the truncation radius."""
    n, m = len(centres), len(grid)
    r = _TRUNCATE_SIGMA * sigma
    out = np.zeros((n, m), dtype=np.float32)
    if n == 0 or m == 0:
        return out
    lo = np.searchsorted(grid, centres - r)
    hi = np.searchsorted(grid, centres + r)
    k = int((hi - lo).max())
    if k == 0:
        return out
    idx = lo[:, None] + np.arange(k)[None, :]
    ok = idx < hi[:, None]
    idx = np.minimum(idx, m - 1)
    vals = np.exp((grid[idx] - centres[:, None]) ** 2 * (-0.5 / sigma**2)) * ok
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    out[rows[ok], idx[ok]] = vals[ok]
    return out


def _render_gaussian_dense(xy, w, sigma, shape, row_y):
    h, wd = shape
    xs = np.arange(wd, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64) if row_y is None else row_y
    gx = _gauss_matrix(xy[:, 0], xs, sigma)
    gy = _gauss_matrix(xy[:, 1], ys, sigma) * w[:, None].astype(np.float32)
    return (gy.T @ gx).astype(np.float64)


def _render_gaussian_rows_fourier(xy, w, sigma, shape, row_y, row_shift_x):
    """Rows with their own x shift, built in Fourier space along x: one complex matmul.

    Row y is ``sum_j Gy[j, y] G(x + shift_y - x_j)``; along x this is a sum of
    complex exponentials times the Gaussian's transform, shifted by a phase ramp.
    Exact up to the Gaussian's aliasing, ``exp(-pi^2 sigma^2 / 2)`` (3e-9 at sigma = 2 px).
    """
    from scipy.fft import irfft, next_fast_len

    h, wd = shape
    ys = np.arange(h, dtype=np.float64) if row_y is None else row_y
    shift = np.zeros(h) if row_shift_x is None else row_shift_x
    r = _TRUNCATE_SIGMA * sigma
    pad = int(math.ceil(np.abs(shift).max() + r)) + 2
    keep = (xy[:, 0] >= -pad) & (xy[:, 0] < wd + pad)
    xy, w = xy[keep], w[keep]
    wc = next_fast_len(wd + 2 * pad, real=True)
    k = np.fft.rfftfreq(wc)
    gy = _gauss_matrix(xy[:, 1], ys, sigma) * w[:, None].astype(np.float32)  # (N, H)
    ex = np.exp(-2j * np.pi * (xy[:, 0:1] + pad) * k[None, :]).astype(np.complex64)  # (N, K)
    spec = (gy.T @ ex).astype(np.complex128)  # (H, K)
    gauss = sigma * math.sqrt(2 * np.pi) * np.exp(-2 * np.pi**2 * sigma**2 * k**2)
    spec *= gauss[None, :] * np.exp(2j * np.pi * shift[:, None] * k[None, :])
    return irfft(spec, n=wc, axis=1)[:, pad:pad + wd]


def _render_gaussian_splat(xy, w, sigma, shape, row_y, row_shift_x):
    """Sum truncated Gaussians row by row; each row may sample a shifted x (scan jitter, drift)."""
    h, wd = shape
    rows_all = np.arange(h, dtype=np.float64)
    row_y = rows_all if row_y is None else row_y
    shift = np.zeros(h) if row_shift_x is None else row_shift_x
    r = _TRUNCATE_SIGMA * sigma
    inv = -0.5 / sigma**2
    # rows that see each column: row_y increases, so a searchsorted window is exact
    lo = np.searchsorted(row_y, xy[:, 1] - r)
    hi = np.searchsorted(row_y, xy[:, 1] + r)
    smax = float(np.abs(shift).max())
    near = (hi > lo) & (xy[:, 0] > -smax - r - 1) & (xy[:, 0] < wd + smax + r + 1)
    xy, w, lo, hi = xy[near], w[near], lo[near], hi[near]
    if len(xy) == 0:
        return np.zeros(shape)
    kx = int(math.ceil(2 * r)) + 2
    padx = int(math.ceil(2 * smax + 2 * r)) + kx + 2
    wc = wd + 2 * padx  # padded canvas: every splatted index is valid, no masks needed
    out = np.zeros(h * wc)
    order = np.argsort(hi - lo, kind="stable")  # chunks of similar window height
    ar_x = np.arange(kx)
    budget = 1_500_000
    a = 0
    while a < len(order):
        kr = int(hi[order[a]] - lo[order[a]])
        n = max(1, budget // max(kr * kx, 1))
        sel = order[a:a + n]
        kr = int((hi[sel] - lo[sel]).max())
        p, ww = xy[sel], w[sel]
        rows = lo[sel, None] + np.arange(kr)[None, :]  # (n, kr)
        valid = rows < hi[sel, None]
        rows = np.minimum(rows, h - 1)
        gy = np.exp(inv * (row_y[rows] - p[:, 1:2]) ** 2) * (valid * ww[:, None])
        xc = p[:, 0:1] - shift[rows] + padx  # apparent x on the canvas, per row
        c0 = np.floor(xc - r).astype(np.int64)
        cols = c0[..., None] + ar_x  # (n, kr, kx)
        val = gy[..., None] * np.exp(inv * (cols - xc[..., None]) ** 2)
        out += np.bincount((rows * wc)[..., None].__add__(cols).ravel(), weights=val.ravel(), minlength=h * wc)
        a += len(sel)
    return out.reshape(h, wc)[:, padx:padx + wd]


def _render_fourier(xy, w, shape, pixel_size_A, probe, source_size_pm, row_y, row_shift_x, pad):
    """Band-limited rendering with a general PSF on a padded (and if needed refined) periodic canvas."""
    h, wd = shape
    m = 1
    if isinstance(probe, AberrationProbe):
        m = max(1, int(math.ceil(pixel_size_A / (0.95 * probe.max_pixel_size_A()))))
    hf, wf = (h + 2 * pad) * m, (wd + 2 * pad) * m
    d = pixel_size_A / m
    # positions on the fine canvas (fine px): canvas pixel 0 sits at image coordinate -pad
    fx = (xy[:, 0] + pad) * m
    fy = (xy[:, 1] + pad) * m
    ky = np.fft.fftfreq(hf)
    kx = np.fft.rfftfreq(wf)
    ey = np.exp(-2j * np.pi * fy[:, None] * ky[None, :]).astype(np.complex64)
    ex = (np.exp(-2j * np.pi * fx[:, None] * kx[None, :]) * w[:, None]).astype(np.complex64)
    s = (ey.T @ ex).astype(np.complex128)  # (hf, wf//2+1) structure factor
    otf = probe.otf((hf, wf), d)[:, : wf // 2 + 1]
    if source_size_pm > 0:
        otf = otf * GaussianProbe(source_size_pm).otf((hf, wf), d)[:, : wf // 2 + 1]
    fine = np.fft.irfft2(s * otf, s=(hf, wf))
    if row_y is None and row_shift_x is None:
        return fine[pad * m::m, pad * m::m][:h, :wd]
    from scipy.ndimage import map_coordinates

    ys = np.arange(h, dtype=np.float64) if row_y is None else row_y
    sh = np.zeros(h) if row_shift_x is None else row_shift_x
    xx = np.arange(wd, dtype=np.float64)[None, :] + sh[:, None]
    yy = np.broadcast_to(ys[:, None], (h, wd))
    return map_coordinates(fine, [(yy + pad) * m, (xx + pad) * m], order=3, mode="grid-wrap")


def render_columns(
    xy,
    weights,
    *,
    shape: tuple[int, int],
    pixel_size_A: float,
    probe=None,
    source_size_pm: float = 0.0,
    row_y=None,
    row_shift_x=None,
    pad_px: Optional[int] = None,
) -> np.ndarray:
    """Noise-free incoherent image of weighted columns, point-sampled at the pixel centres.

    Parameters
    ----------
    xy : array_like, shape (N, 2)
        Column positions (x, y) [px]; x = column index, y = row index, origin at
        the centre of the top-left pixel. Sub-pixel positions are exact.
    weights : array_like, shape (N,)
        Column weights (e.g. ``sum(Z**1.7)``).
    shape : (H, W)
        Image shape [px].
    pixel_size_A : float
        Pixel size [Å/px].
    probe : GaussianProbe or AberrationProbe
        Probe intensity (default ``GaussianProbe(80.0)``).
    source_size_pm : float
        FWHM of the Gaussian source-size blur [pm].
    row_y : array_like, shape (H,), optional
        Specimen y [px] sampled by each row (increasing); default ``arange(H)``.
    row_shift_x : array_like, shape (H,), optional
        Offset added to the specimen x sampled by each row [px] (scan jitter, drift).
    pad_px : int, optional
        Padding of the periodic canvas of the Fourier renderer [px].

    Returns
    -------
    ndarray, shape (H, W), float64

    Examples
    --------
    >>> img = render_columns([[10.3, 7.0]], [1.0], shape=(16, 24), pixel_size_A=0.1,
    ...                      probe=GaussianProbe(50.0))
    >>> np.unravel_index(img.argmax(), img.shape)  # row 7, column 10
    (np.int64(7), np.int64(10))
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(xy):
        raise ValueError(f"weights has {len(w)} entries but xy has {len(xy)} columns")
    pixel_size_A = check_pixel_size(pixel_size_A)
    probe = GaussianProbe(80.0) if probe is None else probe
    row_y = None if row_y is None else np.asarray(row_y, dtype=np.float64)
    row_shift_x = None if row_shift_x is None or not np.any(row_shift_x) else np.asarray(row_shift_x, np.float64)
    if row_y is not None and len(row_y) > 1 and np.any(np.diff(row_y) <= 0):
        raise ValueError("row_y must increase from row to row (the scan must not fold over)")
    if len(xy) == 0:
        return np.zeros(shape)
    if isinstance(probe, GaussianProbe):
        sigma = fwhm_to_sigma(probe.fwhm_pm_effective(source_size_pm)) / 100.0 / pixel_size_A
        if row_shift_x is None:
            return _render_gaussian_dense(xy, w, sigma, shape, row_y)
        # both are exact; pick the cheaper: splatting costs ~ (10 sigma)^2 per column, the Fourier rows
        # ~ H W / 2 complex products per column (relative cost 0.014 measured by scripts/bench_build.py)
        if sigma >= 2.0 and shape[0] * (shape[1] / 2 + 10 * sigma) * 0.014 < (10 * sigma + 3) ** 2:
            return _render_gaussian_rows_fourier(xy, w, sigma, shape, row_y, row_shift_x)
        return _render_gaussian_splat(xy, w, sigma, shape, row_y, row_shift_x)
    if isinstance(probe, AberrationProbe):
        if pad_px is None:
            extent = 4 * max(probe.fwhm_pm(source_size_pm), 100.0) / 100.0 / pixel_size_A
            lo = np.minimum(xy.min(axis=0), 0)
            hi = np.maximum(xy.max(axis=0) - np.array([shape[1] - 1, shape[0] - 1]), 0)
            pad_px = int(math.ceil(max(extent, float(-lo.min()), float(hi.max())) + extent)) + 2
        return _render_fourier(xy, w, shape, pixel_size_A, probe, source_size_pm, row_y, row_shift_x, pad_px)
    raise TypeError(f"probe must be a GaussianProbe or AberrationProbe, got {type(probe).__name__}")


