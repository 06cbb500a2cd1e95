"""STEM probes: a Gaussian of given FWHM, and an aberration-limited probe from the aperture function.

The image model of :mod:`atomdata.sim.stem.image` is incoherent: the image is the
column weights convolved with the probe *intensity* (plus a Gaussian source-size
blur). A probe therefore provides its intensity point-spread function (PSF)
and, for the Fourier renderer, its optical transfer function (the Fourier
transform of the PSF).

Aberration-limited probe (Kirkland, *Advanced Computing in Electron
Microscopy*, 2nd ed., ch. 3): the probe wave is the inverse Fourier transform
of ``A(k) exp(-i chi(k))`` with a sharp aperture ``A(k) = 1`` for
``lambda |k| <= alpha`` and the aberration phase
``chi(k) = pi lambda k^2 (0.5 Cs lambda^2 k^2 - defocus)``; ``defocus > 0`` is
underfocus (Scherzer focus is ``defocus = sqrt(1.5 Cs lambda)``). The PSF is
``|psi|^2`` normalised to unit sum.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Union

import numpy as np

__all__ = [
    "FWHM_PER_SIGMA",
    "fwhm_to_sigma",
    "sigma_to_fwhm",
    "wavelength_A",
    "GaussianProbe",
    "AberrationProbe",
    "Probe",
    "measure_fwhm_px",
]

#: FWHM / sigma of a Gaussian, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def fwhm_to_sigma(fwhm):
    """Standard deviation of a Gaussian of full width at half maximum ``fwhm`` (same unit)."""
    return np.asarray(fwhm, dtype=np.float64) / FWHM_PER_SIGMA if np.ndim(fwhm) else fwhm / FWHM_PER_SIGMA


def sigma_to_fwhm(sigma):
    """FWHM of a Gaussian of standard deviation ``sigma`` (same unit)."""
    return sigma * FWHM_PER_SIGMA


def wavelength_A(energy_keV: float) -> float:
    """Relativistic electron wavelength [Å] at beam energy ``energy_keV`` [keV].

    Examples
    --------
    >>> round(wavelength_A(200.0), 5)
    0.02508
    """
    if energy_keV <= 0:
        raise ValueError(f"energy_keV must be > 0, got {energy_keV}")
    v = energy_keV * 1e3
    return 12.2642598 / math.sqrt(v * (1.0 + 0.97847569e-6 * v))


def _freqs(n: int, d: float) -> np.ndarray:
    return np.fft.fftfreq(n, d)


@dataclass(frozen=True)
class GaussianProbe:
    """A Gaussian probe intensity of full width at half maximum ``fwhm_pm`` [pm].

    Examples
    --------
    >>> round(GaussianProbe(100.0).sigma_px(0.1), 4)  # 100 pm FWHM at 0.1 Å/px
    4.2466
    """

    fwhm_pm: float

    def __post_init__(self):
        if not self.fwhm_pm > 0:
            raise ValueError(f"fwhm_pm must be > 0, got {self.fwhm_pm}")

    kind = "gaussian"

    def sigma_px(self, pixel_size_A: float) -> float:
        """Standard deviation of the intensity [px] at pixel size ``pixel_size_A`` [Å/px]."""
        return self.fwhm_pm / 100.0 / pixel_size_A / FWHM_PER_SIGMA

    def fwhm_pm_effective(self, source_size_pm: float = 0.0) -> float:
        """FWHM [pm] after a Gaussian source blur of FWHM ``source_size_pm`` (added in quadrature)."""
        return math.hypot(self.fwhm_pm, source_size_pm)

    def otf(self, shape: tuple[int, int], pixel_size_A: float) -> np.ndarray:
        """Optical transfer function on the FFT grid of ``shape`` (H, W), value 1 at k = 0."""
        s = self.sigma_px(pixel_size_A)
        ky, kx = _freqs(shape[0], 1.0), _freqs(shape[1], 1.0)
        return np.exp(-2 * np.pi**2 * s**2 * (ky[:, None] ** 2 + kx[None, :] ** 2))

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class AberrationProbe:
    """An aberration-limited probe: sharp aperture, defocus and spherical aberration.

    Parameters
    ----------
    semiangle_mrad : float
        Convergence semi-angle alpha [mrad].
    defocus_A : float
        Defocus [Å]; positive is underfocus.
    cs_mm : float
        Spherical aberration Cs [mm] (0 for a fully corrected probe).
    energy_keV : float
        Beam energy [keV].

    Examples
    --------
    >>> p = AberrationProbe(semiangle_mrad=25.0, energy_keV=200.0)
    >>> round(p.fwhm_pm())   # diffraction-limited: about 0.51 lambda / alpha [pm]
    52
    """

    semiangle_mrad: float = 25.0
    defocus_A: float = 0.0
    cs_mm: float = 0.0
    energy_keV: float = 200.0

    kind = "aberration"

    def __post_init__(self):
        if not self.semiangle_mrad > 0:
            raise ValueError(f"semiangle_mrad must be > 0, got {self.semiangle_mrad}")

    @property
    def cutoff_per_A(self) -> float:
        """Aperture radius in spatial frequency, alpha / lambda [1/Å]."""
        return self.semiangle_mrad * 1e-3 / wavelength_A(self.energy_keV)

    def max_pixel_size_A(self) -> float:
        """Largest pixel size [Å/px] that samples the PSF without aliasing (its band limit is 2 alpha/lambda)."""
        return 1.0 / (4.0 * self.cutoff_per_A)

    def psf(self, shape: tuple[int, int], pixel_size_A: float) -> np.ndarray:
        """Probe intensity on a periodic grid, centred on pixel (0, 0), unit sum.

        ``pixel_size_A`` must not exceed :meth:`max_pixel_size_A`.
        """
        lam = wavelength_A(self.energy_keV)
        ky, kx = _freqs(shape[0], pixel_size_A), _freqs(shape[1], pixel_size_A)
        k2 = ky[:, None] ** 2 + kx[None, :] ** 2
        cs_A = self.cs_mm * 1e7
        chi = np.pi * lam * k2 * (0.5 * cs_A * lam**2 * k2 - self.defocus_A)
        aperture = (np.sqrt(k2) * lam <= self.semiangle_mrad * 1e-3)
        psi = np.fft.ifft2(aperture * np.exp(-1j * chi))
        inten = np.abs(psi) ** 2
        return inten / inten.sum()

    def otf(self, shape: tuple[int, int], pixel_size_A: float) -> np.ndarray:
        """Optical transfer function (FFT of :meth:`psf`) on the grid of ``shape``, 1 at k = 0."""
        return np.fft.fft2(self.psf(shape, pixel_size_A))

    def fwhm_pm(self, source_size_pm: float = 0.0) -> float:
        """FWHM [pm] of the PSF, optionally blurred by a Gaussian source of FWHM ``source_size_pm``.

        Measured numerically on a fine grid (the PSF is round: no astigmatism); cached.
        """
        return _aberration_fwhm_pm(self, float(source_size_pm))

    def _fwhm_pm(self, source_size_pm: float) -> float:
        d = self.max_pixel_size_A() / 4.0
        n = 256
        otf = self.otf((n, n), d)
        if source_size_pm > 0:
            otf = otf * GaussianProbe(source_size_pm).otf((n, n), d)
        psf = np.real(np.fft.ifft2(otf))
        return measure_fwhm_px(np.fft.fftshift(psf)) * d * 100.0

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


Probe = Union[GaussianProbe, AberrationProbe]


@functools.lru_cache(maxsize=256)
def _aberration_fwhm_pm(probe: AberrationProbe, source_size_pm: float) -> float:
    return probe._fwhm_pm(source_size_pm)


def measure_fwhm_px(psf: np.ndarray) -> float:
    """FWHM [px] of a round peak centred in ``psf`` (H, W), along the row through its maximum.

    Linear interpolation between the samples that straddle half maximum.
    """
    psf = np.asarray(psf, dtype=np.float64)
    y0, x0 = np.unravel_index(np.argmax(psf), psf.shape)
    row = psf[y0]
    half = row[x0] / 2.0

    def edge(step: int) -> float:
        i = x0
        while 0 <= i + step < len(row) and row[i + step] > half:
            i += step
        j = i + step
        if not 0 <= j < len(row):
            raise ValueError("the peak is wider than the array; use a larger grid")
        return i + step * (row[i] - half) / (row[i] - row[j])

    return float(edge(1) - edge(-1))
