"""HRTEM image formation: plane-wave multislice, objective lens, partial coherence, camera, dose.

The model, step by step (all steps are plain numpy/scipy FFT work on a periodic grid):

1. **Field and grid.** The output image is ``shape`` (H, W) pixels of ``pixel_size_A``; the
   simulation covers it plus ``margin_px`` output pixels on every side (so particles and
   delocalised contrast are not wrapped around by the periodic grid) on a grid ``oversampling``
   times finer. Output pixel ``(x, y)`` (x = column, y = row) is centred at ``(x, y) * pixel_size_A``
   [Å] in the field frame; the origin is the centre of the top-left output pixel.
2. **Multislice** (Cowley & Moodie 1957; Kirkland 2010, ch. 6). Atoms are cut into slices of
   ``slice_thickness_A`` along the beam; each slice's projected potential (Lobato-Van Dyck,
   :mod:`~atomdata.sim.hrtem.potentials`) gives the transmission ``exp(i sigma v_z)``; the wave
   is propagated to the next slice with the Fresnel propagator ``exp(-i pi lambda dz q^2)``;
   transmission and propagator are band-limited to 2/3 of the Nyquist frequency, so the product of
   wave and transmission never aliases into the kept band. Empty slices only propagate.
3. **Objective lens** with the quasi-coherent envelopes (:func:`~atomdata.sim.hrtem.optics.lens_transfer`):
   defocus, Cs, twofold astigmatism, aperture, focal spread, beam convergence. Intensity = ``|psi|^2``
   (vacuum = 1).
4. **Camera**: the intensity is averaged over each output pixel (``oversampling`` x ``oversampling``
   grid points), optionally blurred by linear drift of ``drift_px`` pixels during the exposure,
   then electrons are counted (Poisson, mean ``I * dose * pixel_area``) and the scintillator MTF
   (:func:`~atomdata.sim.hrtem.optics.detector_mtf`) blurs signal and noise alike; the margin is cut off.
   The stored image is that count divided by ``dose * pixel_area``: intensity relative to vacuum
   (``dose_e_per_A2=None``: the noise-free expectation).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from atomdata.sim.hrtem.optics import detector_mtf, interaction_constant, lens_transfer, wavelength_A
from atomdata.sim.hrtem.potentials import antialias_mask, projected_potential

__all__ = ["SIMULATOR_VERSION", "expi", "slice_edges", "Optics", "Camera", "Grid", "multislice", "image_from_wave",
           "camera_image", "field_to_grid_A", "simulate_hrtem"]

#: Version of the HRTEM image formation: bumped whenever the same parameters would give other pixels.
SIMULATOR_VERSION = "atomdata.sim.hrtem 1.0"


@dataclass(frozen=True)
class Optics:
    """Microscope settings (units in the names; defocus positive = underfocus)."""

    voltage_kV: float = 300.0
    defocus_nm: float = 0.0
    Cs_mm: float = 1.2
    astigmatism_nm: float = 0.0
    astigmatism_angle_deg: float = 0.0
    aperture_mrad: Optional[float] = None
    focal_spread_nm: float = 4.0
    convergence_mrad: float = 0.2

    def transfer(self, shape: tuple, sampling_A: float) -> np.ndarray:
        """The lens transfer on an FFT-ordered (H, W) grid of spacing ``sampling_A`` [Å]."""
        return lens_transfer(shape, sampling_A, **asdict(self))


@dataclass(frozen=True)
class Camera:
    """Detector and exposure: dose [e-/Å²] (None = noise-free), MTF shape, drift blur [px] and its direction [deg]."""

    dose_e_per_A2: Optional[float] = None
    mtf_c: float = 0.5
    mtf_b: float = 0.1
    drift_px: float = 0.0
    drift_angle_deg: float = 0.0


@dataclass(frozen=True)
class Grid:
    """Output image ``shape`` (H, W) and ``pixel_size_A``, simulation ``oversampling`` and ``margin_px``."""

    shape: tuple = (256, 256)
    pixel_size_A: float = 0.5
    oversampling: int = 2
    margin_px: int = 16

    @property
    def sim_shape(self) -> tuple:
        """Shape (H, W) of the simulation grid (margin included)."""
        return tuple((n + 2 * self.margin_px) * self.oversampling for n in self.shape)

    @property
    def sampling_A(self) -> float:
        """Simulation grid spacing [Å]."""
        return self.pixel_size_A / self.oversampling

    @property
    def extent_A(self) -> tuple:
        """(x, y) extent of the simulated field [Å], margin included."""
        s = self.sim_shape
        return (s[1] * self.sampling_A, s[0] * self.sampling_A)


def field_to_grid_A(xy_A: np.ndarray, grid: Grid) -> np.ndarray:
    """Field-frame positions (x, y) [Å] -> simulation-grid frame [Å] (grid point ``[j, i]`` at ``(i, j) * dx``)."""
    shift = (grid.margin_px + 0.5) * grid.pixel_size_A - 0.5 * grid.sampling_A
    return np.asarray(xy_A, dtype=np.float64) + shift


_PROPAGATORS: dict = {}


def expi(phase: np.ndarray) -> np.ndarray:
    """``exp(i phase)`` as complex64 from float32 cos and sin (numpy's complex exp is ~10x slower)."""
    out = np.empty(phase.shape, np.complex64)
    out.real = np.cos(phase)
    out.imag = np.sin(phase)
    return out


def _propagator(shape: tuple, dx: float, lam: float, dz: float) -> np.ndarray:
    """Fresnel propagator over ``dz`` [Å], band-limited to 2/3 Nyquist (complex64; cached per process)."""
    key = (tuple(shape), dx, lam, dz)
    if key not in _PROPAGATORS:
        if len(_PROPAGATORS) > 32:
            _PROPAGATORS.clear()
        qx = np.fft.fftfreq(shape[1], dx)[None, :]
        qy = np.fft.fftfreq(shape[0], dx)[:, None]
        p = np.exp(-1j * math.pi * lam * dz * (qx**2 + qy**2)) * antialias_mask(shape, dx)
        _PROPAGATORS[key] = p.astype(np.complex64)
    return _PROPAGATORS[key]


def slice_edges(z_min: float, z_max: float, slice_thickness_A: float, *, support_from_z_A: Optional[float] = None,
                support_slice_thickness_A: Optional[float] = None) -> np.ndarray:
    """Slice boundaries [Å] covering ``[z_min, z_max]``: ``slice_thickness_A`` slices, and from
    ``support_from_z_A`` on (the weakly scattering support) ``support_slice_thickness_A`` slices.

    Examples
    --------
    >>> slice_edges(0.0, 19.0, 5.0).tolist()
    [0.0, 5.0, 10.0, 15.0, 20.0]
    >>> slice_edges(0.0, 39.0, 5.0, support_from_z_A=10.0, support_slice_thickness_A=20.0).tolist()
    [0.0, 5.0, 10.0, 30.0, 50.0]
    """
    for name, v in (("slice_thickness_A", slice_thickness_A), ("support_slice_thickness_A", support_slice_thickness_A)):
        if v is not None and not v > 0:
            raise ValueError(f"{name} must be > 0, got {v}")
    split = z_max + 1.0 if support_from_z_A is None or support_slice_thickness_A is None else max(z_min, support_from_z_A)
    n1 = max(1, int(math.ceil((min(split, z_max + 1e-9) - z_min) / slice_thickness_A))) if split > z_min else 0
    edges = list(z_min + slice_thickness_A * np.arange(n1 + 1))
    if split <= z_max:
        start = edges[-1] if edges else z_min
        n2 = max(1, int(math.floor((z_max - start) / support_slice_thickness_A)) + 1)
        edges += list(start + support_slice_thickness_A * np.arange(1, n2 + 1))
    while edges[-1] <= z_max:
        edges.append(edges[-1] + slice_thickness_A)
    return np.asarray(edges, dtype=np.float64)


def multislice(atoms: dict, grid: Grid, *, voltage_kV: float, slice_thickness_A: float = 5.0,
               support_from_z_A: Optional[float] = None, support_slice_thickness_A: Optional[float] = None) -> np.ndarray:
    """Exit wave (complex64, the simulation grid) of a plane wave through ``atoms``.

    Parameters
    ----------
    atoms : dict
        Element -> ``(N, 3)`` positions (x, y, z) [Å] in the field frame (z along the beam).
    grid : Grid
    voltage_kV : float
    slice_thickness_A : float
        Slice thickness [Å].
    support_from_z_A, support_slice_thickness_A : float, optional
        Beyond ``support_from_z_A`` (the amorphous support, a weak phase object) use slices of
        ``support_slice_thickness_A`` (see :func:`slice_edges`).
    """
    import scipy.fft as sfft  # scipy loads with the first image, not with atomdata.build

    shape, dx = grid.sim_shape, grid.sampling_A
    lam, sigma = wavelength_A(voltage_kV), interaction_constant(voltage_kV)
    zs = [p[:, 2] for p in atoms.values() if len(p)]
    wave = np.ones(shape, dtype=np.complex64)
    if not zs:
        slice_edges(0.0, 0.0, slice_thickness_A)  # validates the thickness
        return wave
    z0 = min(float(z.min()) for z in zs)
    z1 = max(float(z.max()) for z in zs)
    edges = slice_edges(z0, z1, slice_thickness_A, support_from_z_A=support_from_z_A,
                        support_slice_thickness_A=support_slice_thickness_A)
    n_slices = len(edges) - 1
    sliced = {}
    for el, p in atoms.items():
        k = np.clip(np.searchsorted(edges, p[:, 2], side="right") - 1, 0, n_slices - 1)
        order = np.argsort(k, kind="stable")
        bounds = np.searchsorted(k[order], np.arange(n_slices + 1))
        sliced[el] = (field_to_grid_A(p[order, :2], grid), bounds)
    band = _propagator(shape, dx, lam, 0.0)  # the 2/3-Nyquist aperture alone
    spectrum = None  # the wave in Fourier space, transmitted through the last slice, not yet propagated
    pending = 0.0  # propagation owed [Å]
    for s in range(n_slices):
        slab = {el: xy[b[s]:b[s + 1]] for el, (xy, b) in sliced.items() if b[s + 1] > b[s]}
        if slab:
            if spectrum is not None:
                wave = sfft.ifft2(spectrum * _propagator(shape, dx, lam, round(pending, 9)))
            v = projected_potential(slab, shape, dx)
            t = sfft.ifft2(sfft.fft2(expi((sigma * v).astype(np.float32))) * band)  # band-limited transmission
            spectrum = sfft.fft2(wave * t)
            pending = 0.0
        pending += float(edges[s + 1] - edges[s])
    wave = sfft.ifft2(spectrum * _propagator(shape, dx, lam, round(pending, 9)))
    return wave.astype(np.complex64)


def image_from_wave(wave: np.ndarray, grid: Grid, optics: Optics) -> np.ndarray:
    """Intensity |psi_image|^2 (float64, simulation grid; vacuum = 1) of an exit wave through the lens."""
    import scipy.fft as sfft  # scipy loads with the first image, not with atomdata.build

    t = optics.transfer(wave.shape, grid.sampling_A)
    img = sfft.ifft2(sfft.fft2(wave) * t)
    return (img.real.astype(np.float64) ** 2 + img.imag.astype(np.float64) ** 2)


def _bin(a: np.ndarray, k: int) -> np.ndarray:
    h, w = a.shape
    return a.reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def camera_image(intensity: np.ndarray, grid: Grid, camera: Camera, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``(image, noise_free)`` (H, W) float32 on the output grid from a simulation-grid intensity.

    Both are relative to vacuum; ``image`` carries the shot noise of ``camera.dose_e_per_A2``
    (identical to ``noise_free`` when the dose is None).
    """
    i_out = _bin(intensity, grid.oversampling)
    shape = i_out.shape
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    if camera.drift_px > 0:
        a = math.radians(camera.drift_angle_deg)
        i_out = np.fft.ifft2(np.fft.fft2(i_out) * np.sinc(camera.drift_px * (fx * math.cos(a) + fy * math.sin(a)))).real
    mtf = detector_mtf(shape, mtf_c=camera.mtf_c, mtf_b=camera.mtf_b)
    m = grid.margin_px
    crop = (slice(m, shape[0] - m), slice(m, shape[1] - m))
    clean = np.fft.ifft2(np.fft.fft2(i_out) * mtf).real
    if camera.dose_e_per_A2 is None:
        return clean[crop].astype(np.float32), clean[crop].astype(np.float32)
    per_px = float(camera.dose_e_per_A2) * grid.pixel_size_A**2
    counts = np.random.default_rng(rng).poisson(np.clip(i_out, 0, None) * per_px).astype(np.float64)
    noisy = np.fft.ifft2(np.fft.fft2(counts) * mtf).real / per_px
    return noisy[crop].astype(np.float32), clean[crop].astype(np.float32)


def simulate_hrtem(atoms: dict, grid: Grid, optics: Optics, camera: Camera, *, slice_thickness_A: float = 5.0,
                   support_from_z_A: Optional[float] = None, support_slice_thickness_A: Optional[float] = None,
                   rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``(image, noise_free)`` float32 (H, W) of ``atoms`` (element -> (N, 3) (x, y, z) [Å], field frame).

    Examples
    --------
    >>> g = Grid(shape=(32, 32), pixel_size_A=0.5, margin_px=4)
    >>> img, clean = simulate_hrtem({}, g, Optics(), Camera())
    >>> img.shape, round(float(clean.mean()), 6)
    ((32, 32), 1.0)
    """
    wave = multislice(atoms, grid, voltage_kV=optics.voltage_kV, slice_thickness_A=slice_thickness_A,
                      support_from_z_A=support_from_z_A, support_slice_thickness_A=support_slice_thickness_A)
    return camera_image(image_from_wave(wave, grid, optics), grid, camera, rng=rng)
