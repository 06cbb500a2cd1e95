"""One image of the HRTEM task: from its spec (particles, support, optics, camera) to a :class:`~atomdata.sim.recipe.Sample`.

The particles rest on the support: each particle's exit face touches the carbon's entrance
face (the beam crosses the particles first). The record is an :class:`~atomdata.schema.ImageRecord`
without columns; ``extra["hrtem"]`` is the task's :class:`~atomdata.schema.hrtem.HRTEMRecord`
(``particles[k]`` is instance ``k + 1``); the labels are the arrays ``mask`` (uint8, 1 = particle)
and ``instances`` (uint16) stored beside the image.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from atomdata.schema import ImageRecord, Lattice, MetricValue, Provenance, QualityMetrics, StructureKind
from atomdata.schema.hrtem import EXTRA_KEY, HRTEMRecord, ImagingConditions, ParticleRecord
from atomdata.sim.hrtem.image import SIMULATOR_VERSION, Camera, Grid, Optics, field_to_grid_A, simulate_hrtem
from atomdata.sim.hrtem.labels import particle_labels
from atomdata.sim.hrtem.structures import Particle, amorphous_carbon, build_particle, n_atoms_for_diameter
from atomdata.sim.recipe import Sample

__all__ = ["HRTEMSpec", "build_atoms", "make_sample"]


@dataclass(frozen=True)
class HRTEMSpec:
    """One image to build: identity, subset, grid/optics/camera, particles, support, extra record fields."""

    image_id: str
    split: str
    subset: str
    grid: Grid
    optics: Optics
    camera: Camera
    particles: tuple
    support_thickness_nm: float
    slice_thickness_A: float
    seed: int
    support_slice_thickness_A: Optional[float] = None
    extra: dict = field(default_factory=dict)


def build_atoms(spec: HRTEMSpec, rng: np.random.Generator) -> tuple[list[Particle], dict, float]:
    """The built particles, all atoms by element ``{element: (N, 3) (x, y, z) [Å]}`` in the field frame,
    and the z [Å] where the support begins."""
    particles = [build_particle(p, rng=rng) for p in spec.particles]
    top = max((float(p.positions_A[:, 2].max()) for p in particles), default=0.0)
    atoms: dict[str, list] = {}
    for p in particles:
        pos = p.positions_A.copy()
        pos[:, 2] += top - pos[:, 2].max()  # exit faces level with the support
        atoms.setdefault(p.spec.element, []).append(pos)
    g = spec.grid
    carbon = amorphous_carbon(g.extent_A, spec.support_thickness_nm, z0_A=top + 1.0, rng=rng)
    if len(carbon):
        carbon[:, :2] -= field_to_grid_A(np.zeros((1, 2)), g)[0]  # grid frame -> field frame
        atoms.setdefault("C", []).append(carbon)
    return particles, {el: np.concatenate(v) for el, v in atoms.items()}, top + 0.5


def _particle_records(particles: list[Particle], areas: dict, grid: Grid) -> list[ParticleRecord]:
    h, w = grid.shape
    px = grid.pixel_size_A
    out = []
    for k, p in enumerate(particles):
        xy = p.positions_A[:, :2] / px
        cx, cy = (float(v) for v in xy.mean(0))
        cut = bool(xy[:, 0].min() < -0.5 or xy[:, 1].min() < -0.5 or xy[:, 0].max() >= w - 0.5
                   or xy[:, 1].max() >= h - 0.5)
        n = p.n_atoms
        d_nm = p.spec.diameter_nm * (n / n_atoms_for_diameter(p.spec.element, p.spec.diameter_nm)) ** (1 / 3)
        out.append(ParticleRecord(
            instance_id=k + 1, element=p.spec.element, shape=p.spec.shape, diameter_nm=round(d_nm, 4),
            projected_diameter_nm=round(2 * math.sqrt(areas[k] / math.pi) * px / 10.0, 4), n_atoms=n,
            zone_axis=p.spec.zone_axis, off_axis_deg=p.spec.off_axis_deg,
            twinned=bool(p.spec.twinned or p.spec.shape in ("decahedron", "icosahedron")),
            center_xy=(round(cx, 4), round(cy, 4)), area_px=areas[k], cut_by_border=cut))
    return out


def make_sample(spec: HRTEMSpec, *, made_by: str = "atomdata") -> Sample:
    """Simulate ``spec``: the record, the float32 image (intensity relative to vacuum) and the label arrays."""
    rng = np.random.default_rng(spec.seed)
    particles, atoms, support_z = build_atoms(spec, rng)
    image, clean = simulate_hrtem(atoms, spec.grid, spec.optics, spec.camera, slice_thickness_A=spec.slice_thickness_A,
                                  support_from_z_A=support_z, support_slice_thickness_A=spec.support_slice_thickness_A,
                                  rng=rng)
    instances, areas = particle_labels(particles, spec.grid.shape, spec.grid.pixel_size_A)
    conditions = ImagingConditions(
        **asdict(spec.optics), dose_e_per_A2=spec.camera.dose_e_per_A2, support_thickness_nm=spec.support_thickness_nm,
        pixel_size_A=spec.grid.pixel_size_A, drift_px=spec.camera.drift_px, mtf_c=spec.camera.mtf_c,
        mtf_b=spec.camera.mtf_b, slice_thickness_A=spec.slice_thickness_A,
        support_slice_thickness_A=spec.support_slice_thickness_A)
    parts = _particle_records(particles, areas, spec.grid)
    elements = sorted({p.element for p in parts})
    largest = max(parts, key=lambda p: p.n_atoms) if parts else None
    signal = float(clean.std())
    noise = float(np.sqrt(np.mean((image - clean) ** 2)))
    record = ImageRecord(
        image_id=spec.image_id, split=spec.split, subset=spec.subset, shape=tuple(spec.grid.shape), dtype="float32",
        lattice=Lattice(material=f"{'+'.join(elements) or 'no'} nanoparticles on amorphous carbon",
                        formula="+".join(elements) or "C", zone_axis=largest.zone_axis if largest else "[100]",
                        kind=StructureKind.other,
                        description="zone axis of the largest particle; every particle in extra['hrtem']"),
        quality=QualityMetrics(
            pixel_size_A=spec.grid.pixel_size_A, dose_e_per_A2=MetricValue(nominal=spec.camera.dose_e_per_A2),
            psnr_db=MetricValue(measured=round(20 * math.log10(float(clean.max() - clean.min()) / noise), 4)
                                if noise > 0 and clean.max() > clean.min() else None)),
        provenance=Provenance(kind="simulated", simulator="atomdata.sim.hrtem", simulator_version=SIMULATOR_VERSION,
                              seed=int(spec.seed),
                              parameters={"grid": asdict(spec.grid), "optics": asdict(spec.optics),
                                          "camera": asdict(spec.camera),
                                          "particles": [asdict(p) for p in spec.particles],
                                          "support_thickness_nm": spec.support_thickness_nm,
                                          "slice_thickness_A": spec.slice_thickness_A,
                                          "support_slice_thickness_A": spec.support_slice_thickness_A,
                                          "image_contrast_std": round(signal, 6), "made_by": made_by}),
        extra={**spec.extra, EXTRA_KEY: HRTEMRecord(conditions=conditions, particles=parts).model_dump(mode="json")},
    )
    return Sample(record, image, arrays={"mask": (instances > 0).astype(np.uint8), "instances": instances})
