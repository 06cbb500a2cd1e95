"""Noise level and PSNR of an image without its noise-free original.

Method
------
Shot and readout noise are independent from pixel to pixel, so their power spectrum is flat up
to the Nyquist frequency, while the image of the columns is band-limited by the probe: a Gaussian
probe of width ``sigma`` [px] leaves a power below ``exp(-4 pi^2 sigma^2 f^2)`` at frequency
``f``. The noise variance is the median of the windowed power spectrum over the frequencies
above ``max(0.6 / sigma, 0.3)`` cycles/px (and below Nyquist), divided by ``ln 2`` (the median of
an exponential distribution) and by the window's energy. The median ignores the few spots and
streaks of a lattice that reach that far. The PSNR then follows the benchmark's definition,
``20 log10(range(clean) / RMS noise)`` with ``range(clean)`` taken from the fitted column
model (:mod:`atomdata.assess.columns`).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["noise_sigma", "psnr_db"]


def noise_sigma(image, *, probe_sigma_px: float = 0.0) -> float:
    """RMS of the pixel noise of an image [image units] (see the module notes).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The image ``image[y, x]``.
    probe_sigma_px : float
        Gaussian width of the columns [px]; frequencies the columns still reach are left out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[0:256, 0:256]
    >>> clean = 100 * np.cos(2 * np.pi * x / 16) * np.cos(2 * np.pi * y / 16)
    >>> round(noise_sigma(clean + rng.normal(0, 5.0, clean.shape), probe_sigma_px=2.0), 1)
    5.0
    """
    a = np.asarray(image, np.float64)
    h, w = a.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.fft2((a - a.mean()) * win)) ** 2
    fy = np.abs(np.fft.fftfreq(h))[:, None]
    fx = np.abs(np.fft.fftfreq(w))[None, :]
    f = np.hypot(fx, fy)
    lo = min(max(0.6 / probe_sigma_px if probe_sigma_px > 0 else 0.0, 0.3), 0.45)
    band = (f >= lo) & (fx < 0.5) & (fy < 0.5)
    var = float(np.median(p[band])) / math.log(2.0) / float(np.sum(win**2))
    return math.sqrt(var)


def psnr_db(value_range: float, sigma: float) -> float:
    """``20 log10(value_range / sigma)`` [dB]; infinite for noise-free images.

    Examples
    --------
    >>> psnr_db(10.0, 1.0)
    20.0
    """
    if sigma <= 0:
        return math.inf
    return 20.0 * math.log10(max(value_range, 1e-300) / sigma)
