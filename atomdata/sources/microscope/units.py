"""Length units as microscope files spell them, converted to Angstrom.

Vendors write the same unit in many ways: ``'nm'``, ``'n_m'`` (Berkeley EMD), ``'µm'`` with the
micro sign U+00B5 or the Greek mu U+03BC, ``'um'``, ``'micron'`` (ImageJ), ``'A'`` or ``'Å'``
(Gatan), ``'m'`` (FEI/Zeiss TIFF tags). :func:`length_to_A` maps every spelling it knows to
Angstrom and refuses anything else (reciprocal units of an FFT, pixels, blanks) with a message
that names the unit.
"""
from __future__ import annotations

from typing import Optional

__all__ = ["ANGSTROM_PER_UNIT", "UncalibratedError", "length_to_A", "normalise_unit"]

#: Length unit (normalised spelling) -> Angstrom per unit.
ANGSTROM_PER_UNIT = {
    "m": 1e10,
    "mm": 1e7,
    "um": 1e4,
    "nm": 10.0,
    "A": 1.0,
    "pm": 0.01,
}

_SPELLINGS = {
    "m": "m", "meter": "m", "metre": "m", "meters": "m", "metres": "m",
    "mm": "mm", "m_m": "mm", "millimeter": "mm", "millimetre": "mm",
    "um": "um", "\u00b5m": "um", "\u03bcm": "um", "u_m": "um", "\u00b5_m": "um", "micron": "um", "microns": "um",
    "micrometer": "um", "micrometre": "um",
    "nm": "nm", "n_m": "nm", "nanometer": "nm", "nanometre": "nm", "nanometers": "nm", "nanometres": "nm",
    "a": "A", "\u00c5": "A", "\u212b": "A", "ang": "A", "angstrom": "A", "angstroms": "A", "\u00e5ngstr\u00f6m": "A",
    "pm": "pm", "p_m": "pm", "picometer": "pm", "picometre": "pm",
}


class UncalibratedError(ValueError):
    """A file has no usable real-space pixel size; pass the pixel size explicitly."""


def normalise_unit(unit: Optional[str]) -> Optional[str]:
    """The key of :data:`ANGSTROM_PER_UNIT` for a unit as a file spells it, or None when unknown.

    Examples
    --------
    >>> normalise_unit("n_m"), normalise_unit("\u00b5m"), normalise_unit("micron"), normalise_unit("1 / nm")
    ('nm', 'um', 'um', None)
    """
    if unit is None:
        return None
    text = str(unit).strip()
    if text in _SPELLINGS:
        return _SPELLINGS[text]
    return _SPELLINGS.get(text.lower())


def length_to_A(scale: float, unit: Optional[str], *, what: str = "pixel size") -> float:
    """Convert a length ``scale`` in ``unit`` (as the file spells it) to Angstrom [Å].

    Parameters
    ----------
    scale : float
        The length, e.g. an axis scale [unit/px].
    unit : str or None
        The unit as written in the file.
    what : str
        What the length is, for the error message.

    Raises
    ------
    UncalibratedError
        ``unit`` is missing, a pixel, or not a length (e.g. ``'1 / nm'`` of an FFT).

    Examples
    --------
    >>> length_to_A(0.0125, "n_m")
    0.125
    >>> length_to_A(2.0, "A")
    2.0
    """
    key = normalise_unit(unit)
    if key is None:
        shown = "no unit" if unit in (None, "", "<undefined>") else f"unit {unit!r}"
        raise UncalibratedError(f"{what} has {shown}, not a real-space length "
                                f"(known units: {', '.join(ANGSTROM_PER_UNIT)})")
    return float(scale) * ANGSTROM_PER_UNIT[key]
