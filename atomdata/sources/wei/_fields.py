"""Metadata columns of the Wei benchmark: name matching, units and value clean-up (used by :mod:`atomdata.sources.wei`)."""
from __future__ import annotations

import math
import re
from typing import Optional

import numpy as np

_UNIT = re.compile(r"[\(\[]([^\)\]]*)[\)\]]")

#: normalised column name -> target key (the mapping table is in the docstring of :mod:`atomdata.sources.wei`).
ALIASES: dict[str, str] = {}
for _key, _names in {
    "pixel_size": ["pixel_size", "pixelsize", "pixel_size_pm", "px_size", "pixel_size_a", "pixel_size_angstrom",
                   "pixel_size_nm", "pixel"],
    "material": ["material", "material_orientation", "material_and_orientation", "materials", "structure",
                 "material_zone_axis"],
    "orientation": ["orientation", "zone_axis", "zone", "projection"],
    "space_group": ["space_group", "spacegroup", "space_group_number", "sg"],
    "type": ["type", "image_type", "kind", "simulated_experimental", "sim_exp"],
    "contrast": ["contrast"],
    "psnr_db": ["psnr", "psnr_db"],
    "resolution_pm": ["resolution", "resolution_pm", "probe_fwhm", "fwhm"],
    "dose_e_per_A2": ["dose", "electron_dose", "dose_e_a2", "dose_e_a_2", "dose_e_per_a2"],
    "flyback_error_px": ["flyback_error", "flyback", "fly_back_error", "flyback_error_px", "flyback_err"],
    "random_drift": ["random_drift", "drift"],
    "atoms_per_100px": ["atoms_100px", "atoms_per_100px", "atoms_per_100_px", "atoms_100_px",
                        "atoms_per_100_pixels", "atom_100px"],
    "name": ["name", "image", "image_name", "filename", "file", "image_id", "key", "img"],
}.items():
    for _n in _names:
        ALIASES[_n] = _key

METRICS = ("contrast", "psnr_db", "resolution_pm", "dose_e_per_A2", "flyback_error_px", "random_drift",
           "atoms_per_100px")

#: Lattice facts of the two materials of the benchmark (formula -> kind, space group, a [Å]).
KNOWN = {"SrTiO3": ("bulk", 221, 3.905, "sto"), "WS2": ("monolayer", 187, 3.153, "ws2")}


def normalise(name: str) -> tuple[str, str]:
    """``'Pixel size (pm)'`` -> ``('pixel_size', 'pm')``."""
    m = _UNIT.search(name)
    unit = m.group(1).strip() if m else ""
    base = _UNIT.sub(" ", name).lower()
    return re.sub(r"[^a-z0-9]+", "_", base).strip("_"), unit


def length_scale(unit: str, default: float) -> float:
    """Factor turning a length in ``unit`` into the target unit whose pm/Å/nm factors ``default`` encodes."""
    u = unit.lower().replace("å", "a").replace(" ", "")
    return {"pm": 1.0, "a": 100.0, "angstrom": 100.0, "nm": 1000.0}.get(u, default)


def finite_or_none(value) -> Optional[float]:
    """A finite float, or None for missing, NaN, infinite, text or bool values."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def parse_material(text: Optional[str], orientation: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """``'WS2[0001]'`` -> ``('WS2', '[0001]')``; a separate orientation column is used when given."""
    if not text:
        return None, None
    m = re.match(r"^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:[\[<(]\s*(-?\d[-\d\s,]*)\s*[\]>)])?\s*$", text)
    if not m:
        return None, None
    formula, axis = m.group(1), m.group(2)
    if axis is None and orientation:
        o = re.sub(r"[^\d\-\s]", "", str(orientation)).strip()
        axis = o or None
    if axis is not None:
        axis = f"[{re.sub(r'[,]', ' ', axis).strip()}]"
    return formula, axis


def space_group(value) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        n = int(value)
    else:
        v = finite_or_none(value)
        if v is not None and float(v).is_integer():
            n = int(v)
        else:
            m = re.search(r"\b(\d{1,3})\b", str(value))
            if not m:
                return None
            n = int(m.group(1))
    return n if 1 <= n <= 230 else None


def jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return str(value)


def first_error(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        try:
            return str(errors()[0]["msg"])
        except Exception:
            pass
    return str(e).splitlines()[0]


