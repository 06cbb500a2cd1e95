"""Regenerate the registry entry of a built dataset version from its folder.

Hashes ``manifest.json`` and every split file it lists (checking them against the
manifest) and writes the entry into the registry (default: the packaged
``atomdata/data/versions.json``), replacing the entry of the same name and version.

    python scripts/make_registry.py ~/.cache/atomdata/atomdata-benchmark/1.0.0 \
        --source-id foundry_atomdata_benchmark_v1.0 --published [--doi 10.18126/xxxx]

Run it on the exact files uploaded to Foundry/MDF, after the upload, with ``--published``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atomdata.sources.registry import default_registry_path, entry_from_dataset, load_registry, save_registry


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="Dataset folder holding manifest.json and the split files.")
    p.add_argument("--source-id", default=None, help="Foundry/MDF source id (default: the manifest's).")
    p.add_argument("--doi", default=None, help="DOI of this version, once minted.")
    p.add_argument("--published", action="store_true", help="The files are public at their MDF URLs.")
    p.add_argument("--registry", type=Path, default=None, help="Registry JSON to update (default: the packaged one).")
    args = p.parse_args(argv)
    path = args.registry or default_registry_path()
    old = load_registry(path) if path.exists() else None
    entry = entry_from_dataset(args.folder, source_id=args.source_id, doi=args.doi, published=args.published)
    if old is not None:
        try:  # keep hand-written fields of an existing entry
            prev = old.get(entry.name, entry.version)
            entry = entry.model_copy(update={"title": prev.title, "description": prev.description or entry.description,
                                             "creators": prev.creators, "references": prev.references,
                                             "build": prev.build, "notes": "" if args.published else prev.notes})
        except ValueError:
            pass
    from atomdata.sources.registry import Registry

    save_registry((old or Registry()).with_entry(entry), path)
    print(f"{path}: registered {entry.label} ({len(entry.files)} files, published={entry.published})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
