"""A tiny atomdata-layout dataset folder (manifest.json + two split files), written by committed code.

``build`` has the signature of ``atomdata.build.build_dataset`` (``out_dir=``, ``progress=``), so
a test registry can name it as the local build recipe ``"tiny_dataset:build"``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from helpers import make_image, make_record

from atomdata.schema import DatasetManifest, SplitInfo
from atomdata.storage import SplitFile, SplitWriter, sha256_file, write_manifest

SPLITS = {"train": 3, "test": 2}


def build(out_dir, *, name: str = "tiny", version: str = "1.0.0", progress: bool = True, seed: int = 0,
          created: str = "2024-01-01T00:00:00Z") -> Path:
    """Write the tiny dataset into ``out_dir``; ``seed`` changes the image bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, n in SPLITS.items():
        path = out / f"{split}.h5"
        with SplitWriter(path, split=split, dataset_name=name, dataset_version=version) as w:
            for i in range(n):
                rec = make_record(i, split=split, subset=f"{split}_demo", seed=seed)
                w.add(rec, make_image(rec, seed=seed + i))
        s = SplitFile(path)
        n_columns = sum(len(s.columns(i).xy) for i in range(len(s)))
        splits[split] = SplitInfo(file=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size,
                                  n_images=len(s), n_columns=n_columns, subsets=dict(Counter(s.subsets.tolist())))
        s.close()
    write_manifest(out, DatasetManifest(name=name, version=version, title=f"tiny test dataset {version}",
                                        splits=splits, created=created))
    return out
