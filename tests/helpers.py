"""Small record/image factories shared by the tests (committed code, not binary fixtures)."""
from __future__ import annotations

import numpy as np

from atomdata.schema import ColumnSet, ImageRecord, Lattice, Provenance, QualityMetrics


def make_record(i: int = 0, *, split: str = "test", subset: str = "demo", shape=(32, 32), dtype="uint16",
                n_columns: int = 5, seed: int = 0, pixel_size_A: float = 0.1) -> ImageRecord:
    """A valid record with ``n_columns`` random columns inside an image of ``shape``."""
    rng = np.random.default_rng(seed + i)
    h, w = shape
    xy = np.column_stack([rng.uniform(0, w - 1, n_columns), rng.uniform(0, h - 1, n_columns)])
    species = rng.choice(["Sr", "Ti-O", "O"], n_columns)
    return ImageRecord(
        image_id=f"{split}-{i:05d}",
        split=split,
        subset=subset,
        shape=shape,
        dtype=dtype,
        lattice=Lattice(material="SrTiO3", formula="SrTiO3", zone_axis="[100]", space_group=221, a_A=3.905),
        quality=QualityMetrics(pixel_size_A=pixel_size_A, contrast={"nominal": 0.5, "measured": 0.48},
                               psnr_db={"nominal": 20.0}),
        provenance=Provenance(kind="simulated", simulator="tests", seed=seed + i, parameters={"i": i}),
        columns=ColumnSet.from_arrays(xy, species, species != "O"),
    )


def make_image(record: ImageRecord, seed: int = 0) -> np.ndarray:
    """A random image matching the record's shape and dtype."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1000, size=record.shape).astype(record.dtype)
