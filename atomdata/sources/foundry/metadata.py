"""Foundry / Materials Data Facility metadata of a dataset version, checked with foundry-ml's own models.

* :func:`foundry_block` and :func:`datacite_record` turn a
  :class:`~atomdata.schema.DatasetManifest` into the dataset's Foundry metadata
  (the ``projects.foundry`` block) and its DataCite record;
  :func:`validate_foundry_metadata` checks both with foundry-ml's own pydantic
  models (``foundry.models.FoundrySchema`` and ``FoundryDatacite``).
* :mod:`atomdata.sources.foundry.fetch` reads a local folder through foundry-ml offline and
  downloads published versions.

Foundry keys of an atomdata split file
--------------------------------------
Foundry keys name HDF5 datasets inside each split file (see
:mod:`atomdata.storage.format`); ``get_as_dict()`` returns, per split,
``(inputs, targets)`` dicts keyed by them, with datasets read into numpy arrays.

inputs
    ``images/<H>x<W>`` (n, H, W) images, one key per image shape when every
    split holds the same shapes (else the group ``images``, which foundry-ml
    returns as an open ``h5py.Group`` of those stacks),
    ``image_group``/``image_row`` (which image dataset and row hold image i),
    ``image_id``, ``subset``, ``pixel_size_A`` [Å/px], ``records`` (JSON of
    each image's metadata: quality metrics, lattice, provenance).
targets
    ``columns/xy`` (M, 2) column positions (x, y) [px] (x = column index, y =
    row index, origin at the centre of the top-left pixel), ``columns/offsets``
    (N + 1,), ``columns/species`` (M,) codes into the file attribute
    ``species_names``, ``columns/target`` (M,) bool.

The labels are variable-length per image, which a Foundry key (one HDF5
dataset) cannot express; they are stored in CSR form, so image ``i``'s
columns are rows ``offsets[i]:offsets[i + 1]`` of ``columns/xy``
(``np.split(xy, offsets[1:-1])`` gives one array per image).

foundry-ml 1.2.2 pitfalls worked around here
---------------------------------------------
* ``Foundry()`` logs in to Globus interactively unless given authorizers: it
  is never constructed here.
* ``FoundryDataset.get_as_dict(split=...)`` ignores ``split`` and returns every
  split keyed by its ``label`` (so every split gets a label).
* ``FoundryCache`` looks for ``<local_cache_dir>/<dataset_name>/<file>`` and
  silently descends into the *newest* sub-folder named like a version
  (``\\d+\\.\\d+``); it tries to download (and crashes without a transfer
  client) when a file is missing. :func:`foundry_dataset` therefore points it
  at the folder's parent, checks the files first and refuses version-named
  sub-folders.
* ``get_as_torch`` is broken and ``publish_dataset`` drops the foundry block;
  use :class:`atomdata.datasets.AtomColumnDataset` and :mod:`atomdata.sources.publish`.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import h5py

from atomdata.schema import DatasetManifest
from atomdata.storage import member_path

__all__ = [
    "FOUNDRY_INSTALL_HINT",
    "MDF_HTTPS_BASE",
    "FoundryUnavailable",
    "require_foundry",
    "source_id_for",
    "foundry_block",
    "datacite_record",
    "validate_foundry_metadata",
]

FOUNDRY_INSTALL_HINT = "foundry-ml is needed for Foundry downloads: pip install 'atomdata[foundry]'"
#: HTTPS root MDF serves Foundry datasets from (``<root>/foundry/<source_id>/<file>``).
MDF_HTTPS_BASE = "https://data.materialsdatafacility.org"
#: Globus endpoint holding the MDF Foundry data (the one foundry-ml lists files on).
MDF_ENDPOINT_ID = "82f1b5c6-6e9b-11e5-ba47-22000b92c6ec"
#: Globus Transfer scope (the only scope a Foundry HTTPS download needs: to list the files).
TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"
#: Environment variable naming the Globus token file foundry-ml's login saved (default ~/.globus-native-apps.cfg).
TOKENS_ENV = "ATOMDATA_GLOBUS_TOKENS"

_SPLIT_TYPE = {"train": "train", "val": "validation", "test": "test", "generality": "test"}
_LICENSES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International", "https://creativecommons.org/licenses/by/4.0/"),
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal", "https://creativecommons.org/publicdomain/zero/1.0/"),
}
_SUBJECTS = ("scanning transmission electron microscopy", "HAADF-STEM", "atomic column localization",
             "benchmark", "machine learning", "simulated images")
_WEI_DATASET_DOI = "10.18126/e73h-3w6n"
#: The HRTEM nanoparticle-segmentation task: subjects, resource type and the papers it builds on.
_HRTEM_SUBJECTS = ("high-resolution transmission electron microscopy", "HRTEM", "nanoparticle segmentation",
                   "benchmark", "machine learning", "simulated images")
_HRTEM_DOIS = ("10.1038/s41524-024-01336-0", "10.1038/s41524-020-00363-x")


def _is_hrtem(manifest: DatasetManifest) -> bool:
    return "hrtem" in manifest.name


class FoundryUnavailable(RuntimeError):
    """Foundry cannot be used here; the message says why (not installed, no credentials, ...)."""


def source_id_for(manifest: DatasetManifest) -> str:
    """The Foundry/MDF source id of a version: ``manifest.source_id`` or ``foundry_<name>_v<MAJOR>.<MINOR>``."""
    if manifest.source_id:
        return manifest.source_id
    major, minor = manifest.version.split(".")[:2]
    return f"foundry_{manifest.name.replace('-', '_')}_v{major}.{minor}"


def _image_groups(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("image_groups")
        return json.loads(raw) if raw is not None else sorted(f.get("images", {}).keys())


def _array_names(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("array_names")
        return json.loads(raw) if raw is not None else []


#: What each per-image array a benchmark version stores beside its images means (key arrays/<name>/<H>x<W>).
ARRAY_DESCRIPTIONS = {
    "raw": ("the float frame each 8-bit image was made from (detector counts after every degradation; the "
            "image is its min-max scaling to 0-255, truncated); benchmark 1.1.0 and later", "counts"),
}


def _key(path: str, kind: str, description: str, units: Optional[str] = None) -> dict:
    out = {"key": [path], "type": kind, "description": description}
    if units is not None:
        out["units"] = units
    return out


def foundry_block(manifest: DatasetManifest, *, dataset_dir=None) -> dict:
    """The Foundry metadata block (``projects.foundry``) of a dataset version.

    Parameters
    ----------
    manifest : DatasetManifest
        The version's manifest (names, sizes and files of its splits).
    dataset_dir : path-like, optional
        Folder holding the split files. When given, the image shapes are read
        from the files and exposed as one ``images/<H>x<W>`` key each when all
        splits hold the same shapes; otherwise (or without ``dataset_dir``)
        the key is the ``images`` group.

    Returns
    -------
    dict
        ``short_name``, ``data_type`` ('hdf5'), ``task_type``, ``domain``,
        ``n_items`` (images over all splits), ``splits`` (type, path, label)
        and ``keys`` (HDF5 paths with type input/target, description, units);
        see the module docstring for the keys.

    Examples
    --------
    >>> from atomdata.schema import DatasetManifest
    >>> m = DatasetManifest(name="demo", version="1.0.0", title="Demo")
    >>> foundry_block(m)["data_type"]
    'hdf5'
    """
    image_keys = ["images"]
    arrays: list[str] = []
    if dataset_dir is not None and manifest.splits:
        arrays = sorted({n for info in manifest.splits.values()
                         for n in _array_names(member_path(dataset_dir, info.file))})
        per_split = [set(_image_groups(member_path(dataset_dir, info.file))) for info in manifest.splits.values()]
        shapes = per_split[0]
        if shapes and all(s == shapes for s in per_split):
            image_keys = [f"images/{g}" for g in sorted(shapes, key=lambda s: tuple(map(int, s.split("x"))))]
    keys = []
    for k in image_keys:
        shape = k.split("/", 1)[1] if "/" in k else "<H>x<W>"
        kind = "HRTEM" if _is_hrtem(manifest) else "HAADF-STEM"
        what = (f"{kind} images of {shape.replace('x', ' x ')} px, (n, H, W) indexed [image, y, x]"
                if "/" in k else "Group of image stacks images/<H>x<W>, each (n, H, W) indexed [image, y, x]")
        keys.append(_key(k, "input", f"{what}; image i is row image_row[i] of the stack named by "
                                     "image_group[i] (an index into the file attribute image_groups)", "counts"))
    for name in arrays:
        what, units = ARRAY_DESCRIPTIONS.get(name, ("a per-image array stored beside the images", None))
        keys.append(_key(f"arrays/{name}", "input", f"Group of (n, H, W) stacks arrays/{name}/<H>x<W> with the same "
                                                     f"rows as images/<H>x<W>: {what}", units))
    keys += [
        _key("image_group", "input", "(N,) int32: which images/<H>x<W> stack holds image i (index into the "
                                     "file attribute image_groups)"),
        _key("image_row", "input", "(N,) int64: row of image i in its images/<H>x<W> stack"),
        _key("image_id", "input", "(N,) str: unique id of each image within the dataset version"),
        _key("subset", "input", "(N,) str: subset of each image, e.g. sto_sim_resolution_pm (material, "
                                "simulated/experimental, swept image-quality metric)"),
        _key("pixel_size_A", "input", "(N,) float64: pixel size of each image", "Å/px"),
        _key("records", "input", "(N,) str: JSON ImageRecord of each image (quality metrics with units in "
                                 "their names, lattice, provenance) validated by atomdata.schema"),
        _key("columns/xy", "target", "(M, 2) float64: atomic-column positions (x, y); x = column index, "
                                     "y = row index, origin at the centre of the top-left pixel; image i's "
                                     "columns are rows columns/offsets[i]:columns/offsets[i+1]", "px"),
        _key("columns/offsets", "target", "(N + 1,) int64: CSR offsets of each image's columns in columns/xy"),
        _key("columns/species", "target", "(M,) uint16: column type code, an index into the file attribute "
                                          "species_names (e.g. Sr, Ti-O, O, W, S2)"),
        _key("columns/target", "target", "(M,) bool: whether the column is a scoring target (HAADF-visible; "
                                         "from benchmark 1.1.0 also resolved by the noise-free image, see "
                                         "records extra.visibility)"),
    ]
    if _is_hrtem(manifest):  # segmentation labels: per-image arrays beside the images, no columns
        keys = [k for k in keys if not k["key"][0].startswith("columns/")] + [
            _key("arrays/mask", "target", "Group of (n, H, W) uint8 stacks arrays/mask/<H>x<W> like images: "
                                          "1 where a pixel belongs to a nanoparticle"),
            _key("arrays/instances", "target", "Group of (n, H, W) uint16 stacks arrays/instances/<H>x<W>: "
                                               "0 = support, k = particle k (records extra.hrtem.particles[k-1])"),
        ]
    return {
        "short_name": manifest.name.replace("-", "_"),
        "data_type": "hdf5",
        "task_type": ["supervised"],
        "domain": ["materials science", "electron microscopy", "machine vision"],
        "n_items": manifest.n_images,
        "splits": [
            {"type": _SPLIT_TYPE.get(name, name), "path": info.file, "label": name}
            for name, info in manifest.splits.items()
        ],
        "keys": keys,
    }


def _year(manifest: DatasetManifest) -> int:
    if manifest.created:
        m = re.match(r"^(\d{4})", manifest.created)
        if m:
            return int(m.group(1))
    return _dt.date.today().year


def datacite_record(manifest: DatasetManifest, *, publisher: str = "Materials Data Facility",
                    year: Optional[int] = None) -> dict:
    """The DataCite record (the ``dc`` block of an MDF submission) of a dataset version.

    Parameters
    ----------
    manifest : DatasetManifest
        Title, description, creators, licence, version and DOI come from here.
    publisher : str
        DataCite publisher.
    year : int, optional
        Publication year; default the year of ``manifest.created`` (or this year).

    Returns
    -------
    dict
        A record valid under foundry-ml's DataCite model (``FoundryDatacite``).
        ``identifier`` is present only when the manifest has a DOI (MDF mints
        one on publication).
    """
    creators = []
    for c in manifest.creators or []:
        entry: dict[str, Any] = {"creatorName": c.name}
        if c.affiliation:
            entry["affiliations"] = [c.affiliation]
        if c.orcid:
            entry["nameIdentifiers"] = [{"nameIdentifier": c.orcid, "nameIdentifierScheme": "ORCID"}]
        creators.append(entry)
    if not creators:
        creators = [{"creatorName": "atomdata developers"}]
    rights, uri = _LICENSES.get(manifest.license, (manifest.license, None))
    rights_item = {"rights": rights}
    if uri:
        rights_item["rightsURI"] = uri
    size_bytes = sum(s.size_bytes for s in manifest.splits.values())
    dc: dict[str, Any] = {
        "creators": creators,
        "titles": [{"title": manifest.title}],
        "publisher": publisher,
        "publicationYear": year if year is not None else _year(manifest),
        "resourceType": {"resourceTypeGeneral": "Dataset", "resourceType":
                         f"Benchmark of {'HRTEM' if _is_hrtem(manifest) else 'HAADF-STEM'} images (HDF5)"},
        "subjects": [{"subject": s} for s in (_HRTEM_SUBJECTS if _is_hrtem(manifest) else _SUBJECTS)],
        "descriptions": [{"description": manifest.description or manifest.title, "descriptionType": "Abstract"}],
        "version": manifest.version,
        "rightsList": [rights_item],
        "formats": ["application/x-hdf5", "application/json"],
        "sizes": [f"{manifest.n_images} images", f"{size_bytes} bytes"],
        "relatedIdentifiers": [
            {"relatedIdentifier": d, "relatedIdentifierType": "DOI", "relationType": "References"}
            for d in (_HRTEM_DOIS if _is_hrtem(manifest) else (_WEI_DATASET_DOI,))
        ],
    }
    if manifest.doi:
        dc["identifier"] = {"identifier": manifest.doi, "identifierType": "DOI"}
    return dc


def require_foundry():
    try:
        import foundry  # noqa: F401
        from foundry.models import FoundryDatacite, FoundrySchema  # noqa: F401
    except ImportError as e:
        raise FoundryUnavailable(FOUNDRY_INSTALL_HINT) from e
    return foundry


def validate_foundry_metadata(block: Mapping, datacite: Mapping) -> None:
    """Validate a foundry block and a DataCite record with foundry-ml's own models.

    Raises
    ------
    FoundryUnavailable
        foundry-ml is not installed.
    ValueError
        A record is invalid; the message names the record and pydantic's errors.
    """
    require_foundry()
    import logging

    from foundry.models import FoundryDatacite, FoundrySchema
    from pydantic import ValidationError

    # foundry-ml logs every validation error at ERROR level before raising; we raise our own message.
    log = logging.getLogger("foundry.models")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        for name, model, data in (("foundry block", FoundrySchema, dict(block)),
                                  ("DataCite record", FoundryDatacite, dict(datacite))):
            try:
                model(json.loads(json.dumps(data)))
            except ValidationError as e:
                raise ValueError(f"invalid {name} for foundry-ml {_foundry_version()}: {e}") from e
    finally:
        log.setLevel(level)


def _foundry_version() -> str:
    try:
        from importlib.metadata import version

        return version("foundry_ml")
    except Exception:
        return "(unknown version)"
