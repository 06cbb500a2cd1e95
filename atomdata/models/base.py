"""The locator interface every atom-column finder implements.

A *locator* turns one HAADF-STEM image into the positions of its atomic columns.
Positions are ``(N, 2)`` float64 arrays of ``(x, y)`` in pixels: x = column index,
y = row index, origin at the centre of the top-left pixel; images are indexed
``image[y, x]``.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Optional

import numpy as np

from atomdata.schema import check_image, check_pixel_size

__all__ = ["Locator", "BatchedLocator"]


class Locator(abc.ABC):
    """An atom-column locator.

    Subclasses implement :meth:`_locate` (one checked image -> positions and classes) and may
    override :meth:`predict_batch` to batch the work.  Subclasses set the class attributes
    ``name``, ``version``, ``citation``, ``licence`` and ``description``.
    """

    name: str = "locator"
    version: str = "0"
    citation: str = ""
    licence: str = ""
    description: str = ""

    @abc.abstractmethod
    def _locate(self, image: np.ndarray, pixel_size_A: float) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``(N, 2)`` (x, y) px and classes ``(N,)`` int of one checked float64 image."""

    def predict(self, image, *, pixel_size_A: float, return_classes: bool = False):
        """Locate the atomic columns of one image.

        Parameters
        ----------
        image : array_like, shape (H, W)
            The image, indexed ``image[y, x]``; any real dtype.
        pixel_size_A : float
            Pixel size [Å/px].
        return_classes : bool
            Also return the per-column class (int; 0 for single-class models).

        Returns
        -------
        xy : ndarray, shape (N, 2), float64
            Column positions (x, y) in pixels, origin at the centre of the top-left pixel.
        classes : ndarray, shape (N,), int64
            Only when ``return_classes`` is true.
        """
        xy, classes = self._locate(check_image(image), check_pixel_size(pixel_size_A))
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        classes = np.asarray(classes, dtype=np.int64).reshape(-1)
        return (xy, classes) if return_classes else xy

    def predict_batch(self, images: Sequence, *, pixel_sizes_A, return_classes: bool = False) -> list:
        """Locate the columns of several images; returns one result of :meth:`predict` per image.

        ``pixel_sizes_A`` is one pixel size [Å/px] per image, or a single number for all.
        """
        images = list(images)
        sizes = _broadcast_sizes(pixel_sizes_A, len(images))
        return [self.predict(im, pixel_size_A=px, return_classes=return_classes) for im, px in zip(images, sizes)]

    def describe(self) -> dict:
        """Identity of this locator: name, version, citation, licence, weights provenance, options."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "citation": self.citation,
            "licence": self.licence,
            "weights": self._weights_info(),
            "options": self._options(),
        }

    def _weights_info(self) -> Optional[dict]:
        return None

    def _options(self) -> dict:
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({opts})"


class BatchedLocator(Locator):
    """A locator whose expensive step runs on a batch of same-shape images (a network).

    Subclasses implement :meth:`_maps` (same-shape checked images -> one map per image) and
    :meth:`_decode` (one map -> positions (N, 2) (x, y) px); ``batch_size`` caps a batch.
    """

    batch_size: int = 8

    @abc.abstractmethod
    def _maps(self, images: list) -> Sequence:
        """One output map per image; all images have the same shape."""

    @abc.abstractmethod
    def _decode(self, out) -> np.ndarray:
        """Positions (N, 2) (x, y) px from one output map."""

    def _locate(self, image, pixel_size_A):
        xy = self._decode(self._maps([image])[0])
        return xy, np.zeros(len(xy), np.int64)

    def predict_batch(self, images: Sequence, *, pixel_sizes_A, return_classes: bool = False) -> list:
        """Locate columns in many images; same-shape images share forward passes of ``batch_size``."""
        images = [check_image(im, name=f"images[{i}]") for i, im in enumerate(images)]
        _broadcast_sizes(pixel_sizes_A, len(images))  # validated; the networks do not use it
        results: list = [None] * len(images)
        by_shape: dict = {}
        for i, im in enumerate(images):
            by_shape.setdefault(im.shape, []).append(i)
        for idx in by_shape.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                for i, out in zip(chunk, self._maps([images[j] for j in chunk])):
                    xy = np.asarray(self._decode(out), dtype=np.float64).reshape(-1, 2)
                    results[i] = (xy, np.zeros(len(xy), np.int64)) if return_classes else xy
        return results


def _broadcast_sizes(pixel_sizes_A, n: int) -> list[float]:
    if np.ndim(pixel_sizes_A) == 0:
        return [check_pixel_size(pixel_sizes_A)] * n
    sizes = [check_pixel_size(p) for p in pixel_sizes_A]
    if len(sizes) != n:
        raise ValueError(f"pixel_sizes_A has {len(sizes)} values for {n} images; give one per image or one for all")
    return sizes
