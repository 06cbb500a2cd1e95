"""The registry of released dataset versions: identity, DOI, files, checksums and URLs.

The registry is a JSON file shipped with the package (``atomdata/data/versions.json``).
Each entry is one version of one dataset: its name, semantic version, Foundry/MDF
``source_id``, DOI (if minted), and every file with its SHA-256, size and public URL
(``https://data.materialsdatafacility.org/foundry/<source_id>/<file>``). :func:`atomdata.load`
uses it to resolve ``version="1.0"`` to the latest ``1.0.x`` and to check that every
file it returns has exactly the registered bytes.

Another registry can be used by passing ``registry=`` (a path or a :class:`Registry`)
to the functions here and to :func:`atomdata.load`, or by setting the environment
variable ``ATOMDATA_REGISTRY`` to the path of a JSON file in the same format.
``scripts/make_registry.py`` regenerates the entry of a built version from its folder.

Examples
--------
>>> from atomdata.sources.registry import load_registry
>>> reg = load_registry()
>>> reg.resolve("wei_atom_locating", "1.1").source_id
'foundry_wei_atom_locating_benchmark_v1.1'
>>> mdf_url("foundry_atomdata_benchmark_v1.0", "test.h5")
'https://data.materialsdatafacility.org/foundry/foundry_atomdata_benchmark_v1.0/test.h5'
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from atomdata.schema import check_file_name
from atomdata.sim.stem.benchmark import DATASET_NAME as DEFAULT_DATASET
from atomdata.sim.stem.benchmark import DEFAULT_VERSION

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_VERSION",
    "MDF_BASE_URL",
    "REGISTRY_ENV",
    "RegistryFile",
    "BuildRecipe",
    "TRUSTED_BUILDERS",
    "DatasetVersion",
    "Registry",
    "UnknownVersionError",
    "mdf_url",
    "default_registry_path",
    "load_registry",
    "save_registry",
    "entry_from_dataset",
]

#: Public HTTPS root of Foundry datasets on the Materials Data Facility.
MDF_BASE_URL = "https://data.materialsdatafacility.org/foundry"
#: Environment variable naming a registry JSON file to use instead of the packaged one.
REGISTRY_ENV = "ATOMDATA_REGISTRY"

_STRICT = ConfigDict(extra="forbid")
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.\-]+))?(?:\+[0-9A-Za-z.\-]+)?$")


class UnknownVersionError(ValueError):
    """A dataset name or version is not in the registry."""


class RegistryFile(BaseModel):
    """One released file of a dataset version."""

    model_config = _STRICT

    file: str = Field(description="File name inside the dataset folder, e.g. 'test.h5'.")
    split: Optional[str] = Field(default=None, description="Split stored in the file; None for metadata files.")
    sha256: Optional[str] = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the released bytes; None if unknown."
    )
    size_bytes: Optional[int] = Field(default=None, ge=0, description="File size [bytes]; None if unknown.")
    url: Optional[str] = Field(default=None, description="Public HTTPS URL of the file.")

    @field_validator("file")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        return check_file_name(v, what="registry file name")


#: The builders a registry entry may name, each with the options it may pass: a registry is data,
#: so it can never make atomdata import or call anything else. (Tests add their own builders here.)
TRUSTED_BUILDERS: dict[str, frozenset[str]] = {
    "atomdata.build:build_dataset": frozenset({"name", "version", "quick", "splits", "compression"}),
}


class BuildRecipe(BaseModel):
    """How to build a version locally: ``function`` (one of :data:`TRUSTED_BUILDERS`) called with
    ``out_dir=``, ``progress=`` and ``options`` (only the option names trusted for it)."""

    model_config = _STRICT

    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _trusted(self) -> BuildRecipe:
        allowed = TRUSTED_BUILDERS.get(self.function)
        if allowed is None:
            raise ValueError(f"build function {self.function!r} is not one of atomdata's builders "
                             f"({', '.join(sorted(TRUSTED_BUILDERS))}); a registry cannot name other code")
        bad = sorted(set(self.options) - allowed)
        if bad:
            raise ValueError(f"build options {bad} are not accepted for {self.function}; "
                             f"allowed: {', '.join(sorted(allowed))}")
        return self


class DatasetVersion(BaseModel):
    """One version of one dataset in the registry."""

    model_config = _STRICT

    name: str = Field(description="Dataset name, e.g. 'atomdata-benchmark'.")
    version: str = Field(pattern=_SEMVER.pattern, description="Semantic version 'MAJOR.MINOR.PATCH[-pre]'.")

    @field_validator("name", "version")
    @classmethod
    def _plain_name(cls, v: str, info) -> str:  # each becomes a folder of the cache: <cache>/<name>/<version>/
        return check_file_name(v, what=f"dataset {info.field_name}")
    title: str
    description: str = ""
    creators: list[str] = Field(default_factory=list, description="'Family, Given' or organisation names.")
    year: Optional[int] = Field(default=None, description="Publication year.")
    publisher: str = "Materials Data Facility"
    license: str = "CC-BY-4.0"
    source_id: Optional[str] = Field(default=None, description="Foundry/MDF source id, e.g. '..._v1.0'.")
    doi: Optional[str] = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    published: bool = Field(description="True once the files are public at their URLs.")
    reader: Literal["atomdata", "wei"] = Field(
        default="atomdata", description="'atomdata': manifest.json + split files; 'wei': the original Wei layout."
    )
    build: Optional[BuildRecipe] = Field(default=None, description="Local build recipe, for atomdata's own data.")
    references: list[str] = Field(default_factory=list, description="Keys of atomdata.sources.citation.REFERENCES.")
    files: list[RegistryFile]
    notes: str = ""

    @property
    def label(self) -> str:
        """``'<name> <version>'``."""
        return f"{self.name} {self.version}"

    @property
    def splits(self) -> list[str]:
        """Split names, in registry order."""
        return [f.split for f in self.files if f.split]

    def split_file(self, split: str) -> RegistryFile:
        """The file holding ``split``; ``ValueError`` listing the valid splits otherwise."""
        for f in self.files:
            if f.split == split:
                return f
        raise ValueError(
            f"Unknown split {split!r} for {self.label}. Valid splits: {', '.join(self.splits)}."
        )

    def files_for(self, split: Optional[str] = None) -> list[RegistryFile]:
        """Files needed for one split (plus metadata files), or all files when ``split`` is None."""
        if split is None:
            return list(self.files)
        wanted = self.split_file(split)
        return [f for f in self.files if f.split is None] + [wanted]


def _version_key(version: str) -> tuple:
    m = _SEMVER.match(version)
    if not m:
        return (-1, -1, -1, 0, version)
    major, minor, patch, pre = m.groups()
    # a pre-release sorts before its release
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def _is_release(version: str) -> bool:
    m = _SEMVER.match(version)
    return bool(m) and m.group(4) is None


class Registry(BaseModel):
    """All registered dataset versions."""

    model_config = _STRICT

    registry_version: int = 1
    datasets: list[DatasetVersion] = Field(default_factory=list)

    def names(self) -> list[str]:
        """Registered dataset names, sorted."""
        return sorted({d.name for d in self.datasets})

    def versions(self, name: str) -> list[str]:
        """Registered versions of ``name``, oldest first."""
        return sorted((d.version for d in self.datasets if d.name == name), key=_version_key)

    def get(self, name: str, version: str) -> DatasetVersion:
        """The entry with exactly this name and version (``UnknownVersionError`` otherwise)."""
        for d in self.datasets:
            if d.name == name and d.version == version:
                return d
        raise UnknownVersionError(self._unknown(name, version))

    def _unknown(self, name: str, version: Optional[str]) -> str:
        if name not in self.names():
            return f"Unknown dataset {name!r}. Known datasets: {', '.join(self.names()) or '(none)'}."
        return (
            f"Unknown version {version!r} of {name!r}. Known versions: {', '.join(self.versions(name))}. "
            "Pass one of them, or a prefix such as '1.0' for the latest 1.0.x."
        )

    def resolve(self, name: Optional[str] = None, version: Optional[str] = None) -> DatasetVersion:
        """The entry a (name, version) request means.

        Parameters
        ----------
        name : str, optional
            Dataset name; ``None`` means atomdata's own benchmark (``DEFAULT_DATASET``).
        version : str, optional
            ``None``: for atomdata's benchmark the version this release of atomdata builds
            (``DEFAULT_VERSION``), for other datasets the latest release. An exact version
            (``'1.0.0'``, ``'1.0.0-quick'``) selects that entry; a prefix (``'1.0'``, ``'1'``,
            optionally with a leading ``'v'``) selects the latest release (no pre-release)
            starting with it.

        Raises
        ------
        UnknownVersionError
            The name or version is not registered; the message lists the known ones.
        """
        name = name or DEFAULT_DATASET
        known = self.versions(name)
        if not known:
            raise UnknownVersionError(self._unknown(name, version))
        if version is None:
            if name == DEFAULT_DATASET and DEFAULT_VERSION in known:
                return self.get(name, DEFAULT_VERSION)
            releases = [v for v in known if _is_release(v)] or known
            return self.get(name, releases[-1])
        v = version[1:] if version[:1] in ("v", "V") else version
        if v in known:
            return self.get(name, v)
        if re.fullmatch(r"\d+(\.\d+)?", v):
            parts = v.split(".")
            matches = [k for k in known if _is_release(k) and k.split(".")[: len(parts)] == parts]
            if matches:
                return self.get(name, matches[-1])
        raise UnknownVersionError(self._unknown(name, version))

    def with_entry(self, entry: DatasetVersion) -> Registry:
        """A copy with ``entry`` added, replacing any entry of the same name and version."""
        kept = [d for d in self.datasets if (d.name, d.version) != (entry.name, entry.version)]
        kept.append(entry)
        kept.sort(key=lambda d: (d.name, _version_key(d.version)))
        return Registry(registry_version=self.registry_version, datasets=kept)


def mdf_url(source_id: str, file: str) -> str:
    """Public MDF URL of a file of a Foundry dataset: ``<MDF_BASE_URL>/<source_id>/<file>``."""
    return f"{MDF_BASE_URL}/{source_id}/{file}"


def default_registry_path() -> Path:
    """``$ATOMDATA_REGISTRY`` if set, else the packaged ``atomdata/data/versions.json``."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env).expanduser()
    return Path(str(resources.files("atomdata").joinpath("data/versions.json")))


def load_registry(registry: Union[None, str, os.PathLike, Registry] = None) -> Registry:
    """Read a registry: a :class:`Registry` is returned as is; a path is read; None reads the default.

    Raises
    ------
    FileNotFoundError
        The registry file does not exist.
    ValueError
        The file is not a valid registry (the message names the file and the problem).
    """
    if isinstance(registry, Registry):
        return registry
    path = Path(registry) if registry is not None else default_registry_path()
    if not path.exists():
        hint = f" (set by {REGISTRY_ENV})" if registry is None and os.environ.get(REGISTRY_ENV) else ""
        raise FileNotFoundError(f"dataset registry {path}{hint} does not exist")
    try:
        return Registry.model_validate_json(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not a valid atomdata registry: {e}") from e


def save_registry(registry: Registry, path: Union[str, os.PathLike]) -> Path:
    """Write ``registry`` as indented JSON to ``path`` atomically."""
    from atomdata.storage import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(registry.model_dump(mode="json"), indent=2) + "\n")
    return path


def entry_from_dataset(
    directory: Union[str, os.PathLike],
    *,
    source_id: Optional[str] = None,
    doi: Optional[str] = None,
    published: bool = False,
    build: Optional[BuildRecipe] = None,
    references: Optional[list[str]] = None,
) -> DatasetVersion:
    """Registry entry of a built dataset folder (``manifest.json`` + split files).

    Every split file is hashed and checked against the manifest, and
    ``manifest.json`` itself is hashed, so the entry pins the exact bytes.

    Parameters
    ----------
    directory : path
        Folder holding ``manifest.json`` and the split files it lists.
    source_id, doi : str, optional
        Foundry/MDF source id and DOI; default to the manifest's. File URLs follow
        the MDF pattern when a source id is known.
    published : bool
        Whether the files are public at their URLs.
    build : BuildRecipe, optional
        Local build recipe; default ``atomdata.build:build_dataset`` with
        ``quick=True`` for versions ending in ``-quick``.
    references : list of str, optional
        Citation keys (see :data:`atomdata.sources.citation.REFERENCES`); default: the Wei et al.
        paper and dataset, AtomNet and AtomSegNet.

    Raises
    ------
    ValueError
        A split file's SHA-256 or size differs from the manifest.
    """
    from atomdata.storage import MANIFEST_NAME, member_path, read_manifest, sha256_file

    d = Path(directory)
    m = read_manifest(d)
    source_id = source_id or m.source_id
    files = []
    mpath = d / MANIFEST_NAME
    files.append(RegistryFile(file=MANIFEST_NAME, sha256=sha256_file(mpath), size_bytes=mpath.stat().st_size,
                              url=mdf_url(source_id, MANIFEST_NAME) if source_id else None))
    for split, info in m.splits.items():
        p = member_path(d, info.file, what=f"split {split!r} file")
        digest = sha256_file(p)
        if digest != info.sha256 or p.stat().st_size != info.size_bytes:
            raise ValueError(
                f"{p}: sha256 {digest} / {p.stat().st_size} bytes differ from the manifest's "
                f"{info.sha256} / {info.size_bytes} bytes; rebuild the dataset before registering it"
            )
        files.append(RegistryFile(file=info.file, split=split, sha256=digest, size_bytes=info.size_bytes,
                                  url=info.url or (mdf_url(source_id, info.file) if source_id else None)))
    if build is None:
        build = BuildRecipe(function="atomdata.build:build_dataset",
                            options={"quick": True} if m.version.endswith("-quick") else {})
    year = int(m.created[:4]) if m.created and m.created[:4].isdigit() else _dt.date.today().year
    return DatasetVersion(
        name=m.name, version=m.version, title=m.title, description=m.description,
        creators=[c.name for c in m.creators] or ["atomdata developers"], year=year, license=m.license,
        source_id=source_id, doi=doi or m.doi, published=published, reader="atomdata", build=build,
        references=list(references) if references is not None else
        ["wei2023benchmark", "wei2022dataset", "ziatdinov2017atomnet", "lin2021atomsegnet"],
        files=files,
    )
