"""Atom-column locators behind one interface, found by name.

>>> from atomdata import models
>>> models.available()
['baseline-peaks', 'lin-atomsegnet', 'ziatdinov-atomnet-cubic']
>>> locator = models.get("baseline-peaks")
>>> locator.describe()["name"]
'baseline-peaks'

Every locator has ``predict(image, *, pixel_size_A) -> (N, 2)`` positions (x, y) in pixels
(x = column index, y = row index, origin at the centre of the top-left pixel),
``predict_batch(images, *, pixel_sizes_A)`` and ``describe()``.  The registry stores
``"module:attribute"`` strings, so importing this package does not import torch; the
network wrappers import it when they are built.

The HRTEM segmentation task's models implement :class:`Segmenter` instead
(``predict(image, *, pixel_size_A) -> (H, W)`` mask): :class:`~atomdata.models.segmenter.ClassicalSegmenter`
and :class:`~atomdata.models.unet.UNetSegmenter` (trained by ``atomdata train hrtem-unet``).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Union

from atomdata.models.base import Locator
from atomdata.models.segmenter import Segmenter
from atomdata.schema import check_image, check_pixel_size

__all__ = ["Locator", "Segmenter", "available", "get", "register", "unregister", "check_image", "check_pixel_size"]

#: name -> factory (a callable, or "package.module:attribute" imported on first use)
_REGISTRY: dict[str, Union[str, Callable[..., Locator]]] = {
    "ziatdinov-atomnet-cubic": "atomdata.models.ziatdinov:ZiatdinovAtomNet",
    "lin-atomsegnet": "atomdata.models.atomsegnet:LinAtomSegNet",
    "baseline-peaks": "atomdata.models.baseline:PeakBaseline",
}


def available() -> list[str]:
    """Sorted names of the registered locators."""
    return sorted(_REGISTRY)


def register(name: str, factory=None, *, overwrite: bool = False):
    """Register a locator factory under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"my-locator"``.
    factory : callable or str, optional
        Called with ``get``'s keyword arguments; returns a :class:`Locator`.  A string
        ``"module:attribute"`` is imported on first use.  Omit to use as a decorator.
    overwrite : bool
        Replace an existing entry instead of raising.

    Examples
    --------
    >>> @register("demo-locator", overwrite=True)
    ... class Demo(Locator):
    ...     name = "demo-locator"
    ...     def _locate(self, image, pixel_size_A):
    ...         return [[0.0, 0.0]], [0]
    >>> import numpy as np
    >>> get("demo-locator").predict(np.zeros((8, 8)), pixel_size_A=0.1)
    array([[0., 0.]])
    >>> unregister("demo-locator")
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"locator name must be a non-empty string, got {name!r}")

    def _add(f):
        if name in _REGISTRY and not overwrite:
            raise ValueError(f"a locator named {name!r} is already registered; pass overwrite=True to replace it")
        _REGISTRY[name] = f
        return f

    return _add if factory is None else _add(factory)


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (KeyError if absent)."""
    del _REGISTRY[name]


def get(name: str, **options) -> Locator:
    """Build the locator registered as ``name``.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    **options
        Passed to the locator's constructor (e.g. ``weights=PATH``, ``device="cpu"``).

    Raises
    ------
    KeyError
        Unknown name (the message lists the valid names).
    atomdata.models.weights.WeightsNotFoundError
        The model needs a weights file that cannot be found; the message says how to supply it.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"Unknown locator {name!r}. Available: {', '.join(available())}.") from None
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)
