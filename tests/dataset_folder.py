"""Write a small dataset folder (split files + manifest.json) for the Foundry and publishing tests."""
from __future__ import annotations

from pathlib import Path

from helpers import make_image, make_record

from atomdata.schema import Creator, DatasetManifest, SplitInfo
from atomdata.storage import SplitWriter, sha256_file, write_manifest


def write_dataset(folder: Path, shapes: dict[str, list]) -> DatasetManifest:
    """One split per key of ``shapes`` (the image shapes of its images, in order) and the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    infos = {}
    for split, split_shapes in shapes.items():
        path = folder / f"{split}.h5"
        n_cols = 0
        with SplitWriter(path, split=split, dataset_name="demo-bench", dataset_version="1.0.0") as w:
            for i, shape in enumerate(split_shapes):
                rec = make_record(i, split=split, shape=shape, n_columns=3 + i)
                w.add(rec, make_image(rec, seed=i))
                n_cols += len(rec.columns)
        infos[split] = SplitInfo(file=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size,
                                 n_images=len(split_shapes), n_columns=n_cols)
    manifest = DatasetManifest(
        name="demo-bench", version="1.0.0", title="Demo benchmark", description="Tiny test dataset.",
        creators=[Creator(name="Doe, Jane", affiliation="Somewhere", orcid="0000-0002-1825-0097")],
        splits=infos, created="2025-03-01T00:00:00Z",
    )
    write_manifest(folder, manifest)
    return manifest
