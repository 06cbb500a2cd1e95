"""The benchmark definition: splits, sweeps, baselines, seeds and sizes (one config per dataset version).

Every image is a pure function of ``(dataset version, split, index)``: its
parameters and its seed come from :func:`image_seed`, which hashes those three
with numpy's ``SeedSequence``. Rebuilding therefore gives identical pixels, and
the ``train``/``val`` seeds are disjoint streams from the ``test`` seeds.

Splits of version 1.0.0
-----------------------
``test``
    One-metric-at-a-time sweeps from a good baseline, for SrTiO3 [100]
    (``sto``) and monolayer WS2 (``ws2``); subsets ``<material>_sim_<metric>``
    with ``record.extra["sweep"] = {"metric", "value", "seed_index"}``.
``generality``
    The hard structures at typical quality (``gen_<structure>``), combinations
    of degradations (``gen_<material>_combined``) and an aberration-limited
    probe (``gen_sto_aberration``).
``train`` / ``val``
    Domain-randomised over all structures, in-plane rotations, quality metrics
    and noise (``train_<structure>``, ``val_<structure>``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar, Optional

import numpy as np

from atomdata._version import __version__
from atomdata.schema import SPLITS
from atomdata.sim.recipe import Sample, cached_specs, config_fingerprint
from atomdata.sim.seeds import image_seed, log_uniform
from atomdata.sim.stem.catalog import STRUCTURES, get_structure
from atomdata.sim.stem.image import SIMULATOR_VERSION, ImageParams, simulate_image
from atomdata.sim.stem.probe import AberrationProbe

__all__ = [
    "DATASET_NAME",
    "DEFAULT_VERSION",
    "MADE_BY",
    "SWEEP_METRICS",
    "MATERIALS",
    "Sweep",
    "BenchmarkConfig",
    "ImageSpec",
    "benchmark_config",
    "split_specs",
    "pixel_size_for",
]

#: Name of the atom-column benchmark dataset.
DATASET_NAME = "atomdata-benchmark"
#: The version of it this release of atomdata builds and loads by default.
DEFAULT_VERSION = "1.0.0"
#: Per recipe version, the release that defined its bytes. Files record it (split attribute
#: ``created_by``, ``provenance.simulator_version``), so that a later release that makes the same
#: pixels rebuilds the files byte-identically; the manifest's ``generator`` names the release that ran.
MADE_BY = {"1.0.0": "atomdata 0.1.0"}

#: Metrics swept in the test split, in subset-name form.
SWEEP_METRICS = ("atoms_per_100px", "contrast", "psnr_db", "resolution_pm", "flyback_error_px",
                 "random_drift", "dose_e_per_A2")
#: Material short name in subset names -> structure.
MATERIALS = {"sto": "sto100", "ws2": "ws2"}
_HARD = ("si110", "gaas110", "graphene_si", "sto100_defects", "sto_lao_interface", "sto_gb_sigma5")


@dataclass(frozen=True)
class Sweep:
    """One swept metric and its values (units of the metric, see :class:`~atomdata.schema.QualityMetrics`)."""

    metric: str
    values: tuple


@dataclass(frozen=True)
class BenchmarkConfig:
    """All numbers that define a benchmark version (see the module notes).

    ``baseline`` holds the :class:`~atomdata.sim.stem.image.ImageParams` fields of the
    good-quality baseline shared by both materials, except the pixel size, which
    comes from ``baseline_atoms_per_100px`` and the material's nearest
    target-column spacing.
    """

    dataset_name: ClassVar[str] = DATASET_NAME

    version: str
    image_size: int = 256
    seeds_per_point: int = 8
    sweeps: tuple = ()
    baseline: dict = field(default_factory=dict)
    baseline_atoms_per_100px: float = 5.5
    generality_per_subset: int = 24
    n_train: int = 2000
    n_val: int = 200
    shard_size: int = 64
    quick: bool = False

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored in the manifest)."""
        d = asdict(self)
        d["sweeps"] = [{"metric": s.metric, "values": list(s.values)} for s in self.sweeps]
        return d

    @property
    def made_by(self) -> str:
        """The release recorded in this version's files (:data:`MADE_BY`; this release for a new version)."""
        return MADE_BY.get(self.version.split("-")[0], f"atomdata {__version__}")

    def fingerprint(self) -> str:
        """Short hash of the config: shards built under another config are never reused."""
        return config_fingerprint(self.to_dict(), SIMULATOR_VERSION)

    # -- the recipe interface (atomdata.sim.recipe.Recipe) ------------------------------------------
    @property
    def simulator_version(self) -> str:
        """Version of the STEM image formation (:data:`atomdata.sim.stem.image.SIMULATOR_VERSION`)."""
        return SIMULATOR_VERSION

    @property
    def splits(self) -> tuple[str, ...]:
        """Split names in manifest order."""
        return SPLITS

    def manifest_text(self) -> tuple[str, str]:
        """``(title, description)`` written into the manifest."""
        description = ("Simulated atomic-resolution HAADF-STEM images with exact column labels: one-metric sweeps "
                       "of SrTiO3 [100] and monolayer WS2 (test), hard structures and combined degradations "
                       "(generality), and domain-randomised training data (train, val)."
                       + (" QUICK build for tests: not the benchmark." if self.quick else ""))
        return "atomdata benchmark: simulated HAADF-STEM images for locating atomic columns", description

    def n_images(self, split: str) -> int:
        """Number of images of ``split``."""
        return len(cached_specs(self, split, split_specs))

    def make(self, split: str, index: int) -> Sample:
        """Simulate image ``index`` of ``split`` (a pure function of the config, the split and the index)."""
        spec = cached_specs(self, split, split_specs)[index]
        sim = simulate_image(spec.params)
        record = sim.to_record(image_id=spec.image_id, split=split, subset=spec.subset, extra=spec.extra,
                               made_by=self.made_by)
        return Sample(record, sim.image)


def _r(values, nd=6) -> tuple:
    return tuple(float(round(v, nd)) for v in values)


def benchmark_config(*, quick: bool = False, version: Optional[str] = None) -> BenchmarkConfig:
    """The config of the benchmark version ``version`` (default :data:`DEFAULT_VERSION`).

    ``quick=True`` gives the small but complete config used by tests and CI:
    every split and subset, 64 x 64 images, 3 sweep points and 2 seeds each,
    written as version ``<version>-quick``.

    Examples
    --------
    >>> cfg = benchmark_config(quick=True)
    >>> cfg.version, cfg.image_size
    ('1.0.0-quick', 64)
    """
    version = DEFAULT_VERSION if version is None else version
    if version.split("-")[0] != "1.0.0":
        raise ValueError(f"no 1.0 benchmark config for version {version!r}: benchmark_config makes 1.0.0; "
                         "1.1.0 is atomdata.sim.stem.recipe_v11.v11_config (atomdata.build.get_recipe picks by version)")
    baseline = dict(rotation_deg=0.0, resolution_pm=90.0, source_size_pm=40.0, background=0.05,
                    background_variation=0.5, contrast=0.8, psnr_db=25.0, flyback_error_px=0.0,
                    random_drift=0.0, dose_e_per_A2=None, probe="gaussian", exponent=1.7)
    sweeps = (
        Sweep("atoms_per_100px", _r(np.linspace(2.5, 20.0, 15))),
        Sweep("contrast", _r(np.geomspace(0.005, 1.0, 15))),
        Sweep("psnr_db", _r(np.linspace(2.0, 28.0, 14))),
        Sweep("resolution_pm", _r(np.linspace(80.0, 300.0, 12))),
        Sweep("flyback_error_px", _r(np.linspace(0.0, 4.0, 17))),
        Sweep("random_drift", _r(np.linspace(0.0, 0.3, 16))),
        Sweep("dose_e_per_A2", _r(np.geomspace(10.0, 1e5, 13), 3)),
    )
    if quick:
        sweeps = tuple(Sweep(s.metric, (s.values[0], s.values[len(s.values) // 2], s.values[-1])) for s in sweeps)
        return BenchmarkConfig(version=version + "-quick", image_size=64, seeds_per_point=2, sweeps=sweeps,
                               baseline=baseline, generality_per_subset=2, n_train=24, n_val=12,
                               shard_size=16, quick=True)
    return BenchmarkConfig(version=version, sweeps=sweeps, baseline=baseline)


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: identity, subset, simulation parameters and extra record fields."""

    image_id: str
    split: str
    subset: str
    params: ImageParams
    extra: dict = field(default_factory=dict)


def pixel_size_for(structure: str, atoms_per_100px: float) -> float:
    """Pixel size [Å/px] that gives ``atoms_per_100px`` (100 * pixel size / nearest column spacing)."""
    return float(atoms_per_100px) * get_structure(structure).lattice.nearest_column_spacing_A / 100.0


def _test_specs(cfg: BenchmarkConfig) -> list[ImageSpec]:
    specs = []
    size = (cfg.image_size, cfg.image_size)
    for mat, structure in MATERIALS.items():
        base = ImageParams(structure=structure, shape=size,
                           pixel_size_A=pixel_size_for(structure, cfg.baseline_atoms_per_100px), **cfg.baseline)
        for sweep in cfg.sweeps:
            for value in sweep.values:
                if sweep.metric == "atoms_per_100px":
                    params = replace(base, pixel_size_A=pixel_size_for(structure, value))
                elif sweep.metric == "dose_e_per_A2":
                    params = replace(base, dose_e_per_A2=value, psnr_db=None)
                elif sweep.metric == "psnr_db":
                    params = replace(base, psnr_db=value)
                else:
                    params = replace(base, **{sweep.metric: value})
                for k in range(cfg.seeds_per_point):
                    i = len(specs)
                    specs.append(ImageSpec(
                        image_id=f"test-{i:05d}", split="test", subset=f"{mat}_sim_{sweep.metric}",
                        params=replace(params, seed=image_seed(cfg.version, "test", i)),
                        extra={"sweep": {"metric": sweep.metric, "value": value, "seed_index": k}}))
    return specs



def _aberration_pixel_cap(p: dict) -> float:
    """Pixel size capped so the aberration-limited probe is sampled without refining the grid (speed)."""
    cap = 0.95 * AberrationProbe(p["semiangle_mrad"], energy_keV=200.0).max_pixel_size_A()
    return float(min(p["pixel_size_A"], cap))


def _generality_specs(cfg: BenchmarkConfig) -> list[ImageSpec]:
    size = (cfg.image_size, cfg.image_size)
    plan = [(f"gen_{s}", s, "typical") for s in _HARD]
    plan += [(f"gen_{m}_combined", s, "combined") for m, s in MATERIALS.items()]
    plan += [("gen_sto_aberration", "sto100", "aberration")]
    specs = []
    for subset, structure, kind in plan:
        for _ in range(cfg.generality_per_subset):
            i = len(specs)
            rng = np.random.default_rng(image_seed(cfg.version, "generality", i, stream=1))
            spacing_pm = get_structure(structure).lattice.nearest_column_spacing_A * 100
            p = dict(structure=structure, shape=size, rotation_deg=float(rng.uniform(0, 360)),
                     pixel_size_A=pixel_size_for(structure, rng.uniform(4.0, 8.0)),
                     resolution_pm=float(min(rng.uniform(70, 110), 0.6 * spacing_pm)),
                     source_size_pm=30.0, psnr_db=float(rng.uniform(15, 25)),
                     contrast=float(rng.uniform(0.3, 0.9)), background=float(rng.uniform(0, 0.2)),
                     flyback_error_px=float(rng.uniform(0, 0.5)), random_drift=float(rng.uniform(0, 0.03)))
            if kind == "combined":
                p.update(resolution_pm=float(rng.uniform(110, 170)), psnr_db=float(rng.uniform(8, 16)),
                         contrast=log_uniform(rng, 0.05, 0.6), flyback_error_px=float(rng.uniform(0.5, 1.5)),
                         random_drift=float(rng.uniform(0.03, 0.1)))
            elif kind == "aberration":
                p.update(probe="aberration", resolution_pm=None, source_size_pm=float(rng.uniform(20, 50)),
                         semiangle_mrad=float(rng.uniform(18, 30)), defocus_A=float(rng.uniform(-40, 40)),
                         cs_mm=float(rng.uniform(0, 0.005)))
            if kind == "aberration":
                p["pixel_size_A"] = _aberration_pixel_cap(p)
            specs.append(ImageSpec(f"generality-{i:05d}", "generality", subset,
                                   ImageParams(**p, seed=image_seed(cfg.version, "generality", i))))
    return specs


def _random_specs(cfg: BenchmarkConfig, split: str, n: int) -> list[ImageSpec]:
    size = (cfg.image_size, cfg.image_size)
    choices = STRUCTURES + tuple(MATERIALS.values())  # the two sweep materials twice as often
    specs = []
    for i in range(n):
        rng = np.random.default_rng(image_seed(cfg.version, split, i, stream=1))
        structure = choices[int(rng.integers(len(choices)))]
        spacing_pm = get_structure(structure).lattice.nearest_column_spacing_A * 100
        source = float(rng.uniform(20, 50))
        p = dict(structure=structure, shape=size, rotation_deg=float(rng.uniform(0, 360)),
                 pixel_size_A=pixel_size_for(structure, rng.uniform(3.0, 14.0)),
                 exponent=float(rng.uniform(1.6, 2.0)),
                 resolution_pm=float(min(rng.uniform(60, 260), 0.95 * spacing_pm, 280.0)),
                 source_size_pm=source, background=float(rng.uniform(0, 0.3)),
                 contrast=log_uniform(rng, 0.01, 1.0), psnr_db=float(rng.uniform(3, 30)),
                 flyback_error_px=float(rng.uniform(0, 1.5)) if rng.random() < 0.6 else 0.0,
                 random_drift=float(rng.uniform(0, 0.15)) if rng.random() < 0.4 else 0.0)
        p["resolution_pm"] = max(p["resolution_pm"], source + 15.0)
        if rng.random() < 0.3:
            p.update(dose_e_per_A2=log_uniform(rng, 30, 1e4), psnr_db=None)
        if rng.random() < 0.15:
            p.update(probe="aberration", resolution_pm=None, semiangle_mrad=float(rng.uniform(18, 30)),
                     defocus_A=float(rng.uniform(-40, 40)), cs_mm=float(rng.uniform(0, 0.005)))
            p["pixel_size_A"] = _aberration_pixel_cap(p)
        specs.append(ImageSpec(f"{split}-{i:05d}", split, f"{split}_{structure}",
                               ImageParams(**p, seed=image_seed(cfg.version, split, i))))
    return specs


def split_specs(config: BenchmarkConfig, split: str) -> list[ImageSpec]:
    """The ordered list of images of ``split`` under ``config``.

    Raises
    ------
    ValueError
        For an unknown split name.
    """
    if split == "test":
        return _test_specs(config)
    if split == "generality":
        return _generality_specs(config)
    if split == "train":
        return _random_specs(config, "train", config.n_train)
    if split == "val":
        return _random_specs(config, "val", config.n_val)
    raise ValueError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)}.")


