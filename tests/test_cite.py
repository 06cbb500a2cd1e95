"""Citations (BibTeX, CITATION.cff, DataCite) and the `atomdata cite` / `atomdata fetch` commands."""
import json
import re

import pytest
import tiny_dataset
import yaml

from atomdata.cli import main
from atomdata.sources.citation import REFERENCES, cite
from atomdata.sources.registry import BuildRecipe, Registry, entry_from_dataset, load_registry, save_registry

PAPERS = {"10.1093/micmic/ozac043", "10.18126/e73h-3w6n", "10.1021/acsnano.7b07504", "10.1038/s41598-021-84499-w"}


def _bibtex_entries(text: str) -> dict[str, dict[str, str]]:
    """Parse the simple BibTeX we write: entry type/key and ``name = {value}`` fields; checks brace balance."""
    assert text.count("{") == text.count("}")
    out = {}
    for m in re.finditer(r"@(\w+)\{([^,]+),\n(.*?)\n\}", text, re.S):
        fields = dict(re.findall(r"^\s+(\w+) = \{(.*)\},?$", m.group(3), re.M))
        out[m.group(2)] = {"_type": m.group(1), **fields}
    return out


def test_bibtex_lists_dataset_and_papers():
    entries = _bibtex_entries(cite(format="bibtex"))
    ds = entries.pop("atomdata-benchmark_1.0.0")
    assert ds["_type"] == "misc" and ds["version"] == "1.0.0"
    assert "foundry_atomdata_benchmark_v1.0" in ds["note"]
    assert set(entries) == {"wei2023benchmark", "wei2022dataset", "ziatdinov2017atomnet", "lin2021atomsegnet"}
    assert {e["doi"] for e in entries.values()} == PAPERS
    wei = entries["wei2023benchmark"]
    assert (wei["journal"], wei["volume"], wei["number"], wei["pages"], wei["year"]) == \
        ("Microscopy and Microanalysis", "29", "2", "552--562", "2023")
    assert entries["ziatdinov2017atomnet"]["journal"] == "ACS Nano"
    assert entries["ziatdinov2017atomnet"]["pages"].startswith("12742")
    assert entries["lin2021atomsegnet"]["pages"] == "5386" and entries["lin2021atomsegnet"]["volume"] == "11"


def test_wei_dataset_citation_has_its_doi():
    entries = _bibtex_entries(cite("wei_atom_locating", "1.1"))
    assert entries["wei_atom_locating_1.1.0"]["doi"] == "10.18126/e73h-3w6n"
    assert "Wei, Jingrui" in entries["wei_atom_locating_1.1.0"]["author"]
    assert set(entries) == {"wei_atom_locating_1.1.0", "wei2023benchmark"}


@pytest.mark.parametrize("name", [None, "wei_atom_locating"])
def test_cff_is_valid_yaml_with_required_keys(name):
    doc = yaml.safe_load(cite(name, format="cff"))
    for key in ("cff-version", "message", "title", "authors"):  # required by CFF 1.2.0
        assert doc[key], key
    assert doc["cff-version"] == "1.2.0" and doc["type"] == "dataset"
    for person in doc["authors"] + [a for r in doc["references"] for a in r["authors"]]:
        assert ("family-names" in person and "given-names" in person) or set(person) == {"name"}
    for ref in doc["references"]:
        assert ref["type"] in {"article", "dataset"} and ref["title"] and ref["authors"]
    if name is None:
        assert {r["doi"] for r in doc["references"]} == PAPERS
        assert doc["license"] == "CC-BY-4.0"
    else:
        assert doc["doi"] == "10.18126/e73h-3w6n"
        assert "license" not in doc  # the Wei licence is not recorded, so none is claimed


def test_datacite_validates_with_foundry_model():
    dc_model = pytest.importorskip("foundry.jsonschema_models.dc_model")
    for name in (None, "wei_atom_locating"):
        record = json.loads(cite(name, format="datacite"))
        dc_model.Dc1.model_validate(record)
        assert record["resourceType"]["resourceTypeGeneral"] == "Dataset"
    assert record["identifier"] == {"identifier": "10.18126/e73h-3w6n", "identifierType": "DOI"}
    own = json.loads(cite(format="datacite"))
    assert "identifier" not in own  # no DOI minted yet, none invented
    assert {r["relatedIdentifier"] for r in own["relatedIdentifiers"]} == PAPERS


def test_cite_errors():
    with pytest.raises(ValueError, match=r"Unknown citation format 'ris'\. Valid formats: bibtex, cff, datacite"):
        cite(format="ris")
    with pytest.raises(ValueError, match="Known versions"):
        cite(version="7.0")
    assert set(load_registry().resolve().references) <= set(REFERENCES)


def test_cli_cite(capsys):
    assert main(["cite", "--format", "cff"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["cff-version"] == "1.2.0"
    assert main(["cite", "wei_atom_locating", "--format", "datacite"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1.1.0"
    assert main(["cite", "--version", "3.0"]) == 1
    assert "Unknown version '3.0'" in capsys.readouterr().err


def test_cli_fetch_builds_and_prints_path(tmp_path, monkeypatch, capsys):
    release = tiny_dataset.build(tmp_path / "release", name="tiny", version="1.0.0")
    entry = entry_from_dataset(release, build=BuildRecipe(function="tiny_dataset:build",
                                                          options={"name": "tiny", "version": "1.0.0"}))
    monkeypatch.setenv("ATOMDATA_REGISTRY", str(save_registry(Registry(datasets=[entry]), tmp_path / "reg.json")))
    cache = tmp_path / "cache"
    assert main(["fetch", "tiny", "--cache", str(cache)]) == 1  # a mistyped cache folder is not created
    assert "is not an existing folder" in capsys.readouterr().err and not cache.exists()
    cache.mkdir()
    assert main(["fetch", "tiny", "--version", "1.0", "--split", "test", "--cache", str(cache),
                 "--source", "cache", "--source", "build", "--quiet"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(cache / "tiny" / "1.0.0" / "test.h5")
    assert main(["fetch", "tiny", "--cache", str(cache), "--source", "cache", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "tiny" / "1.0.0")
    (tmp_path / "empty").mkdir()
    assert main(["fetch", "tiny", "--cache", str(tmp_path / "empty"), "--source", "cache", "--quiet"]) == 1
    assert "every source failed" in capsys.readouterr().err
