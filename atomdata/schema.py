"""Typed data model of one benchmark image and of a dataset version.

Conventions used everywhere in atomdata
---------------------------------------
* Positions are ``(x, y)`` in **pixels**: ``x`` is the column index, ``y`` the
  row index, and the origin is the *centre* of the top-left pixel. Arrays of
  positions have shape ``(N, 2)``; images are indexed ``image[y, x]``. A
  position is inside an image of shape ``(H, W)`` when ``-0.5 <= x < W - 0.5``
  and ``-0.5 <= y < H - 0.5``.
* Physical quantities carry their unit in the field name (``pixel_size_A``,
  ``resolution_pm``, ``dose_e_per_A2``) and in the field description.

The models are pydantic v2 models; :func:`json_schemas` exports their JSON
Schema (checked in under ``schemas/`` by ``scripts/make_schemas.py``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Iterable, Literal, Optional

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    BeforeValidator,
    field_validator,
    model_validator,
)

__all__ = [
    "SCHEMA_VERSION",
    "StructureKind",
    "Lattice",
    "Column",
    "ColumnSet",
    "MetricValue",
    "QualityMetrics",
    "Provenance",
    "ImageRecord",
    "SplitInfo",
    "Creator",
    "DatasetManifest",
    "SPLITS",
    "json_schemas",
    "check_xy",
]

#: Version of this data model. Files written with another *major* version are
#: refused by the readers; bump the minor version for backwards-compatible
#: additions (new optional fields).
SCHEMA_VERSION = "1.0.0"

#: Split names used by atomdata's own benchmark.
SPLITS = ("train", "val", "test", "generality")

_STRICT = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def check_xy(xy, name: str = "positions") -> np.ndarray:
    """Return ``xy`` as a float64 ``(N, 2)`` array of (x, y) px, or raise a clear ``ValueError``.

    Examples
    --------
    >>> check_xy([[1, 2], [3, 4]]).shape
    (2, 2)
    >>> check_xy([]).shape
    (0, 2)
    """
    a = np.asarray(xy, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 2)
    if a.ndim != 2 or a.shape[1] != 2:
        hint = " (transposed? use an (N, 2) array of (x, y) rows)" if a.ndim == 2 and a.shape[0] == 2 else ""
        raise ValueError(f"{name} must have shape (N, 2) as (x, y) px, got shape {a.shape}{hint}")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} row {i} is not finite: {a[i].tolist()} (x, y px); {int(bad.sum())} such row(s). "
            "Remove NaN/inf positions before scoring."
        )
    return a


def _finite(name: str, value: Optional[float]) -> Optional[float]:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


class StructureKind(str, Enum):
    """What kind of specimen an image shows."""

    bulk = "bulk"
    monolayer = "monolayer"
    interface = "interface"
    grain_boundary = "grain_boundary"
    defect = "defect"
    other = "other"


_ZONE_AXIS = re.compile(r"^\[-?\d+(\s*-?\d+){2,3}\]$|^\[(-?\d){3,4}\]$")


class Lattice(BaseModel):
    """The crystal shown in an image: material, projection and cell.

    Lattice parameters are in Angstrom [Å], angles in degrees.
    """

    model_config = _STRICT

    material: str = Field(min_length=1, description="Material name, e.g. 'SrTiO3' or 'WS2'.")
    formula: str = Field(min_length=1, description="Chemical formula of the cell, e.g. 'SrTiO3'.")
    zone_axis: str = Field(
        description="Projection direction in Miller(-Bravais) indices, e.g. '[100]' or '[0001]'."
    )
    space_group: Optional[int] = Field(
        default=None, ge=1, le=230, description="International space-group number (1-230)."
    )
    a_A: Optional[float] = Field(default=None, gt=0, description="Lattice parameter a [Å].")
    b_A: Optional[float] = Field(default=None, gt=0, description="Lattice parameter b [Å].")
    c_A: Optional[float] = Field(default=None, gt=0, description="Lattice parameter c [Å].")
    alpha_deg: Optional[float] = Field(default=None, gt=0, lt=180, description="Cell angle alpha [deg].")
    beta_deg: Optional[float] = Field(default=None, gt=0, lt=180, description="Cell angle beta [deg].")
    gamma_deg: Optional[float] = Field(default=None, gt=0, lt=180, description="Cell angle gamma [deg].")
    kind: StructureKind = Field(default=StructureKind.bulk, description="Specimen kind.")
    in_plane_rotation_deg: float = Field(
        default=0.0, description="Rotation of the projected cell in the image plane [deg]."
    )
    nearest_column_spacing_A: Optional[float] = Field(
        default=None, gt=0, description="Smallest distance between two target columns [Å]."
    )
    description: Optional[str] = Field(default=None, description="Free text, e.g. the defect.")

    @field_validator("zone_axis")
    @classmethod
    def _check_zone_axis(cls, v: str) -> str:
        v = v.strip()
        if not _ZONE_AXIS.match(v):
            raise ValueError(
                f"zone_axis must look like '[100]', '[110]' or '[0001]', got {v!r}"
            )
        return v

    @field_validator("a_A", "b_A", "c_A", "in_plane_rotation_deg", "nearest_column_spacing_A")
    @classmethod
    def _check_finite(cls, v, info):
        return _finite(info.field_name, v)


class Column(BaseModel):
    """One projected atomic column: the label of a benchmark image.

    ``x``, ``y`` are in pixels (x = column index, y = row index, origin at the
    centre of the top-left pixel).
    """

    model_config = _STRICT

    x: float = Field(description="Column position x [px] (column index).")
    y: float = Field(description="Column position y [px] (row index).")
    species: str = Field(min_length=1, description="Column type, e.g. 'Sr', 'Ti-O', 'O', 'W', 'S2'.")
    target: bool = Field(
        default=True,
        description="True when the column counts as ground truth for scoring (HAADF-visible).",
    )

    @field_validator("x", "y")
    @classmethod
    def _check_finite(cls, v, info):
        return _finite(info.field_name, v)


@dataclass(frozen=True, eq=False)
class ColumnSet:
    """The labelled columns of one image as arrays (fast for thousands of columns).

    Parameters
    ----------
    xy : ndarray, shape (N, 2), float64
        Column positions (x, y) [px]; x = column index, y = row index, origin at
        the centre of the top-left pixel.
    species : ndarray, shape (N,), str
        Column type per column, e.g. 'Sr', 'Ti-O', 'O'.
    target : ndarray, shape (N,), bool
        Whether each column is a scoring target. Non-target columns (e.g. O in
        HAADF images of SrTiO3) are kept as labels but not scored.

    Examples
    --------
    >>> cs = ColumnSet.from_arrays([[3.0, 4.5]], ["Sr"])
    >>> cs.target_xy
    array([[3. , 4.5]])
    """

    xy: np.ndarray
    species: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        xy = np.asarray(self.xy, dtype=np.float64)
        if xy.size == 0:
            xy = xy.reshape(0, 2)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"column positions must have shape (N, 2) as (x, y) px, got {xy.shape}")
        species = np.asarray(self.species, dtype=str).reshape(-1)
        target = np.asarray(self.target, dtype=bool).reshape(-1)
        n = xy.shape[0]
        if species.shape[0] != n or target.shape[0] != n:
            raise ValueError(
                f"column arrays disagree in length: xy has {n}, species {species.shape[0]}, "
                f"target {target.shape[0]}"
            )
        if n and not np.isfinite(xy).all():
            bad = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
            raise ValueError(f"column {bad} has a non-finite position {xy[bad].tolist()} (x, y px)")
        if n and (species == "").any():
            raise ValueError(f"column {int(np.flatnonzero(species == '')[0])} has an empty species")
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "target", target)

    @classmethod
    def from_arrays(cls, xy, species, target=None) -> "ColumnSet":
        """Build from positions (x, y) [px], species names and optional target flags (default all True)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if isinstance(species, str):
            species = [species] * xy.shape[0]
        if target is None:
            target = np.ones(xy.shape[0], dtype=bool)
        return cls(xy, np.asarray(species, dtype=str), np.asarray(target, dtype=bool))

    @classmethod
    def empty(cls) -> "ColumnSet":
        """A set with no columns."""
        return cls(np.zeros((0, 2)), np.zeros(0, dtype=str), np.zeros(0, dtype=bool))

    @classmethod
    def from_columns(cls, columns: Iterable[Column | dict]) -> "ColumnSet":
        """Build from :class:`Column` models or dicts with keys x, y, species, target."""
        cols = [c if isinstance(c, Column) else Column.model_validate(c) for c in columns]
        if not cols:
            return cls.empty()
        return cls(
            np.array([[c.x, c.y] for c in cols], dtype=np.float64),
            np.array([c.species for c in cols], dtype=str),
            np.array([c.target for c in cols], dtype=bool),
        )

    def to_columns(self) -> list[Column]:
        """Return the columns as a list of :class:`Column` models."""
        return [
            Column(x=float(x), y=float(y), species=str(s), target=bool(t))
            for (x, y), s, t in zip(self.xy, self.species, self.target)
        ]

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def __eq__(self, other) -> bool:
        if not isinstance(other, ColumnSet):
            return NotImplemented
        return (
            np.array_equal(self.xy, other.xy)
            and np.array_equal(self.species, other.species)
            and np.array_equal(self.target, other.target)
        )

    def __repr__(self) -> str:
        kinds = ", ".join(f"{s}: {int((self.species == s).sum())}" for s in self.species_names)
        return f"ColumnSet({len(self)} columns, {int(self.target.sum())} targets; {kinds})"

    @property
    def species_names(self) -> list[str]:
        """Sorted unique species names."""
        return sorted(set(self.species.tolist()))

    @property
    def target_xy(self) -> np.ndarray:
        """Positions (x, y) [px] of the scoring-target columns, shape (M, 2)."""
        return self.xy[self.target]

    def subset(self, mask) -> "ColumnSet":
        """Columns selected by a boolean mask or index array."""
        return ColumnSet(self.xy[mask], self.species[mask], self.target[mask])

    def check_inside(self, shape: tuple[int, int]) -> None:
        """Raise ``ValueError`` if a column lies outside an image of ``shape = (H, W)``.

        Inside means ``-0.5 <= x < W - 0.5`` and ``-0.5 <= y < H - 0.5`` (pixel
        centres at integer coordinates).
        """
        if not len(self):
            return
        h, w = shape
        x, y = self.xy[:, 0], self.xy[:, 1]
        bad = (x < -0.5) | (x >= w - 0.5) | (y < -0.5) | (y >= h - 0.5)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"column {i} at (x, y) = ({x[i]:.3f}, {y[i]:.3f}) px lies outside the image of "
                f"shape (H, W) = ({h}, {w}); valid x is [-0.5, {w - 0.5}), y is [-0.5, {h - 0.5})"
            )


def _to_column_set(v: Any) -> ColumnSet:
    if isinstance(v, ColumnSet):
        return v
    if v is None:
        return ColumnSet.empty()
    if isinstance(v, (list, tuple)):
        return ColumnSet.from_columns(v)
    raise TypeError(f"columns must be a ColumnSet or a list of columns, got {type(v).__name__}")


ColumnsField = Annotated[
    ColumnSet,
    BeforeValidator(_to_column_set),
    PlainSerializer(lambda cs: [c.model_dump() for c in cs.to_columns()], return_type=list),
    WithJsonSchema({"type": "array", "items": Column.model_json_schema(), "description": "Labelled columns."}),
]


class MetricValue(BaseModel):
    """An image-quality metric: the value set by the generator and/or measured on the image."""

    model_config = _STRICT

    nominal: Optional[float] = Field(default=None, description="Value requested from the generator.")
    measured: Optional[float] = Field(default=None, description="Value measured on the final image.")

    @field_validator("nominal", "measured", mode="before")
    @classmethod
    def _check(cls, v, info):
        if v is None:
            return v
        if isinstance(v, (str, bytes)) or isinstance(v, bool):
            raise ValueError(f"{info.field_name} must be a number, got {v!r}")
        return _finite(info.field_name, float(v))

    @property
    def value(self) -> Optional[float]:
        """The measured value when there is one, else the nominal value."""
        return self.measured if self.measured is not None else self.nominal


def _metric(description: str):
    return Field(default_factory=MetricValue, description=description)


#: Quality metrics and the direction in which images get harder.
METRIC_FIELDS = {
    "atoms_per_100px": "higher",
    "contrast": "lower",
    "psnr_db": "lower",
    "resolution_pm": "higher",
    "dose_e_per_A2": "lower",
    "flyback_error_px": "higher",
    "random_drift": "higher",
    "background": "higher",
}


class QualityMetrics(BaseModel):
    """Image-quality metrics of one image (Wei et al. 2023 definitions).

    Every metric holds a ``nominal`` value (set by the generator) and a
    ``measured`` value (computed on the final image) where it can be measured.
    """

    model_config = _STRICT

    pixel_size_A: float = Field(gt=0, description="Pixel size [Å/px].")
    atoms_per_100px: MetricValue = _metric(
        "Sampling: 100 * pixel size / nearest target-column spacing [atoms per 100 px]."
    )
    contrast: MetricValue = _metric("Contrast (max - min) / max of the image [dimensionless, 0-1].")
    psnr_db: MetricValue = _metric("Peak signal-to-noise ratio against the noise-free image [dB].")
    resolution_pm: MetricValue = _metric("Effective probe FWHM [pm].")
    dose_e_per_A2: MetricValue = _metric("Electron dose [e-/Å²]; nominal None means noise-free.")
    flyback_error_px: MetricValue = _metric("RMS per-scan-line flyback jitter along x [px].")
    random_drift: MetricValue = _metric(
        "Slow random drift amplitude as a fraction of the image size [dimensionless]."
    )
    background: MetricValue = _metric(
        "Mean background added under the columns, as a fraction of the peak column intensity."
    )

    @field_validator("pixel_size_A", mode="before")
    @classmethod
    def _check_pixel(cls, v):
        if isinstance(v, (str, bytes, bool)):
            raise ValueError(f"pixel_size_A must be a number in Å/px, got {v!r}")
        if v is not None and isinstance(v, (int, float)) and v <= 0:
            raise ValueError(f"pixel_size_A must be > 0, got {v}")
        return v

    @field_validator("contrast")
    @classmethod
    def _check_contrast(cls, v: MetricValue) -> MetricValue:
        for which in ("nominal", "measured"):
            c = getattr(v, which)
            if c is not None and not (0.0 <= c <= 1.0 + 1e-9):
                raise ValueError(f"contrast.{which} must be within [0, 1], got {c}")
        return v

    @field_validator("resolution_pm", "dose_e_per_A2", "atoms_per_100px")
    @classmethod
    def _check_positive(cls, v: MetricValue, info) -> MetricValue:
        for which in ("nominal", "measured"):
            c = getattr(v, which)
            if c is not None and c <= 0:
                raise ValueError(f"{info.field_name}.{which} must be > 0, got {c}")
        return v

    @field_validator("flyback_error_px", "random_drift", "background")
    @classmethod
    def _check_nonneg(cls, v: MetricValue, info) -> MetricValue:
        for which in ("nominal", "measured"):
            c = getattr(v, which)
            if c is not None and c < 0:
                raise ValueError(f"{info.field_name}.{which} must be >= 0, got {c}")
        return v

    def values(self) -> dict[str, Optional[float]]:
        """Flat dict metric -> best value (measured if available, else nominal), plus pixel_size_A."""
        out: dict[str, Optional[float]] = {"pixel_size_A": self.pixel_size_A}
        for name in METRIC_FIELDS:
            out[name] = getattr(self, name).value
        return out


class Provenance(BaseModel):
    """Where an image came from and how to make it again."""

    model_config = _STRICT

    kind: Literal["simulated", "experimental"] = Field(description="Simulated or experimental image.")
    simulator: Optional[str] = Field(default=None, description="Simulator name, e.g. 'atomdata.simulate'.")
    simulator_version: Optional[str] = Field(default=None, description="Simulator version.")
    seed: Optional[int] = Field(default=None, ge=0, description="Random seed of the image.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="All generator parameters (JSON-serialisable)."
    )
    source: Optional[str] = Field(
        default=None, description="Origin of an experimental image (instrument, paper, dataset DOI)."
    )
    license: Optional[str] = Field(default=None, description="Licence of an experimental image.")

    @model_validator(mode="after")
    def _check_kind(self):
        if self.kind == "simulated" and self.simulator is None:
            raise ValueError("provenance.simulator is required when kind == 'simulated'")
        return self


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]*$")


class ImageRecord(BaseModel):
    """Everything about one benchmark image except its pixels.

    ``columns`` are the labels as a :class:`ColumnSet` (positions (x, y) in px,
    x = column index, y = row index, origin at the centre of the top-left
    pixel); they must lie inside the image.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_assignment=True)

    image_id: str = Field(description="Unique id of the image within the dataset version.")
    split: str = Field(min_length=1, description="Split name, e.g. 'train', 'test'.")
    subset: str = Field(min_length=1, description="Subset, e.g. 'sto_sim_resolution'.")
    shape: tuple[int, int] = Field(description="Image shape (H, W) [px].")
    dtype: str = Field(description="numpy dtype of the stored image, e.g. 'uint16', 'float32'.")
    lattice: Lattice
    quality: QualityMetrics
    provenance: Provenance
    columns: ColumnsField = Field(default_factory=ColumnSet.empty)
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Source metadata that has no field of its own (kept, not dropped)."
    )

    @field_validator("image_id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                f"image_id must start with a letter or digit and use only letters, digits and "
                f"_ . : - /, got {v!r}"
            )
        return v

    @field_validator("shape")
    @classmethod
    def _check_shape(cls, v):
        if v[0] < 1 or v[1] < 1:
            raise ValueError(f"shape must be (H, W) with H, W >= 1, got {v}")
        return v

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, v: str) -> str:
        try:
            dt = np.dtype(v)
        except TypeError as e:
            raise ValueError(f"dtype must be a numpy dtype name, got {v!r}") from e
        if dt.kind not in "uif":
            raise ValueError(f"dtype must be an integer or float dtype, got {v!r}")
        return dt.name

    @model_validator(mode="after")
    def _check_columns_inside(self):
        self.columns.check_inside(self.shape)
        return self

    @property
    def pixel_size_A(self) -> float:
        """Pixel size [Å/px] (shortcut to ``quality.pixel_size_A``)."""
        return self.quality.pixel_size_A

    def metadata_json(self) -> str:
        """JSON of the record without the columns (they are stored as arrays)."""
        return self.model_dump_json(exclude={"columns"})


class SplitInfo(BaseModel):
    """One split file of a dataset version."""

    model_config = _STRICT

    file: str = Field(description="File name relative to the manifest, e.g. 'test.h5'.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, hex.")
    size_bytes: int = Field(ge=0, description="File size [bytes].")
    n_images: int = Field(ge=0, description="Number of images.")
    n_columns: int = Field(ge=0, description="Number of labelled columns (all species).")
    subsets: dict[str, int] = Field(default_factory=dict, description="Images per subset.")
    url: Optional[str] = Field(default=None, description="Public HTTPS URL of the file, if published.")


class Creator(BaseModel):
    """A dataset creator (DataCite-style)."""

    model_config = _STRICT

    name: str = Field(min_length=1, description="'Family, Given' or an organisation name.")
    affiliation: Optional[str] = None
    orcid: Optional[str] = Field(default=None, pattern=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")


_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-]+)?$")


class DatasetManifest(BaseModel):
    """A dataset version: identity, licence, creators and its split files with checksums."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", description="Dataset name, e.g. 'atomdata-benchmark'.")
    version: str = Field(description="Semantic version 'MAJOR.MINOR.PATCH'.")
    title: str = Field(min_length=1)
    description: str = Field(default="")
    license: str = Field(default="CC-BY-4.0", description="SPDX licence id of the data.")
    creators: list[Creator] = Field(default_factory=list)
    doi: Optional[str] = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    source_id: Optional[str] = Field(default=None, description="Foundry/MDF source id, e.g. '..._v1.0'.")
    schema_version: str = Field(default=SCHEMA_VERSION)
    generator: dict[str, Any] = Field(default_factory=dict, description="Builder name, version and config.")
    splits: dict[str, SplitInfo] = Field(default_factory=dict)
    created: Optional[str] = Field(default=None, description="ISO 8601 creation time.")

    @field_validator("version", "schema_version")
    @classmethod
    def _check_semver(cls, v: str, info) -> str:
        if not _SEMVER.match(v):
            raise ValueError(f"{info.field_name} must be a semantic version like '1.0.0', got {v!r}")
        return v

    @property
    def n_images(self) -> int:
        """Total number of images over all splits."""
        return sum(s.n_images for s in self.splits.values())


def json_schemas() -> dict[str, dict]:
    """JSON Schema of every public model, keyed by file stem (e.g. 'image_record')."""
    schemas = {
        "image_record": ImageRecord.model_json_schema(),
        "dataset_manifest": DatasetManifest.model_json_schema(),
        "column": Column.model_json_schema(),
    }
    for key, s in schemas.items():
        s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        s["$id"] = f"https://atomdata.org/schemas/{SCHEMA_VERSION}/{key}.json"
    return schemas
