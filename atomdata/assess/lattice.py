"""The crystal lattice of an image from its Fourier transform: family and nearest-column spacing.

Positions and vectors are in pixels, (x, y): x = column index, y = row index.

Method
------
The image (mean removed, Hann window, zero-padded 2x) is Fourier transformed; the strongest
spot beyond the slowest frequencies (periods longer than 40 % of the image are background) is
the lattice's dominant reflection ``g1``, refined to a fraction of a frequency bin by a parabola
through the log power. The family follows from where its symmetry partners lie: a spot at
``g1`` turned by 90 deg means a square lattice, at 60 deg a hexagonal one (whichever of the two
holds more power). The fundamental reflection ``g0`` is ``g1`` unless a clear spot sits at
``g1 / sqrt(2)`` turned by 45 deg (square) or ``g1 / sqrt(3)`` turned by 30 deg (hexagonal): then
``g1`` was a higher order and that spot is ``g0``. The nearest column spacing follows from the
family's projected structure:

* ``square`` (perovskite [100], SrTiO3-like: A and BO columns on a centred square lattice of
  period ``a = 1 / |g0|``): spacing ``a / sqrt(2)``;
* ``hexagonal`` (transition-metal dichalcogenide [0001], WS2-like: metal and chalcogen columns on
  a honeycomb of lattice constant ``a = 2 / (sqrt(3) |g0|)``): spacing ``a / sqrt(3)``.

|g0| is averaged over the symmetry-equivalent spots, which halves the effect of drift or
strain along one direction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FAMILIES", "Lattice2D", "find_lattice"]

#: Lattice family -> (partner angle [deg], sub-harmonic angle [deg], sub-harmonic factor, spacing * |g0|)
_GEOMETRY = {
    "square": (90.0, 45.0, math.sqrt(2.0), 1.0 / math.sqrt(2.0)),
    "hexagonal": (60.0, 30.0, math.sqrt(3.0), 2.0 / 3.0),
}
#: Lattice families :func:`find_lattice` tells apart.
FAMILIES = tuple(_GEOMETRY)
_PAD = 2
_MAX_SIDE = 1024
_SUBHARMONIC_SNR = 8.0
_SUBHARMONIC_MIN = 1e-3  # of the dominant spot's power: window leakage stays far below
_MIN_STRENGTH = 40.0


@dataclass(frozen=True)
class Lattice2D:
    """A lattice found in an image.

    Attributes
    ----------
    family : str
        ``"square"`` or ``"hexagonal"``.
    g0 : ndarray, shape (2,)
        Fundamental reflection (fx, fy) [cycles/px].
    spacing_px : float
        Nearest column spacing [px] under the family's structure.
    g1 : ndarray, shape (2,)
        The symmetry partner of ``g0`` (turned by 90 deg, square, or 60 deg, hexagonal) [cycles/px].
    strength : float
        Power of the dominant spot over the median power of the spectrum (a signal-to-background ratio).
    """

    family: str
    g0: np.ndarray
    g1: np.ndarray
    spacing_px: float
    strength: float

    def site_basis_px(self) -> np.ndarray:
        """Two vectors (columns, (x, y) px) spanning every possible column site of the family.

        Square: the grid of half the lattice period (A, BO and O sites of a perovskite);
        hexagonal: the triangular grid of the nearest spacing (metal, chalcogen and hollow sites).
        """
        a = np.linalg.inv(np.array([self.g0, self.g1]))  # columns a1, a2 with a_i . g_j = delta_ij
        m = np.array([[0.5, 0.0], [0.0, 0.5]]) if self.family == "square" else np.array([[1, 2], [2, 1]]) / 3.0
        return a @ m

    @property
    def atoms_per_100px(self) -> float:
        """Sampling: ``100 / spacing_px`` [atoms per 100 px] (= 100 * pixel size / nearest spacing)."""
        return 100.0 / self.spacing_px


def _power(image: np.ndarray):
    a = np.asarray(image, np.float64)
    h, w = a.shape
    if max(h, w) > _MAX_SIDE:  # the lattice is global: the central part is enough
        y0, x0 = (h - min(h, _MAX_SIDE)) // 2, (w - min(w, _MAX_SIDE)) // 2
        a = a[y0:y0 + _MAX_SIDE, x0:x0 + _MAX_SIDE]
        h, w = a.shape
    a = (a - a.mean()) * np.outer(np.hanning(h), np.hanning(w))
    n = _PAD * max(h, w)
    p = np.abs(np.fft.fftshift(np.fft.fft2(a, s=(n, n)))) ** 2
    return p, n, max(h, w)


def _refine(logp: np.ndarray, iy: int, ix: int) -> tuple[float, float]:
    """Sub-bin peak position by a parabola through the log power along each axis."""
    n = logp.shape[0]

    def vertex(a, b, c):
        d = a - 2 * b + c
        return 0.0 if d >= 0 else float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))

    dy = vertex(logp[(iy - 1) % n, ix], logp[iy, ix], logp[(iy + 1) % n, ix])
    dx = vertex(logp[iy, (ix - 1) % n], logp[iy, ix], logp[iy, (ix + 1) % n])
    return iy + dy, ix + dx


def _local_peak(p: np.ndarray, f: np.ndarray, n: int, radius_bins: float):
    """Brightest bin within ``radius_bins`` of frequency ``f`` (fx, fy): (iy, ix, power)."""
    c = n // 2
    cx, cy = c + f[0] * n, c + f[1] * n
    r = max(int(math.ceil(radius_bins)), 1)
    y0, y1 = int(round(cy)) - r, int(round(cy)) + r + 1
    x0, x1 = int(round(cx)) - r, int(round(cx)) + r + 1
    if y0 < 0 or x0 < 0 or y1 > n or x1 > n:
        return None
    win = p[y0:y1, x0:x1]
    k = int(np.argmax(win))
    iy, ix = divmod(k, win.shape[1])
    if iy in (0, win.shape[0] - 1) or ix in (0, win.shape[1] - 1):
        return None  # the window's maximum on its edge: a slope (leakage), not a spot
    return y0 + iy, x0 + ix, float(win[iy, ix])


def _rotate(f: np.ndarray, deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([f[0] * math.cos(t) - f[1] * math.sin(t), f[0] * math.sin(t) + f[1] * math.cos(t)])


def find_lattice(image, *, family=None) -> Lattice2D:
    """The lattice of an image: family, fundamental reflection and nearest column spacing [px].

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The image ``image[y, x]``.
    family : {"square", "hexagonal"}, optional
        Force the family instead of telling it from the spot symmetry.

    Returns
    -------
    Lattice2D

    Raises
    ------
    ValueError
        No lattice spot stands out of the background (the message gives the ratio found).

    Examples
    --------
    A SrTiO3-like projection: bright A columns on a 16 px square, fainter BO columns at the
    cell centres, so the nearest columns are 16 / sqrt(2) = 11.31 px apart:

    >>> yy, xx = np.mgrid[0:128, 0:128]
    >>> sites = [(x, y, 1.0) for x in range(0, 144, 16) for y in range(0, 144, 16)]
    >>> sites += [(x + 8, y + 8, 0.5) for x, y, _ in sites]
    >>> img = sum(w * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y, w in sites)
    >>> lat = find_lattice(img)
    >>> lat.family, round(lat.spacing_px, 2)
    ('square', 11.31)
    """
    if family is not None and family not in _GEOMETRY:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    p, n, side = _power(image)
    c = n // 2
    fy, fx = np.meshgrid(np.arange(n) - c, np.arange(n) - c, indexing="ij")
    rad = np.hypot(fx, fy) / n  # cycles/px
    lo = 2.5 / side  # periods longer than 40 % of the image: background, window leakage
    masked = np.where((rad > lo) & (rad < 0.5), p, 0.0)
    iy, ix = divmod(int(np.argmax(masked)), n)
    floor = float(np.median(p[(rad > lo) & (rad < 0.5)])) or 1e-300
    strength = float(p[iy, ix] / floor)
    if strength < _MIN_STRENGTH:
        raise ValueError(f"no lattice found: the strongest Fourier spot is only {strength:.1f}x the median "
                         f"power (expected > {_MIN_STRENGTH:g}); is this an atomic-resolution image?")
    logp = np.log(np.maximum(p, 1e-300))
    ry, rx = _refine(logp, iy, ix)
    g1 = np.array([(rx - c) / n, (ry - c) / n])
    search = 0.06 * np.hypot(*g1) * n + 2  # drift and strain move partner spots a little

    def spot(f):
        hit = _local_peak(p, f, n, search)
        return (None, 0.0) if hit is None else (hit, hit[2])

    if family is None:
        power = {fam: spot(_rotate(g1, geo[0]))[1] + spot(_rotate(g1, -geo[0]))[1] for fam, geo in _GEOMETRY.items()}
        family = max(power, key=power.get)
    partner_deg, sub_deg, sub_factor, spacing_factor = _GEOMETRY[family]
    g0 = g1
    for sign in (1, -1):
        f = _rotate(g1, sign * sub_deg) / sub_factor
        if np.hypot(*f) <= lo:
            continue
        hit, pw = spot(f)
        r = np.hypot(*f) * n
        sub_ring = (np.abs(np.hypot(fx, fy) - r) < 1.0) & (rad > lo)
        if hit is not None and pw > max(_SUBHARMONIC_SNR * float(np.median(p[sub_ring])), _SUBHARMONIC_MIN * p[iy, ix]):
            sy, sx = _refine(logp, hit[0], hit[1])
            g0 = np.array([(sx - c) / n, (sy - c) / n])
            break
    # average |g0| over the symmetry-equivalent spots (refined each)
    lengths = [float(np.hypot(*g0))]
    partners = []
    for k in range(1, int(round(180 / partner_deg))):
        guess = _rotate(g0, k * partner_deg)
        hit, _ = spot(guess)
        if hit is not None:
            sy, sx = _refine(logp, hit[0], hit[1])
            partners.append(np.array([(sx - c) / n, (sy - c) / n]))
            lengths.append(float(np.hypot(*partners[-1])))
        else:
            partners.append(guess)
    g_len = float(np.mean(lengths))
    return Lattice2D(family=family, g0=g0, g1=partners[0], spacing_px=spacing_factor / g_len, strength=strength)
