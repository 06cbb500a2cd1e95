"""Electron optics of HRTEM image formation: wavelength, interaction constant, lens transfer, envelopes, MTF.

Conventions (Kirkland, *Advanced Computing in Electron Microscopy*, 2nd ed., Springer 2010, ch. 3 and 10):
spatial frequencies ``q`` are in 1/Å (no factor 2π); the aberration function is

    chi(q) = pi lambda q^2 (-defocus + astigmatism cos 2(phi - phi_a)) / 1 + (pi / 2) Cs lambda^3 q^4,

so a positive ``defocus_nm`` is *underfocus* (Scherzer focus is positive), and the image wave is
``IFFT(Psi(q) exp(-i chi(q)) A(q) E(q))``. The objective aperture ``A`` is a hard disc of semi-angle
``aperture_mrad``. Partial coherence enters in the quasi-coherent approximation as two envelopes:
temporal, ``exp(-(pi lambda Delta q^2)^2 / 2)`` for a Gaussian focal spread of standard deviation
``Delta`` (``focal_spread_nm``), and spatial, ``exp(-(alpha / (2 lambda))^2 |grad_q chi|^2)`` for a
Gaussian distribution of incident directions with 1/e semi-angle ``alpha`` (``convergence_mrad``).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "wavelength_A",
    "interaction_constant",
    "spatial_frequencies",
    "aberration_chi",
    "lens_transfer",
    "detector_mtf",
    "scherzer_defocus_nm",
]

_M0C2_KEV = 510.99895  # electron rest energy [keV]
_HC_KEV_A = 12.398419843  # h c [keV Å]


def wavelength_A(voltage_kV: float) -> float:
    """Relativistic electron wavelength [Å] at ``voltage_kV`` [kV].

    Examples
    --------
    >>> round(wavelength_A(300.0), 5)
    0.01969
    """
    e = float(voltage_kV)
    return _HC_KEV_A / math.sqrt(e * (2 * _M0C2_KEV + e))


def interaction_constant(voltage_kV: float) -> float:
    """Interaction constant sigma [rad / (V Å)]: the phase shift per unit projected potential.

    ``sigma = 2 pi m e lambda / h^2`` with the relativistic mass (Kirkland eq. 5.6).

    Examples
    --------
    >>> round(interaction_constant(300.0) * 1e4, 3)
    6.526
    """
    lam = wavelength_A(voltage_kV)
    gamma = 1 + voltage_kV / _M0C2_KEV
    # 2 pi m0 c^2 gamma e lambda / (h c)^2, with e V in keV -> per volt: divide by 1000
    return 2 * math.pi * _M0C2_KEV * gamma * lam / _HC_KEV_A**2 / 1000.0


def spatial_frequencies(shape: tuple, sampling_A: float) -> tuple[np.ndarray, np.ndarray]:
    """FFT-ordered spatial frequencies ``(qx, qy)`` [1/Å] of a grid ``shape`` (H, W) with ``sampling_A`` [Å/px].

    ``qx`` (1, W) varies along columns (x), ``qy`` (H, 1) along rows (y).
    """
    h, w = shape
    return np.fft.fftfreq(w, sampling_A)[None, :], np.fft.fftfreq(h, sampling_A)[:, None]


def aberration_chi(qx, qy, *, wavelength_A: float, defocus_nm: float, Cs_mm: float, astigmatism_nm: float = 0.0,
                   astigmatism_angle_deg: float = 0.0) -> np.ndarray:
    """Aberration phase chi(q) [rad] (see the module notes for the sign convention)."""
    lam = wavelength_A
    q2 = qx**2 + qy**2
    phi = np.arctan2(qy, qx)
    df = 10.0 * defocus_nm
    a1 = 10.0 * astigmatism_nm
    cs = 1e7 * Cs_mm
    return math.pi * lam * q2 * (-df + a1 * np.cos(2 * (phi - math.radians(astigmatism_angle_deg)))) \
        + 0.5 * math.pi * cs * lam**3 * q2**2


def _chi_gradient2(qx, qy, *, wavelength_A, defocus_nm, Cs_mm, astigmatism_nm, astigmatism_angle_deg):
    """|grad_q chi|^2 [rad² Å²] (analytic)."""
    lam = wavelength_A
    df, a1, cs = 10.0 * defocus_nm, 10.0 * astigmatism_nm, 1e7 * Cs_mm
    t = math.radians(astigmatism_angle_deg)
    q2 = qx**2 + qy**2
    # chi = pi lam [ -df q2 + a1 ((qx^2 - qy^2) cos 2t + 2 qx qy sin 2t) ] + pi/2 cs lam^3 q2^2
    c2, s2 = math.cos(2 * t), math.sin(2 * t)
    gx = math.pi * lam * (-2 * df * qx + a1 * (2 * qx * c2 + 2 * qy * s2)) + 2 * math.pi * cs * lam**3 * q2 * qx
    gy = math.pi * lam * (-2 * df * qy + a1 * (-2 * qy * c2 + 2 * qx * s2)) + 2 * math.pi * cs * lam**3 * q2 * qy
    return gx**2 + gy**2


def lens_transfer(shape: tuple, sampling_A: float, *, voltage_kV: float, defocus_nm: float, Cs_mm: float,
                  astigmatism_nm: float = 0.0, astigmatism_angle_deg: float = 0.0, aperture_mrad: float | None = None,
                  focal_spread_nm: float = 0.0, convergence_mrad: float = 0.0) -> np.ndarray:
    """Objective-lens transfer ``A(q) E_t(q) E_s(q) exp(-i chi(q))`` on an FFT-ordered grid (complex64).

    Parameters
    ----------
    shape : (int, int)
        Grid (H, W) [px].
    sampling_A : float
        Grid spacing [Å/px].
    voltage_kV, defocus_nm, Cs_mm, astigmatism_nm, astigmatism_angle_deg
        Accelerating voltage [kV]; defocus [nm] (positive = underfocus); spherical aberration [mm];
        twofold astigmatism amplitude [nm] and azimuth [deg].
    aperture_mrad : float, optional
        Objective aperture semi-angle [mrad] (None: no aperture).
    focal_spread_nm, convergence_mrad : float
        Focal spread (standard deviation) [nm] and illumination 1/e semi-angle [mrad]; 0 = coherent.

    Examples
    --------
    >>> t = lens_transfer((8, 8), 0.5, voltage_kV=300, defocus_nm=0, Cs_mm=0)
    >>> bool(abs(t[0, 0] - 1) < 1e-12)
    True
    """
    lam = wavelength_A(voltage_kV)
    qx, qy = spatial_frequencies(shape, sampling_A)
    qx, qy = qx.astype(np.float32), qy.astype(np.float32)
    q2 = qx**2 + qy**2
    ab = dict(wavelength_A=lam, defocus_nm=defocus_nm, Cs_mm=Cs_mm, astigmatism_nm=astigmatism_nm,
              astigmatism_angle_deg=astigmatism_angle_deg)
    chi = aberration_chi(qx, qy, **ab)
    out = np.empty(chi.shape, np.complex64)
    out.real, out.imag = np.cos(chi), -np.sin(chi)
    if focal_spread_nm:
        out *= np.exp(-0.5 * (math.pi * lam * 10.0 * focal_spread_nm * q2) ** 2)
    if convergence_mrad:
        alpha = 1e-3 * convergence_mrad
        out *= np.exp(-((alpha / (2 * lam)) ** 2) * _chi_gradient2(qx, qy, **ab))
    if aperture_mrad is not None:
        out *= q2 <= (1e-3 * aperture_mrad / lam) ** 2
    return out


def detector_mtf(shape: tuple, *, mtf_c: float = 0.5, mtf_b: float = 0.1) -> np.ndarray:
    """Scintillator-camera modulation transfer function on an FFT-ordered grid (H, W) of detector pixels.

    Parameters
    ----------
    shape : (int, int)
        Detector grid (H, W) [px].
    mtf_c : float
        Half-width of the Lorentzian fall-off, in units of the Nyquist frequency (0.5 cycles/px).
    mtf_b : float
        Plateau the Lorentzian falls to (0-1).

    Notes
    -----
    ``MTF(f) = (1 - b) / (1 + (f / c)^2) + b`` with ``f`` in units of the Nyquist frequency: the
    Lorentzian-plus-plateau form used for scintillator-coupled cameras (Thust, Microsc. Microanal.
    15, 505 (2009)). Integration over the square pixel (the sinc factor of a camera's total MTF)
    is not included: the image model bins an oversampled intensity instead.

    Examples
    --------
    >>> float(detector_mtf((4, 4))[0, 0])
    1.0
    """
    h, w = shape
    fx = np.fft.fftfreq(w)[None, :] * 2.0
    fy = np.fft.fftfreq(h)[:, None] * 2.0
    return (1.0 - mtf_b) / (1.0 + (fx**2 + fy**2) / mtf_c**2) + mtf_b


def scherzer_defocus_nm(*, voltage_kV: float, Cs_mm: float) -> float:
    """Scherzer defocus [nm] (positive = underfocus): ``sqrt(4/3 Cs lambda)`` (Kirkland eq. 3.50).

    Examples
    --------
    >>> round(scherzer_defocus_nm(voltage_kV=300, Cs_mm=1.2), 1)
    56.1
    """
    return math.sqrt(4.0 / 3.0 * 1e7 * Cs_mm * wavelength_A(voltage_kV)) / 10.0
