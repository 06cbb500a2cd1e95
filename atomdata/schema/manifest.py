"""A dataset version: its manifest (identity, licence, creators, split files with checksums)."""
from __future__ import annotations

import re
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from atomdata.schema.checks import check_file_name
from atomdata.schema.constants import SCHEMA_VERSION

__all__ = ["SplitInfo", "Creator", "DatasetManifest"]

_STRICT = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


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

    @field_validator("file")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        return check_file_name(v, what="split file name")


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
