"""Read images from microscope files with their pixel size [Å/px].

Formats and readers:

========================  ==============================  ==========================================
suffix                    format                          reader
========================  ==============================  ==========================================
``.dm3``, ``.dm4``        Gatan DigitalMicrograph         ``rsciio.digitalmicrograph``
``.emd``                  Velox and Berkeley EMD (HDF5)   ``rsciio.emd``
``.ser``, ``.emi``        FEI TIA                         ``rsciio.tia``
``.tif``, ``.tiff``       TIFF (ImageJ, FEI, Zeiss, ...)  ``rsciio.tiff`` (tifffile)
``.png``, ``.jpg``        plain images (no calibration)   ``rsciio.image`` (imageio)
``.npy``                  numpy array (no calibration)    ``numpy.load``
``.h5``, ``.hdf5``        atomdata split or Wei file      :func:`atomdata.sources.open_split`
========================  ==============================  ==========================================

RosettaSciIO (``pip install 'atomdata[io]'``) reads the vendor formats; every 2-D real-space
image signal of a file is returned, and every frame of a stack. The pixel size comes from the
file's own calibration, converted to Angstrom (:mod:`~atomdata.sources.microscope.units`); an
explicit ``pixel_size_A`` replaces it. A file without a real-space calibration, with non-square
pixels, or with a pixel size outside the plausible range of atomic-resolution images raises an
error that names the file and says how to pass the pixel size.

Images are returned as stored (``image[y, x]``, y = row, x = column); positions found on them
are (x, y) px with the origin at the centre of the top-left pixel.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from atomdata.schema import check_pixel_size
from atomdata.sources.microscope.units import UncalibratedError, length_to_A

__all__ = ["MicroscopeImage", "PLAUSIBLE_PIXEL_SIZE_A", "SUFFIXES", "read_images", "UncalibratedError"]

#: Pixel sizes [Å/px] accepted from a file's metadata without ``pixel_size_A``: atomic columns
#: (1-4 Å apart) need pixels well below 2 Å; below 0.005 Å/px no STEM image is recorded.
PLAUSIBLE_PIXEL_SIZE_A = (0.005, 2.0)

_RSCIIO = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".ser": "tia",
           ".emi": "tia", ".tif": "tiff", ".tiff": "tiff", ".png": "image", ".jpg": "image", ".jpeg": "image"}
#: Every suffix :func:`read_images` reads.
SUFFIXES = tuple(sorted([*_RSCIIO, ".npy", ".h5", ".hdf5"]))
_SQUARE_RTOL = 1e-3

PathLike = Union[str, os.PathLike]


@dataclass
class MicroscopeImage:
    """One 2-D image read from a file, with its pixel size.

    Attributes
    ----------
    image : ndarray, shape (H, W)
        The pixels as stored, indexed ``image[y, x]``.
    pixel_size_A : float
        Pixel size [Å/px].
    path : Path
        The file it came from.
    name : str
        A name unique within the file's images (file stem, plus signal title and frame when the file
        holds several), usable as a file name.
    calibration : str
        ``"file"`` (from the file's metadata) or ``"given"`` (the ``pixel_size_A`` passed in).
    frame : int
        Frame index within a stack (0 for a single image).
    signal : str
        The signal's title in the file (e.g. ``"HAADF"``), or ``""``.
    unit_in_file : str or None
        The length unit as the file spells it (None when the pixel size was given).
    """

    image: np.ndarray
    pixel_size_A: float
    path: Path
    name: str
    calibration: str
    frame: int = 0
    signal: str = ""
    unit_in_file: Optional[str] = None
    metadata: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """JSON-ready identity of the image (no pixels)."""
        return {"path": str(self.path), "name": self.name, "signal": self.signal, "frame": self.frame,
                "shape": list(self.image.shape), "dtype": self.image.dtype.name,
                "pixel_size_A": self.pixel_size_A, "calibration": self.calibration,
                "unit_in_file": self.unit_in_file}


def _rsciio(module: str, path: Path):
    try:
        mod = importlib.import_module(f"rsciio.{module}")
    except ImportError as e:
        raise ImportError(f"rosettasciio is needed to read {path.suffix} files ({path.name}): "
                          f"pip install 'atomdata[io]' ({e})") from None
    return mod.file_reader(str(path))


def _imagej_unit(path: Path) -> Optional[str]:
    """The length unit an ImageJ TIFF states (``unit=`` in its description), or None.

    RosettaSciIO reads the ImageJ scale from the X/YResolution tags but keeps the unit only when it
    is ``micron``; this supplies the others (``nm``, ``Å``, written by ImageJ as ``\\u00C5``).
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        meta = tif.imagej_metadata or {}
    unit = meta.get("unit")
    if not isinstance(unit, str) or not unit:
        return None
    return unit.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\u" in unit else unit


def _is_real_space_image(sig: dict) -> bool:
    data = np.asarray(sig["data"]) if not hasattr(sig["data"], "compute") else sig["data"]
    sig_axes = [a for a in sig["axes"] if not a.get("navigate", False)]
    if len(sig_axes) != 2 or np.iscomplexobj(data) or data.dtype.kind not in "uifb":
        return False
    units = [str(a.get("units") or "") for a in sig_axes]
    return not any(u.startswith("1") or "/" in u for u in units)


def _grey(data: np.ndarray, path: Path) -> np.ndarray:
    """A grey image from a colour one whose channels are equal; a clear error otherwise."""
    if data.dtype.names:  # rsciio returns RGB(A) images as structured arrays
        channels = [data[n] for n in data.dtype.names if n in ("R", "G", "B")]
        if any(not np.array_equal(channels[0], c) for c in channels[1:]):
            raise ValueError(f"{path}: a colour image; save the detector signal as a grey-scale image")
        return np.asarray(channels[0])
    return data


def _check_calibration(sizes_A: list[float], path: Path, plausible_A) -> float:
    py, px = sizes_A
    if not np.isclose(py, px, rtol=_SQUARE_RTOL, atol=0):
        raise ValueError(f"{path}: non-square pixels ({py:.6g} Å along y, {px:.6g} Å along x); "
                         "resample to square pixels, or pass --pixel-size-A to use one size for both")
    lo, hi = plausible_A
    if not lo <= px <= hi:
        raise ValueError(f"{path}: pixel size {px:.6g} Å/px from the file is outside the range of "
                         f"atomic-resolution images ({lo}-{hi} Å/px); check the file, or pass --pixel-size-A "
                         "if it is right")
    return px


def _frames(data: np.ndarray) -> list[np.ndarray]:
    """2-D frames of an image (H, W) or a stack (..., H, W) in C order."""
    data = np.asarray(data)
    if data.ndim == 2:
        return [data]
    return list(data.reshape(-1, *data.shape[-2:]))


def _read_rsciio(path: Path, module: str, pixel_size_A: Optional[float], plausible_A) -> list[MicroscopeImage]:
    signals = [s for s in _rsciio(module, path) if _is_real_space_image(s)]
    if not signals:
        raise ValueError(f"{path}: no 2-D real-space image in the file (only spectra, diffraction or FFT data)")
    out: list[MicroscopeImage] = []
    for k, sig in enumerate(signals):
        title = str(((sig.get("metadata") or {}).get("General") or {}).get("title") or "")
        sig_axes = [a for a in sig["axes"] if not a.get("navigate", False)]
        if module == "tiff" and all(a.get("units") in (None, "") for a in sig_axes):
            ij_unit = _imagej_unit(path)
            if ij_unit is not None:
                sig_axes = [{**a, "units": ij_unit} for a in sig_axes]
        unit = None
        if pixel_size_A is None:
            try:
                sizes = [length_to_A(a.get("scale", 1.0), a.get("units"), what=f"axis {a.get('name')!r}")
                         for a in sig_axes]
            except UncalibratedError as e:
                raise UncalibratedError(f"{path}: no pixel size in the file ({e}); pass --pixel-size-A "
                                        "(Python: pixel_size_A=) with the pixel size in Å") from None
            size, calibration, unit = _check_calibration(sizes, path, plausible_A), "file", sig_axes[-1].get("units")
        else:
            size, calibration = pixel_size_A, "given"
        frames = _frames(_grey(np.asarray(sig["data"]), path))
        for f, frame in enumerate(frames):
            parts = [path.stem] + ([title or f"signal{k}"] if len(signals) > 1 else []) + (
                [f"frame{f:03d}"] if len(frames) > 1 else [])
            out.append(MicroscopeImage(image=frame, pixel_size_A=size, path=path, name="_".join(parts),
                                       calibration=calibration, frame=f, signal=title, unit_in_file=unit))
    return out


def _read_split(path: Path, pixel_size_A: Optional[float]) -> list[MicroscopeImage]:
    from atomdata.sources.resolve import open_split

    split = open_split(path)
    out = []
    for i in range(len(split)):
        size = pixel_size_A if pixel_size_A is not None else float(split.pixel_sizes_A[i])
        out.append(MicroscopeImage(image=np.asarray(split.image(i)), pixel_size_A=size, path=path,
                                   name=f"{path.stem}_{split.image_ids[i]}".replace("/", "_"),
                                   calibration="given" if pixel_size_A is not None else "file", frame=i))
    return out


def read_images(path: PathLike, *, pixel_size_A: Optional[float] = None,
                plausible_A: tuple[float, float] = PLAUSIBLE_PIXEL_SIZE_A) -> list[MicroscopeImage]:
    """Every 2-D image in a microscope file, with its pixel size [Å/px].

    Parameters
    ----------
    path : path-like
        A file with one of :data:`SUFFIXES`.
    pixel_size_A : float, optional
        Pixel size [Å/px] to use instead of the file's calibration (needed for ``.npy``, PNG/JPEG and
        uncalibrated files).
    plausible_A : (float, float)
        Range of pixel sizes [Å/px] accepted from a file's metadata.

    Returns
    -------
    list of MicroscopeImage
        One per frame of each 2-D real-space image signal in the file, in file order.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    UncalibratedError
        The file has no real-space pixel size and ``pixel_size_A`` was not given (names the file).
    ValueError
        Unknown suffix, non-square pixels, an implausible pixel size, no 2-D image in the file.
    ImportError
        RosettaSciIO is needed and missing (says ``pip install 'atomdata[io]'``).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "frame.npy")
    >>> np.save(p, np.zeros((8, 8), np.uint16))
    >>> [(im.name, im.pixel_size_A, im.calibration) for im in read_images(p, pixel_size_A=0.1)]
    [('frame', 0.1, 'given')]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if pixel_size_A is not None:
        pixel_size_A = check_pixel_size(pixel_size_A)
    suffix = path.suffix.lower()
    if suffix in _RSCIIO:
        return _read_rsciio(path, _RSCIIO[suffix], pixel_size_A, plausible_A)
    if suffix in (".h5", ".hdf5"):
        return _read_split(path, pixel_size_A)
    if suffix == ".npy":
        data = np.load(path, allow_pickle=False)
        if data.ndim < 2:
            raise ValueError(f"{path}: a {data.ndim}-D array; expected an image (H, W) or a stack (N, H, W)")
        if pixel_size_A is None:
            raise UncalibratedError(f"{path}: a .npy file has no pixel size; pass --pixel-size-A "
                                    "(Python: pixel_size_A=) with the pixel size in Å")
        frames = _frames(data)
        return [MicroscopeImage(image=fr, pixel_size_A=pixel_size_A, path=path, calibration="given", frame=f,
                                name=path.stem if len(frames) == 1 else f"{path.stem}_frame{f:03d}")
                for f, fr in enumerate(frames)]
    raise ValueError(f"{path}: unknown file type {path.suffix!r}; readable: {', '.join(SUFFIXES)}")
