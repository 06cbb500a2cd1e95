"""The reproduction pipeline: published table lookup, comparison rows, and a quick end-to-end run."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from atomdata.evaluation import Criteria, Cutoff
from atomdata.reproduce import ReproductionResult, reproduce
from atomdata.reproduce.published import compare_cutoffs, published_cutoffs
from atomdata.reproduce.report import CUTOFF_DIFFERENCES_HEADING, cutoff_differences_text, write_reproduction_report


def _cutoff(subset, metric, value, worse="higher"):
    return Cutoff(subset=subset, metric=metric, worse_when=worse, cutoff=value,
                  failed_first=None if value is None else "id_recall", per_criterion={},
                  tested_min=0.0, tested_max=300.0, n_points=5, n_seeds=2, criteria=Criteria())


def test_packaged_published_cutoffs_match_the_reference(shared_reference):
    ours = published_cutoffs()
    ref = json.loads((shared_reference / "published_cutoffs.json").read_text())
    assert ours["cutoffs"] == ref["cutoffs"]
    assert ours["criteria"] == ref["criteria"]
    assert "10.1093/micmic/ozac043" in ours["citation"]


def test_compare_cutoffs_rows():
    pub = published_cutoffs()
    zr = pub["cutoffs"]["SrTiO3_simulated"]["ziatdinov_atomnet"]["resolution_pm"]
    rows = compare_cutoffs({"ziatdinov-atomnet-cubic": [
        _cutoff("sto_sim_resolution_pm", "resolution_pm", zr * 1.1),
        _cutoff("sto_sim_psnr_db", "psnr_db", 2 * pub["cutoffs"]["SrTiO3_simulated"]["ziatdinov_atomnet"]["psnr_db"], "lower"),
        _cutoff("sto_sim_contrast", "contrast", None, "lower"),
        _cutoff("sto_sim_atoms_per_100px", "atoms_per_100px", None),
        _cutoff("sto_sim_dose_e_per_A2", "dose_e_per_A2", 100.0, "lower"),
        _cutoff("ws2_sim_flyback_error_px", "flyback_error_px", 1.0),
    ]})
    by = {(r["material"], r["metric"]): r for r in rows}
    r = by[("sto", "resolution_pm")]
    assert r["published"] == zr and r["relative_difference"] == pytest.approx(0.1)
    assert r["agreement"] == "within 25 %"
    assert by[("sto", "psnr_db")]["agreement"] == "differs"
    assert by[("sto", "contrast")]["agreement"] == "only published fails"
    assert by[("sto", "atoms_per_100px")]["agreement"] == "both never fail"  # published null
    assert by[("sto", "dose_e_per_A2")]["agreement"] == "not published"  # no simulated dose sweep published
    w = by[("ws2", "flyback_error_px")]  # published key is 'flyback_error'
    assert w["published"] == pub["cutoffs"]["WS2_simulated"]["ziatdinov_atomnet"]["flyback_error"]


def test_unpublished_model_is_marked():
    rows = compare_cutoffs({"baseline-peaks": [_cutoff("sto_sim_resolution_pm", "resolution_pm", 150.0)]})
    assert rows[0]["agreement"] == "not published" and rows[0]["published"] is None


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    """Quick build (1.1.0 by default) + baseline model: every output file is written and consistent."""
    res = reproduce(tmp_path / "out", quick=True, models=["baseline-peaks"], n_boot=50, progress=False)
    out = res.out_dir
    assert res.models_run == ["baseline-peaks"]
    report = (out / "REPORT.md").read_text()
    assert "| sto | resolution_pm | baseline-peaks |" in report
    assert "atomdata-benchmark 1.1.0-quick" in report
    assert "## The same predictions, visibility rule: every column of a visible species scored" in report
    assert "## The same predictions, matching: the published protocol (wei2022)" in report
    rows = list(csv.DictReader(open(out / "cutoffs_comparison.csv")))
    assert len(rows) == len(res.comparison) == 12  # 6 metrics x 2 materials (1.1.0 has no dose sweep)
    assert {r["metric"] for r in rows} >= {"resolution_pm", "psnr_db", "contrast", "flyback_error_px"}
    for png in ("radar_sto.png", "radar_ws2.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = json.loads((out / "baseline-peaks" / "test" / "report.json").read_text())
    assert rep["model_name"] == "baseline-peaks" and rep["dataset_version"] == "1.1.0-quick"
    assert (out / "baseline-peaks" / "predictions_test.npz").exists()
    assert "baseline-peaks" in res.generality
    variants = json.loads((out / "cutoffs_variants.json").read_text())
    assert len(variants) == 2 and all(len(v) == 12 for v in variants.values())


@pytest.mark.slow
def test_quick_reproduction_of_version_1_0_0_still_works(tmp_path):
    res = reproduce(tmp_path / "out", version="1.0.0", quick=True, models=["baseline-peaks"], n_boot=20,
                    progress=False)
    assert len(res.comparison) == 14  # 7 metrics (with dose) x 2 materials
    assert "atomdata-benchmark 1.0.0-quick" in res.report_path.read_text()
    assert list(res.variants) == ["matching: the published protocol (wei2022)"]  # no visibility rule in 1.0.0


def test_missing_weights_are_reported_not_fatal(tmp_path, monkeypatch):
    """Without the published weights and without network, the other models still run and the report says how to supply them."""
    monkeypatch.delenv("ATOMDATA_ZIATDINOV_WEIGHTS", raising=False)
    monkeypatch.setenv("ATOMDATA_ZIATDINOV_WEIGHTS", str(tmp_path / "nowhere.pt"))
    res = reproduce(tmp_path / "out", quick=True, models=["ziatdinov-atomnet-cubic", "baseline-peaks"],
                    n_boot=20, progress=False)
    assert res.models_run == ["baseline-peaks"]
    why = res.models_skipped["ziatdinov-atomnet-cubic"]
    assert "nowhere.pt" in why
    assert "ziatdinov-atomnet-cubic" in (res.out_dir / "REPORT.md").read_text()


def test_report_explains_why_cutoffs_differ(tmp_path):
    """REPORT.md carries the packaged explanation (with its evidence tables) after the cutoff table."""
    import tiny_dataset

    data = tiny_dataset.build(tmp_path / "data", progress=False)
    zr = published_cutoffs()["cutoffs"]["SrTiO3_simulated"]["ziatdinov_atomnet"]["resolution_pm"]
    rows = compare_cutoffs({"ziatdinov-atomnet-cubic": [_cutoff("sto_sim_resolution_pm", "resolution_pm", 1.3 * zr)]})
    out = tmp_path / "out"
    out.mkdir()
    result = ReproductionResult(out_dir=out, dataset_dir=data, models_run=["ziatdinov-atomnet-cubic"],
                                comparison=rows, timings_s={"total": 1.0})
    report = write_reproduction_report(result, quick=True, protocol="one_to_one", tolerance_A=None).read_text()
    text = cutoff_differences_text().strip()
    assert report.count(CUTOFF_DIFFERENCES_HEADING) == 1
    section = report.split(CUTOFF_DIFFERENCES_HEADING, 1)[1]
    assert section.lstrip().startswith(text)
    assert report.index("## Cutoffs: published vs ours") < report.index(CUTOFF_DIFFERENCES_HEADING)
    # the explanation nests under the section: no heading above level 3 of its own
    assert not re.search(r"^#{1,2} ", text, flags=re.M)
    for table in ("(a) Contrast", "(b) PSNR", "(c) Resolution"):
        assert table in text


def test_cutoff_explanation_quotes_the_published_cutoffs():
    """The published SrTiO3 AtomNet values the explanation argues about are the packaged ones."""
    pub = published_cutoffs()["cutoffs"]["SrTiO3_simulated"]["ziatdinov_atomnet"]
    text = cutoff_differences_text()
    assert f"Published: {pub['resolution_pm']:g} pm" in text
    assert f"Published: {pub['contrast']:g}" in text
    assert f"Published: {round(pub['psnr_db'], 1):g} dB" in text


@pytest.mark.slow
def test_explain_cutoffs_script_quick(tmp_path, shared_reference):
    """scripts/explain_cutoffs.py --quick runs on the published weights; a black level leaves the scores unchanged."""
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "evidence.md"
    env = {**os.environ, "PYTHONPATH": str(repo),
           "ATOMDATA_ZIATDINOV_WEIGHTS": str(shared_reference / "ziatdinov_atomnet" / "cubic-best_weights.pt")}
    r = subprocess.run([sys.executable, str(repo / "scripts" / "explain_cutoffs.py"), "--quick", "--size", "128",
                        "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    md = out.read_text()
    for head in ("## (a) Contrast", "## (b) PSNR", "## (c) Resolution"):
        assert head in md
    black = md.split("### Black level", 1)[1].split("###", 1)[0]
    rows = [line.split("|")[1:-1] for line in black.splitlines() if re.match(r"\| (1|0\.23|0\.005) \|", line)]
    assert len(rows) == 3
    assert len({(r[4].strip(), r[5].strip()) for r in rows}) == 1  # same ID-recall and ID-precision


def test_explain_cutoffs_script_without_weights_says_how(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "ATOMDATA_ZIATDINOV_WEIGHTS": str(tmp_path / "nowhere.pt")}
    r = subprocess.run([sys.executable, str(repo / "scripts" / "explain_cutoffs.py"), "--quick"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "ATOMDATA_ZIATDINOV_WEIGHTS" in r.stderr


@pytest.mark.slow
def test_reproduction_resumes_from_saved_predictions(tmp_path, monkeypatch):
    """Predictions saved by an interrupted run are kept; the next run predicts only the missing images."""
    import numpy as np

    from atomdata.evaluation import load_predictions, save_predictions
    from atomdata.models import parallel

    first = reproduce(tmp_path / "out", quick=True, models=["baseline-peaks"], n_boot=0, progress=False, workers=1)
    path = first.out_dir / "baseline-peaks" / "predictions_test.npz"
    full = load_predictions(path)
    kept = dict(list(full.items())[: len(full) // 2])
    save_predictions(kept, path)  # as if interrupted half-way (the identity file is still there)
    predicted = []
    real = parallel.locate_chunk

    def counting(spec, images, pixel_sizes_A, single_thread):
        predicted.append(len(images))
        return real(spec, images, pixel_sizes_A, single_thread)

    monkeypatch.setattr(parallel, "locate_chunk", counting)
    reproduce(tmp_path / "out", quick=True, models=["baseline-peaks"], n_boot=0, progress=False, workers=1)
    assert sum(predicted) == len(full) - len(kept)  # generality predictions were complete: not redone
    again = load_predictions(path)
    assert sorted(again) == sorted(full)
    for k in full:
        np.testing.assert_array_equal(again[k], full[k])
