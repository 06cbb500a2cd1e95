"""Fast incoherent HAADF-STEM image formation with exact column labels.

Coordinates: positions are ``(x, y)`` in pixels, x = column index, y = row
index, origin at the centre of the top-left pixel; images are ``image[y, x]``.

Image model (in this order; every step is recorded in the record's quality metrics)
-----------------------------------------------------------------------------------
1. **Columns**: :meth:`atomdata.sim.stem.structures.ProjectedStructure.tile` lays the
   projected columns over the field of view (rotation, random translation,
   random point defects). Column weight ``w = sum(Z**n)``, ``n = exponent``.
2. **Probe and source size**: the image is ``sum_j w_j PSF(r - r_j)``,
   *point-sampled* at the pixel centres (the intensity at the centre of the
   pixel, not integrated over it). The PSF is the probe intensity convolved with
   a Gaussian source of FWHM ``source_size_pm``. For a Gaussian probe the two
   add in quadrature and the image is rendered directly from analytic Gaussians
   (separable: ``Gy.T @ diag(w) @ Gx``); ``resolution_pm`` is that effective
   FWHM. For the aberration-limited probe the structure factor is built
   separably from complex exponentials (exact band-limited placement) and
   multiplied by the optical transfer function; the grid is refined when the
   pixel is too coarse for the probe's band limit. Column positions are exact
   to floating-point precision, never rounded to pixels.
3. **Background**: ``background * (1 + background_variation * f(x, y))`` with
   ``f`` a smooth random field (wavelengths >= half the image) scaled to
   ``max |f| = 1``; ``background`` is relative to the peak column signal (the
   noise-free column image is scaled to maximum 1 first).
4. **Scan distortions** (per scan line; the fast scan is instantaneous): row
   ``y`` samples the specimen at ``(x + Dx(t) + e_y, y + Dy(t))`` with
   ``t = y / H`` (:mod:`atomdata.sim.stem.scan`). ``e_y`` is the *flyback error*: independent Gaussian jitter
   of each line along x with RMS ``flyback_error_px`` [px]. ``D(t)`` is the
   *random drift*: a smooth random path starting at 0 (a random direction
   plus three random sine harmonics) scaled so that its largest excursion over
   the frame is ``random_drift * max(H, W)`` px. Labels follow the drift (a
   column's label is where its image appears) but not the zero-mean line
   jitter.
5. **Shot noise**: with ``dose_e_per_A2`` set, the brightest noise-free pixel
   receives ``dose * pixel_size_A**2`` electrons on average and every pixel is
   Poisson-distributed in proportion to its intensity.
6. **Readout noise**: Gaussian, with the standard deviation that brings the
   final PSNR to ``psnr_db`` (given the shot noise already present).
7. **Contrast**: a detector black level (offset) is added so that the final
   image's ``(max - min) / max`` equals ``contrast`` (it adds no shot noise).
8. **Quantisation** to ``dtype`` (uint16: the maximum is scaled to 60000 counts).

Measured metrics on the final image: contrast ``(max - min) / max``; PSNR
``20 log10(range(clean) / RMS(final - clean))`` dB where ``clean`` is the
noise-free image at the same scale and offset (the range makes PSNR
independent of the black level); atoms per 100 px from the median
nearest-neighbour distance of the target labels; flyback error and drift
from the realised scan path.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from atomdata._version import __version__
from atomdata.schema import ColumnSet, ImageRecord, Lattice, MetricValue, Provenance, QualityMetrics
from atomdata.sim.stem.catalog import get_structure
from atomdata.sim.stem.probe import AberrationProbe, GaussianProbe, fwhm_to_sigma
from atomdata.sim.stem.render import render_columns
from atomdata.sim.stem.scan import ScanPath, scan_path
from atomdata.sim.stem.structures import DEFAULT_EXPONENT

__all__ = [
    "SIMULATOR_NAME",
    "SIMULATOR_VERSION",
    "ImageParams",
    "SimulatedImage",
    "ScanPath",
    "scan_path",
    "simulate_image",
    "measure_contrast",
    "measure_psnr_db",
]

SIMULATOR_NAME = "atomdata.simulate"
#: Bumped whenever the same parameters would give different pixels.
SIMULATOR_VERSION = "1.0"

_UINT16_PEAK = 60000.0


# -- metrics -------------------------------------------------------------------------------
def measure_contrast(image) -> float:
    """Contrast ``(max - min) / max`` of an image (0 for an all-zero image).

    Examples
    --------
    >>> measure_contrast(np.array([[50, 100]]))
    0.5
    """
    a = np.asarray(image, dtype=np.float64)
    mx = float(a.max())
    return 0.0 if mx <= 0 else float((mx - a.min()) / mx)


def measure_psnr_db(image, clean) -> Optional[float]:
    """PSNR [dB] of ``image`` against the noise-free ``clean``: ``20 log10(range(clean) / RMSE)``.

    Returns None when the images are identical.

    Examples
    --------
    >>> round(measure_psnr_db(np.array([0.0, 10.0]), np.array([1.0, 11.0])), 3)  # range 10, RMSE 1
    20.0
    """
    a, c = np.asarray(image, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    mse = float(np.mean((a - c) ** 2))
    rng_ = float(c.max() - c.min())
    if mse == 0 or rng_ == 0:
        return None
    return 10.0 * math.log10(rng_**2 / mse)


# -- the full image ------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageParams:
    """Everything that defines one simulated image (with ``seed``, a pure function of these).

    Units: ``pixel_size_A`` [Å/px], ``resolution_pm`` and ``source_size_pm`` [pm]
    (``resolution_pm`` is the effective FWHM of a Gaussian probe including the
    source), ``dose_e_per_A2`` [e-/Å²] (None: no shot noise), ``psnr_db`` [dB]
    (None: no readout noise), ``flyback_error_px`` [px], ``random_drift``
    [fraction of max(H, W)], ``background`` [fraction of the peak column
    signal], ``contrast`` [(max - min)/max] (None: keep the natural contrast),
    ``rotation_deg`` [deg]. ``probe`` is ``"gaussian"`` or ``"aberration"``
    (then ``semiangle_mrad``, ``defocus_A``, ``cs_mm``, ``energy_keV`` apply and
    the resolution is measured, not set).
    """

    structure: str
    shape: tuple = (256, 256)
    pixel_size_A: float = 0.15
    rotation_deg: float = 0.0
    exponent: float = DEFAULT_EXPONENT
    probe: str = "gaussian"
    resolution_pm: Optional[float] = 90.0
    source_size_pm: float = 40.0
    semiangle_mrad: float = 25.0
    defocus_A: float = 0.0
    cs_mm: float = 0.0
    energy_keV: float = 200.0
    background: float = 0.05
    background_variation: float = 0.5
    contrast: Optional[float] = 0.8
    flyback_error_px: float = 0.0
    random_drift: float = 0.0
    dose_e_per_A2: Optional[float] = None
    psnr_db: Optional[float] = None
    dtype: str = "uint16"
    seed: int = 0

    def to_dict(self) -> dict:
        """JSON-serialisable parameters."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    def make_probe(self):
        """The probe object these parameters describe."""
        if self.probe == "gaussian":
            if self.resolution_pm is None or self.resolution_pm <= self.source_size_pm:
                raise ValueError(
                    f"resolution_pm must exceed source_size_pm={self.source_size_pm} for a Gaussian probe, "
                    f"got {self.resolution_pm}")
            return GaussianProbe(math.sqrt(self.resolution_pm**2 - self.source_size_pm**2))
        if self.probe == "aberration":
            return AberrationProbe(self.semiangle_mrad, self.defocus_A, self.cs_mm, self.energy_keV)
        raise ValueError(f"probe must be 'gaussian' or 'aberration', got {self.probe!r}")


@dataclass(frozen=True, eq=False)
class SimulatedImage:
    """A simulated image with its labels and metrics.

    ``image`` (H, W) of ``params.dtype``; ``clean`` the noise-free image at the
    same scale (float64); ``columns`` the labels inside the image (positions (x, y)
    [px]); ``quality`` and ``lattice`` ready for an :class:`ImageRecord`.
    """

    image: np.ndarray
    clean: np.ndarray
    columns: ColumnSet
    quality: QualityMetrics
    lattice: Lattice
    params: ImageParams
    extra: dict = field(default_factory=dict)

    def to_record(self, *, image_id: str, split: str, subset: str, extra: Optional[dict] = None,
                  made_by: Optional[str] = None) -> ImageRecord:
        """Wrap as an :class:`~atomdata.schema.ImageRecord`.

        ``made_by`` names the release recorded in ``provenance.simulator_version``
        (default ``"atomdata <this version>"``; a benchmark recipe pins the release
        that defined its bytes, so that a later release rebuilds them identically).
        """
        made_by = f"atomdata {__version__}" if made_by is None else made_by
        return ImageRecord(
            image_id=image_id, split=split, subset=subset, shape=tuple(self.image.shape),
            dtype=self.image.dtype.name, lattice=self.lattice, quality=self.quality,
            provenance=Provenance(kind="simulated", simulator=SIMULATOR_NAME,
                                  simulator_version=f"{SIMULATOR_VERSION} ({made_by})",
                                  seed=int(self.params.seed), parameters=self.params.to_dict()),
            columns=self.columns, extra={**self.extra, **(extra or {})},
        )


def _background_field(shape, rng) -> np.ndarray:
    """Smooth random field (three plane waves of < 1 cycle per image), scaled to max |f| = 1."""
    h, w = shape
    y = np.arange(h) / max(h, 1)
    x = np.arange(w) / max(w, 1)
    f = np.zeros(shape)
    for _ in range(3):
        kx, ky = rng.uniform(-1.0, 1.0, 2)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(0.5, 1.0)
        ay, ax = 2 * np.pi * ky * y + phase, 2 * np.pi * kx * x  # cos(a + b), separably
        f += amp * (np.outer(np.cos(ay), np.cos(ax)) - np.outer(np.sin(ay), np.sin(ax)))
    return f / max(np.abs(f).max(), 1e-12)


def _median_nn_px(xy) -> Optional[float]:
    if len(xy) < 2:
        return None
    from scipy.spatial import cKDTree

    d, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(d[:, 1]))


def simulate_image(params: ImageParams) -> SimulatedImage:
    """Simulate one image: a pure function of ``params`` (including ``params.seed``).

    See the module notes for the image model and the measured metrics.

    Examples
    --------
    >>> sim = simulate_image(ImageParams("sto100", shape=(64, 64), psnr_db=20.0, contrast=0.5, seed=1))
    >>> sim.image.dtype.name, abs(sim.quality.contrast.measured - 0.5) < 0.01
    ('uint16', True)
    >>> sorted(set(sim.columns.species[sim.columns.target].tolist()))
    ['Sr', 'Ti-O']
    """
    p = params
    h, w = (int(p.shape[0]), int(p.shape[1]))
    if p.contrast is not None and not 0 < p.contrast <= 1:
        raise ValueError(f"contrast must be in (0, 1], got {p.contrast}")
    if p.dose_e_per_A2 is not None and p.dose_e_per_A2 <= 0:
        raise ValueError(f"dose_e_per_A2 must be > 0 or None, got {p.dose_e_per_A2}")
    if p.dtype not in ("uint16", "float32"):
        raise ValueError(f"dtype must be 'uint16' or 'float32', got {p.dtype!r}")
    rng = np.random.default_rng(p.seed)
    structure = get_structure(p.structure)
    probe = p.make_probe()
    # random draws in a fixed order, whatever the parameters
    offset_A = rng.uniform(0, 1, 2) * structure.cell_A
    path = scan_path((h, w), flyback_error_px=p.flyback_error_px, random_drift=p.random_drift, rng=rng)
    bg_field = _background_field((h, w), rng)
    defect_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(p.seed).spawn(2))

    if isinstance(probe, GaussianProbe):
        res_pm = probe.fwhm_pm_effective(p.source_size_pm)
    else:
        res_pm = probe.fwhm_pm(p.source_size_pm)
    reach = 6 * fwhm_to_sigma(res_pm) / 100.0 / p.pixel_size_A + (4 if p.probe == "aberration" else 0)
    margin = path.max_drift_px + 5 * p.flyback_error_px + reach + 2
    cols = structure.tile((h, w), p.pixel_size_A, rotation_deg=p.rotation_deg, offset_A=offset_A,
                          margin_px=margin, rng=defect_rng)
    weights = cols.weights(p.exponent)
    distorted = bool(path.drift_coeffs.any() or path.flyback_px.any())
    signal = render_columns(cols.xy, weights, shape=(h, w), pixel_size_A=p.pixel_size_A, probe=probe,
                            source_size_pm=p.source_size_pm,
                            row_y=path.row_y if distorted else None,
                            row_shift_x=path.row_shift_x if distorted else None)
    peak = float(signal.max())
    if peak <= 0:
        raise ValueError(f"the image of {p.structure!r} is empty; check pixel_size_A and shape")
    signal /= peak
    bg = p.background * (1.0 + p.background_variation * bg_field)
    clean = signal + bg

    # labels: apparent positions (drift only) of the columns inside the image
    label_xy = path.apparent(cols.xy)
    inside = ((label_xy[:, 0] >= -0.5) & (label_xy[:, 0] < w - 0.5)
              & (label_xy[:, 1] >= -0.5) & (label_xy[:, 1] < h - 0.5))
    columns = ColumnSet(label_xy[inside], cols.species[inside], cols.target[inside])

    noisy = clean.copy()
    if p.dose_e_per_A2 is not None:
        electrons_peak = p.dose_e_per_A2 * p.pixel_size_A**2
        scale = electrons_peak / float(clean.max())
        noisy = noise_rng.poisson(clean * scale) / scale
    readout_sigma = 0.0
    if p.psnr_db is not None:
        target_mse = (float(clean.max() - clean.min()) / 10 ** (p.psnr_db / 20.0)) ** 2
        have = float(np.mean((noisy - clean) ** 2))
        readout_sigma = math.sqrt(max(target_mse - have, 0.0))
        noisy = noisy + noise_rng.standard_normal((h, w)) * readout_sigma

    if p.contrast is not None:
        offset = (noisy.max() - noisy.min()) / p.contrast - noisy.max()
    else:
        offset = max(0.0, -float(noisy.min()))
    final = noisy + offset
    clean_final = clean + offset
    if p.dtype == "uint16":
        gain = _UINT16_PEAK / float(final.max())
        image = np.clip(np.rint(final * gain), 0, 65535).astype(np.uint16)
    else:
        gain = 1.0
        image = final.astype(np.float32)
    clean_final = clean_final * gain

    def sig(v):  # 9 significant digits: stored metrics do not depend on floating-point summation order
        return None if v is None else float(f"{v:.9g}")

    nn = _median_nn_px(columns.target_xy)
    spacing = structure.lattice.nearest_column_spacing_A
    quality = QualityMetrics(
        pixel_size_A=p.pixel_size_A,
        atoms_per_100px=MetricValue(nominal=100.0 * p.pixel_size_A / spacing,
                                    measured=None if nn is None else sig(100.0 / nn)),
        contrast=MetricValue(nominal=p.contrast, measured=sig(measure_contrast(image))),
        psnr_db=MetricValue(nominal=p.psnr_db, measured=sig(measure_psnr_db(image, clean_final))),
        resolution_pm=MetricValue(nominal=p.resolution_pm if p.probe == "gaussian" else None, measured=sig(res_pm)),
        dose_e_per_A2=MetricValue(nominal=p.dose_e_per_A2),
        flyback_error_px=MetricValue(nominal=p.flyback_error_px,
                                     measured=sig(float(np.sqrt(np.mean(path.flyback_px**2))))),
        random_drift=MetricValue(nominal=p.random_drift, measured=sig(path.max_drift_px / max(h, w))),
        background=MetricValue(nominal=p.background, measured=sig(float(bg.mean()))),
    )
    lattice = structure.lattice.model_copy(update={"in_plane_rotation_deg": float(p.rotation_deg)})
    extra = {"simulation": {"offset_A": [sig(v) for v in offset_A], "readout_sigma_counts": sig(readout_sigma * gain),
             "gain_counts": sig(gain), "black_level_counts": sig(float(offset * gain))}}
    return SimulatedImage(image=image, clean=clean_final, columns=columns, quality=quality,
                          lattice=lattice, params=p, extra=extra)
