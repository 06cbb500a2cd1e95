"""Higher-fidelity check of the fast image model against abTEM (optional: ``pip install 'atomdata[abtem]'``).

:func:`abtem_haadf` simulates a HAADF image of an ASE structure with abTEM
(PRISM or multislice, frozen phonons); :func:`fit_fast_model` fits the fast
incoherent model of :mod:`atomdata.sim.stem.image` (Z exponent and Gaussian probe
FWHM) to it and reports the Pearson correlation. abTEM is imported only inside
:func:`abtem_haadf`.

Images are returned indexed ``image[y, x]`` (abTEM's measurement arrays are
``(x, y)``; they are transposed here). Scan positions are pixel centres: pixel
``(x, y)`` is the probe at ``origin_A + (x, y) * pixel_size_A``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AbtemImage", "sto_slab", "abtem_haadf", "fast_haadf", "fit_fast_model"]


@dataclass(frozen=True)
class AbtemImage:
    """An abTEM HAADF image ``image[y, x]`` with its sampling [Å/px], scan origin (X, Y) [Å] and structure."""

    image: np.ndarray
    pixel_size_A: float
    origin_A: tuple
    atoms: object
    seconds: float


def sto_slab(cells=(3, 3, 5)):
    """SrTiO3 viewed along [100] (beam along z): ``cells`` unit cells (x, y, z) from ASE."""
    from atomdata.sim.stem.catalog import A_STO, perovskite

    return perovskite(A_STO, "Sr", "Ti") * tuple(cells)


def abtem_haadf(
    atoms,
    *,
    scan_cell: tuple = (1, 1),
    pixel_size_A: float = 0.1,
    sampling_A: float = 0.04,
    slice_thickness_A: float = 1.0,
    num_configs: int = 4,
    sigma_A: float = 0.08,
    semiangle_mrad: float = 25.0,
    energy_keV: float = 200.0,
    inner_mrad: float = 70.0,
    outer_mrad: float = 180.0,
    method: str = "prism",
    interpolation: int = 3,
    seed: int = 0,
) -> AbtemImage:
    """HAADF image of ``atoms`` by abTEM with frozen phonons, scanned over one unit cell.

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic structure, beam along z; the scan covers the unit cell at index
        ``scan_cell`` of a supercell built from a cubic cell (the centre cell of a
        3 x 3 supercell by default), so the probe tails see neighbours on all sides.
    pixel_size_A : float
        Scan step [Å].
    sampling_A : float
        Real-space sampling of the wave functions [Å] (sets the largest angle).
    num_configs, sigma_A : frozen-phonon configurations and RMS displacement [Å].
    semiangle_mrad, energy_keV : probe convergence semi-angle [mrad] and energy [keV].
    inner_mrad, outer_mrad : HAADF detector angles [mrad].
    method : {"prism", "multislice"}
    interpolation : PRISM interpolation factor.
    """
    import time

    try:
        import abtem
    except ImportError as e:  # pragma: no cover - optional dependency
        raise ImportError("abTEM is needed for the high-fidelity check: pip install 'atomdata[abtem]'") from e

    t0 = time.perf_counter()
    phonons = abtem.FrozenPhonons(atoms, num_configs=num_configs, sigmas=sigma_A, seed=seed)
    f = interpolation if method == "prism" else 1
    gpts = tuple(int(f * np.ceil(atoms.cell[i, i] / sampling_A / f)) for i in (0, 1))  # divisible by f
    potential = abtem.Potential(phonons, gpts=gpts, slice_thickness=slice_thickness_A, projection="infinite")
    a = float(atoms.cell[0, 0]) / round(atoms.cell[0, 0] / 3.905)
    start = (scan_cell[0] * a, scan_cell[1] * a)
    end = (start[0] + a, start[1] + a)
    scan = abtem.GridScan(start=start, end=end, sampling=pixel_size_A, endpoint=False)
    detector = abtem.AnnularDetector(inner=inner_mrad, outer=outer_mrad)
    if method == "prism":
        sm = abtem.SMatrix(potential=potential, energy=energy_keV * 1e3, semiangle_cutoff=semiangle_mrad,
                           interpolation=interpolation)
        meas = sm.scan(scan=scan, detectors=detector)
    elif method == "multislice":
        probe = abtem.Probe(energy=energy_keV * 1e3, semiangle_cutoff=semiangle_mrad)
        meas = probe.scan(potential, scan=scan, detectors=detector)
    else:
        raise ValueError(f"method must be 'prism' or 'multislice', got {method!r}")
    arr = np.asarray(meas.compute().array, dtype=np.float64)
    if arr.ndim > 2:  # an ensemble axis left over: average it
        arr = arr.reshape(-1, *arr.shape[-2:]).mean(axis=0)
    image = arr.T  # abTEM is (x, y); atomdata is image[y, x]
    step = (end[0] - start[0]) / image.shape[1]
    return AbtemImage(image=image, pixel_size_A=step, origin_A=start, atoms=atoms,
                      seconds=time.perf_counter() - t0)


def fast_haadf(atoms, *, shape, pixel_size_A: float, origin_A, exponent: float, fwhm_pm: float) -> np.ndarray:
    """The fast incoherent model of the same scan: columns of ``atoms`` (periodic) with a Gaussian probe."""
    from atomdata.sim.stem.probe import GaussianProbe
    from atomdata.sim.stem.render import render_columns
    from atomdata.sim.stem.structures import column_weights, project_atoms

    p = project_atoms(atoms)
    reps = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]) * p["cell_A"]
    xy_A = (p["xy_A"][None] + reps[:, None]).reshape(-1, 2)
    w = np.tile(column_weights(p["counts"], p["numbers"], exponent), len(reps))
    xy = (xy_A - np.asarray(origin_A)) / pixel_size_A
    return render_columns(xy, w, shape=shape, pixel_size_A=pixel_size_A, probe=GaussianProbe(fwhm_pm))


def fit_fast_model(ref: AbtemImage, *, exponent0: float = 1.7, fwhm0_pm: float = 80.0) -> dict:
    """Fit the Z exponent and Gaussian FWHM [pm] of the fast model to an abTEM image; maximise Pearson r.

    Returns ``{"exponent", "fwhm_pm", "pearson"}``.
    """
    from scipy.optimize import minimize

    def pearson(params):
        n, fwhm = params
        if not (0.5 < n < 3.0 and 10.0 < fwhm < 400.0):
            return 1.0
        img = fast_haadf(ref.atoms, shape=ref.image.shape, pixel_size_A=ref.pixel_size_A, origin_A=ref.origin_A,
                         exponent=n, fwhm_pm=fwhm)
        return -float(np.corrcoef(img.ravel(), ref.image.ravel())[0, 1])

    res = minimize(pearson, x0=[exponent0, fwhm0_pm], method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": 1e-6, "maxiter": 300})
    return {"exponent": float(res.x[0]), "fwhm_pm": float(res.x[1]), "pearson": -float(res.fun)}
