"""Fidelity of the HRTEM image model against abTEM's plane-wave multislice (optional ``abtem`` extra).

For one case (particles on a carbon support, optics) both simulators see the same atoms on the
same grid (the simulation grid of :class:`~atomdata.sim.hrtem.image.Grid`: same extent, same
sampling) with the same parameterisation (Lobato-Van Dyck) and the same lens (defocus, Cs,
aperture, focal spread, convergence; abTEM's focal spread is the 1/e width, ``sqrt(2)`` times
atomdata's standard deviation). atomdata uses its fast settings (thick slices); abTEM uses
``reference_slice_A`` slices. The two lens intensities (before the camera) are compared on the
output field (margin cut off) by the Pearson correlation coefficient, and both simulations are
timed in the same process (abTEM warmed up first, so its JIT compilation is not counted).
abTEM is GPL-licensed: atomdata only calls it, here, when it is installed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from atomdata.sim.hrtem.image import Grid, Optics, field_to_grid_A, image_from_wave, multislice
from atomdata.sim.hrtem.sample import HRTEMSpec, build_atoms
from atomdata.sim.hrtem.structures import ParticleSpec

__all__ = ["FidelityCase", "CASES", "abtem_intensity", "compare_case"]

ABTEM_HINT = "abTEM is needed for the fidelity comparison: pip install 'atomdata[abtem]'"


@dataclass(frozen=True)
class FidelityCase:
    """A comparison case: particles, support [nm], defocus [nm] (positive = underfocus), grid."""

    name: str
    particles: tuple
    support_thickness_nm: float
    defocus_nm: float
    image_size: int = 128
    pixel_size_A: float = 0.5


#: The cases of the published table (docs/hrtem.md).
CASES = (
    FidelityCase("Au 5 nm trunc. octahedron [110], 5 nm C, Scherzer",
                 (ParticleSpec("Au", "truncated_octahedron", 5.0, "[110]", center_xy_A=(32.0, 32.0)),), 5.0, 51.3),
    FidelityCase("Au 5 nm decahedron [100], 10 nm C, Scherzer + 50 nm",
                 (ParticleSpec("Au", "decahedron", 5.0, "[100]", rotation_deg=20.0, center_xy_A=(30.0, 34.0)),),
                 10.0, 101.3),
    FidelityCase("Pt 3 nm icosahedron + Au 4 nm Wulff [111], 3 nm C, overfocus 20 nm",
                 (ParticleSpec("Pt", "icosahedron", 3.0, "[110]", center_xy_A=(18.0, 20.0)),
                  ParticleSpec("Au", "wulff", 4.0, "[111]", rotation_deg=35.0, center_xy_A=(44.0, 42.0))), 3.0, -20.0),
    FidelityCase("Ag 6 nm octahedron 10 deg off [110], 5 nm C, 100 nm underfocus",
                 (ParticleSpec("Ag", "octahedron", 6.0, "[110]", off_axis_deg=10.0, tilt_azimuth_deg=30.0,
                               center_xy_A=(32.0, 32.0)),), 5.0, 100.0),
)


def _spec(case: FidelityCase, optics: Optics, slice_A: float, support_slice_A: Optional[float] = None) -> HRTEMSpec:
    from atomdata.sim.hrtem.image import Camera

    return HRTEMSpec(image_id="fidelity", split="test", subset="fidelity",
                     grid=Grid(shape=(case.image_size, case.image_size), pixel_size_A=case.pixel_size_A),
                     optics=optics, camera=Camera(), particles=case.particles,
                     support_thickness_nm=case.support_thickness_nm, slice_thickness_A=slice_A, seed=12345,
                     support_slice_thickness_A=support_slice_A)


def abtem_intensity(atoms: dict, grid: Grid, optics: Optics, *, slice_thickness_A: float = 2.0) -> np.ndarray:
    """abTEM's lens intensity (simulation grid) of ``atoms`` (element -> (N, 3) [Å], field frame)."""
    try:
        import abtem
        import ase
    except ImportError as e:
        raise ImportError(ABTEM_HINT) from e
    abtem.config.set({"local_diagnostics.progress_bar": False})
    symbols, pos = [], []
    for el, p in atoms.items():
        symbols += [el] * len(p)
        pos.append(np.column_stack([field_to_grid_A(p[:, :2], grid), p[:, 2]]))
    pos = np.concatenate(pos)
    z0 = pos[:, 2].min()
    pos[:, 2] -= z0 - 1e-3
    n_slices = int(np.floor(pos[:, 2].max() / slice_thickness_A)) + 1
    ex, ey = grid.extent_A
    at = ase.Atoms(symbols, positions=pos, cell=[ex, ey, n_slices * slice_thickness_A])
    h, w = grid.sim_shape
    potential = abtem.Potential(at, gpts=(w, h), slice_thickness=slice_thickness_A, projection="infinite",
                                parametrization="lobato")
    wave = abtem.PlaneWave(energy=optics.voltage_kV * 1e3).multislice(potential)
    ctf = abtem.CTF(defocus=10.0 * optics.defocus_nm, Cs=1e7 * optics.Cs_mm,
                    semiangle_cutoff=optics.aperture_mrad if optics.aperture_mrad else np.inf,
                    focal_spread=np.sqrt(2.0) * 10.0 * optics.focal_spread_nm, angular_spread=optics.convergence_mrad)
    img = wave.apply_ctf(ctf).intensity().compute().array
    return np.asarray(img).T  # abTEM arrays are (x, y); atomdata images are [y, x]


def compare_case(case: FidelityCase, *, slice_thickness_A: float = 5.0, support_slice_thickness_A: Optional[float] = 10.0,
                 reference_slice_A: float = 2.0, repeats: int = 1) -> dict:
    """Pearson r of atomdata vs abTEM lens intensities of ``case`` and the time of each [s] (best of ``repeats``).

    atomdata runs with ``slice_thickness_A`` through the particles and ``support_slice_thickness_A``
    through the support (the benchmark's settings); abTEM with ``reference_slice_A`` everywhere.
    """
    optics = Optics(defocus_nm=case.defocus_nm, Cs_mm=1.0, focal_spread_nm=3.0, convergence_mrad=0.2)
    spec = _spec(case, optics, slice_thickness_A, support_slice_thickness_A)
    _, atoms, support_z = build_atoms(spec, np.random.default_rng(spec.seed))
    g = spec.grid
    m = g.margin_px * g.oversampling
    crop = (slice(m, -m), slice(m, -m))
    ours, t_ours = None, np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        wave = multislice(atoms, g, voltage_kV=optics.voltage_kV, slice_thickness_A=slice_thickness_A,
                          support_from_z_A=support_z, support_slice_thickness_A=support_slice_thickness_A)
        ours = image_from_wave(wave, g, optics)
        t_ours = min(t_ours, time.perf_counter() - t0)
    abtem_intensity(atoms, g, optics, slice_thickness_A=reference_slice_A)  # warm-up (numba JIT)
    ref, t_ref = None, np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        ref = abtem_intensity(atoms, g, optics, slice_thickness_A=reference_slice_A)
        t_ref = min(t_ref, time.perf_counter() - t0)
    a, b = ours[crop].ravel(), ref[crop].ravel()
    return {"case": case.name, "pearson_r": float(np.corrcoef(a, b)[0, 1]), "atomdata_s": t_ours, "abtem_s": t_ref,
            "speed_ratio": t_ref / t_ours, "n_atoms": int(sum(len(v) for v in atoms.values())),
            "grid": list(g.sim_shape), "sampling_A": g.sampling_A, "slice_A": slice_thickness_A,
            "support_slice_A": support_slice_thickness_A, "reference_slice_A": reference_slice_A}
