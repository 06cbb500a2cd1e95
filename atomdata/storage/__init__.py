"""Split files and dataset folders on disk: the format, its reader and writer, manifests, checks.

One HDF5 file per split (layout in :mod:`atomdata.storage.format`), a
``manifest.json`` per dataset folder with every split's SHA-256, and the
atomic-write and checksum helpers every writer in atomdata uses.
"""
from __future__ import annotations

from atomdata.storage.files import (
    ByteBudget,
    SizeLimitError,
    atomic_path,
    check_size,
    file_lock,
    folder_lock,
    remove_stale_temporaries,
    sha256_file,
)
from atomdata.storage.format import FORMAT_NAME, FORMAT_VERSION, SplitFormatError, SplitLike
from atomdata.storage.manifest import MANIFEST_NAME, read_manifest, write_manifest
from atomdata.storage.paths import UnsafePathError, cache_dir, dataset_dir, ensure_inside, member_path, plain_dir
from atomdata.storage.reader import LazyH5, SplitFile, SplitSequence
from atomdata.storage.verify import check_manifest_entry, validate_path, verify_dataset, verify_split
from atomdata.storage.writer import SplitWriter, merge_splits, write_split

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SplitFormatError",
    "SplitLike",
    "SplitFile",
    "SplitWriter",
    "SplitSequence",
    "LazyH5",
    "write_split",
    "merge_splits",
    "read_manifest",
    "write_manifest",
    "atomic_path",
    "sha256_file",
    "folder_lock",
    "file_lock",
    "remove_stale_temporaries",
    "SizeLimitError",
    "check_size",
    "ByteBudget",
    "UnsafePathError",
    "member_path",
    "ensure_inside",
    "plain_dir",
    "cache_dir",
    "dataset_dir",
    "validate_path",
    "verify_dataset",
    "verify_split",
    "check_manifest_entry",
]
