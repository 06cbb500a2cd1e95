"""Image formation of benchmark 1.1.0: a counted frame, then Wei et al.'s degradations, stored 8-bit + raw.

One image of 1.1.0 is made in this order (sources in ``docs/benchmark-1.1.md``):

1. **Frame.** :func:`atomdata.sim.stem.image.simulate_image` renders the projected columns with a
   Gaussian probe of FWHM ``probe_fwhm_pm`` (Wei et al.'s intrinsic ``r0 = 80 pm``) or an
   aberration-limited probe, with the scan distortions (``flyback_error_px``: RMS line jitter
   [px]; ``random_drift``: largest drift excursion as a fraction of the frame; labels follow the
   drift, not the zero-mean jitter), point-sampled at the pixel centres and scaled so the
   brightest column's signal is 1.
2. **Background signal.** A uniform ``background`` (relative to that signal) is added *before*
   the shot noise, as thickness or contamination scattering would be; with ``contrast`` set, the
   background is the one that gives the noise-free frame that ``(max - min) / max``.
3. **Shot noise.** Counts ``Poisson(peak_counts * frame)`` (:func:`~atomdata.sim.stem.degrade.shot_noise`),
   like the small-integer frames of Wei et al.'s simulator.
4. **Added blur** (resolution sweep): a Gaussian of FWHM ``added_blur_pm`` on the noisy frame
   (:func:`~atomdata.sim.stem.degrade.blur`); resolution = ``sqrt(probe_fwhm_pm**2 + added_blur_pm**2)``.
5. **Added Poisson noise** (PSNR sweep): ``Poisson(s I) / s`` at the requested Wei PSNR
   (:func:`~atomdata.sim.stem.degrade.added_poisson_noise`).
6. **Stored**: the float frame as ``raw`` (float32) and its 8-bit min-max image as the image.

The visibility rule (:mod:`atomdata.sim.stem.visibility`) runs on the noise-free frame of steps
1, 2 and 4 without the line jitter; unresolved target columns become non-target columns.

Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of the
top-left pixel; images are ``image[y, x]``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from atomdata.schema import ColumnSet, ImageRecord, Lattice, MetricValue, Provenance, QualityMetrics
from atomdata.sim.stem.degrade import added_poisson_noise, blur, shot_noise, to_uint8, wei_psnr_db
from atomdata.sim.stem.image import SIMULATOR_NAME, ImageParams, measure_contrast, simulate_image
from atomdata.sim.stem.visibility import VISIBILITY_RULE, resolved_columns

__all__ = ["FRAMES_VERSION", "FrameParams", "FormedImage", "form_image", "background_for_contrast"]

#: Version of this image formation (recorded in every 1.1.0 record).
FRAMES_VERSION = "1.1"


@dataclass(frozen=True)
class FrameParams:
    """Everything that defines one 1.1.0 image (a pure function of these, including ``seed``).

    Units: ``pixel_size_A`` [Å/px]; ``probe_fwhm_pm``, ``added_blur_pm`` [pm];
    ``background`` [fraction of the brightest column's signal]; ``peak_counts`` [expected counts
    per pixel at intensity 1]; ``flyback_error_px`` [px, RMS]; ``random_drift`` [fraction of
    max(H, W)]; ``psnr_db`` [dB, Wei's max-based PSNR of the added Poisson noise; None: none];
    ``contrast`` [(max - min)/max of the noise-free frame; None: keep ``background``].
    ``probe="aberration"`` uses ``semiangle_mrad``, ``defocus_A``, ``cs_mm`` instead of
    ``probe_fwhm_pm``. ``noise_seed`` seeds steps 3 and 5 (default: ``seed``), so that the points of
    a sweep can share one frame (same ``seed``) and differ in the swept step only.
    """

    structure: str
    pixel_size_A: float
    shape: tuple = (256, 256)
    rotation_deg: float = 0.0
    exponent: float = 1.7
    probe: str = "gaussian"
    probe_fwhm_pm: float = 80.0
    semiangle_mrad: float = 25.0
    defocus_A: float = 0.0
    cs_mm: float = 0.0
    added_blur_pm: float = 0.0
    background: float = 0.0
    contrast: Optional[float] = None
    peak_counts: float = 100.0
    flyback_error_px: float = 0.0
    random_drift: float = 0.0
    psnr_db: Optional[float] = None
    seed: int = 0
    noise_seed: Optional[int] = None

    def to_dict(self) -> dict:
        """JSON-serialisable parameters."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    def image_params(self, *, flyback_error_px: Optional[float] = None) -> ImageParams:
        """The :class:`ImageParams` of step 1 (noise-free, no background, float)."""
        optics = (dict(probe="gaussian", resolution_pm=self.probe_fwhm_pm) if self.probe == "gaussian" else
                  dict(probe="aberration", resolution_pm=None, semiangle_mrad=self.semiangle_mrad,
                       defocus_A=self.defocus_A, cs_mm=self.cs_mm))
        return ImageParams(structure=self.structure, shape=tuple(self.shape), pixel_size_A=self.pixel_size_A,
                           rotation_deg=self.rotation_deg, exponent=self.exponent, source_size_pm=0.0,
                           background=0.0, background_variation=0.0, contrast=None, dose_e_per_A2=None,
                           psnr_db=None, dtype="float32", seed=self.seed,
                           flyback_error_px=self.flyback_error_px if flyback_error_px is None else flyback_error_px,
                           random_drift=self.random_drift, **optics)


@dataclass(frozen=True, eq=False)
class FormedImage:
    """One formed image: the 8-bit ``image``, the float ``raw`` frame, labels, metrics and record fields."""

    image: np.ndarray
    raw: np.ndarray
    columns: ColumnSet
    quality: QualityMetrics
    lattice: Lattice
    params: FrameParams
    extra: dict = field(default_factory=dict)

    def to_record(self, *, image_id: str, split: str, subset: str, made_by: str,
                  extra: Optional[dict] = None) -> ImageRecord:
        """Wrap as an :class:`~atomdata.schema.ImageRecord` (``made_by``: the release that defined the bytes)."""
        return ImageRecord(
            image_id=image_id, split=split, subset=subset, shape=tuple(self.image.shape), dtype=self.image.dtype.name,
            lattice=self.lattice, quality=self.quality,
            provenance=Provenance(kind="simulated", simulator=SIMULATOR_NAME,
                                  simulator_version=f"frames {FRAMES_VERSION} ({made_by})",
                                  seed=int(self.params.seed), parameters=self.params.to_dict()),
            columns=self.columns, extra={**self.extra, **(extra or {})})


def background_for_contrast(signal: np.ndarray, contrast: float) -> float:
    """Uniform background that gives ``signal + background`` the contrast ``(max - min) / max``.

    Raises ``ValueError`` when ``contrast`` is above the signal's own contrast (a background can
    only lower it).

    Examples
    --------
    >>> background_for_contrast(np.array([0.0, 1.0]), 0.25)   # (1 - 0) / (1 + 3) = 0.25
    3.0
    """
    s = np.asarray(signal, dtype=np.float64)
    lo, hi = float(s.min()), float(s.max())
    if not 0 < contrast <= 1:
        raise ValueError(f"contrast must be in (0, 1], got {contrast}")
    b = (hi - lo) / contrast - hi
    if b < -1e-12 * max(hi, 1.0):
        raise ValueError(f"contrast {contrast} is above the frame's own contrast {(hi - lo) / hi:.4f}; "
                         "choose a lower contrast (a background can only lower it)")
    return max(b, 0.0)


def _sig(v):  # 9 significant digits: stored metrics do not depend on floating-point summation order
    return None if v is None else float(f"{v:.9g}")


def form_image(p: FrameParams) -> FormedImage:
    """Form one 1.1.0 image (see the module notes): a pure function of ``p``.

    Examples
    --------
    >>> im = form_image(FrameParams("sto100", 0.227, shape=(64, 64), background=1.1, peak_counts=34.0, seed=3))
    >>> im.image.dtype.name, im.raw.dtype.name, int(im.image.max())
    ('uint8', 'float32', 255)
    >>> im.extra["visibility"]["resolved_fraction"]
    1.0
    """
    if not (p.peak_counts > 0 and math.isfinite(p.peak_counts)):
        raise ValueError(f"peak_counts must be a finite number > 0, got {p.peak_counts!r}")
    if p.background < 0:
        raise ValueError(f"background must be >= 0, got {p.background}")
    base = simulate_image(p.image_params())
    signal = np.asarray(base.clean, dtype=np.float64)
    steady = signal if p.flyback_error_px == 0 else np.asarray(
        simulate_image(p.image_params(flyback_error_px=0.0)).clean, dtype=np.float64)
    b = p.background if p.contrast is None else background_for_contrast(signal, p.contrast)
    rng = np.random.default_rng(np.random.SeedSequence([p.seed if p.noise_seed is None else p.noise_seed, 0x11]))
    frame = shot_noise(signal + b, peak_counts=p.peak_counts, rng=rng)
    noise_free = steady + b
    if p.added_blur_pm > 0:
        frame = blur(frame, added_fwhm_pm=p.added_blur_pm, pixel_size_A=p.pixel_size_A)
        noise_free = blur(noise_free, added_fwhm_pm=p.added_blur_pm, pixel_size_A=p.pixel_size_A)
    psnr = None
    if p.psnr_db is not None:
        before = frame
        frame, _ = added_poisson_noise(frame, psnr_db=p.psnr_db, rng=rng)
        psnr = wei_psnr_db(frame, before)
    raw = frame.astype(np.float32)
    image = to_uint8(raw)

    cols = base.columns
    resolved = resolved_columns(noise_free, cols.xy, target=cols.target)
    n_t, n_r = int(cols.target.sum()), int(resolved.sum())
    columns = ColumnSet(cols.xy, cols.species, resolved)
    unresolved = np.flatnonzero(cols.target & ~resolved)
    resolution = math.hypot(p.probe_fwhm_pm, p.added_blur_pm) if p.probe == "gaussian" else None
    measured_res = base.quality.resolution_pm.measured
    if measured_res is not None and p.added_blur_pm > 0:
        measured_res = math.hypot(measured_res, p.added_blur_pm)
    nominal_contrast = p.contrast if p.contrast is not None else measure_contrast(signal + b)
    quality = base.quality.model_copy(update={
        "contrast": MetricValue(nominal=_sig(nominal_contrast), measured=_sig(measure_contrast(raw))),
        "psnr_db": MetricValue(nominal=p.psnr_db, measured=_sig(psnr) if psnr is not None and math.isfinite(psnr) else None),
        "resolution_pm": MetricValue(nominal=resolution, measured=_sig(measured_res)),
        "dose_e_per_A2": MetricValue(),
        "background": MetricValue(nominal=_sig(b), measured=_sig(b)),
    })
    extra = {
        "frame": {"peak_counts": p.peak_counts, "raw_max_counts": _sig(float(raw.max())),
                  "raw_min_counts": _sig(float(raw.min())), "background": _sig(b)},
        "visibility": {"rule": VISIBILITY_RULE, "n_target_species": n_t, "n_resolved": n_r,
                       "resolved_fraction": _sig(n_r / n_t) if n_t else None,
                       "unresolved": unresolved.tolist()},
    }
    return FormedImage(image=image, raw=raw, columns=columns, quality=quality, lattice=base.lattice, params=p,
                       extra=extra)

