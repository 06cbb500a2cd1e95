"""Foundry / Materials Data Facility: dataset metadata, offline reading and downloads through foundry-ml."""
from __future__ import annotations

from atomdata.sources.foundry.fetch import fetch_with_foundry, foundry_dataset
from atomdata.sources.foundry.metadata import (
    FOUNDRY_INSTALL_HINT,
    MDF_HTTPS_BASE,
    TOKENS_ENV,
    FoundryUnavailable,
    datacite_record,
    foundry_block,
    source_id_for,
    validate_foundry_metadata,
)

__all__ = [
    "FOUNDRY_INSTALL_HINT",
    "MDF_HTTPS_BASE",
    "TOKENS_ENV",
    "FoundryUnavailable",
    "source_id_for",
    "foundry_block",
    "datacite_record",
    "validate_foundry_metadata",
    "foundry_dataset",
    "fetch_with_foundry",
]
