"""The HRTEM nanoparticle-segmentation benchmark: splits, sweeps, seeds and sizes (one config per version).

Every image is a pure function of ``(dataset version, split, index)`` (:func:`atomdata.sim.seeds.image_seed`):
stream 1 draws its parameters (particles, optics, camera), stream 0 its atoms (twin planes, the
carbon support) and its shot noise.

Splits of version 1.0.0
-----------------------
``test``
    One-parameter sweeps from a good baseline (Au particles on 5 nm of carbon, Scherzer focus,
    2000 e-/Å², 0.5 Å/px), ``seeds_per_point`` images (other particles, other noise) per value;
    subsets ``np_sim_<metric>`` with ``record.extra["sweep"] = {"metric", "value", "seed_index"}``:
    ``dose_e_per_A2``, ``defocus_offset_nm`` (underfocus beyond Scherzer), ``diameter_nm``,
    ``support_thickness_nm``, ``pixel_size_A``, ``off_axis_deg`` (tilt away from the zone axis) and
    ``atomic_number`` (Ag, Pd, Pt, Au).
``generality``
    ``gen_crowded`` (8-14 particles, many overlapping), ``gen_other_elements`` (Pt, Pd, Ag and mixed
    fields), ``gen_thick_support`` (20-30 nm of carbon; training sees at most 15 nm).
``train`` / ``val``
    Domain-randomised over all of the above (``train_np``, ``val_np``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar, Optional

import numpy as np

from atomdata._version import __version__
from atomdata.schema import SPLITS
from atomdata.sim.hrtem.image import SIMULATOR_VERSION, Camera, Grid, Optics
from atomdata.sim.hrtem.optics import scherzer_defocus_nm
from atomdata.sim.hrtem.sample import HRTEMSpec, make_sample
from atomdata.sim.hrtem.structures import ELEMENTS, SHAPES, ZONE_AXES, ParticleSpec
from atomdata.sim.recipe import Sample, cached_specs, config_fingerprint
from atomdata.sim.seeds import image_seed

__all__ = ["DATASET_NAME", "DEFAULT_VERSION", "SWEEPS", "ATOMIC_NUMBERS", "HRTEMConfig", "HRTEMSpec",
           "hrtem_config", "split_specs"]

#: Name of the HRTEM nanoparticle-segmentation dataset.
DATASET_NAME = "atomdata-hrtem"
#: The version this release of atomdata builds by default.
DEFAULT_VERSION = "1.0.0"
#: Swept parameters of the test split and the direction in which images get harder.
SWEEPS = {"dose_e_per_A2": "lower", "defocus_offset_nm": "higher", "diameter_nm": "lower",
          "support_thickness_nm": "higher", "pixel_size_A": "higher", "off_axis_deg": "higher",
          "atomic_number": "lower"}
ATOMIC_NUMBERS = {"Pd": 46, "Ag": 47, "Pt": 78, "Au": 79}
_SWEEP_VALUES = {
    "dose_e_per_A2": (20.0, 50.0, 150.0, 500.0, 2000.0, 10000.0),
    "defocus_offset_nm": (0.0, 25.0, 50.0, 100.0, 200.0, 400.0),
    "diameter_nm": (1.5, 2.0, 3.0, 4.5, 6.5, 9.0),
    "support_thickness_nm": (0.0, 5.0, 10.0, 15.0, 20.0, 30.0),
    "pixel_size_A": (0.4, 0.5, 0.6, 0.8, 1.0, 1.2),
    "off_axis_deg": (0.0, 2.0, 5.0, 10.0, 15.0, 25.0),
    "atomic_number": (46.0, 47.0, 78.0, 79.0),
}


@dataclass(frozen=True)
class HRTEMConfig:
    """All numbers that define a version of the HRTEM benchmark (see the module notes)."""

    dataset_name: ClassVar[str] = DATASET_NAME

    version: str
    image_size: int = 192
    seeds_per_point: int = 3
    sweep_values: dict = field(default_factory=lambda: dict(_SWEEP_VALUES))
    n_train: int = 240
    n_val: int = 32
    generality_per_subset: int = 16
    shard_size: int = 16
    slice_thickness_A: float = 5.0
    support_slice_thickness_A: float = 10.0
    max_diameter_fraction: float = 1.0
    max_support_nm: float = 40.0
    quick: bool = False

    def to_dict(self) -> dict:
        """JSON form stored in the manifest."""
        d = asdict(self)
        d["sweep_values"] = {k: list(v) for k, v in self.sweep_values.items()}
        return d

    @property
    def made_by(self) -> str:
        """The release recorded in the files."""
        return f"atomdata {__version__}"

    def fingerprint(self) -> str:
        """Short hash of the config and the simulator version."""
        return config_fingerprint(self.to_dict(), SIMULATOR_VERSION)

    @property
    def simulator_version(self) -> str:
        """Version of the HRTEM image formation (:data:`atomdata.sim.hrtem.image.SIMULATOR_VERSION`)."""
        return SIMULATOR_VERSION

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def manifest_text(self) -> tuple[str, str]:
        """``(title, description)`` of the manifest."""
        description = ("Simulated HRTEM images (multislice, Lobato-Van Dyck potentials, partial coherence, camera MTF, "
                       "shot noise) of FCC metal nanoparticles on amorphous carbon with exact particle masks and "
                       "instance labels: one-parameter sweeps (test), crowded fields, other elements and thick "
                       "supports (generality), domain-randomised training data (train, val)."
                       + (" QUICK build for tests: not the benchmark." if self.quick else ""))
        return "atomdata HRTEM benchmark: segmenting metal nanoparticles on amorphous carbon", description

    def n_images(self, split: str) -> int:
        return len(cached_specs(self, split, split_specs))

    def make(self, split: str, index: int) -> Sample:
        """Simulate image ``index`` of ``split``."""
        return make_sample(cached_specs(self, split, split_specs)[index], made_by=self.made_by)


def hrtem_config(*, quick: bool = False, version: Optional[str] = None) -> HRTEMConfig:
    """The config of HRTEM benchmark ``version`` (default :data:`DEFAULT_VERSION`).

    The default: 192 x 192 images (0.4-1.2 Å/px), 240 train, 32 val, 40 sweep points x 3 seeds,
    3 x 16 generality images; multislice with 5 Å slices through the particles, 10 Å through the support.
    ``quick=True``: every split and subset, 64 x 64 images, 3 points per sweep and 1 seed each,
    particles and supports capped to the small field (version ``<version>-quick``).

    Examples
    --------
    >>> hrtem_config(quick=True).version
    '1.0.0-quick'
    """
    version = DEFAULT_VERSION if version is None else version
    if version.split("-")[0] != "1.0.0":
        raise ValueError(f"no HRTEM benchmark config for version {version!r}; this atomdata builds 1.0.0")
    if quick:
        values = {k: (v[0], v[len(v) // 2], v[-1]) for k, v in _SWEEP_VALUES.items()}
        return HRTEMConfig(version=version + "-quick", image_size=64, seeds_per_point=1, sweep_values=values,
                           n_train=12, n_val=6, generality_per_subset=2, shard_size=8, max_diameter_fraction=0.6,
                           max_support_nm=5.0, quick=True)
    return HRTEMConfig(version=version)


# -- parameters ----------------------------------------------------------------------------------
_BASE_OPTICS = dict(voltage_kV=300.0, Cs_mm=1.0, focal_spread_nm=3.0, convergence_mrad=0.2)


def _log_uniform(rng, lo, hi) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _particles(rng, cfg: HRTEMConfig, field_A: float, *, n: int, elements, diameter, off_axis) -> tuple:
    """``n`` random particle specs in a field of ``field_A`` [Å] (centres may lie a little outside)."""
    out = []
    for _ in range(n):
        d = float(diameter(rng)) if callable(diameter) else float(diameter)
        d = min(d, cfg.max_diameter_fraction * field_A / 10.0)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if shape in ("decahedron", "icosahedron"):
            d = min(d, 8.0)  # multiply twinned particles are the small ones
        tilt = float(off_axis(rng)) if callable(off_axis) else float(off_axis)
        out.append(ParticleSpec(
            element=str(elements[int(rng.integers(len(elements)))]), shape=shape, diameter_nm=round(d, 4),
            zone_axis=ZONE_AXES[int(rng.integers(len(ZONE_AXES)))], off_axis_deg=round(tilt, 4),
            tilt_azimuth_deg=round(float(rng.uniform(0, 360)), 3), rotation_deg=round(float(rng.uniform(0, 360)), 3),
            twinned=bool(rng.random() < 0.3),
            center_xy_A=(round(float(rng.uniform(-0.05, 1.05) * field_A), 3),
                         round(float(rng.uniform(-0.05, 1.05) * field_A), 3))))
    return tuple(out)


def _baseline(cfg: HRTEMConfig, rng, *, pixel_size_A: float = 0.5, n_particles: Optional[int] = None) -> dict:
    field_A = cfg.image_size * pixel_size_A
    return dict(
        grid=Grid(shape=(cfg.image_size, cfg.image_size), pixel_size_A=pixel_size_A),
        optics=Optics(**_BASE_OPTICS, defocus_nm=round(scherzer_defocus_nm(voltage_kV=300.0, Cs_mm=1.0), 4)),
        camera=Camera(dose_e_per_A2=2000.0),
        particles=_particles(rng, cfg, field_A, n=n_particles or int(rng.integers(2, 5)), elements=("Au",),
                             diameter=lambda r: _log_uniform(r, 3.0, 8.0), off_axis=0.0),
        support_thickness_nm=min(5.0, cfg.max_support_nm),
    )


def _test_specs(cfg: HRTEMConfig) -> list[HRTEMSpec]:
    specs = []
    for metric, values in cfg.sweep_values.items():
        for value in values:
            for k in range(cfg.seeds_per_point):
                i = len(specs)
                rng = np.random.default_rng(image_seed(cfg.version, "test", i, stream=1))
                px = value if metric == "pixel_size_A" else 0.5
                p = _baseline(cfg, rng, pixel_size_A=px)
                field_A = cfg.image_size * px
                if metric == "dose_e_per_A2":
                    p["camera"] = Camera(dose_e_per_A2=value)
                elif metric == "defocus_offset_nm":
                    p["optics"] = replace(p["optics"], defocus_nm=round(p["optics"].defocus_nm + value, 4))
                elif metric == "diameter_nm":
                    p["particles"] = _particles(rng, cfg, field_A, n=len(p["particles"]), elements=("Au",),
                                                diameter=value, off_axis=0.0)
                elif metric == "support_thickness_nm":
                    p["support_thickness_nm"] = min(value, cfg.max_support_nm)
                elif metric == "off_axis_deg":
                    p["particles"] = tuple(replace(s, off_axis_deg=value) for s in p["particles"])
                elif metric == "atomic_number":
                    el = {z: e for e, z in ATOMIC_NUMBERS.items()}[int(value)]
                    p["particles"] = tuple(replace(s, element=el) for s in p["particles"])
                specs.append(HRTEMSpec(image_id=f"test-{i:05d}", split="test", subset=f"np_sim_{metric}",
                                       slice_thickness_A=cfg.slice_thickness_A,
                                       support_slice_thickness_A=cfg.support_slice_thickness_A,
                                       seed=image_seed(cfg.version, "test", i), **p,
                                       extra={"sweep": {"metric": metric, "value": value, "seed_index": k}}))
    return specs


def _random_spec(cfg: HRTEMConfig, split: str, i: int, subset: str, kind: str) -> HRTEMSpec:
    rng = np.random.default_rng(image_seed(cfg.version, split, i, stream=1))
    px = float(rng.uniform(0.4, 1.0))
    field_A = cfg.image_size * px
    cs = float(rng.uniform(0.5, 1.5))
    optics = Optics(voltage_kV=300.0, Cs_mm=round(cs, 4),
                    defocus_nm=round(scherzer_defocus_nm(voltage_kV=300.0, Cs_mm=cs) + rng.uniform(-30, 150), 4),
                    astigmatism_nm=round(float(rng.uniform(0, 4)), 4),
                    astigmatism_angle_deg=round(float(rng.uniform(0, 180)), 3),
                    focal_spread_nm=round(float(rng.uniform(2, 6)), 4),
                    convergence_mrad=round(float(rng.uniform(0.1, 0.5)), 4))
    camera = Camera(dose_e_per_A2=round(_log_uniform(rng, 50, 10000), 3),
                    mtf_c=round(float(rng.uniform(0.3, 0.8)), 4),
                    drift_px=round(float(rng.uniform(0, 2)), 4) if rng.random() < 0.3 else 0.0,
                    drift_angle_deg=round(float(rng.uniform(0, 180)), 3))
    n = int(rng.integers(1, 7))
    elements = ("Au", "Au", "Au", "Pt", "Pd", "Ag")
    support = float(rng.uniform(0, 15))
    if kind == "crowded":
        n = int(rng.integers(8, 15))
    elif kind == "other_elements":
        elements = ("Pt", "Pd", "Ag") if rng.random() < 0.6 else tuple(ELEMENTS)
    elif kind == "thick_support":
        support = float(rng.uniform(20, 30))
    parts = _particles(rng, cfg, field_A, n=n, elements=elements, diameter=lambda r: _log_uniform(r, 1.5, 12.0),
                       off_axis=lambda r: r.uniform(0, 15) if r.random() < 0.3 else 0.0)
    return HRTEMSpec(image_id=f"{split}-{i:05d}", split=split, subset=subset,
                     grid=Grid(shape=(cfg.image_size, cfg.image_size), pixel_size_A=round(px, 4)), optics=optics,
                     camera=camera, particles=parts, support_thickness_nm=round(min(support, cfg.max_support_nm), 4),
                     slice_thickness_A=cfg.slice_thickness_A, support_slice_thickness_A=cfg.support_slice_thickness_A,
                     seed=image_seed(cfg.version, split, i))


def split_specs(cfg: HRTEMConfig, split: str) -> list[HRTEMSpec]:
    """The ordered images of ``split``; ``ValueError`` naming the valid splits for an unknown one."""
    if split == "test":
        return _test_specs(cfg)
    if split == "generality":
        kinds = ("crowded", "other_elements", "thick_support")
        return [_random_spec(cfg, "generality", i, f"gen_{kinds[i // cfg.generality_per_subset]}",
                             kinds[i // cfg.generality_per_subset])
                for i in range(len(kinds) * cfg.generality_per_subset)]
    if split in ("train", "val"):
        return [_random_spec(cfg, split, i, f"{split}_np", "random")
                for i in range(cfg.n_train if split == "train" else cfg.n_val)]
    raise ValueError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)}.")


