"""The segmenter interface (HRTEM nanoparticle task) and the classical baseline.

A *segmenter* turns one image into a particle mask: ``(H, W)`` uint8, 1 on particle pixels,
indexed ``mask[y, x]`` (x = column, y = row) like the image. Instances, when needed, are the
8-connected components of the mask (:func:`atomdata.evaluation.segmentation.instances_of`).
"""
from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from atomdata.schema import check_image, check_pixel_size

__all__ = ["Segmenter", "ClassicalSegmenter"]


class Segmenter(abc.ABC):
    """A nanoparticle segmenter: subclasses implement :meth:`_segment` (checked float64 image -> mask)."""

    name: str = "segmenter"
    version: str = "0"
    citation: str = ""
    description: str = ""

    @abc.abstractmethod
    def _segment(self, image: np.ndarray, pixel_size_A: float) -> np.ndarray:
        """Mask (H, W) of one checked image."""

    def predict(self, image, *, pixel_size_A: float) -> np.ndarray:
        """Particle mask (H, W) uint8 of one image (any real dtype) of pixel size ``pixel_size_A`` [Å/px]."""
        img = check_image(image)
        mask = np.asarray(self._segment(img, check_pixel_size(pixel_size_A)))
        if mask.shape != img.shape:
            raise RuntimeError(f"{self.name} returned a mask of shape {mask.shape} for an image of shape {img.shape}")
        return (mask > 0).astype(np.uint8)

    def predict_batch(self, images: Sequence, *, pixel_sizes_A) -> list[np.ndarray]:
        """Masks of several images; ``pixel_sizes_A`` is one value per image or one for all [Å/px]."""
        images = list(images)
        sizes = [pixel_sizes_A] * len(images) if np.ndim(pixel_sizes_A) == 0 else list(pixel_sizes_A)
        if len(sizes) != len(images):
            raise ValueError(f"pixel_sizes_A has {len(sizes)} values for {len(images)} images; give one per image")
        return [self.predict(im, pixel_size_A=p) for im, p in zip(images, sizes)]

    def describe(self) -> dict:
        """Identity: name, version, description, citation, options."""
        return {"name": self.name, "version": self.version, "description": self.description,
                "citation": self.citation, "options": self._options()}

    def _options(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._options().items())})"


class ClassicalSegmenter(Segmenter):
    """Band-pass lattice-fringe energy plus darkness, Otsu threshold, clean-up (no training).

    Parameters
    ----------
    fringe_A : (float, float)
        Band of lattice-fringe periods kept by the difference-of-Gaussians band-pass [Å]
        (default 1.5-3.5 Å: the {111} and {200} fringes of Au, Ag, Pt, Pd).
    window_A : float
        Width (standard deviation) of the local averaging window [Å].
    min_diameter_nm : float
        Objects smaller than a disc of this diameter are removed [nm].
    shrink : float
        The mask is eroded by this fraction of the window (the smoothing spreads the score outwards).

    Notes
    -----
    A crystalline particle shows lattice fringes (local energy in the band of metal lattice
    spacings) and is darker than the thin amorphous support (mass-thickness contrast). Both maps
    are standardised over the image, summed, thresholded with Otsu's method (scikit-image),
    holes are filled, the mask is eroded by ``shrink`` windows and small objects are removed. A
    baseline in the spirit of the classical pipelines Horwath et al. (2020) compare with.

    Examples
    --------
    >>> int(ClassicalSegmenter().predict(np.ones((32, 32)), pixel_size_A=0.5).sum())
    0
    """

    name = "classical-bandpass-otsu"
    version = "1"
    description = "Lattice-fringe band-pass energy + darkness, Otsu threshold, hole filling, small-object removal."

    def __init__(self, *, fringe_A: tuple = (1.5, 3.5), window_A: float = 6.0, min_diameter_nm: float = 1.0,
                 shrink: float = 0.0):
        self.shrink = float(shrink)
        self.fringe_A = tuple(fringe_A)
        self.window_A = float(window_A)
        self.min_diameter_nm = float(min_diameter_nm)

    def _options(self) -> dict:
        return {"fringe_A": self.fringe_A, "window_A": self.window_A, "min_diameter_nm": self.min_diameter_nm,
                "shrink": self.shrink}

    def _segment(self, image: np.ndarray, pixel_size_A: float) -> np.ndarray:
        from scipy.ndimage import binary_erosion, binary_fill_holes, binary_opening, gaussian_filter, label
        from skimage.filters import threshold_otsu

        if float(image.std()) == 0.0:
            return np.zeros(image.shape, np.uint8)
        lo, hi = (p / pixel_size_A / 4.0 for p in self.fringe_A)  # sigma ~ period / 4 [px]
        band = gaussian_filter(image, max(lo, 0.3)) - gaussian_filter(image, hi)
        w = self.window_A / pixel_size_A
        energy = gaussian_filter(band**2, w)
        dark = -gaussian_filter(image, w)

        def z(a):
            return (a - a.mean()) / (a.std() + 1e-12)

        score = z(np.log(energy + 1e-12)) + z(dark)
        mask = score > threshold_otsu(score)
        mask = binary_opening(mask, iterations=max(1, int(round(0.5 / pixel_size_A))))
        mask = binary_fill_holes(mask)
        shrink = int(round(self.shrink * w))  # the smoothing window spreads the score beyond the particle
        if shrink:
            mask = binary_erosion(mask, iterations=shrink)
        r_px = 5.0 * self.min_diameter_nm / pixel_size_A
        lab, _ = label(mask, structure=np.ones((3, 3), int))
        big = np.bincount(lab.ravel()) >= np.pi * r_px**2
        big[0] = False
        return big[lab].astype(np.uint8)
