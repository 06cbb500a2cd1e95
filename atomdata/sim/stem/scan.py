"""Scan distortions of a STEM frame: per-line flyback jitter and slow random drift.

Positions are ``(x, y)`` in pixels, x = column index, y = row index, origin at
the centre of the top-left pixel. The fast scan is taken as instantaneous:
row ``y`` samples the specimen at ``(x + Dx(t) + e_y, y + Dy(t))`` with
``t = y / H``, where ``e_y`` is the flyback jitter of that line and ``D(t)``
the drift path (see :func:`scan_path`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ScanPath", "scan_path"]


@dataclass(frozen=True)
class ScanPath:
    """Where each scan line samples the specimen.

    ``row_y[y]`` is the specimen y [px] of row y and ``row_shift_x[y]`` the x offset
    [px] (drift plus flyback jitter). ``drift`` maps slow-scan time t in [0, 1]
    to the drift displacement (dx, dy) [px]; ``flyback_px`` is the jitter per row.
    """

    row_y: np.ndarray
    row_shift_x: np.ndarray
    flyback_px: np.ndarray
    drift_coeffs: np.ndarray  # (4, 2): linear term and three sine harmonics, scaled to px
    shape: tuple

    def drift(self, t) -> np.ndarray:
        """Drift displacement (dx, dy) [px] at slow-scan times ``t`` (array), shape (len(t), 2)."""
        t = np.asarray(t, dtype=np.float64)[:, None]
        c = self.drift_coeffs
        out = t * c[0]
        for k in range(1, 4):
            out = out + np.sin(np.pi * k * t) * c[k]
        return out

    def apparent(self, xy) -> np.ndarray:
        """Image positions (x, y) [px] of specimen points ``xy`` (N, 2) [px] under the drift (no jitter)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        h = self.shape[0]
        if not self.drift_coeffs.any():
            return xy.copy()
        margin = float(np.abs(self.drift_coeffs).sum()) * 2 + 2 * h
        yy = np.linspace(-margin, h + margin, int(4 * (h + 2 * margin)) + 1)
        sampled = yy + self.drift(yy / h)[:, 1]
        qy = np.interp(xy[:, 1], sampled, yy)
        qx = xy[:, 0] - self.drift(qy / h)[:, 0]
        return np.column_stack([qx, qy])

    @property
    def max_drift_px(self) -> float:
        """Largest drift excursion over the frame [px]."""
        t = np.linspace(0, 1, 1001)
        return float(np.linalg.norm(self.drift(t), axis=1).max())


def scan_path(shape: tuple[int, int], *, flyback_error_px: float = 0.0, random_drift: float = 0.0,
              rng: np.random.Generator) -> ScanPath:
    """Draw a random scan path (see :mod:`atomdata.sim.stem.image`, step 4).

    Parameters
    ----------
    shape : (H, W)
        Image shape [px].
    flyback_error_px : float
        RMS line-to-line jitter along x [px].
    random_drift : float
        Largest drift excursion over the frame as a fraction of ``max(H, W)``.
    rng : numpy Generator
        Source of randomness (always consumes the same number of draws).
    """
    if flyback_error_px < 0 or random_drift < 0:
        raise ValueError(f"flyback_error_px and random_drift must be >= 0, got {flyback_error_px}, {random_drift}")
    h, w = shape
    jitter = rng.standard_normal(h) * flyback_error_px
    phi = rng.uniform(0, 2 * np.pi)
    # bounded harmonics: |u'| <= 1 + 0.15 pi * 3 while max|u| >= |u(1)| = 1, so the scan cannot fold for
    # random_drift < 0.41
    coeffs = np.vstack([[np.cos(phi), np.sin(phi)], rng.uniform(-0.15, 0.15, (3, 2)) / np.arange(1, 4)[:, None]])
    t = np.linspace(0, 1, 1001)[:, None]
    path = t * coeffs[0] + sum(np.sin(np.pi * k * t) * coeffs[k] for k in range(1, 4))
    coeffs = coeffs * (random_drift * max(h, w) / np.linalg.norm(path, axis=1).max())
    sp = ScanPath(np.zeros(h), np.zeros(h), jitter, coeffs, (h, w))
    d = sp.drift(np.arange(h) / h)
    row_y = np.arange(h) + d[:, 1]
    if h > 1 and np.any(np.diff(row_y) <= 0):
        raise ValueError(f"random_drift={random_drift} folds the scan over itself; use a smaller value")
    return ScanPath(row_y, d[:, 0] + jitter, jitter, coeffs, (h, w))
