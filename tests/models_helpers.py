"""Synthetic images for the model tests, rendered here from known column positions."""
from __future__ import annotations

import numpy as np

SRTIO3_A = 3.905  # SrTiO3 lattice constant [Angstrom]


def render_columns(xy, amplitudes, shape, *, sigma_px: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Sum of round Gaussians at (x, y) px (image[y, x], origin at the centre of pixel [0, 0])."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    image = np.zeros(shape)
    for (x, y), a in zip(np.asarray(xy, float), amplitudes):
        image += a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma_px ** 2))
    if noise:
        image += np.random.default_rng(seed).normal(0, noise, shape)
    return image


def srtio3_100(pixel_size_A: float, shape, *, origin=(3.3, 5.7), sigma_A: float = 0.4, noise: float = 0.02,
               seed: int = 0):
    """SrTiO3 [100]-like image: Sr (1.0), Ti-O (0.55) and O (0.15) columns on a square lattice.

    Returns ``(image, xy, species)``, positions (x, y) px.
    """
    a = SRTIO3_A / pixel_size_A
    h, w = shape
    xy, amp, species = [], [], []
    for i in range(-1, int(w / a) + 2):
        for j in range(-1, int(h / a) + 2):
            x0, y0 = origin[0] + i * a, origin[1] + j * a
            for dx, dy, amplitude, name in ((0, 0, 1.0, "Sr"), (0.5, 0.5, 0.55, "Ti-O"),
                                            (0.5, 0, 0.15, "O"), (0, 0.5, 0.15, "O")):
                x, y = x0 + dx * a, y0 + dy * a
                if -6 < x < w + 6 and -6 < y < h + 6:
                    xy.append((x, y))
                    amp.append(amplitude)
                    species.append(name)
    xy = np.array(xy)
    image = render_columns(xy, amp, shape, sigma_px=sigma_A / pixel_size_A, noise=noise, seed=seed)
    return image, xy, np.array(species)


def inside(xy, shape, margin: float) -> np.ndarray:
    """Mask of positions at least ``margin`` px inside the image."""
    h, w = shape
    return (xy[:, 0] >= margin) & (xy[:, 0] <= w - 1 - margin) & (xy[:, 1] >= margin) & (xy[:, 1] <= h - 1 - margin)
