"""Wei et al.'s degradations of a simulated frame: shot noise, added Poisson noise, blur, 8-bit images.

Benchmark 1.1.0 (:mod:`atomdata.sim.stem.recipe_v11`) makes its images the way Wei et al.
(Microsc. Microanal. 29, 552 (2023)) made theirs; each function here is one of their steps,
as recorded from their notebooks in ``../shared/reference/wei2022/wei2022_sweeps.md`` (section
numbers below refer to it). All functions are pure functions of numpy arrays (a frame is
``(H, W)``, indexed ``frame[y, x]``) plus an explicit random generator where noise is drawn.

* :func:`shot_noise` -- the frame as detector counts: Poisson noise at a given expected count of
  the brightest column (their simulator's frames are small integer counts, section 1);
* :func:`added_poisson_noise` -- their ``applypoisson`` (section 3.5): ``Poisson(s I) / s`` with
  the scale ``s`` chosen here from the requested PSNR instead of from their noise level ``l``;
* :func:`wei_psnr_db` -- their PSNR, ``20 log10(max(I) / RMSE)`` against the frame before the
  added noise;
* :func:`blur` -- their ``applyblur`` (section 3.4): a Gaussian of added FWHM ``s`` applied to
  the (already noisy) frame, so the resolution is ``sqrt(r0**2 + s**2)``;
* :func:`to_uint8` -- their 8-bit image: ``(x - min) / (max - min) * 255``, truncated (section 3.3).
"""
from __future__ import annotations

import math

import numpy as np

from atomdata.sim.stem.probe import FWHM_PER_SIGMA

__all__ = [
    "shot_noise",
    "added_poisson_noise",
    "poisson_scale_for_psnr",
    "wei_psnr_db",
    "blur",
    "added_blur_pm",
    "to_uint8",
]


def shot_noise(frame: np.ndarray, *, peak_counts: float, rng: np.random.Generator) -> np.ndarray:
    """Detector counts of a noise-free frame: ``Poisson(peak_counts * frame)``.

    Parameters
    ----------
    frame : ndarray (H, W), float
        Noise-free intensity >= 0 in units of the brightest column's signal (a value of 1 is
        ``peak_counts`` expected counts).
    peak_counts : float
        Expected counts [counts/px] for intensity 1, > 0.
    rng : numpy Generator
        Source of the noise.

    Returns
    -------
    ndarray (H, W), float64
        Counts (whole numbers).

    Examples
    --------
    >>> counts = shot_noise(np.full((64, 64), 0.5), peak_counts=200.0, rng=np.random.default_rng(0))
    >>> bool(abs(counts.mean() - 100.0) < 1.0)
    True
    """
    if not (peak_counts > 0 and math.isfinite(peak_counts)):
        raise ValueError(f"peak_counts must be a finite number > 0 [counts/px], got {peak_counts!r}")
    lam = np.clip(np.asarray(frame, dtype=np.float64), 0.0, None) * peak_counts
    return rng.poisson(lam).astype(np.float64)


def wei_psnr_db(noisy: np.ndarray, reference: np.ndarray) -> float:
    """Wei et al.'s PSNR [dB]: ``20 log10(max(reference) / RMS(noisy - reference))``.

    The peak is the maximum of the reference frame (not its range, not 255); ``inf`` when the
    two are equal.

    Examples
    --------
    >>> round(wei_psnr_db(np.array([9.0, 11.0]), np.array([10.0, 10.0])), 2)  # 20 log10(10 / 1)
    20.0
    """
    a, r = np.asarray(noisy, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    rmse = math.sqrt(float(np.mean((a - r) ** 2)))
    return math.inf if rmse == 0 else 20.0 * math.log10(float(r.max()) / rmse)


def poisson_scale_for_psnr(frame: np.ndarray, psnr_db: float) -> float:
    """The scale ``s`` for which ``Poisson(s I) / s`` has, in expectation, the PSNR ``psnr_db`` [dB].

    ``Poisson(s I) / s - I`` has variance ``I / s`` per pixel, so the expected mean squared
    error is ``mean(I) / s`` and ``s = mean(I) * 10**(psnr_db / 10) / max(I)**2``.

    Examples
    --------
    >>> frame = np.full((4, 4), 100.0)
    >>> poisson_scale_for_psnr(frame, 20.0)  # mse must be (100 / 10)**2 = 100 = 100 / s
    1.0
    """
    f = np.asarray(frame, dtype=np.float64)
    peak, mean = float(f.max()), float(f.mean())
    if not (peak > 0 and f.min() >= 0):
        raise ValueError(f"the frame must be >= 0 with a positive maximum to add Poisson noise, got min "
                         f"{float(f.min())}, max {peak}")
    return mean * 10.0 ** (psnr_db / 10.0) / peak**2


def added_poisson_noise(frame: np.ndarray, *, psnr_db: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Wei et al.'s ``applypoisson``: ``Poisson(s * frame) / s`` with ``s`` set from the requested PSNR.

    Parameters
    ----------
    frame : ndarray (H, W), float >= 0
        The frame to degrade (in Wei et al.'s sweeps it already carries shot noise).
    psnr_db : float
        Requested :func:`wei_psnr_db` of the result against ``frame`` [dB]; the realised value
        scatters around it (measure it with :func:`wei_psnr_db`).
    rng : numpy Generator
        Source of the noise.

    Returns
    -------
    noisy : ndarray (H, W), float64
    scale : float
        The scale ``s`` used (:func:`poisson_scale_for_psnr`).

    Notes
    -----
    Wei et al. chose ``s = (50 / l) ** ceil(log2 U)`` from a noise level ``l`` and the number
    ``U`` of distinct values of the frame, and recorded the PSNR it gave; atomdata asks for the
    PSNR and derives ``s``, so that a sweep hits the published PSNR values.

    Examples
    --------
    >>> frame = np.full((128, 128), 50.0)
    >>> noisy, s = added_poisson_noise(frame, psnr_db=10.0, rng=np.random.default_rng(1))
    >>> bool(abs(wei_psnr_db(noisy, frame) - 10.0) < 0.2)
    True
    """
    if not math.isfinite(psnr_db):
        raise ValueError(f"psnr_db must be a finite number [dB], got {psnr_db!r}")
    f = np.asarray(frame, dtype=np.float64)
    s = poisson_scale_for_psnr(f, psnr_db)
    return rng.poisson(f * s).astype(np.float64) / s, s


def added_blur_pm(resolution_pm: float, intrinsic_pm: float) -> float:
    """FWHM [pm] of the Gaussian blur that brings a probe of ``intrinsic_pm`` to ``resolution_pm``.

    Wei et al. added blur in quadrature: ``resolution = sqrt(intrinsic**2 + added**2)``.

    Examples
    --------
    >>> round(added_blur_pm(128.06, 80.0), 1)  # their first STO resolution point: 100 pm added
    100.0
    """
    if resolution_pm < intrinsic_pm:
        raise ValueError(f"resolution_pm={resolution_pm} is sharper than the intrinsic probe ({intrinsic_pm} pm); "
                         "a resolution sweep can only blur")
    return math.sqrt(resolution_pm**2 - intrinsic_pm**2)


def blur(frame: np.ndarray, *, added_fwhm_pm: float, pixel_size_A: float) -> np.ndarray:
    """Wei et al.'s ``applyblur``: convolve a frame with a normalised Gaussian of FWHM ``added_fwhm_pm``.

    Parameters
    ----------
    frame : ndarray (H, W)
    added_fwhm_pm : float
        FWHM of the Gaussian [pm] (0: the frame is returned unchanged, as float64).
    pixel_size_A : float
        Pixel size [Å/px].

    Notes
    -----
    Wei et al. convolved with a circular FFT and a kernel centred at ``N/2 - 1``, which wraps
    the frame's edges into each other and shifts the content by -1 px in x and y; atomdata
    reflects at the edges and keeps the content in place (the labels stay exact).

    Examples
    --------
    >>> f = np.zeros((33, 33)); f[16, 16] = 1.0
    >>> g = blur(f, added_fwhm_pm=100.0, pixel_size_A=0.1)    # 10 px FWHM
    >>> np.unravel_index(g.argmax(), g.shape), round(float(g.sum()), 6)
    ((np.int64(16), np.int64(16)), 1.0)
    """
    from scipy.ndimage import gaussian_filter

    f = np.asarray(frame, dtype=np.float64)
    if added_fwhm_pm < 0 or not math.isfinite(added_fwhm_pm):
        raise ValueError(f"added_fwhm_pm must be a finite number >= 0 [pm], got {added_fwhm_pm!r}")
    if added_fwhm_pm == 0:
        return f.copy()
    sigma_px = added_fwhm_pm / 100.0 / pixel_size_A / FWHM_PER_SIGMA
    return gaussian_filter(f, sigma_px, mode="reflect", truncate=5.0)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Wei et al.'s 8-bit image: ``(x - min) / (max - min) * 255``, truncated to uint8 (all 0 if constant).

    Examples
    --------
    >>> to_uint8(np.array([[10.0, 12.0, 20.0]])).tolist()
    [[0, 51, 255]]
    """
    f = np.asarray(frame, dtype=np.float64)
    lo, hi = float(f.min()), float(f.max())
    if hi <= lo:
        return np.zeros(f.shape, np.uint8)
    return ((f - lo) / (hi - lo) * 255.0).astype(np.uint8)
