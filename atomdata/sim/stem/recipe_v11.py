"""Benchmark version 1.1.0: the test sweeps made the way Wei et al. (2023) made theirs.

Every image is formed by :func:`atomdata.sim.stem.frames.form_image` (a counted frame with shot
noise, then Wei et al.'s blur, added Poisson noise and 8-bit min-max image; the float frame is
stored beside it as the array ``raw``) and is a pure function of ``(version, split, index)``.
``docs/benchmark-1.1.md`` gives the source of every number below (published fact, inferred from
their notebooks, or our choice).

Splits of version 1.1.0
-----------------------
``test``
    One-metric sweeps of SrTiO3 [100] (``sto``) and WS2 (``ws2``) over the published swept values
    (``PUBLISHED_SWEEPS``), extended where the published range stops before a model fails
    (``EXTENSIONS``). Subsets ``<material>_sim_<metric>``, ``record.extra["sweep"] = {"metric",
    "value", "seed_index"}``. All sweeps of a material share one degraded baseline frame per seed
    (same structure offset, scan path and shot noise), as Wei et al.'s contrast, resolution and
    Poisson sweeps started from one frame; each sweep changes only its own step.
``generality``
    The hard structures at typical quality, combined degradations and an aberration-limited probe,
    as in 1.0.0, formed the 1.1.0 way.
``train`` / ``val``
    Domain-randomised over structures, rotations and every step of the image formation.

The visibility rule (:mod:`atomdata.sim.stem.visibility`) is applied to every image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar, Optional

import numpy as np

from atomdata.schema import SPLITS
from atomdata.sim.recipe import Sample, cached_specs, config_fingerprint
from atomdata.sim.seeds import image_seed, log_uniform
from atomdata.sim.stem.benchmark import pixel_size_for
from atomdata.sim.stem.catalog import STRUCTURES, get_structure
from atomdata.sim.stem.degrade import added_blur_pm
from atomdata.sim.stem.frames import FRAMES_VERSION, FrameParams, form_image
from atomdata.sim.stem.image import SIMULATOR_VERSION

__all__ = ["VERSION", "MADE_BY", "BASELINES", "PUBLISHED_SWEEPS", "EXTENSIONS", "V11Config", "FrameSpec",
           "v11_config", "v11_specs", "sweep_params"]

#: The dataset version this module defines.
VERSION = "1.1.0"
#: The release that defined the bytes of 1.1.0 (recorded in its files, see ``benchmark.MADE_BY``).
MADE_BY = "atomdata 0.2.0"
_DATASET_NAME = "atomdata-benchmark"
_MATERIALS = {"sto": "sto100", "ws2": "ws2"}
_HARD = ("si110", "gaas110", "graphene_si", "sto100_defects", "sto_lao_interface", "sto_gb_sigma5")

#: Baseline of each material's sweeps (FrameParams fields). See docs/benchmark-1.1.md for sources.
BASELINES = {
    "sto": dict(pixel_size_A=0.227, probe_fwhm_pm=80.0, peak_counts=55.0, background=0.3,
                flyback_error_px=0.1, random_drift=0.04),
    "ws2": dict(pixel_size_A=0.15, probe_fwhm_pm=80.0, peak_counts=12.0, background=0.2,
                flyback_error_px=0.1, random_drift=0.04),
}

#: The published swept values (Wei et al. notebooks; wei2022_sweeps.md section 2).
PUBLISHED_SWEEPS = {
    "sto": {
        "atoms_per_100px": (2.760, 3.907, 5.663, 7.849, 8.136, 8.208, 8.280, 8.423, 8.961, 11.075, 11.111, 15.699),
        "resolution_pm": (128.06, 136.01, 144.22, 152.64, 161.25, 170.0, 178.89, 187.88, 192.42, 196.98, 201.56,
                          206.16),
        "contrast": (0.005, 0.018, 0.032, 0.046, 0.135, 0.178, 0.221, 0.264, 0.306, 0.347, 0.388, 0.429, 0.626,
                     0.815, 0.998),
        "psnr_db": (3.91, 5.04, 5.58, 6.06, 8.43, 13.18, 13.21, 13.99, 14.24, 14.49, 15.75, 18.34),
        "flyback_error_px": (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.7, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4,
                             2.5),
        "random_drift": (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.11, 0.15, 0.16, 0.17, 0.18),
    },
    "ws2": {
        "atoms_per_100px": tuple(round(px / 1.842, 3) for px in (10, 12.5, 15, 17.5, 20, 22.5, 25, 27.5, 30, 32.5, 35)),
        "resolution_pm": (106.3, 113.1, 120.4, 128.1, 136.0, 144.2, 152.6, 161.2, 170.0, 178.9, 215.4, 224.7, 234.1,
                          243.5, 253.0, 262.5, 272.0, 281.6, 291.2, 300.8),
        "psnr_db": (2.04, 3.82, 5.71, 7.76, 10.0, 12.57, 15.38, 18.75, 22.69, 27.58),
        "flyback_error_px": tuple(round(0.5 + 0.2 * k, 1) for k in range(14)) + (3.3, 3.5, 3.7, 3.9),
        "random_drift": tuple(round(0.02 * k, 2) for k in range(1, 16)),
    },
}

#: Our additions: the baseline point of each sweep and values past the published ends, where a model had
#: not failed yet (or, for WS2 contrast, a list the authors did not publish: the STO list).
EXTENSIONS = {
    "sto": {
        "atoms_per_100px": (19.0, 22.0),
        "resolution_pm": (80.0, 215.4, 224.7, 234.1, 243.5, 253.0, 262.5, 272.0, 281.6, 291.2, 300.8),
        "contrast": (),
        "psnr_db": (2.04, 22.69, 27.58),
        "flyback_error_px": (2.7, 3.0, 3.5),
        "random_drift": (0.20, 0.25, 0.30),
    },
    "ws2": {
        "atoms_per_100px": (2.5, 3.5, 22.0),
        "resolution_pm": (80.0,),
        "contrast": PUBLISHED_SWEEPS["sto"]["contrast"],
        "psnr_db": (),
        "flyback_error_px": (0.0, 0.1, 0.3),
        "random_drift": (0.0, 0.34),
    },
}

_SWEEP_ORDER = ("atoms_per_100px", "contrast", "psnr_db", "resolution_pm", "flyback_error_px", "random_drift")


def _sweeps(material: str) -> dict[str, tuple]:
    out = {}
    for metric in _SWEEP_ORDER:
        values = PUBLISHED_SWEEPS[material].get(metric, ()) + EXTENSIONS[material].get(metric, ())
        out[metric] = tuple(sorted({float(v) for v in values}))
    return out


def sweep_params(material: str, metric: str, value: float, *, baseline: Optional[dict] = None,
                 shape=(256, 256), seed: int = 0) -> FrameParams:
    """The :class:`FrameParams` of one sweep point: the material's baseline with one step changed.

    ``baseline`` replaces :data:`BASELINES` ``[material]`` (for sensitivity studies).

    Examples
    --------
    >>> p = sweep_params("sto", "resolution_pm", 128.06)
    >>> round(p.added_blur_pm, 1), p.pixel_size_A
    (100.0, 0.227)
    """
    base = dict(BASELINES[material] if baseline is None else baseline)
    p = FrameParams(structure=_MATERIALS[material], shape=tuple(shape), seed=seed, **base)
    if metric == "atoms_per_100px":
        return replace(p, pixel_size_A=value * get_structure(p.structure).lattice.nearest_column_spacing_A / 100.0)
    if metric == "resolution_pm":
        return replace(p, added_blur_pm=added_blur_pm(value, p.probe_fwhm_pm))
    if metric in ("contrast", "psnr_db", "flyback_error_px", "random_drift"):
        return replace(p, **{metric: float(value)})
    raise ValueError(f"unknown sweep metric {metric!r}; valid: {', '.join(_SWEEP_ORDER)}")


@dataclass(frozen=True)
class FrameSpec:
    """One image to build: identity, subset, formation parameters and extra record fields."""

    image_id: str
    split: str
    subset: str
    params: FrameParams
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class V11Config:
    """All numbers that define benchmark 1.1.0 (a :class:`atomdata.sim.recipe.Recipe`)."""

    dataset_name: ClassVar[str] = _DATASET_NAME

    version: str
    image_size: int = 256
    seeds_per_point: int = 8
    sweeps: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    generality_per_subset: int = 24
    n_train: int = 2000
    n_val: int = 200
    shard_size: int = 64
    quick: bool = False

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored in the manifest)."""
        d = asdict(self)
        d["sweeps"] = {m: {k: list(v) for k, v in s.items()} for m, s in self.sweeps.items()}
        return d

    @property
    def made_by(self) -> str:
        """The release recorded in 1.1.0's files (:data:`MADE_BY`)."""
        return MADE_BY

    @property
    def simulator_version(self) -> str:
        """Versions of the frame renderer and of the 1.1.0 image formation."""
        return f"{SIMULATOR_VERSION}+frames{FRAMES_VERSION}"

    def fingerprint(self) -> str:
        """Short hash of the config and the image formation: shards of another fingerprint are never reused."""
        return config_fingerprint(self.to_dict(), self.simulator_version)

    @property
    def splits(self) -> tuple[str, ...]:
        """Split names in manifest order."""
        return SPLITS

    def manifest_text(self) -> tuple[str, str]:
        """``(title, description)`` written into the manifest."""
        description = ("Simulated HAADF-STEM images made the way Wei et al. (2023) made theirs: counted frames with "
                       "shot noise, their blur, added Poisson noise and 8-bit min-max images (float frames stored "
                       "as 'raw'); one-metric sweeps of SrTiO3 [100] and WS2 over the published values (test), "
                       "hard structures (generality) and domain-randomised training data (train, val). Columns the "
                       "noise-free image does not resolve are not scored."
                       + (" QUICK build for tests: not the benchmark." if self.quick else ""))
        return "atomdata benchmark 1.1: simulated HAADF-STEM images for locating atomic columns", description

    def n_images(self, split: str) -> int:
        """Number of images of ``split``."""
        return len(cached_specs(self, split, v11_specs))

    def make(self, split: str, index: int) -> Sample:
        """Form image ``index`` of ``split``: the 8-bit image, its record and the float frame as ``raw``."""
        spec = cached_specs(self, split, v11_specs)[index]
        im = form_image(spec.params)
        record = im.to_record(image_id=spec.image_id, split=split, subset=spec.subset, made_by=self.made_by,
                              extra=spec.extra)
        return Sample(record, im.image, {"raw": im.raw})


def v11_config(*, quick: bool = False, version: Optional[str] = None) -> V11Config:
    """The config of benchmark 1.1.0 (``quick=True``: 64 x 64 px, 3 points per sweep, 2 seeds, ``1.1.0-quick``).

    Examples
    --------
    >>> cfg = v11_config(quick=True)
    >>> cfg.version, cfg.image_size, len(cfg.sweeps["sto"]["resolution_pm"])
    ('1.1.0-quick', 64, 3)
    """
    version = VERSION if version is None else version
    if version.split("-")[0] != VERSION:
        raise ValueError(f"v11_config makes version {VERSION}, got {version!r}")
    sweeps = {m: _sweeps(m) for m in _MATERIALS}
    baselines = {m: dict(b) for m, b in BASELINES.items()}
    if quick:
        sweeps = {m: {k: (v[0], v[len(v) // 2], v[-1]) for k, v in s.items()} for m, s in sweeps.items()}
        return V11Config(version=VERSION + "-quick", image_size=64, seeds_per_point=2, sweeps=sweeps,
                         baselines=baselines, generality_per_subset=2, n_train=24, n_val=12, shard_size=16,
                         quick=True)
    return V11Config(version=VERSION, sweeps=sweeps, baselines=baselines)


def _test_specs(cfg: V11Config) -> list[FrameSpec]:
    specs = []
    shape = (cfg.image_size, cfg.image_size)
    for mat in _MATERIALS:
        for metric, values in cfg.sweeps[mat].items():
            for value in values:
                for k in range(cfg.seeds_per_point):
                    seed = image_seed(cfg.version, f"test-{mat}", k)  # one degraded baseline per seed and material
                    i = len(specs)
                    specs.append(FrameSpec(
                        image_id=f"test-{i:05d}", split="test", subset=f"{mat}_sim_{metric}",
                        params=sweep_params(mat, metric, value, baseline=cfg.baselines[mat], shape=shape, seed=seed),
                        extra={"sweep": {"metric": metric, "value": value, "seed_index": k}}))
    return specs




def _aberration(rng, p: dict) -> dict:
    from atomdata.sim.stem.probe import AberrationProbe

    p.update(probe="aberration", semiangle_mrad=float(rng.uniform(18, 30)), defocus_A=float(rng.uniform(-40, 40)),
             cs_mm=float(rng.uniform(0, 0.005)))
    cap = 0.95 * AberrationProbe(p["semiangle_mrad"], energy_keV=200.0).max_pixel_size_A()
    p["pixel_size_A"] = float(min(p["pixel_size_A"], cap))  # sampled without refining the grid (speed)
    return p


def _generality_specs(cfg: V11Config) -> list[FrameSpec]:
    shape = (cfg.image_size, cfg.image_size)
    plan = [(f"gen_{s}", s, "typical") for s in _HARD]
    plan += [(f"gen_{m}_combined", s, "combined") for m, s in _MATERIALS.items()]
    plan += [("gen_sto_aberration", "sto100", "aberration")]
    specs = []
    for subset, structure, kind in plan:
        for _ in range(cfg.generality_per_subset):
            i = len(specs)
            rng = np.random.default_rng(image_seed(cfg.version, "generality", i, stream=1))
            p = dict(structure=structure, shape=shape, rotation_deg=float(rng.uniform(0, 360)),
                     pixel_size_A=pixel_size_for(structure, rng.uniform(4.0, 8.0)), probe_fwhm_pm=80.0,
                     background=float(rng.uniform(0.1, 1.0)), peak_counts=float(rng.uniform(30, 100)),
                     flyback_error_px=float(rng.uniform(0, 0.5)), random_drift=float(rng.uniform(0, 0.05)))
            if kind == "combined":
                p.update(added_blur_pm=float(rng.uniform(80, 150)), psnr_db=float(rng.uniform(8, 16)),
                         contrast=log_uniform(rng, 0.1, 0.6), flyback_error_px=float(rng.uniform(0.5, 1.5)),
                         random_drift=float(rng.uniform(0.03, 0.1)))
            elif kind == "aberration":
                p = _aberration(rng, p)
            specs.append(FrameSpec(f"generality-{i:05d}", "generality", subset,
                                   FrameParams(**p, seed=image_seed(cfg.version, "generality", i))))
    return specs


def _random_specs(cfg: V11Config, split: str, n: int) -> list[FrameSpec]:
    shape = (cfg.image_size, cfg.image_size)
    choices = STRUCTURES + tuple(_MATERIALS.values())  # the two sweep materials twice as often
    specs = []
    for i in range(n):
        rng = np.random.default_rng(image_seed(cfg.version, split, i, stream=1))
        structure = choices[int(rng.integers(len(choices)))]
        p = dict(structure=structure, shape=shape, rotation_deg=float(rng.uniform(0, 360)),
                 pixel_size_A=pixel_size_for(structure, rng.uniform(2.5, 20.0)), probe_fwhm_pm=float(rng.uniform(60, 100)),
                 exponent=float(rng.uniform(1.6, 2.0)), background=log_uniform(rng, 0.01, 5.0),
                 peak_counts=log_uniform(rng, 5.0, 500.0),
                 flyback_error_px=float(rng.uniform(0, 2.5)) if rng.random() < 0.6 else 0.0,
                 random_drift=float(rng.uniform(0, 0.2)) if rng.random() < 0.4 else 0.0)
        if rng.random() < 0.4:
            p["added_blur_pm"] = float(rng.uniform(0, 200))
        if rng.random() < 0.4:
            p["psnr_db"] = float(rng.uniform(3, 25))
        if rng.random() < 0.1:
            p = _aberration(rng, p)
        specs.append(FrameSpec(f"{split}-{i:05d}", split, f"{split}_{structure}",
                               FrameParams(**p, seed=image_seed(cfg.version, split, i))))
    return specs


def v11_specs(config: V11Config, split: str) -> list[FrameSpec]:
    """The ordered images of ``split`` under ``config`` (``ValueError`` naming the valid splits)."""
    if split == "test":
        return _test_specs(config)
    if split == "generality":
        return _generality_specs(config)
    if split in ("train", "val"):
        return _random_specs(config, split, config.n_train if split == "train" else config.n_val)
    raise ValueError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)}.")



