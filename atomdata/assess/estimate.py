"""Estimate the benchmark's image-quality metrics from one image alone.

Each metric has the benchmark's definition (:class:`atomdata.schema.QualityMetrics`); what is
measured and how:

=====================  ===========================================================================
metric                 estimate
=====================  ===========================================================================
``atoms_per_100px``    ``100 / spacing``: the nearest column spacing [px] from the lattice's Fourier
                       spots and the family's structure (:mod:`atomdata.assess.lattice`)
``resolution_pm``      FWHM of Gaussians fitted to the brightest columns, along the slow-scan axis
                       (:mod:`atomdata.assess.columns`), times the pixel size
``psnr_db``            ``20 log10(range of the fitted columns / noise RMS)``, the noise from the
                       power spectrum beyond the probe's band (:mod:`atomdata.assess.noise`)
``contrast``           ``(max - min) / max`` of the image as recorded (the definition itself; it
                       depends on the detector's black level)
``flyback_error_px``   RMS per-line jitter along x from line-to-line registration
                       (:mod:`atomdata.assess.scan`)
``random_drift``       not estimated: a slow drift cannot be told from lattice strain or rotation
                       without knowing the true lattice; reported as None
``dose_e_per_A2``      not estimated (the detector gain is not in the image); None
=====================  ===========================================================================
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from pydantic import BaseModel, Field

from atomdata.assess.columns import FWHM_PER_SIGMA, fit_columns
from atomdata.assess.lattice import find_lattice
from atomdata.assess.noise import noise_sigma, psnr_db
from atomdata.assess.scan import flyback_error_px
from atomdata.schema import check_image, check_pixel_size

__all__ = ["QualityEstimate", "estimate_quality", "ESTIMATED_METRICS"]

#: Metrics :func:`estimate_quality` estimates (the others are None).
ESTIMATED_METRICS = ("atoms_per_100px", "resolution_pm", "psnr_db", "contrast", "flyback_error_px")


class QualityEstimate(BaseModel):
    """Image-quality metrics estimated from an image alone (None: not estimated)."""

    pixel_size_A: float = Field(description="Pixel size [Å/px].")
    lattice_family: Optional[str] = Field(default=None, description="'square' or 'hexagonal' lattice of columns.")
    spacing_A: Optional[float] = Field(default=None, description="Nearest column spacing [Å].")
    atoms_per_100px: Optional[float] = Field(default=None, description="100 * pixel size / spacing [atoms per 100 px].")
    resolution_pm: Optional[float] = Field(default=None, description="Column FWHM along the slow-scan axis [pm].")
    resolution_x_pm: Optional[float] = Field(default=None, description="Column FWHM along the fast-scan axis [pm].")
    psnr_db: Optional[float] = Field(default=None, description="Peak signal-to-noise ratio [dB].")
    noise_rms: Optional[float] = Field(default=None, description="RMS pixel noise [image units].")
    contrast: Optional[float] = Field(default=None, description="(max - min) / max of the image.")
    flyback_error_px: Optional[float] = Field(default=None, description="RMS per-line jitter along x [px].")
    random_drift: Optional[float] = Field(default=None, description="Not estimated (None).")
    dose_e_per_A2: Optional[float] = Field(default=None, description="Not estimated (None).")
    notes: list[str] = Field(default_factory=list, description="What could not be estimated, and why.")

    def metrics(self) -> dict[str, Optional[float]]:
        """Metric name -> estimate, for the metrics of :data:`atomdata.schema.METRIC_FIELDS`."""
        return {k: getattr(self, k) for k in ("atoms_per_100px", "contrast", "psnr_db", "resolution_pm",
                                              "dose_e_per_A2", "flyback_error_px", "random_drift")}


def _contrast(a: np.ndarray) -> Optional[float]:
    mx = float(a.max())
    return None if mx <= 0 else float((mx - a.min()) / mx)


def estimate_quality(image, *, pixel_size_A: float, family: Optional[str] = None) -> QualityEstimate:
    """Estimate the image-quality metrics of one atomic-resolution image.

    Parameters
    ----------
    image : array_like, shape (H, W)
        The image ``image[y, x]`` as recorded (not normalised: the contrast depends on the black level).
    pixel_size_A : float
        Pixel size [Å/px].
    family : {"square", "hexagonal"}, optional
        Lattice family; told from the Fourier spots when not given.

    Returns
    -------
    QualityEstimate
        Metrics that could not be estimated are None and ``notes`` says why.

    Examples
    --------
    >>> from atomdata.sim.stem.image import ImageParams, simulate_image
    >>> sim = simulate_image(ImageParams("sto100", shape=(128, 128), pixel_size_A=0.2, psnr_db=20.0, seed=3))
    >>> est = estimate_quality(sim.image, pixel_size_A=0.2)
    >>> est.lattice_family, round(est.atoms_per_100px, 1), round(sim.quality.atoms_per_100px.nominal, 1)
    ('square', 7.2, 7.2)
    """
    a = check_image(image)
    px = check_pixel_size(pixel_size_A)
    est = QualityEstimate(pixel_size_A=px, contrast=_contrast(a))
    try:
        lat = find_lattice(a, family=family)
    except ValueError as e:
        est.notes.append(f"lattice: {e}; sampling, resolution, PSNR and flyback not estimated")
        return est
    est.lattice_family = lat.family
    est.spacing_A = lat.spacing_px * px
    est.atoms_per_100px = lat.atoms_per_100px
    try:
        fit = fit_columns(a, lat)
    except ValueError as e:
        est.notes.append(f"columns: {e}; resolution and PSNR not estimated")
        fit = None
    sigma = noise_sigma(a, probe_sigma_px=fit.sigma_y_px if fit else 0.0)
    est.noise_rms = sigma
    if fit is not None:
        est.resolution_pm = fit.fwhm_px * px * 100.0
        est.resolution_x_pm = FWHM_PER_SIGMA * fit.sigma_x_px * px * 100.0
        est.psnr_db = psnr_db(fit.peak - fit.floor, sigma)
        if not math.isfinite(est.psnr_db):
            est.psnr_db = None
            est.notes.append("psnr: no noise found")
    fb = flyback_error_px(a, spacing_px=lat.spacing_px)
    est.flyback_error_px = None if not math.isfinite(fb) else fb
    est.notes.append("random drift and dose are not estimated from a single image")
    return est
