"""Training labels drawn on the fly from column positions (numpy only, no torch).

One split serves every model: the columns are stored once as positions, and the
label a model trains on -- a Gaussian heatmap, a binary disk mask, one mask per
species, or the coordinates themselves -- is drawn from them when an item is
loaded (after any geometric augmentation, so it stays sub-pixel exact).

Positions are (x, y) in pixels: x = column index, y = row index, origin at the
centre of the top-left pixel, arrays of shape (N, 2). Images and label maps are
indexed ``label[y, x]``; the pixel ``[r, c]`` covers ``c - 0.5 <= x < c + 0.5``,
``r - 0.5 <= y < r + 0.5``.

Sizes are given either in Angstrom (``sigma_A``, ``radius_A``, converted with
the image's ``pixel_size_A``) or in pixels (``sigma_px``, ``radius_px``), never
both.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import numpy as np

from atomdata.schema import check_xy

__all__ = [
    "DEFAULT_SIGMA_PX",
    "DEFAULT_RADIUS_A",
    "LABELS",
    "gaussian_heatmap",
    "disk_mask",
    "species_masks",
    "render_label",
    "size_in_px",
]

#: Heatmap width used when neither ``sigma_px`` nor ``sigma_A`` is given [px].
DEFAULT_SIGMA_PX = 1.5
#: Disk radius used when neither ``radius_A`` nor ``radius_px`` is given [Å].
DEFAULT_RADIUS_A = 0.5
#: Names accepted by :func:`render_label` (and by ``AtomColumnDataset(label=...)``).
LABELS = ("heatmap", "disk", "species", "coords", "none")


def size_in_px(name: str, *, value_px: Optional[float], value_A: Optional[float],
               pixel_size_A: Optional[float], default_px: Optional[float] = None,
               default_A: Optional[float] = None) -> float:
    """Resolve a length given in px or in Å to pixels.

    Parameters
    ----------
    name : str
        Base name used in error messages, e.g. ``"sigma"``.
    value_px, value_A : float or None
        The length in pixels or in Angstrom [Å]; at most one may be set.
    pixel_size_A : float or None
        Pixel size [Å/px]; needed when the length is in Å.
    default_px, default_A : float or None
        Used when neither value is set (at most one may be set).

    Returns
    -------
    float
        The length in pixels (> 0).

    Examples
    --------
    >>> size_in_px("sigma", value_px=None, value_A=0.5, pixel_size_A=0.25)
    2.0
    """
    if value_px is not None and value_A is not None:
        raise ValueError(f"give {name}_px or {name}_A, not both (got {name}_px={value_px}, {name}_A={value_A})")
    if value_px is None and value_A is None:
        value_px, value_A = default_px, default_A
    if value_A is not None:
        if pixel_size_A is None or not pixel_size_A > 0:
            raise ValueError(f"{name}_A needs pixel_size_A > 0 [Å/px], got pixel_size_A={pixel_size_A!r}")
        value_px = float(value_A) / float(pixel_size_A)
    if value_px is None or not math.isfinite(value_px) or value_px <= 0:
        raise ValueError(f"{name} must be a finite length > 0, got {name}_px={value_px!r} {name}_A={value_A!r}")
    return float(value_px)


def _check_shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (H, W), got {shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"shape must be (H, W) with H, W >= 1, got {shape!r}")
    return h, w


def _stamp(xy: np.ndarray, shape: tuple[int, int], half: int):
    """Pixel windows of half-width ``half`` around each position.

    Returns rows, cols (N, K) pixel indices clipped into the image, dy, dx (N, K)
    offsets of the unclipped pixels from the exact positions [px], and the
    in-image flags of rows and cols (N, K); K = 2*half+1.
    """
    h, w = shape
    k = np.arange(-half, half + 1)
    rows = np.rint(xy[:, 1]).astype(np.int64)[:, None] + k[None, :]
    cols = np.rint(xy[:, 0]).astype(np.int64)[:, None] + k[None, :]
    dy = rows - xy[:, 1:2]
    dx = cols - xy[:, 0:1]
    row_ok = (rows >= 0) & (rows < h)
    col_ok = (cols >= 0) & (cols < w)
    return np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1), dy, dx, row_ok, col_ok


_BLOCK_VALUES = 8192  # window pixels per block of columns in gaussian_heatmap (64 kB of int64 indices)


def _scatter_max(out: np.ndarray, rows, cols, vals: np.ndarray) -> None:
    """Write the (N, K, K) window values ``vals`` (>= 0) into ``out`` with a pixel-wise maximum.

    Window pixels outside the image must carry the value 0: they are clipped onto
    edge pixels, where a maximum with 0 changes nothing (``out`` starts at 0).
    """
    flat = rows[:, :, None] * out.shape[1] + cols[:, None, :]
    np.maximum.at(out.reshape(-1), flat.reshape(-1), vals.astype(out.dtype, copy=False).reshape(-1))


def gaussian_heatmap(xy, shape, *, sigma_px: Optional[float] = None, sigma_A: Optional[float] = None,
                     pixel_size_A: Optional[float] = None, truncate: float = 4.0) -> np.ndarray:
    """Heatmap with a unit-height Gaussian centred exactly on each column.

    Parameters
    ----------
    xy : array_like, shape (N, 2)
        Column positions (x, y) [px]; x = column index, y = row index, origin at
        the centre of the top-left pixel. Positions outside the image still
        contribute their tails.
    shape : (int, int)
        Output shape (H, W) [px].
    sigma_px, sigma_A : float, optional
        Standard deviation of each Gaussian in pixels or in Angstrom [Å] (then
        ``pixel_size_A`` is required). Default: ``DEFAULT_SIGMA_PX`` = 1.5 px.
    pixel_size_A : float, optional
        Pixel size [Å/px].
    truncate : float
        Each Gaussian is evaluated within ``truncate * sigma`` pixels of its
        centre (beyond, it is below exp(-8) = 3e-4 of its peak at the default).

    Returns
    -------
    ndarray, shape (H, W), float32
        ``max_k exp(-((x - x_k)^2 + (y - y_k)^2) / (2 sigma^2))`` at every pixel
        centre, in [0, 1]. Overlapping columns combine by maximum, so every peak
        stays at height 1 and at its label.

    Notes
    -----
    The Gaussian is sampled at pixel centres around the exact (sub-pixel) label,
    so the log of the heatmap near a peak is an exact parabola with its vertex at
    the label: a three-point parabola fit recovers the label exactly.

    Examples
    --------
    >>> hm = gaussian_heatmap([[2.0, 1.0]], (3, 5), sigma_px=1.0)
    >>> hm.shape, float(hm[1, 2]), bool(hm[1, 1] < 1.0)
    ((3, 5), 1.0, True)
    """
    h, w = _check_shape(shape)
    xy = check_xy(xy)
    sigma = size_in_px("sigma", value_px=sigma_px, value_A=sigma_A, pixel_size_A=pixel_size_A,
                       default_px=DEFAULT_SIGMA_PX)
    out = np.zeros((h, w), np.float32)
    if len(xy) == 0:
        return out
    half = max(1, int(math.ceil(truncate * sigma)))
    inv = -0.5 / sigma**2
    # columns in blocks: the (block, K, K) temporaries stay small enough for the allocator's heap
    # (larger ones are mapped and unmapped on every call); same values, ~15 % less CPU at 200 columns
    block = max(1, _BLOCK_VALUES // (2 * half + 1) ** 2)
    for a in range(0, len(xy), block):
        rows, cols, dy, dx, row_ok, col_ok = _stamp(xy[a:a + block], (h, w), half)
        # separable: exp(-(dx^2 + dy^2) / 2s^2) = exp(-dy^2 / 2s^2) * exp(-dx^2 / 2s^2)
        gy = (np.exp((dy * dy) * inv) * row_ok).astype(np.float32)  # 0 outside the image
        gx = (np.exp((dx * dx) * inv) * col_ok).astype(np.float32)
        _scatter_max(out, rows, cols, gy[:, :, None] * gx[:, None, :])
    return out


def disk_mask(xy, shape, *, radius_A: Optional[float] = None, radius_px: Optional[float] = None,
              pixel_size_A: Optional[float] = None) -> np.ndarray:
    """Binary mask: 1 on every pixel whose centre lies within ``radius`` of a column.

    Parameters
    ----------
    xy : array_like, shape (N, 2)
        Column positions (x, y) [px]; x = column index, y = row index, origin at
        the centre of the top-left pixel.
    shape : (int, int)
        Output shape (H, W) [px].
    radius_A, radius_px : float, optional
        Disk radius in Angstrom [Å] (needs ``pixel_size_A``) or in pixels.
        Default: ``DEFAULT_RADIUS_A`` = 0.5 Å.
    pixel_size_A : float, optional
        Pixel size [Å/px].

    Returns
    -------
    ndarray, shape (H, W), float32
        0 or 1. The pixel nearest each column is always set, even when the
        radius is smaller than half a pixel.

    Examples
    --------
    >>> m = disk_mask([[2.0, 2.0]], (5, 5), radius_px=1.0)
    >>> int(m.sum())
    5
    """
    h, w = _check_shape(shape)
    xy = check_xy(xy)
    r = size_in_px("radius", value_px=radius_px, value_A=radius_A, pixel_size_A=pixel_size_A,
                   default_A=DEFAULT_RADIUS_A)
    out = np.zeros((h, w), np.float32)
    if len(xy) == 0:
        return out
    half = max(1, int(math.ceil(r)))
    rows, cols, dy, dx, row_ok, col_ok = _stamp(xy, (h, w), half)
    inside_disk = ((dy * dy)[:, :, None] + (dx * dx)[:, None, :]) <= r * r
    inside_disk &= row_ok[:, :, None] & col_ok[:, None, :]  # 0 outside the image
    _scatter_max(out, rows, cols, inside_disk)
    rows = np.clip(np.rint(xy[:, 1]).astype(np.int64), 0, h - 1)
    cols = np.clip(np.rint(xy[:, 0]).astype(np.int64), 0, w - 1)
    inside = (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)
    out[rows[inside], cols[inside]] = 1.0
    return out


def species_masks(xy, species, shape, *, species_names: Sequence[str], draw: str = "disk",
                  **size) -> np.ndarray:
    """One channel per species: a disk mask (or heatmap) of that species' columns.

    Parameters
    ----------
    xy : array_like, shape (N, 2)
        Column positions (x, y) [px]; x = column index, y = row index, origin at
        the centre of the top-left pixel.
    species : array_like, shape (N,)
        Species of each column, as names or as integer codes into ``species_names``.
    shape : (int, int)
        Output shape (H, W) [px].
    species_names : sequence of str
        Channel order; channel ``c`` holds the columns of ``species_names[c]``.
    draw : {"disk", "heatmap"}
        Draw each channel with :func:`disk_mask` or :func:`gaussian_heatmap`.
    **size
        ``radius_A``/``radius_px`` (disk) or ``sigma_A``/``sigma_px`` (heatmap)
        and ``pixel_size_A``.

    Returns
    -------
    ndarray, shape (C, H, W), float32
        C = ``len(species_names)``.

    Examples
    --------
    >>> m = species_masks([[1, 1], [3, 3]], ["Sr", "O"], (5, 5), species_names=["O", "Sr"], radius_px=0.5)
    >>> m.shape, float(m[0, 3, 3]), float(m[1, 1, 1])
    ((2, 5, 5), 1.0, 1.0)
    """
    h, w = _check_shape(shape)
    xy = check_xy(xy)
    names = [str(s) for s in species_names]
    sp = np.asarray(species).reshape(-1)
    if len(sp) != len(xy):
        raise ValueError(f"species has {len(sp)} entries but xy has {len(xy)} columns")
    if sp.dtype.kind in "iu":
        codes = sp.astype(np.int64)
        if len(codes) and (codes.min() < 0 or codes.max() >= len(names)):
            raise ValueError(f"species codes must be in [0, {len(names)}), got {codes.min()}..{codes.max()}")
    else:
        lookup = {n: k for k, n in enumerate(names)}
        unknown = sorted(set(sp.tolist()) - set(lookup))
        if unknown:
            raise ValueError(f"species {unknown} are not in species_names {names}")
        codes = np.array([lookup[s] for s in sp.tolist()], dtype=np.int64)
    render = {"disk": disk_mask, "heatmap": gaussian_heatmap}.get(draw)
    if render is None:
        raise ValueError(f"draw must be 'disk' or 'heatmap', got {draw!r}")
    out = np.zeros((len(names), h, w), np.float32)
    for c in range(len(names)):
        sel = codes == c
        if sel.any():
            out[c] = render(xy[sel], (h, w), **size)
    return out


def render_label(kind: str, *, xy, shape, species=None, species_names=None,
                  pixel_size_A: Optional[float] = None, **options) -> np.ndarray:
    """Draw the training label named ``kind`` (one of :data:`LABELS`) from column positions.

    ``"heatmap"`` -> :func:`gaussian_heatmap` (H, W); ``"disk"`` -> :func:`disk_mask`
    (H, W); ``"species"`` -> :func:`species_masks` (C, H, W); ``"coords"`` -> the
    positions themselves, (N, 2) float32 (x, y) [px]; ``"none"`` -> an empty
    (0,) float32 array. ``options`` go to the drawing function.

    Examples
    --------
    >>> render_label("coords", xy=[[1.5, 2.0]], shape=(4, 4)).tolist()
    [[1.5, 2.0]]
    """
    if kind == "heatmap":
        return gaussian_heatmap(xy, shape, pixel_size_A=pixel_size_A, **options)
    if kind == "disk":
        return disk_mask(xy, shape, pixel_size_A=pixel_size_A, **options)
    if kind == "species":
        if species_names is None:
            raise ValueError("the 'species' label needs species_names (the channel order)")
        return species_masks(xy, species, shape, species_names=species_names, pixel_size_A=pixel_size_A,
                             **options)
    if kind == "coords":
        if options:
            raise TypeError(f"the 'coords' label takes no options, got {sorted(options)}")
        return check_xy(xy).astype(np.float32)
    if kind == "none":
        return np.zeros(0, np.float32)
    raise ValueError(f"Unknown label {kind!r}. Valid labels: {', '.join(LABELS)}.")
