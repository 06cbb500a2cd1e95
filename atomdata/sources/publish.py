"""Publish a dataset version to Foundry / the Materials Data Facility (MDF Connect).

:func:`prepare_submission` (``atomdata publish``, dry run by default) checks a
built dataset folder -- every split file against its SHA-256 in the manifest
and through the schema -- builds its DataCite record and Foundry block,
validates both with foundry-ml's models, assembles the MDF Connect submission
with :class:`mdf_connect_client.MDFConnectClient`'s own methods (the
``projects.foundry`` block included: foundry-ml 1.2.2's ``publish_dataset``
passes a ``FoundryDataset`` object where a dict is needed, so MDF Connect
silently drops the block) and writes everything to a staging folder with a
``SUMMARY.txt``. :func:`submit_submission` (``atomdata publish --submit``)
sends that payload with Globus authorisation and returns the MDF source id.

Credentials are never printed, logged or written: an access token is read
from ``ATOMDATA_MDF_TOKEN`` (or obtained by a Globus login when asked), and
only its presence is reported.

Publishing steps
----------------
1. ``atomdata publish PATH --staging DIR`` (dry run): check and stage.
2. Upload ``DIR/data/`` to a Globus endpoint you control and note its Globus
   URL (``https://app.globus.org/file-manager?origin_id=...&origin_path=...``).
3. ``atomdata publish PATH --submit --data-source URL`` (add ``--test`` for
   MDF's test pipeline first). MDF curates the submission and mints the DOI;
   record it in the version registry.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from atomdata.schema import DatasetManifest
from atomdata.sources.foundry.metadata import (
    FoundryUnavailable,
    datacite_record,
    foundry_block,
    source_id_for,
    validate_foundry_metadata,
)
from atomdata.storage import (
    MANIFEST_NAME,
    UnsafePathError,
    atomic_path,
    folder_lock,
    member_path,
    plain_dir,
    read_manifest,
    remove_stale_temporaries,
)
from atomdata.storage.verify import verify_dataset

__all__ = [
    "TOKEN_ENV",
    "MDF_CONNECT_INSTALL_HINT",
    "Submission",
    "prepare_submission",
    "submit_submission",
    "format_summary",
]

#: Environment variable holding a Globus access token for MDF Connect (never printed).
TOKEN_ENV = "ATOMDATA_MDF_TOKEN"
MDF_CONNECT_INSTALL_HINT = "mdf_connect_client is needed to publish: pip install 'atomdata[foundry]'"
_TAGS = ["STEM", "HAADF", "atom finding", "benchmark", "machine learning", "atomdata"]

log = logging.getLogger(__name__)


@dataclass
class Submission:
    """A staged submission: the payload for MDF Connect and the files it describes."""

    source_name: str
    source_id: str
    staging_dir: Path
    payload: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def foundry_block(self) -> dict:
        """The ``projects.foundry`` block of the payload."""
        return self.payload["projects"]["foundry"]

    @property
    def datacite(self) -> dict:
        """The DataCite (``dc``) block of the payload."""
        return self.payload["dc"]


def _connect_client(authorizer=None, *, test: bool = False):
    try:
        import globus_sdk
        from mdf_connect_client import MDFConnectClient
    except ImportError as e:
        raise FoundryUnavailable(MDF_CONNECT_INSTALL_HINT) from e
    # A NullAuthorizer builds payloads without any login; submitting needs a real one.
    return MDFConnectClient(test=test, authorizer=authorizer or globus_sdk.NullAuthorizer())


def _source_name(source_id: str) -> str:
    return re.sub(r"_v\d+(\.\d+)*$", "", source_id)


def _stage_file(src: Path, dst: Path) -> None:
    """Put ``src``'s bytes at ``dst`` (a hard link when possible, else a copy) by an atomic rename.

    ``dst`` is never removed first, and a link there is replaced, not written through.
    """
    if dst.exists() and not dst.is_symlink() and os.path.samefile(src, dst):
        return  # staged by an earlier run
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _check_apart(folder: Path, staging: Path) -> None:
    """The staging folder must not be, contain or lie inside the dataset folder: staging never touches the data."""
    a, b = folder.resolve(), staging.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise UnsafePathError(
            f"staging folder {staging} overlaps the dataset folder {folder} (one is inside the other); staging "
            "there could replace or delete the dataset's files. Pass a separate --staging folder")


def prepare_submission(dataset_dir, *, staging_dir=None, data_source: Optional[str] = None,
                       test: bool = False, update: bool = False, deep: bool = True) -> Submission:
    """Check a dataset folder and stage its MDF Connect submission (the dry run).

    Parameters
    ----------
    dataset_dir : path-like
        Built dataset folder holding ``manifest.json`` and the split files.
    staging_dir : path-like, optional
        Where to write the submission; default ``<dataset_dir>/../<version>-publish``.
        It receives ``data/`` (the files to upload: split files, hard-linked
        when possible, and the manifest), ``datacite.json``, ``foundry.json``,
        ``mdf_submission.json`` and ``SUMMARY.txt``.
    data_source : str, optional
        Globus URL of the uploaded ``data/`` folder (needed to submit).
    test : bool
        Mark the submission for MDF's test pipeline.
    update : bool
        The submission updates an earlier one of the same source name.
    deep : bool
        Also read every record and image through the schema (slower).

    Returns
    -------
    Submission
        Payload, file list and the checks that passed.

    Raises
    ------
    FileNotFoundError
        The manifest or a split file is missing.
    ValueError
        A checksum differs from the manifest (both hashes named), a split file
        is invalid, or the metadata fails foundry-ml's validation.
    FoundryUnavailable
        foundry-ml or mdf_connect_client is not installed.
    """
    folder = Path(dataset_dir)
    manifest: DatasetManifest = read_manifest(folder)
    staging = Path(staging_dir) if staging_dir is not None else folder.parent / f"{folder.name}-publish"
    _check_apart(folder, staging)
    checks: list[str] = []
    files = [{k: f[k] for k in ("file", "split", "sha256", "size_bytes", "n_images")}
             for f in verify_dataset(folder, deep=deep, manifest=manifest)]
    checks.append(f"{len(files)} split file(s) match their manifest SHA-256 and pass "
                  f"{'deep' if deep else 'structural'} validation")

    block = foundry_block(manifest, dataset_dir=folder)
    dc = datacite_record(manifest)
    validate_foundry_metadata(block, dc)
    checks.append("DataCite record and Foundry block validate with foundry-ml's models")

    source_id = source_id_for(manifest)
    client = _connect_client(test=test)
    client.dc = json.loads(json.dumps(dc))
    client.dc["publicationYear"] = str(client.dc["publicationYear"])  # as MDF Connect expects
    client.set_organization("Foundry")
    client.set_source_name(_source_name(source_id))
    problem = client.set_project_block("foundry", json.loads(json.dumps(block)))
    if problem or "foundry" not in client.projects:
        raise ValueError(f"MDF Connect client refused the Foundry block: {problem}")
    client.add_tag(list(_TAGS))
    if data_source:
        client.add_data_source(data_source)
    client.update = update
    payload = client.get_submission()
    json.dumps(payload, allow_nan=False)
    checks.append("MDF Connect payload assembled with mdf_connect_client (projects.foundry included)")

    sub = Submission(source_name=_source_name(source_id), source_id=source_id, staging_dir=staging,
                     payload=payload, files=files, checks=checks)
    plain_dir(staging, what="staging folder")
    with folder_lock(staging, what="staging a submission"):
        data_dir = plain_dir(staging / "data", what="staging data folder")
        for d in (staging, data_dir):
            remove_stale_temporaries(d)
        for f in files:
            _stage_file(member_path(folder, f["file"]), member_path(data_dir, f["file"], drop_link=True))
        _stage_file(folder / MANIFEST_NAME, member_path(data_dir, MANIFEST_NAME, drop_link=True))
        for name, content in (("datacite.json", dc), ("foundry.json", block), ("mdf_submission.json", payload)):
            with atomic_path(staging / name) as tmp:
                tmp.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
        with atomic_path(staging / "SUMMARY.txt") as tmp:
            tmp.write_text(format_summary(sub, manifest=manifest) + "\n")
    log.info("staged submission of %s %s in %s", manifest.name, manifest.version, staging)
    return sub


def _credential_status() -> str:
    return (f"Globus token for MDF Connect: found in ${TOKEN_ENV} (not shown)" if os.environ.get(TOKEN_ENV)
            else f"Globus token for MDF Connect: none in ${TOKEN_ENV}; --submit will start a Globus login")


def format_summary(sub: Submission, *, manifest: Optional[DatasetManifest] = None) -> str:
    """A human-readable summary of a staged submission (no credentials in it)."""
    total = sum(f["size_bytes"] for f in sub.files)
    lines = [
        f"Submission of {sub.datacite['titles'][0]['title']} version {sub.datacite.get('version')}",
        f"  source name: {sub.source_name} (expected source_id {sub.source_id})",
        f"  staging folder: {sub.staging_dir}",
        f"  images: {sub.foundry_block['n_items']}; files: {len(sub.files)} ({total / 1e6:.1f} MB)",
    ]
    for f in sub.files:
        lines.append(f"    {f['file']:<16} {f['split']:<11} {f['n_images']:>7} images  sha256 {f['sha256']}")
    lines.append("  Foundry keys: " + ", ".join(f"{k['key'][0]} ({k['type']})" for k in sub.foundry_block["keys"]))
    lines.append("  checks passed:")
    lines += [f"    - {c}" for c in sub.checks]
    lines.append(f"  data source: {', '.join(sub.payload['data_sources']) or '(not set)'}")
    lines.append(f"  test submission: {sub.payload['test']}; update: {sub.payload['update']}")
    lines.append(f"  {_credential_status()}")
    lines += [
        "Next steps:",
        f"  1. upload {sub.staging_dir / 'data'} to a Globus endpoint and copy its Globus URL;",
        "  2. atomdata publish PATH --submit --data-source <Globus URL> [--test]",
    ]
    return "\n".join(lines)


def _authorizer(*, interactive: bool):
    import globus_sdk

    token = os.environ.get(TOKEN_ENV)
    if token:
        return globus_sdk.AccessTokenAuthorizer(token)
    if not interactive:
        raise FoundryUnavailable(
            f"no Globus credentials for MDF Connect: set {TOKEN_ENV} to an access token with the MDF Connect "
            "scope, pass authorizer=, or run `atomdata publish --submit` to log in"
        )
    import mdf_toolbox

    auths = mdf_toolbox.login(services=["mdf_connect"], app_name="atomdata", make_clients=False,
                              no_local_server=True, no_browser=True)
    return auths["mdf_connect"]


def _redact(text: str) -> str:
    token = os.environ.get(TOKEN_ENV)
    text = text.replace(token, "***") if token else text
    return re.sub(r"(Bearer\s+)\S+", r"\1***", text)


def submit_submission(sub: Submission, *, authorizer=None, interactive: bool = False,
                      service_url: Optional[str] = None) -> str:
    """Submit a staged submission to MDF Connect; return the source id MDF assigned.

    Parameters
    ----------
    sub : Submission
        From :func:`prepare_submission` (with ``data_source`` set).
    authorizer : globus_sdk.GlobusAuthorizer, optional
        Default: an access token from ``ATOMDATA_MDF_TOKEN``, else (with
        ``interactive=True``) a Globus login for the MDF Connect scope.
    interactive : bool
        Allow a Globus login when no token is set.
    service_url : str, optional
        MDF Connect root URL (default: the production service of mdf_connect_client).

    Raises
    ------
    ValueError
        The submission has no data source.
    FoundryUnavailable
        mdf_connect_client is missing or there are no credentials.
    RuntimeError
        MDF Connect refused the submission (its message, with any token redacted).
    """
    if not sub.payload.get("data_sources"):
        raise ValueError(
            "the submission has no data source: upload the staging folder's data/ to a Globus endpoint and pass "
            "its URL with --data-source (data_source=)"
        )
    client = _connect_client(authorizer or _authorizer(interactive=interactive), test=bool(sub.payload.get("test")))
    if service_url:
        client.service_loc = service_url.rstrip("/")
    try:
        res = client.submit_dataset(submission=sub.payload)
    except Exception as e:
        raise RuntimeError(f"MDF Connect submission failed: {_redact(f'{type(e).__name__}: {e}')}") from None
    if not res.get("success"):
        raise RuntimeError(f"MDF Connect refused the submission: {_redact(str(res.get('error')))}")
    log.info("MDF Connect accepted %s as %s", sub.source_name, res["source_id"])
    return str(res["source_id"])
