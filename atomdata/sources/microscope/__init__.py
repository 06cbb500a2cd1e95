"""Real microscope images: Gatan, Velox/EMD, TIA, TIFF, PNG, numpy and HDF5 files with their pixel size.

>>> from atomdata.sources.microscope import read_images, SUFFIXES
>>> ".dm4" in SUFFIXES and ".emd" in SUFFIXES
True

See :func:`read_images`; the vendor formats need ``pip install 'atomdata[io]'`` (RosettaSciIO).
"""
from __future__ import annotations

from atomdata.sources.microscope.readers import (
    PLAUSIBLE_PIXEL_SIZE_A,
    SUFFIXES,
    MicroscopeImage,
    read_images,
)
from atomdata.sources.microscope.units import ANGSTROM_PER_UNIT, UncalibratedError, length_to_A, normalise_unit

__all__ = ["ANGSTROM_PER_UNIT", "MicroscopeImage", "PLAUSIBLE_PIXEL_SIZE_A", "SUFFIXES", "UncalibratedError",
           "length_to_A", "normalise_unit", "read_images"]
