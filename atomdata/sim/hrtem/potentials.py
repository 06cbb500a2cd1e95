"""Projected atomic potentials from the Lobato-Van Dyck parameterisation, on a periodic grid.

The electron scattering factor of a neutral atom is parameterised as (Lobato & Van Dyck,
Acta Cryst. A70, 636-649 (2014), eq. 17)

    f_e(g) = sum_{i=1..5} a_i (2 + b_i g^2) / (1 + b_i g^2)^2      [Å], g in 1/Å,

with the five (a_i [Å], b_i [Å²]) pairs per element of their Table (the numbers below are
those published values, for the elements atomdata's HRTEM task uses). The projected potential
of atoms at ``(x_j, y_j)`` has the 2D Fourier transform (Kirkland 2010, eq. 5.17 and C.17)

    v_z(q) = 2 pi a0 e f_e(|q|) sum_j exp(-2 pi i q . r_j)        [V Å³ per Å² of q]

with ``a0 e = 0.529177 Å x 14.39964 V Å``. On a grid of spacing ``dx`` the atoms are spread
onto their four nearest grid points (bilinear, "cloud in cell"), Fourier transformed and
multiplied by ``v_z(q)`` up to the grid's Nyquist frequency: the discretisation of abTEM's
"infinite" projection (the two agree to a Pearson r of 0.9999 on single atoms; the bilinear
spreading acts like a slight blur of sub-pixel positions). The transmission function ``exp(i sigma v_z)``,
not the potential, is band-limited to 2/3 of the Nyquist frequency (:mod:`~atomdata.sim.hrtem.image`).
Every atom of a slice is projected whole into it ("infinite projection").
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["LOBATO", "scattering_factor", "projected_potential", "antialias_mask", "FOURIER_PREFACTOR"]

#: 2 pi a0 e [V Å²]: the prefactor between f_e [Å] and the projected potential (Kirkland 2010, eq. 5.17).
FOURIER_PREFACTOR = 2 * math.pi * 0.529177210903 * 14.3996454784

#: Lobato & Van Dyck (2014) parameters: element -> ((a1..a5) [Å], (b1..b5) [Å²]).
LOBATO: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "C": ((124.4660886, -220.3528571, 195.2353523, -98.10793613, 0.01420230412),
           (2.421208493, 2.305379438, 2.048519321, 1.933525529, 0.07689768185)),
    "Ag": ((1.553172167, 2.639303647, 0.142015487, 0.001008504601, 1.9463843e-07),
           (8.156202358, 1.216008875, 0.07900988649, 0.002965479014, 0.0001745930959)),
    "Pd": ((0.6421597962, 2.979148144, 0.168154426, 0.001337442139, 1.914109683e-07),
           (5.974797503, 1.433594325, 0.09098684012, 0.003624101371, 0.0001806889144)),
    "Pt": ((2.04021564, 2.899226346, 0.6363440838, 0.01320719196, 5.673821925e-05),
           (6.658194296, 1.413379238, 0.1740001045, 0.01006878045, 0.0004030771057)),
    "Au": ((1.675934671, 3.00486603, 0.5953400132, 0.01171631866, 4.296782976e-05),
           (5.522310932, 1.38007223, 0.1622292377, 0.009018148904, 0.0003792776675)),
}


def scattering_factor(element: str, g) -> np.ndarray:
    """Electron scattering factor f_e(g) [Å] of ``element`` at spatial frequency ``g`` [1/Å] (no 2π).

    Examples
    --------
    >>> f0 = float(scattering_factor("C", 0.0)); f1 = float(scattering_factor("C", 1.0))
    >>> 2.0 < f0 < 2.6, 0 < f1 < f0
    (True, True)
    """
    try:
        a, b = LOBATO[element]
    except KeyError:
        raise ValueError(f"No Lobato parameters for {element!r}. Elements: {', '.join(LOBATO)}.") from None
    g2 = np.asarray(g, dtype=np.float64) ** 2
    out = np.zeros_like(g2)
    for ai, bi in zip(a, b):
        t = 1.0 + bi * g2
        out += ai * (2.0 + bi * g2) / (t * t)
    return out


def antialias_mask(shape: tuple, sampling_A: float) -> np.ndarray:
    """Boolean FFT-ordered mask (H, W) of frequencies below 2/3 of the Nyquist frequency."""
    h, w = shape
    qx = np.fft.fftfreq(w, sampling_A)[None, :]
    qy = np.fft.fftfreq(h, sampling_A)[:, None]
    return qx**2 + qy**2 <= (2.0 / 3.0 * 0.5 / sampling_A) ** 2


def _deposit(xy_px: np.ndarray, shape: tuple) -> np.ndarray:
    """Bilinear ("cloud in cell") deposition of unit weights at (x, y) [px] onto a periodic (H, W) grid."""
    h, w = shape
    grid = np.zeros(h * w, dtype=np.float64)
    if len(xy_px) == 0:
        return grid.reshape(h, w)
    x0 = np.floor(xy_px[:, 0])
    y0 = np.floor(xy_px[:, 1])
    fx = xy_px[:, 0] - x0
    fy = xy_px[:, 1] - y0
    ix = x0.astype(np.int64) % w
    iy = y0.astype(np.int64) % h
    ix1 = (ix + 1) % w
    iy1 = (iy + 1) % h
    for yy, xx, wt in ((iy, ix, (1 - fx) * (1 - fy)), (iy, ix1, fx * (1 - fy)),
                       (iy1, ix, (1 - fx) * fy), (iy1, ix1, fx * fy)):
        grid += np.bincount(yy * w + xx, weights=wt, minlength=h * w)
    return grid.reshape(h, w)


class _Kernels:
    """Per-grid Fourier factors ``v_z(q) / dx^2`` per element (float32); cached per process."""

    _cache: dict = {}

    @classmethod
    def get(cls, element: str, shape: tuple, sampling_A: float) -> np.ndarray:
        key = (element, tuple(shape), round(float(sampling_A), 12))
        k = cls._cache.get(key)
        if k is None:
            if len(cls._cache) > 64:
                cls._cache.clear()
            h, w = shape
            qx = np.fft.rfftfreq(w, sampling_A)[None, :]  # rfft2: the last axis (x) is halved
            qy = np.fft.fftfreq(h, sampling_A)[:, None]
            k = FOURIER_PREFACTOR * scattering_factor(element, np.sqrt(qx**2 + qy**2)) / sampling_A**2
            k = cls._cache[key] = k.astype(np.float32)  # the first call uses the cached dtype too
        return k


def projected_potential(atoms_xy_A: dict, shape: tuple, sampling_A: float) -> np.ndarray:
    """Projected potential [V Å] (H, W) float32 of the atoms of one slice on a periodic grid.

    Parameters
    ----------
    atoms_xy_A : dict
        Element -> ``(N, 2)`` positions (x, y) [Å], x along columns, y along rows; grid
        point ``[j, i]`` sits at ``(i * sampling_A, j * sampling_A)``.
    shape : (int, int)
        Grid (H, W).
    sampling_A : float
        Grid spacing [Å/px].

    Examples
    --------
    >>> v = projected_potential({"Au": np.array([[4.0, 4.0]])}, (32, 32), 0.25)
    >>> int(v.argmax() // 32), int(v.argmax() % 32)
    (16, 16)
    """
    import scipy.fft as sfft  # scipy loads with the first image, not with atomdata.build

    spec = None
    for element, xy in atoms_xy_A.items():
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if len(xy) == 0:
            continue
        s = sfft.rfft2(_deposit(xy / sampling_A, shape).astype(np.float32)) * _Kernels.get(element, shape, sampling_A)
        spec = s if spec is None else spec + s
    if spec is None:
        return np.zeros(shape, np.float32)
    return sfft.irfft2(spec, s=shape)
