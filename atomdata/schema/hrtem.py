"""Typed record of the HRTEM nanoparticle-segmentation task: imaging conditions and particles.

An image of this task is an ordinary :class:`~atomdata.schema.ImageRecord` (no columns; its
``lattice`` names the particles' element and the zone axis of the largest particle) whose
``extra["hrtem"]`` holds an :class:`HRTEMRecord`. The segmentation labels are per-image arrays of
the split file (``mask``, ``instances``); ``HRTEMRecord.particles[k]`` describes instance ``k + 1``.
Keeping the task's record in ``extra`` leaves :class:`~atomdata.schema.ImageRecord` (and the bytes of
the atom-column benchmark) unchanged; :func:`hrtem_record` validates it where it is read.

Positions are (x, y) in pixels: x = column index, y = row index, origin at the centre of the
top-left pixel.
"""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from atomdata.schema.checks import check_finite, check_pixel_size

__all__ = ["ImagingConditions", "ParticleRecord", "HRTEMRecord", "hrtem_record", "EXTRA_KEY"]

#: Key of the task's record in ``ImageRecord.extra``.
EXTRA_KEY = "hrtem"
_STRICT = ConfigDict(extra="forbid")


class ImagingConditions(BaseModel):
    """Microscope, specimen support and camera settings of one HRTEM image."""

    model_config = _STRICT

    voltage_kV: float = Field(gt=0, description="Accelerating voltage [kV].")
    defocus_nm: float = Field(description="Defocus [nm]; positive = underfocus (Scherzer focus is positive).")
    Cs_mm: float = Field(description="Spherical aberration coefficient [mm].")
    astigmatism_nm: float = Field(default=0.0, ge=0, description="Twofold astigmatism amplitude [nm].")
    astigmatism_angle_deg: float = Field(default=0.0, description="Twofold astigmatism azimuth [deg].")
    aperture_mrad: Optional[float] = Field(default=None, gt=0, description="Objective aperture semi-angle [mrad].")
    focal_spread_nm: float = Field(ge=0, description="Focal spread (standard deviation) [nm].")
    convergence_mrad: float = Field(ge=0, description="Illumination convergence (1/e semi-angle) [mrad].")
    dose_e_per_A2: Optional[float] = Field(gt=0, description="Electron dose [e-/Å²]; None = noise-free image.")
    support_thickness_nm: float = Field(ge=0, description="Amorphous carbon support thickness [nm].")
    pixel_size_A: float = Field(gt=0, description="Pixel size [Å/px].")
    drift_px: float = Field(default=0.0, ge=0, description="Linear drift during the exposure [px].")
    mtf_c: float = Field(default=0.5, gt=0, description="Camera MTF Lorentzian half-width [Nyquist units].")
    mtf_b: float = Field(default=0.1, ge=0, le=1, description="Camera MTF plateau [0-1].")
    slice_thickness_A: float = Field(gt=0, description="Multislice slice thickness through the particles [Å].")
    support_slice_thickness_A: Optional[float] = Field(
        default=None, gt=0, description="Slice thickness through the support [Å]; None = slice_thickness_A.")

    @field_validator("pixel_size_A", mode="before")
    @classmethod
    def _pixel(cls, v):
        return check_pixel_size(v)

    @field_validator("defocus_nm", "Cs_mm", "astigmatism_angle_deg")
    @classmethod
    def _finite(cls, v, info):
        return check_finite(info.field_name, v)


class ParticleRecord(BaseModel):
    """One particle of an image: instance ``instance_id`` of the ``instances`` array."""

    model_config = _STRICT

    instance_id: int = Field(ge=1, description="Value of this particle in the instance image.")
    element: str = Field(min_length=1, description="Chemical element, e.g. 'Au'.")
    shape: str = Field(min_length=1, description="Shape, e.g. 'wulff', 'octahedron', 'decahedron'.")
    diameter_nm: float = Field(gt=0, description="Sphere-equivalent diameter from the atom count [nm].")
    projected_diameter_nm: float = Field(
        ge=0, description="Equivalent diameter of the labelled area inside the image, 2 sqrt(area / pi) [nm].")
    n_atoms: int = Field(ge=1, description="Number of atoms.")
    zone_axis: str = Field(description="Low-index zone axis the particle is turned to, e.g. '[110]'.")
    off_axis_deg: float = Field(ge=0, description="Tilt of that zone axis away from the beam [deg].")
    twinned: bool = Field(description="Has twin planes (a {111} twin, or a multiply twinned shape).")
    center_xy: tuple[float, float] = Field(description="Projected centre of mass (x, y) [px]; may lie outside.")
    area_px: int = Field(ge=0, description="Labelled pixels of this instance.")
    cut_by_border: bool = Field(description="Part of the particle's projection lies outside the image.")

    @field_validator("center_xy")
    @classmethod
    def _xy(cls, v):
        for c in v:
            check_finite("center_xy", c)
        return v


class HRTEMRecord(BaseModel):
    """The task's record of one image: its imaging conditions and its particles."""

    model_config = _STRICT

    conditions: ImagingConditions
    particles: list[ParticleRecord] = Field(default_factory=list)

    @field_validator("particles")
    @classmethod
    def _ids(cls, v: list[ParticleRecord]):
        ids = [p.instance_id for p in v]
        if ids != list(range(1, len(v) + 1)):
            raise ValueError(f"particles must have instance_id 1..{len(v)} in order, got {ids}")
        return v


def hrtem_record(extra: dict) -> HRTEMRecord:
    """The validated :class:`HRTEMRecord` in an image record's ``extra`` dict.

    Raises
    ------
    KeyError
        When ``extra`` has no ``"hrtem"`` entry (not an image of the HRTEM task).
    """
    if EXTRA_KEY not in extra:
        raise KeyError(f"record has no extra[{EXTRA_KEY!r}]: not an image of the HRTEM segmentation task "
                       f"(its extra keys: {sorted(extra) or 'none'})")
    return HRTEMRecord.model_validate(extra[EXTRA_KEY])
