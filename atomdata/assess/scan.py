"""Flyback error: the per-line jitter along x, from registering each scan line to its neighbours.

Method
------
Each line ``y`` is compared with a reference made of the lines around it (a Gaussian-weighted
mean of lines ``y - 3 sigma_r .. y + 3 sigma_r`` without line ``y`` itself, ``sigma_r`` = 2 lines):
the jitter of the neighbours averages out in the reference, a slanted lattice is symmetric about
the line, and the slow drift is the same for both. The shift of the line against its reference is
the peak of their cross-correlation (computed by FFT, refined by a parabola), within half a
column spacing. The shifts ``d_y`` contain the line's own jitter ``e_y`` minus the weighted mean
of its neighbours', so their variance is ``var(e) (1 + sum w_k^2)``; the flyback error is the
robust RMS (1.4826 x median absolute deviation) of ``d_y`` divided by ``sqrt(1 + sum w_k^2)``.
Only lines that cross columns (upper half of the line contrast) are used. Noise adds its own
scatter, so on very noisy images this reads high.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["flyback_error_px", "line_shifts"]

_SIGMA_LINES = 2.0


def _reference_weights(sigma: float) -> np.ndarray:
    r = int(math.ceil(3 * sigma))
    k = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    w[r] = 0.0
    return w / w.sum()


def line_shifts(image, *, max_shift_px: float, sigma_lines: float = _SIGMA_LINES):
    """Shift [px] of every scan line along x against the mean of its neighbours, and each line's contrast.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The image ``image[y, x]`` (lines along x).
    max_shift_px : float
        Largest shift searched [px] (use half the column spacing).
    sigma_lines : float
        Width of the neighbour weights [lines].

    Returns
    -------
    shifts : ndarray, shape (H,)
        Shift of each line [px] (positive: the line's content sits further right); NaN for the edge lines.
    contrast : ndarray, shape (H,)
        Standard deviation of each line [image units].
    """
    from scipy.ndimage import correlate1d

    a = np.asarray(image, np.float64)
    h, w = a.shape
    wts = _reference_weights(sigma_lines)
    ref = correlate1d(a, wts, axis=0, mode="nearest")
    a0 = a - a.mean(axis=1, keepdims=True)
    r0 = ref - ref.mean(axis=1, keepdims=True)
    n = 2 * w
    xc = np.fft.irfft(np.fft.rfft(a0, n, axis=1) * np.conj(np.fft.rfft(r0, n, axis=1)), n, axis=1)
    m = int(max(1, min(math.floor(max_shift_px), w // 2 - 1)))
    lags = np.r_[0:m + 1, -m:0]
    sub = np.concatenate([xc[:, :m + 1], xc[:, n - m:]], axis=1)
    k = np.argmax(sub, axis=1)
    shift = lags[k].astype(np.float64)
    left = sub[np.arange(h), (k - 1) % sub.shape[1]]
    mid = sub[np.arange(h), k]
    right = sub[np.arange(h), (k + 1) % sub.shape[1]]
    d = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift += np.where(d < 0, np.clip(0.5 * (left - right) / d, -0.5, 0.5), 0.0)
    edge = len(wts) // 2
    shift[:edge] = np.nan
    shift[h - edge:] = np.nan
    return shift, a0.std(axis=1)


def flyback_error_px(image, *, spacing_px: float) -> float:
    """RMS per-line jitter along x [px] (see the module notes).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y, x = np.mgrid[0:256, 0:256].astype(float)
    >>> jitter = rng.normal(0, 1.0, 256)[:, None]
    >>> img = np.cos(2 * np.pi * (x + jitter) / 12) * np.cos(2 * np.pi * y / 12) ** 2
    >>> round(flyback_error_px(img, spacing_px=12.0), 1)
    1.0
    """
    shift, contrast = line_shifts(image, max_shift_px=0.5 * spacing_px)
    ok = np.isfinite(shift) & (contrast >= np.nanmedian(contrast))
    if ok.sum() < 8:
        return float("nan")
    d = shift[ok]
    rms = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    return rms / math.sqrt(1.0 + float(np.sum(_reference_weights(_SIGMA_LINES) ** 2)))
