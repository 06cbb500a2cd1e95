"""The original Wei et al. (2023) benchmark file ``wei_atom.h5``, read as an atomdata split."""
from __future__ import annotations

from atomdata.sources.wei.metadata import WEI_DOI, WEI_SOURCE_ID
from atomdata.sources.wei.reader import WEI_SPECIES, WeiFormatError, WeiSplit, open_wei

__all__ = ["WEI_SOURCE_ID", "WEI_DOI", "WEI_SPECIES", "WeiFormatError", "WeiSplit", "open_wei"]
