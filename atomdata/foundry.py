"""Foundry / Materials Data Facility compatibility: metadata, offline reading, downloads.

* :func:`foundry_block` and :func:`datacite_record` turn a
  :class:`~atomdata.schema.DatasetManifest` into the dataset's Foundry metadata
  (the ``projects.foundry`` block) and its DataCite record;
  :func:`validate_foundry_metadata` checks both with foundry-ml's own pydantic
  models (``foundry.models.FoundrySchema`` and ``FoundryDatacite``).
* :func:`foundry_dataset` builds a foundry-ml ``FoundryDataset`` over a local
  dataset folder, so ``get_as_dict()`` reads the split files offline (no
  network, no Globus login).
* :func:`fetch_with_foundry` downloads a published version through
  foundry-ml's HTTPS machinery when foundry-ml is installed and Globus
  credentials are available; otherwise it raises :class:`FoundryUnavailable`
  saying exactly why, so :func:`atomdata.loaders.load` can fall back.

Foundry keys of an atomdata split file
--------------------------------------
Foundry keys name HDF5 datasets inside each split file (see
:mod:`atomdata.storage`); ``get_as_dict()`` returns, per split,
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
  use :class:`atomdata.torchdata.AtomColumnDataset` and :mod:`atomdata.publish`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import h5py

from .schema import DatasetManifest
from .storage import sha256_file

__all__ = [
    "FOUNDRY_INSTALL_HINT",
    "MDF_HTTPS_BASE",
    "FoundryUnavailable",
    "source_id_for",
    "foundry_block",
    "datacite_record",
    "validate_foundry_metadata",
    "foundry_dataset",
    "fetch_with_foundry",
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
    if dataset_dir is not None and manifest.splits:
        per_split = [set(_image_groups(Path(dataset_dir) / info.file)) for info in manifest.splits.values()]
        shapes = per_split[0]
        if shapes and all(s == shapes for s in per_split):
            image_keys = [f"images/{g}" for g in sorted(shapes, key=lambda s: tuple(map(int, s.split("x"))))]
    keys = []
    for k in image_keys:
        shape = k.split("/", 1)[1] if "/" in k else "<H>x<W>"
        what = (f"HAADF-STEM images of {shape.replace('x', ' x ')} px, (n, H, W) indexed [image, y, x]"
                if "/" in k else "Group of image stacks images/<H>x<W>, each (n, H, W) indexed [image, y, x]")
        keys.append(_key(k, "input", f"{what}; image i is row image_row[i] of the stack named by "
                                     "image_group[i] (an index into the file attribute image_groups)", "counts"))
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
        _key("columns/target", "target", "(M,) bool: whether the column is a scoring target (HAADF-visible)"),
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
        "resourceType": {"resourceTypeGeneral": "Dataset", "resourceType": "Benchmark of HAADF-STEM images (HDF5)"},
        "subjects": [{"subject": s} for s in _SUBJECTS],
        "descriptions": [{"description": manifest.description or manifest.title, "descriptionType": "Abstract"}],
        "version": manifest.version,
        "rightsList": [rights_item],
        "formats": ["application/x-hdf5", "application/json"],
        "sizes": [f"{manifest.n_images} images", f"{size_bytes} bytes"],
        "relatedIdentifiers": [
            {"relatedIdentifier": _WEI_DATASET_DOI, "relatedIdentifierType": "DOI", "relationType": "References"}
        ],
    }
    if manifest.doi:
        dc["identifier"] = {"identifier": manifest.doi, "identifierType": "DOI"}
    return dc


def _require_foundry():
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
    _require_foundry()
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


def foundry_dataset(dataset_dir, *, manifest: Optional[DatasetManifest] = None):
    """A foundry-ml ``FoundryDataset`` reading a local dataset folder offline.

    Parameters
    ----------
    dataset_dir : path-like
        Folder holding ``manifest.json`` and the split files (e.g.
        ``atomdata.load(...)``'s result).
    manifest : DatasetManifest, optional
        Default: read from ``dataset_dir``.

    Returns
    -------
    foundry.FoundryDataset
        ``get_as_dict()`` returns ``{split: {"input": {...}, "target": {...}}}``
        with the keys of :func:`foundry_block`; no network access and no Globus
        login. (``get_citation()`` needs a DOI in the manifest.)

    Raises
    ------
    FoundryUnavailable
        foundry-ml is not installed.
    FileNotFoundError
        A split file of the manifest is missing from ``dataset_dir``.
    ValueError
        ``dataset_dir`` holds a version-named sub-folder, which foundry-ml
        would read instead of the files.

    Examples
    --------
    >>> ds = foundry_dataset(atomdata.load(split=None))     # doctest: +SKIP
    >>> data = ds.get_as_dict()["test"]                       # doctest: +SKIP
    >>> data["input"]["images/256x256"].shape, data["target"]["columns/xy"].shape   # doctest: +SKIP
    """
    _require_foundry()
    from foundry.foundry_cache import FoundryCache
    from foundry.foundry_dataset import FoundryDataset

    from .storage import read_manifest

    folder = Path(dataset_dir).resolve()
    manifest = manifest or read_manifest(folder)
    missing = [info.file for info in manifest.splits.values() if not (folder / info.file).is_file()]
    if missing:
        raise FileNotFoundError(f"split file(s) {missing} of {manifest.name} {manifest.version} are not in {folder}")
    shadow = [p.name for p in folder.iterdir() if p.is_dir() and re.match(r"\d+\.\d+", p.name)]
    if shadow:
        raise ValueError(
            f"{folder} holds version-named folder(s) {shadow}; foundry-ml would read those instead of the "
            "split files. Move them elsewhere."
        )
    cache = FoundryCache(forge_client=None, transfer_client=None, use_globus=False, interval=10,
                         parallel_https=1, verbose=False, local_cache_dir=str(folder.parent))
    return FoundryDataset(dataset_name=folder.name, datacite_entry=datacite_record(manifest),
                          foundry_schema=foundry_block(manifest, dataset_dir=folder), foundry_cache=cache)


def _saved_transfer_client():
    """A Globus TransferClient from tokens a previous foundry-ml login saved; never starts a login."""
    try:
        import globus_sdk
        import mdf_toolbox.auth
        from fair_research_login import NativeClient
        from fair_research_login.token_storage import MultiClientTokenStorage
    except ImportError as e:
        raise FoundryUnavailable(FOUNDRY_INSTALL_HINT) from e
    token_file = os.environ.get(TOKENS_ENV) or os.path.expanduser("~/.globus-native-apps.cfg")
    if not os.path.exists(token_file):
        raise FoundryUnavailable(
            f"no Globus credentials: the token file {token_file} does not exist. Log in once with "
            "`python -c \"from foundry import Foundry; Foundry(no_local_server=True, no_browser=True)\"`, "
            f"set {TOKENS_ENV} to a token file, or pass transfer_client="
        )
    client = NativeClient(client_id=mdf_toolbox.auth.DEFAULT_CLIENT_ID, app_name="Foundry",
                          token_storage=MultiClientTokenStorage(filename=token_file))
    try:
        auths = client.get_authorizers_by_scope(requested_scopes=[TRANSFER_SCOPE])
    except Exception as e:  # NoSavedTokens, TokensExpired, ScopesMismatch, refresh failures
        raise FoundryUnavailable(
            f"no usable Globus credentials in {token_file} ({type(e).__name__}); log in again with foundry-ml"
        ) from None
    return globus_sdk.TransferClient(authorizer=auths[TRANSFER_SCOPE])


def fetch_with_foundry(source_id: str, dest_dir, files: Optional[Iterable[str]] = None, *,
                       transfer_client=None, expected_sha256: Optional[Mapping[str, str]] = None,
                       base_url: str = MDF_HTTPS_BASE, progress: bool = True) -> list[Path]:
    """Download a published dataset version through foundry-ml (HTTPS, Globus-listed).

    Parameters
    ----------
    source_id : str
        Foundry/MDF source id, e.g. ``'foundry_wei_atom_locating_benchmark_v1.1'``.
    dest_dir : path-like
        Folder the files are placed in (created). Files are downloaded into a
        temporary folder inside it and moved in only when all succeeded (and
        matched ``expected_sha256``).
    files : iterable of str, optional
        File names (relative to the dataset folder) to fetch; default all.
    transfer_client : globus_sdk.TransferClient, optional
        Client used to list the dataset's files on the MDF endpoint. Default:
        built from Globus tokens saved by an earlier foundry-ml login (never
        starts a login).
    expected_sha256 : mapping, optional
        File name -> SHA-256 hex; a mismatch deletes the download and raises.
    base_url : str
        HTTPS root of the data (``<base_url>/foundry/<source_id>/<file>``).
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of Path
        The downloaded files, in ``dest_dir``.

    Raises
    ------
    FoundryUnavailable
        foundry-ml is not installed ("foundry-ml is needed for Foundry
        downloads: pip install 'atomdata[foundry]'"), there are no usable
        Globus credentials, listing or downloading failed, or requested files
        are not in the dataset. The message says which.
    ValueError
        A file's SHA-256 differs from ``expected_sha256`` (both hashes named).
    """
    _require_foundry()
    from foundry.https_download import download_file, recursive_ls
    from tqdm.auto import tqdm

    if transfer_client is None:
        transfer_client = _saved_transfer_client()
    folder = f"/foundry/{source_id}/"
    try:
        items = list(recursive_ls(transfer_client, MDF_ENDPOINT_ID, folder))
    except Exception as e:
        raise FoundryUnavailable(f"Foundry could not list {folder} on the MDF endpoint: {type(e).__name__}: {e}") from e
    by_name = {item["name"]: item for item in items}
    wanted = list(files) if files is not None else sorted(by_name)
    absent = [f for f in wanted if f not in by_name]
    if absent:
        raise FoundryUnavailable(f"{source_id} has no file(s) {absent}; it holds {sorted(by_name)}")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".foundry-", dir=dest))
    config = {"base_url": base_url, "source_id": "", "source_ep_id": MDF_ENDPOINT_ID}
    try:
        for name in tqdm(wanted, desc=f"foundry {source_id}", disable=not progress, unit="file"):
            try:
                download_file(by_name[name], str(staging), config)
            except Exception as e:
                raise FoundryUnavailable(f"Foundry download of {name} from {source_id} failed: {e}") from e
            got = staging / name
            want = (expected_sha256 or {}).get(name)
            if want is not None:
                have = sha256_file(got)
                if have != want:
                    raise ValueError(
                        f"checksum mismatch for {name} from Foundry {source_id}: expected sha256 {want}, got "
                        f"{have}; the download was deleted"
                    )
        out = []
        for name in wanted:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
            out.append(target)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)
