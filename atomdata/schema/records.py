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

The models are pydantic v2 models; :func:`atomdata.schema.json_schemas` exports
their JSON Schema (checked in under ``schemas/`` by ``scripts/make_schemas.py``).
"""
from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from atomdata.schema.checks import check_finite, check_pixel_size
from atomdata.schema.columns import ColumnSet, ColumnsField

__all__ = [
    "StructureKind",
    "Lattice",
    "MetricValue",
    "METRIC_FIELDS",
    "QualityMetrics",
    "Provenance",
    "ImageRecord",
]

_STRICT = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


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
    def _checkcheck_finite(cls, v, info):
        return check_finite(info.field_name, v)


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
        return check_finite(info.field_name, float(v))

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
        return check_pixel_size(v)

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
