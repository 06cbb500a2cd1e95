"""Reading and downloading through foundry-ml, without ever starting a Globus login.

* :func:`foundry_dataset` builds a foundry-ml ``FoundryDataset`` over a local
  dataset folder, so ``get_as_dict()`` reads the split files offline (no
  network, no Globus login).
* :func:`fetch_with_foundry` downloads a published version through
  foundry-ml's HTTPS machinery when foundry-ml is installed and Globus
  credentials are available; otherwise it raises :class:`FoundryUnavailable`
  saying exactly why, so :func:`atomdata.sources.load` can fall back.

The foundry-ml 1.2.2 pitfalls worked around are listed in
:mod:`atomdata.sources.foundry.metadata`.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional

from atomdata.schema import DatasetManifest
from atomdata.sources.foundry.metadata import (
    FOUNDRY_INSTALL_HINT,
    MDF_ENDPOINT_ID,
    MDF_HTTPS_BASE,
    TOKENS_ENV,
    TRANSFER_SCOPE,
    FoundryUnavailable,
    datacite_record,
    foundry_block,
    require_foundry,
)
from atomdata.storage import member_path, read_manifest, sha256_file

__all__ = ["foundry_dataset", "fetch_with_foundry"]


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
    require_foundry()
    from foundry.foundry_cache import FoundryCache
    from foundry.foundry_dataset import FoundryDataset

    folder = Path(dataset_dir).resolve()
    manifest = manifest or read_manifest(folder)
    missing = [info.file for info in manifest.splits.values() if not member_path(folder, info.file).is_file()]
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
    require_foundry()
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
    for name in wanted:
        member_path(dest_dir, name)  # every name must be one plain file name inside dest_dir
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
            got = member_path(staging, name)
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
            target = member_path(dest, name, drop_link=True)
            os.replace(member_path(staging, name), target)
            out.append(target)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)
