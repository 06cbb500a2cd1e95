"""Augmentations that move the column labels with the image (numpy only, no torch).

Every transform takes a *sample* dict and returns a new one. The sample holds
numpy arrays, before the training target is drawn and before conversion to
tensors (``AtomColumnDataset`` draws the target from the transformed labels, so
targets stay sub-pixel exact):

``image``
    (H, W) float32, indexed ``image[y, x]``, intensity in the stored units
    (normalisation to [0, 1] happens after the transforms).
``xy``
    (N, 2) float64 column positions (x, y) [px]; x = column index, y = row
    index, origin at the centre of the top-left pixel.
``species``, ``target_mask``
    (N,) per-column arrays (species codes, scoring flag); geometric transforms
    that drop columns (crops) drop the same rows from every (N, ...) array.
``pixel_size_A``
    Pixel size [Å/px]; :class:`Rescale` updates it.
``mask``, ``instances``
    Optional (H, W) per-pixel labels (segmentation): geometric transforms move them like the image
    (resampling takes the nearest pixel, padding adds background 0); intensity transforms do not.

Other keys (``image_id``, ``index``, ...) pass through untouched.

Geometric transforms (:class:`RandomCrop`, :class:`CenterCrop`,
:class:`RandomFlip`, :class:`RandomRot90`, :class:`Rescale`,
:class:`RandomRescale`) map each label exactly the way they map the pixel
under it. Intensity transforms (:class:`GaussianNoise`, :class:`PoissonNoise`,
:class:`RandomGamma`, :class:`RandomBackground`) leave the labels alone.

Randomness comes from the ``rng`` argument of ``transform(sample, rng=...)``: a
``numpy.random.Generator``, a ``torch.Generator``, an int seed, or None (fresh
entropy). ``AtomColumnDataset`` passes a generator derived from its ``seed``,
the epoch and the item index, so augmentations are reproducible and identical
whatever the number of DataLoader workers.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Optional, Union

import numpy as np

__all__ = [
    "Transform",
    "Compose",
    "RandomCrop",
    "CenterCrop",
    "RandomFlip",
    "RandomRot90",
    "Rescale",
    "RandomRescale",
    "GaussianNoise",
    "PoissonNoise",
    "RandomGamma",
    "RandomBackground",
    "as_generator",
    "apply_transform",
    "PIXEL_KEYS",
]

#: Keys of per-column arrays that geometric transforms keep aligned with ``xy``.
_COLUMN_KEYS = ("xy", "species", "target_mask")
#: Keys of per-pixel label arrays (H, W) that geometric transforms move with the image.
PIXEL_KEYS = ("mask", "instances")


def _pixels(sample: dict, out: dict, fn) -> dict:
    """Apply ``fn`` (an array -> array map) to every per-pixel label array of ``sample`` into ``out``."""
    out.update({k: np.ascontiguousarray(fn(np.asarray(sample[k]))) for k in PIXEL_KEYS if sample.get(k) is not None})
    return out


def as_generator(rng=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, a ``torch.Generator``, an int seed or None.

    A ``torch.Generator`` is consumed once (one 63-bit draw) to seed the numpy generator.

    Examples
    --------
    >>> float(as_generator(3).random()) == float(as_generator(3).random())
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if type(rng).__module__.startswith("torch"):
        import torch

        seed = int(torch.randint(0, 2**63 - 1, (1,), generator=rng).item())
        return np.random.default_rng(seed)
    raise TypeError(f"rng must be a numpy Generator, torch.Generator, int or None, got {type(rng).__name__}")


def apply_transform(transform: Optional[Callable], sample: dict, rng=None) -> dict:
    """Call ``transform`` on ``sample``; atomdata transforms also get ``rng``, plain callables do not."""
    if transform is None:
        return sample
    if isinstance(transform, Transform):
        return transform(sample, rng=rng)
    return transform(sample)


def _check_sample(sample: dict, name: str) -> np.ndarray:
    img = sample.get("image")
    if not isinstance(img, np.ndarray) or img.ndim != 2:
        got = type(img).__name__ if not isinstance(img, np.ndarray) else f"shape {img.shape}"
        raise TypeError(
            f"{name} expects sample['image'] as a 2-D (H, W) numpy array (transforms run before the "
            f"conversion to tensors), got {got}"
        )
    return img


def _with(sample: dict, **changes) -> dict:
    out = dict(sample)
    out.update(changes)
    return out


def _select(sample: dict, keep: np.ndarray) -> dict:
    """Keep the columns selected by ``keep`` in every per-column array."""
    out = dict(sample)
    for k in _COLUMN_KEYS:
        if k in out and out[k] is not None:
            out[k] = np.asarray(out[k])[keep]
    return out


def _inside(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    return (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)


def _range(value, name: str, *, low: float = -math.inf) -> tuple[float, float]:
    lo, hi = (value, value) if np.isscalar(value) else tuple(value)
    lo, hi = float(lo), float(hi)
    if not (low <= lo <= hi):
        raise ValueError(f"{name} must be a number or a (min, max) pair with {low} <= min <= max, got {value!r}")
    return lo, hi


class Transform:
    """Base class: ``transform(sample, rng=None) -> sample`` (see the module docstring)."""

    def __call__(self, sample: dict, rng=None) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order, sharing one generator.

    Examples
    --------
    >>> import numpy as np
    >>> s = {"image": np.zeros((8, 8), np.float32), "xy": np.array([[1.0, 2.0]]), "pixel_size_A": 0.1}
    >>> Compose([RandomFlip(p_x=1.0, p_y=0.0), RandomCrop(4, pad_if_needed=False)])(s, rng=0)["image"].shape
    (4, 4)
    """

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, sample: dict, rng=None) -> dict:
        rng = as_generator(rng)
        for t in self.transforms:
            sample = apply_transform(t, sample, rng)
        return sample

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(t) for t in self.transforms)
        return f"Compose([\n    {inner}\n])"


def _crop(sample: dict, top: int, left: int, h: int, w: int) -> dict:
    img = sample["image"]
    out = _pixels(sample, _with(sample, image=np.ascontiguousarray(img[top:top + h, left:left + w])),
                  lambda a: a[top:top + h, left:left + w])
    if "xy" in sample:
        xy = np.asarray(sample["xy"], dtype=np.float64) - np.array([left, top], dtype=np.float64)
        out["xy"] = xy
        out = _select(out, _inside(xy, h, w))
    return out


def _pad_to(sample: dict, h: int, w: int) -> dict:
    img = sample["image"]
    ph, pw = max(0, h - img.shape[0]), max(0, w - img.shape[1])
    if not (ph or pw):
        return sample
    # pad at the bottom/right only, so labels keep their coordinates; label arrays pad with background 0
    out = _with(sample, image=np.pad(img, ((0, ph), (0, pw)), mode="edge"))
    return _pixels(sample, out, lambda a: np.pad(a, ((0, ph), (0, pw))))


def _size(size) -> tuple[int, int]:
    h, w = (size, size) if np.isscalar(size) else tuple(size)
    if int(h) < 1 or int(w) < 1:
        raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
    return int(h), int(w)


class RandomCrop(Transform):
    """Crop a random (H, W) window; labels shift with it and columns outside it are dropped.

    Parameters
    ----------
    size : int or (int, int)
        Output (H, W) [px].
    pad_if_needed : bool
        Pad images smaller than ``size`` at the bottom/right by repeating the
        edge pixels (labels keep their positions); if False, raise instead.

    Notes
    -----
    A column at (x, y) moves to (x - left, y - top); it is kept when
    ``-0.5 <= x' < W - 0.5`` and ``-0.5 <= y' < H - 0.5``.
    """

    def __init__(self, size, *, pad_if_needed: bool = True):
        self.size = _size(size)
        self.pad_if_needed = pad_if_needed

    def _padded(self, sample: dict) -> dict:
        """The sample, padded to at least the crop size (or an error when padding is off)."""
        img = _check_sample(sample, type(self).__name__)
        h, w = self.size
        if img.shape[0] < h or img.shape[1] < w:
            if not self.pad_if_needed:
                raise ValueError(
                    f"{type(self).__name__}: image of shape {img.shape} is smaller than the crop {self.size}; "
                    "use a smaller crop or pad_if_needed=True"
                )
            sample = _pad_to(sample, h, w)
        return sample

    def __call__(self, sample: dict, rng=None) -> dict:
        sample = self._padded(sample)
        img = sample["image"]
        h, w = self.size
        rng = as_generator(rng)
        top = int(rng.integers(0, img.shape[0] - h + 1))
        left = int(rng.integers(0, img.shape[1] - w + 1))
        return _crop(sample, top, left, h, w)


class CenterCrop(RandomCrop):
    """Crop the central (H, W) window (deterministic); labels shift with it. See :class:`RandomCrop`."""

    def __call__(self, sample: dict, rng=None) -> dict:
        sample = self._padded(sample)
        img = sample["image"]
        h, w = self.size
        return _crop(sample, (img.shape[0] - h) // 2, (img.shape[1] - w) // 2, h, w)


class RandomFlip(Transform):
    """Mirror left-right with probability ``p_x`` and top-bottom with probability ``p_y``.

    A left-right flip maps x to W - 1 - x, a top-bottom flip maps y to H - 1 - y.
    """

    def __init__(self, *, p_x: float = 0.5, p_y: float = 0.5):
        for name, p in (("p_x", p_x), ("p_y", p_y)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        self.p_x = p_x
        self.p_y = p_y

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        rng = as_generator(rng)
        fx, fy = rng.random() < self.p_x, rng.random() < self.p_y
        h, w = img.shape
        xy = np.array(sample.get("xy", np.zeros((0, 2))), dtype=np.float64).reshape(-1, 2)
        if fx:
            img = img[:, ::-1]
            xy[:, 0] = (w - 1) - xy[:, 0]
        if fy:
            img = img[::-1, :]
            xy[:, 1] = (h - 1) - xy[:, 1]
        out = _with(sample, image=np.ascontiguousarray(img))
        _pixels(sample, out, lambda a: a[::-1 if fy else 1, ::-1 if fx else 1])
        if "xy" in sample:
            out["xy"] = xy
        return out


class RandomRot90(Transform):
    """Rotate by k * 90 degrees, k drawn from ``ks`` (default 0, 1, 2, 3).

    One quarter turn (``np.rot90``, counter-clockwise as displayed with the
    origin at the top left) maps the pixel at (x, y) of an (H, W) image to
    (y, W - 1 - x) of the (W, H) result.
    """

    def __init__(self, ks: Sequence[int] = (0, 1, 2, 3)):
        ks = [int(k) % 4 for k in ks]
        if not ks:
            raise ValueError("ks must name at least one number of quarter turns, got an empty sequence")
        self.ks = tuple(ks)

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        rng = as_generator(rng)
        k = self.ks[int(rng.integers(0, len(self.ks)))]
        xy = np.array(sample.get("xy", np.zeros((0, 2))), dtype=np.float64).reshape(-1, 2)
        for _ in range(k):
            w = img.shape[1]
            img = np.rot90(img)
            xy = np.column_stack([xy[:, 1], (w - 1) - xy[:, 0]])
        out = _with(sample, image=np.ascontiguousarray(img))
        _pixels(sample, out, lambda a: np.rot90(a, k))
        if "xy" in sample:
            out["xy"] = xy
        return out


def _resample(sample: dict, out_shape: tuple[int, int], order: int) -> dict:
    from skimage.transform import resize

    img = sample["image"]
    h, w = img.shape
    oh, ow = out_shape
    sx, sy = ow / w, oh / h
    new = resize(img.astype(np.float32, copy=False), (oh, ow), order=order, mode="edge",
                 anti_aliasing=(sx < 1 or sy < 1), preserve_range=True).astype(np.float32)
    out = _with(sample, image=new)
    rows, cols = (np.clip(((np.arange(n) + 0.5) / s).astype(int), 0, m - 1) for n, s, m in ((oh, sy, h), (ow, sx, w)))
    _pixels(sample, out, lambda a: a[np.ix_(rows, cols)])  # labels: nearest source pixel of each output centre
    if "xy" in sample:
        xy = np.asarray(sample["xy"], dtype=np.float64).reshape(-1, 2)
        # pixel edges stay on pixel edges: the edge at -0.5 maps to -0.5, the one at W - 0.5 to W' - 0.5
        xy = np.column_stack([(xy[:, 0] + 0.5) * sx - 0.5, (xy[:, 1] + 0.5) * sy - 0.5])
        out["xy"] = xy
        out = _select(out, _inside(xy, oh, ow))
    if sample.get("pixel_size_A") is not None:
        out["pixel_size_A"] = float(sample["pixel_size_A"]) / sx
    return out


class Rescale(Transform):
    """Resample the image by a fixed ``scale`` or to a target pixel size; labels and pixel size follow.

    Parameters
    ----------
    scale : float, optional
        Output size = round(input size * scale) on both axes (scale > 1 enlarges).
    pixel_size_A : float, optional
        Target pixel size [Å/px] instead of ``scale`` (scale = current / target).
    order : int
        Spline order of the interpolation (1 = bilinear, 3 = cubic). Down-scaling
        low-pass filters first (``skimage.transform.resize(anti_aliasing=True)``).

    Notes
    -----
    With output size W' the x scale is ``s = W' / W`` exactly (the rounding of the
    size is absorbed), a label moves from x to ``(x + 0.5) * s - 0.5`` (and y
    likewise), and ``pixel_size_A`` becomes ``pixel_size_A / s``.
    """

    def __init__(self, scale: Optional[float] = None, *, pixel_size_A: Optional[float] = None, order: int = 1):
        if (scale is None) == (pixel_size_A is None):
            raise ValueError(f"give exactly one of scale or pixel_size_A, got scale={scale}, pixel_size_A={pixel_size_A}")
        for name, v in (("scale", scale), ("pixel_size_A", pixel_size_A)):
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be > 0, got {v}")
        self.scale = scale
        self.pixel_size_A = pixel_size_A
        self.order = int(order)

    def _scale(self, sample: dict, rng) -> float:
        if self.scale is not None:
            return float(self.scale)
        p = sample.get("pixel_size_A")
        if p is None:
            raise ValueError("Rescale(pixel_size_A=...) needs sample['pixel_size_A'] [Å/px]")
        return float(p) / self.pixel_size_A

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        s = self._scale(sample, rng)
        out_shape = (max(1, int(round(img.shape[0] * s))), max(1, int(round(img.shape[1] * s))))
        return _resample(sample, out_shape, self.order)


class RandomRescale(Rescale):
    """Resample by a scale drawn log-uniformly from ``scale_range``; labels and pixel size follow.

    See :class:`Rescale` for how labels move.
    """

    def __init__(self, scale_range: tuple[float, float] = (0.8, 1.25), *, order: int = 1):
        lo, hi = _range(scale_range, "scale_range", low=1e-6)
        self.scale_range = (lo, hi)
        self.order = int(order)
        self.scale = None
        self.pixel_size_A = None

    def _scale(self, sample: dict, rng) -> float:
        lo, hi = self.scale_range
        return float(math.exp(as_generator(rng).uniform(math.log(lo), math.log(hi))))

    def __repr__(self) -> str:
        return f"RandomRescale(scale_range={self.scale_range}, order={self.order})"


def _span(img: np.ndarray) -> tuple[float, float]:
    lo, hi = float(img.min()), float(img.max())
    return lo, (hi - lo) if hi > lo else 1.0


class GaussianNoise(Transform):
    """Add white Gaussian noise with std = ``std`` x the image's intensity range (max - min).

    ``std`` is a number or a (min, max) range drawn uniformly per sample. Labels are unchanged.
    """

    def __init__(self, std: Union[float, tuple[float, float]] = (0.0, 0.1)):
        self.std = _range(std, "std", low=0.0)

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        rng = as_generator(rng)
        s = rng.uniform(*self.std) * _span(img)[1]
        noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(s)
        return _with(sample, image=img.astype(np.float32) + noise)


class PoissonNoise(Transform):
    """Replace the image by Poisson counts with the given mean counts at the brightest pixel.

    The image is scaled so its range maps to [0, ``peak_counts``], sampled, and
    scaled back. ``peak_counts`` is a number or a (min, max) range drawn
    log-uniformly. Labels are unchanged.
    """

    def __init__(self, peak_counts: Union[float, tuple[float, float]] = (20.0, 1000.0)):
        self.peak_counts = _range(peak_counts, "peak_counts", low=1e-9)

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        rng = as_generator(rng)
        lo, hi = self.peak_counts
        peak = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        base, span = _span(img)
        lam = (img.astype(np.float64) - base) / span * peak
        noisy = rng.poisson(lam).astype(np.float32)
        return _with(sample, image=noisy * np.float32(span / peak) + np.float32(base))


class RandomGamma(Transform):
    """Apply ``((I - min) / (max - min)) ** gamma`` and map back to the original range.

    ``gamma`` is a number or a (min, max) range drawn log-uniformly. The map is
    monotonic, so maxima stay where they were; labels are unchanged.
    """

    def __init__(self, gamma: Union[float, tuple[float, float]] = (0.7, 1.5)):
        self.gamma = _range(gamma, "gamma", low=1e-6)

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        rng = as_generator(rng)
        g = math.exp(rng.uniform(math.log(self.gamma[0]), math.log(self.gamma[1])))
        base, span = _span(img)
        u = np.clip((img.astype(np.float32) - base) / np.float32(span), 0.0, 1.0)
        return _with(sample, image=(u ** np.float32(g)) * np.float32(span) + np.float32(base))


class RandomBackground(Transform):
    """Add a smooth background: an offset plus a linear ramp in a random direction.

    ``level`` (a number or (min, max) range) is the background's maximum as a
    fraction of the image's intensity range; ``ramp`` is the fraction of it that
    varies linearly across the image. Labels are unchanged.
    """

    def __init__(self, level: Union[float, tuple[float, float]] = (0.0, 0.3), *, ramp: float = 0.5):
        self.level = _range(level, "level", low=0.0)
        if not 0.0 <= ramp <= 1.0:
            raise ValueError(f"ramp must be within [0, 1], got {ramp}")
        self.ramp = ramp

    def __call__(self, sample: dict, rng=None) -> dict:
        img = _check_sample(sample, type(self).__name__)
        rng = as_generator(rng)
        level = rng.uniform(*self.level) * _span(img)[1]
        angle = rng.uniform(0.0, 2 * math.pi)
        h, w = img.shape
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (x / max(w - 1, 1) - 0.5) * math.cos(angle) + (y / max(h - 1, 1) - 0.5) * math.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-12)  # 0..1 along the ramp
        bg = level * ((1.0 - self.ramp) + self.ramp * t)
        return _with(sample, image=img.astype(np.float32) + bg.astype(np.float32))
