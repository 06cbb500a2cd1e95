"""Citations of a dataset version and of the works it builds on: BibTeX, CITATION.cff, DataCite JSON.

Examples
--------
>>> from atomdata.sources.citation import cite
>>> print(cite("wei_atom_locating", format="bibtex").splitlines()[0])
@misc{wei_atom_locating_1.1.0,
>>> import yaml
>>> yaml.safe_load(cite(format="cff"))["cff-version"]
'1.2.0'
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from typing import Any, Literal, Optional, Union

from atomdata.sources.registry import DatasetVersion, Registry, load_registry

__all__ = ["REFERENCES", "FORMATS", "cite", "citation_cff", "citation_bibtex", "citation_datacite"]

#: Output formats of :func:`cite`.
FORMATS = ("bibtex", "cff", "datacite")

_WEI_AUTHORS = [("Wei", "Jingrui"), ("Blaiszik", "Ben"), ("Scourtas", "Aristana"), ("Morgan", "Dane"),
                ("Voyles", "Paul M.")]

#: The works atomdata's datasets build on, keyed as in the registry's ``references`` lists.
#: Authors are (family, given) pairs.
REFERENCES: dict[str, dict[str, Any]] = {
    "wei2023benchmark": {
        "type": "article",
        "title": "Benchmark Tests of Atom Segmentation Deep Learning Models with a Consistent Dataset",
        "authors": _WEI_AUTHORS,
        "journal": "Microscopy and Microanalysis",
        "year": 2023, "volume": "29", "issue": "2", "start": "552", "end": "562",
        "doi": "10.1093/micmic/ozac043",
    },
    "wei2022dataset": {
        "type": "dataset",
        "title": "Benchmark Dataset for Locating Atoms in STEM images",
        "authors": _WEI_AUTHORS,
        "publisher": "Materials Data Facility",
        "year": 2022, "version": "1.1",
        "doi": "10.18126/e73h-3w6n",
    },
    "ziatdinov2017atomnet": {
        "type": "article",
        "title": "Deep Learning of Atomically Resolved Scanning Transmission Electron Microscopy Images: "
                 "Chemical Identification and Tracking Local Transformations",
        "authors": [("Ziatdinov", "Maxim"), ("Dyck", "Ondrej"), ("Maksov", "Artem"), ("Li", "Xufan"),
                    ("Sang", "Xiahan"), ("Xiao", "Kai"), ("Unocic", "Raymond R."), ("Vasudevan", "Rama"),
                    ("Jesse", "Stephen"), ("Kalinin", "Sergei V.")],
        "journal": "ACS Nano",
        "year": 2017, "volume": "11", "issue": "12", "start": "12742", "end": "12752",
        "doi": "10.1021/acsnano.7b07504",
    },
    "lin2021atomsegnet": {
        "type": "article",
        "title": "TEMImageNet training library and AtomSegNet deep-learning models for high-precision atom "
                 "segmentation, localization, denoising, and deblurring of atomic-resolution images",
        "authors": [("Lin", "Ruoqian"), ("Zhang", "Rui"), ("Wang", "Chunyang"), ("Yang", "Xiao-Qing"),
                    ("Xin", "Huolin L.")],
        "journal": "Scientific Reports",
        "year": 2021, "volume": "11", "start": "5386",
        "doi": "10.1038/s41598-021-84499-w",
    },
    "rangeldacosta2024czone": {
        "type": "article",
        "title": "A robust synthetic data generation framework for machine learning in high-resolution "
                 "transmission electron microscopy (HRTEM)",
        "authors": [("Rangel DaCosta", "Luis"), ("Sytwu", "Katherine"), ("Groschner", "Catherine K."),
                    ("Scott", "Mary C.")],
        "journal": "npj Computational Materials",
        "year": 2024,
        "doi": "10.1038/s41524-024-01336-0",
    },
    "horwath2020segmentation": {
        "type": "article",
        "title": "Understanding important features of deep learning models for segmentation of high-resolution "
                 "transmission electron microscopy images",
        "authors": [("Horwath", "James P."), ("Zakharov", "Dmitri N."), ("Mégret", "Rémi"), ("Stach", "Eric A.")],
        "journal": "npj Computational Materials",
        "year": 2020, "volume": "6", "start": "108",
        "doi": "10.1038/s41524-020-00363-x",
    },
    "lobato2014parameterization": {
        "type": "article",
        "title": "An accurate parameterization for scattering factors, electron densities and electrostatic "
                 "potentials for neutral atoms that obey all physical constraints",
        "authors": [("Lobato", "I."), ("Van Dyck", "D.")],
        "journal": "Acta Crystallographica Section A",
        "year": 2014, "volume": "70", "start": "636", "end": "649",
        "doi": "10.1107/S205327331401643X",
    },
    "kirkland2010advanced": {
        "type": "book",
        "title": "Advanced Computing in Electron Microscopy",
        "authors": [("Kirkland", "Earl J.")],
        "publisher": "Springer",
        "year": 2010, "edition": "2",
        "doi": "10.1007/978-1-4419-6533-2",
    },
}

_LICENSE_URLS = {"CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
                 "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/"}
_SPDX = re.compile(r"^[A-Za-z0-9.\-+]+$")


def _people(creators: list[str]) -> list[tuple[str, Optional[str]]]:
    """'Family, Given' -> (family, given); an organisation name -> (name, None)."""
    out = []
    for c in creators:
        family, sep, given = c.partition(",")
        out.append((family.strip(), given.strip()) if sep else (c.strip(), None))
    return out


def _dataset_ref(entry: DatasetVersion) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "type": "dataset",
        "title": entry.title,
        "authors": _people(entry.creators) or [("atomdata developers", None)],
        "publisher": entry.publisher,
        "year": entry.year,
        "version": entry.version,
        "doi": entry.doi,
    }
    if not entry.doi and entry.files and entry.files[0].url and entry.published:
        ref["url"] = entry.files[0].url.rsplit("/", 1)[0] + "/"
    notes = []
    if entry.source_id:
        notes.append(f"Foundry/MDF source_id {entry.source_id}")
    if not entry.published:
        notes.append("not published yet: built locally with atomdata")
    ref["note"] = "; ".join(notes)
    return ref


def _resolve(name, version, registry) -> tuple[DatasetVersion, list[dict[str, Any]]]:
    entry = load_registry(registry).resolve(name, version)
    unknown = [k for k in entry.references if k not in REFERENCES]
    if unknown:
        raise ValueError(f"{entry.label} refers to unknown references {unknown}; known: {', '.join(REFERENCES)}")
    return entry, [REFERENCES[k] | {"key": k} for k in entry.references]


# -- BibTeX --------------------------------------------------------------------------------
def _bib_authors(authors) -> str:
    return " and ".join(f"{f}, {g}" if g else "{" + f + "}" for f, g in authors)


def _bibtex_entry(key: str, ref: dict[str, Any]) -> str:
    kind = "article" if ref["type"] == "article" else "misc"
    fields = [("author", _bib_authors(ref["authors"])), ("title", "{" + ref["title"] + "}")]
    if kind == "article":
        fields += [("journal", ref["journal"]), ("volume", ref.get("volume")), ("number", ref.get("issue"))]
        pages = ref.get("start") if not ref.get("end") else f"{ref['start']}--{ref['end']}"
        fields.append(("pages", pages))
    else:
        fields += [("publisher", ref.get("publisher")), ("version", ref.get("version"))]
    fields += [("year", ref.get("year")), ("doi", ref.get("doi")), ("url", ref.get("url")),
               ("note", ref.get("note") or None)]
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v not in (None, ""))
    return f"@{kind}{{{key},\n{body}\n}}"


def citation_bibtex(entry: DatasetVersion, refs: list[dict[str, Any]]) -> str:
    """BibTeX of a dataset version followed by the works it builds on."""
    key = re.sub(r"[^A-Za-z0-9_.\-]", "_", f"{entry.name}_{entry.version}")
    parts = [_bibtex_entry(key, _dataset_ref(entry))] + [_bibtex_entry(r["key"], r) for r in refs]
    return "\n\n".join(parts) + "\n"


# -- CITATION.cff ---------------------------------------------------------------------------
def _cff_authors(authors) -> list[dict[str, str]]:
    return [{"family-names": f, "given-names": g} if g else {"name": f} for f, g in authors]


def _cff_ref(ref: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ref["type"], "title": ref["title"], "authors": _cff_authors(ref["authors"])}
    if ref["type"] == "article":
        out["journal"] = ref["journal"]
    for k in ("year", "volume", "issue", "start", "end", "doi", "version"):
        if ref.get(k) is not None:
            out[k] = ref[k]
    if ref.get("publisher"):
        out["publisher"] = {"name": ref["publisher"]}
    return out


def citation_cff(entry: DatasetVersion, refs: list[dict[str, Any]]) -> str:
    """CITATION.cff (Citation File Format 1.2.0, YAML) of a dataset version with its references."""
    import yaml

    ds = _dataset_ref(entry)
    doc: dict[str, Any] = {
        "cff-version": "1.2.0",
        "message": "If you use this dataset, please cite it as below, together with the works in 'references'.",
        "type": "dataset",
        "title": entry.title,
        "version": entry.version,
        "authors": _cff_authors(ds["authors"]),
    }
    if entry.doi:
        doc["doi"] = entry.doi
    if ds.get("url"):
        doc["url"] = ds["url"]
    if _SPDX.match(entry.license):
        doc["license"] = entry.license
    if entry.description:
        doc["abstract"] = entry.description
    doc["keywords"] = _task(entry)[0]
    if refs:
        doc["references"] = [_cff_ref(r) for r in refs]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _task(entry: DatasetVersion) -> tuple[list[str], str]:
    """Keywords and DataCite resource type of a dataset version, by its task."""
    if "hrtem" in entry.name:
        return (["HRTEM", "nanoparticles", "segmentation", "benchmark", "electron microscopy"],
                "HRTEM images with nanoparticle segmentation masks")
    return (["HAADF-STEM", "atomic columns", "benchmark", "electron microscopy"],
            "HAADF-STEM images with atomic-column positions")


# -- DataCite -------------------------------------------------------------------------------
def citation_datacite(entry: DatasetVersion, refs: list[dict[str, Any]]) -> dict[str, Any]:
    """DataCite record (the JSON form Foundry/MDF use in their ``dc`` block) of a dataset version.

    ``publicationYear`` is the registered year, or the current year for a version not
    published yet; every reference with a DOI becomes a ``References`` related identifier.
    """
    creators = []
    for f, g in _people(entry.creators) or [("atomdata developers", None)]:
        creators.append({"creatorName": f"{f}, {g}", "familyName": f, "givenName": g} if g
                        else {"creatorName": f})
    dc: dict[str, Any] = {}
    if entry.doi:
        dc["identifier"] = {"identifier": entry.doi, "identifierType": "DOI"}
    dc.update({
        "creators": creators,
        "titles": [{"title": entry.title}],
        "publisher": entry.publisher,
        "publicationYear": entry.year or _dt.date.today().year,
        "resourceType": {"resourceTypeGeneral": "Dataset", "resourceType": _task(entry)[1]},
        "version": entry.version,
    })
    if _SPDX.match(entry.license):
        dc["rightsList"] = [{"rights": entry.license, **({"rightsURI": _LICENSE_URLS[entry.license]}
                                                         if entry.license in _LICENSE_URLS else {})}]
    if entry.description:
        dc["descriptions"] = [{"description": entry.description, "descriptionType": "Abstract"}]
    related = [{"relatedIdentifier": r["doi"], "relatedIdentifierType": "DOI", "relationType": "References"}
               for r in refs if r.get("doi")]
    if related:
        dc["relatedIdentifiers"] = related
    return dc


def cite(
    name: Optional[str] = None,
    version: Optional[str] = None,
    *,
    format: Literal["bibtex", "cff", "datacite"] = "bibtex",
    registry: Union[None, str, os.PathLike, Registry] = None,
) -> str:
    """Citation of a dataset version and of the works it builds on.

    Parameters
    ----------
    name : str, optional
        Registered dataset name; None: atomdata's benchmark.
    version : str, optional
        Version or prefix as in :func:`atomdata.load` (None: the default version).
    format : {"bibtex", "cff", "datacite"}
        ``"bibtex"``: one ``@misc`` entry for the dataset version, then one entry per
        work it builds on. ``"cff"``: a ``CITATION.cff`` document (YAML, Citation File
        Format 1.2.0) with the works under ``references``. ``"datacite"``: the DataCite
        record as indented JSON, the works as related identifiers.
    registry : path or Registry, optional
        Registry to resolve the version in (default: ``ATOMDATA_REGISTRY`` or the packaged one).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Unknown format (valid ones listed), or an unknown name/version
        (:class:`atomdata.sources.registry.UnknownVersionError`, known ones listed).
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown citation format {format!r}. Valid formats: {', '.join(FORMATS)}.")
    entry, refs = _resolve(name, version, registry)
    if format == "bibtex":
        return citation_bibtex(entry, refs)
    if format == "cff":
        return citation_cff(entry, refs)
    return json.dumps(citation_datacite(entry, refs), indent=2, ensure_ascii=False) + "\n"
