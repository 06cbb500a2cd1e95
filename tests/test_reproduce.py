"""The reproduction pipeline: published table lookup, comparison rows, and a quick end-to-end run."""
import csv
import json

import pytest

from atomdata.evaluate import Criteria, Cutoff
from atomdata.reproduce import compare_cutoffs, published_cutoffs, reproduce


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
    """Quick build + baseline model: every output file is written and consistent."""
    res = reproduce(tmp_path / "out", quick=True, models=["baseline-peaks"], n_boot=50, progress=False)
    out = res.out_dir
    assert res.models_run == ["baseline-peaks"]
    report = (out / "REPORT.md").read_text()
    assert "| sto | resolution_pm | baseline-peaks |" in report
    rows = list(csv.DictReader(open(out / "cutoffs_comparison.csv")))
    assert len(rows) == len(res.comparison) == 14  # 7 metrics x 2 materials
    assert {r["metric"] for r in rows} >= {"resolution_pm", "psnr_db", "contrast", "flyback_error_px"}
    for png in ("radar_sto.png", "radar_ws2.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = json.loads((out / "baseline-peaks" / "test" / "report.json").read_text())
    assert rep["model_name"] == "baseline-peaks" and rep["dataset_version"] == "1.0.0-quick"
    assert (out / "baseline-peaks" / "predictions_test.npz").exists()
    assert "baseline-peaks" in res.generality


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
