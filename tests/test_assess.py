"""Estimating image-quality metrics from an image, and placing it on the model cutoffs."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atomdata.assess import (
    assess_files,
    estimate_quality,
    find_lattice,
    format_table,
    load_model_cutoffs,
    place,
    place_metric,
)
from atomdata.assess.columns import fit_columns
from atomdata.assess.noise import noise_sigma
from atomdata.assess.scan import flyback_error_px
from atomdata.sim.stem.image import ImageParams, simulate_image

REPO = Path(__file__).resolve().parents[1]


def _sim(structure, **kw):
    kw.setdefault("shape", (192, 192))
    kw.setdefault("seed", 7)
    return simulate_image(ImageParams(structure, **kw))


@pytest.mark.parametrize("structure, family", [("sto100", "square"), ("ws2", "hexagonal")])
@pytest.mark.parametrize("pixel_size_A", [0.08, 0.15, 0.3])
def test_lattice_family_and_sampling(structure, family, pixel_size_A):
    sim = _sim(structure, pixel_size_A=pixel_size_A, psnr_db=20.0, shape=(256, 256))
    lat = find_lattice(sim.image)
    assert lat.family == family
    # the benchmark's definition: 100 * pixel size / nearest target spacing of the structure
    assert lat.atoms_per_100px == pytest.approx(sim.quality.atoms_per_100px.nominal, rel=0.01)


def test_no_lattice_in_noise_is_an_error():
    with pytest.raises(ValueError, match="no lattice found"):
        find_lattice(np.random.default_rng(0).normal(size=(128, 128)))


@pytest.mark.parametrize("structure", ["sto100", "ws2"])
@pytest.mark.parametrize("resolution_pm", [80.0, 150.0])
def test_column_fwhm_on_noise_free_images(structure, resolution_pm):
    sim = _sim(structure, pixel_size_A=0.15, resolution_pm=resolution_pm, psnr_db=None)
    fit = fit_columns(sim.clean, find_lattice(sim.clean))
    assert fit.fwhm_px * 0.15 * 100 == pytest.approx(resolution_pm, rel=0.02)
    # the fitted range is the noise-free image's range
    assert fit.peak - fit.floor == pytest.approx(np.ptp(sim.clean), rel=0.05)


def test_flyback_broadens_x_but_not_the_slow_scan_axis():
    sim = _sim("sto100", pixel_size_A=0.15, flyback_error_px=1.5, psnr_db=None, contrast=None)
    fit = fit_columns(sim.clean, find_lattice(sim.clean))
    assert fit.fwhm_px * 15 == pytest.approx(90.0, rel=0.05)
    # jitter of RMS 1.5 px widens x in quadrature: sqrt(2.55^2 + 1.5^2) / 2.55 = 1.16
    assert fit.sigma_x_px > 1.08 * fit.sigma_y_px


@pytest.mark.parametrize("sigma", [1.0, 10.0])
def test_noise_sigma_of_white_noise_over_columns(sigma):
    sim = _sim("sto100", pixel_size_A=0.15, psnr_db=None, contrast=None, dtype="float32", shape=(256, 256))
    clean = sim.clean / sim.clean.max() * 100
    noisy = clean + np.random.default_rng(3).normal(0, sigma, clean.shape)
    assert noise_sigma(noisy, probe_sigma_px=0.9 / 2.3548 / 0.15) == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("psnr_db", [8.0, 25.0])
def test_psnr_of_a_simulated_image(psnr_db):
    sim = _sim("sto100", pixel_size_A=0.15, psnr_db=psnr_db, shape=(256, 256))
    est = estimate_quality(sim.image, pixel_size_A=0.15)
    assert est.psnr_db == pytest.approx(sim.quality.psnr_db.measured, abs=1.0)
    assert est.contrast == pytest.approx(sim.quality.contrast.measured, abs=1e-12)


@pytest.mark.parametrize("rms", [0.5, 2.0])
def test_flyback_from_line_registration(rms):
    sim = _sim("sto100", pixel_size_A=0.15, flyback_error_px=rms, psnr_db=None, contrast=None, shape=(256, 256))
    lat = find_lattice(sim.image)
    assert flyback_error_px(sim.image, spacing_px=lat.spacing_px) == pytest.approx(
        sim.quality.flyback_error_px.measured, rel=0.25)


def test_estimate_reports_what_it_cannot_estimate():
    est = estimate_quality(np.random.default_rng(0).normal(100, 1, (64, 64)), pixel_size_A=0.1)
    assert est.atoms_per_100px is None and est.resolution_pm is None and est.contrast is not None
    assert any("no lattice found" in n for n in est.notes)
    assert est.random_drift is None and est.dose_e_per_A2 is None


# -- placement ------------------------------------------------------------------------------------
ENTRY = {"worse_when": "higher", "tested_min": 80.0, "tested_max": 300.0}


@pytest.mark.parametrize("cutoff, value, status, margin", [
    (200.0, 150.0, "inside", 50.0),      # on the good side of the cutoff
    (200.0, 250.0, "outside", -50.0),    # past it
    (None, 290.0, "inside", 10.0),       # never failed; within the tested range
    (None, 320.0, "untested", -20.0),    # never failed, but worse than anything tested
    (None, 60.0, "inside", 240.0),       # better than anything tested
])
def test_place_metric(cutoff, value, status, margin):
    p = place_metric("resolution_pm", value, {**ENTRY, "cutoff": cutoff})
    assert (p.status, p.margin) == (status, pytest.approx(margin))
    assert p.margin_fraction == pytest.approx(margin / 220.0)


@pytest.mark.parametrize("value, status", [(195.0, "inside"), (205.0, "borderline"), (219.9, "borderline"),
                                           (220.0, "outside"), (260.0, "outside")])
def test_place_metric_between_the_cutoff_and_the_first_failing_tested_value(value, status):
    entry = {**ENTRY, "cutoff": 200.0, "tested_values": [80.0, 140.0, 180.0, 220.0, 300.0]}  # failed first at 220
    assert place_metric("resolution_pm", value, entry).status == status


def test_place_metric_failing_at_the_best_tested_value_and_missing_values():
    entry = {**ENTRY, "cutoff": 80.0, "failed_at_start": True}
    assert place_metric("resolution_pm", 120.0, entry).status == "no region"
    assert place_metric("resolution_pm", None, {**ENTRY, "cutoff": 1.0}).status == "not assessed"
    assert place_metric("resolution_pm", 100.0, None).status == "not assessed"


def test_place_limiting_metric_and_order():
    table = {"source": {}, "families": {"f": {"lattice": "square"}}, "models": {
        "a": {"f": {"resolution_pm": {**ENTRY, "cutoff": 200.0},
                    "psnr_db": {"worse_when": "lower", "tested_min": 2.0, "tested_max": 28.0, "cutoff": 10.0}}},
        "b": {"f": {"resolution_pm": {**ENTRY, "cutoff": 100.0}}}}}
    verdicts = place({"resolution_pm": 150.0, "psnr_db": 12.0}, family="f", table=table)
    assert [(v.model, v.status, v.limiting) for v in verdicts] == [("a", "inside", "psnr_db"), ("b", "outside", "resolution_pm")]
    assert verdicts[0].recommended and not verdicts[1].recommended
    table["models"]["b"]["f"]["resolution_pm"]["tested_values"] = [80.0, 100.0, 200.0]  # failed first at 200 pm
    (b,) = place({"resolution_pm": 150.0}, family="f", table=table, models=["b"])
    assert (b.status, b.recommended) == ("borderline", True)
    table["models"]["b"]["f"]["resolution_pm"]["failed_at_start"] = True  # no region: not used for the verdict
    (b,) = place({"resolution_pm": 150.0}, family="f", table=table, models=["b"])
    assert (b.status, b.recommended) == ("not assessed", False)
    assert "limiting psnr_db = 12 (cutoff 10), inside by 2" in verdicts[0].summary()
    with pytest.raises(KeyError, match="no cutoffs for model 'c'"):
        place({}, family="f", table=table, models=["c"])
    with pytest.raises(KeyError, match="no cutoffs of 'a' for family 'g'"):
        place({}, family="g", table=table)


def test_packaged_cutoffs_are_the_reproduction_regenerated():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import make_model_cutoffs
    finally:
        sys.path.pop(0)
    from atomdata.sim.stem.benchmark import benchmark_config

    rows, name = make_model_cutoffs.read_rows(REPO / "scripts" / "reproduction")
    packaged = load_model_cutoffs()
    tested = make_model_cutoffs.sweep_values({"generator": {"config": benchmark_config(version="1.0.0").to_dict()}})
    table = make_model_cutoffs.build_table(rows, dataset_version=packaged["source"]["version"],
                                           made_by=packaged["source"]["made_by"], source_file=name, tested_values=tested)
    assert json.loads(json.dumps(table)) == packaged
    assert packaged["source"]["version"] == "1.0.0"
    # every model has every metric of both families; WS2 atoms/100 px failed at the best tested value
    assert {m: sorted(f) for m, f in packaged["models"].items()} == {
        m: ["sto", "ws2"] for m in ("ziatdinov-atomnet-cubic", "lin-atomsegnet", "baseline-peaks")}
    assert packaged["models"]["lin-atomsegnet"]["ws2"]["atoms_per_100px"]["failed_at_start"] is True
    assert packaged["models"]["lin-atomsegnet"]["sto"]["psnr_db"]["cutoff"] == pytest.approx(6.44, abs=0.01)
    assert packaged["models"]["lin-atomsegnet"]["sto"]["psnr_db"]["tested_values"][:3] == [2.0, 4.0, 6.0]


# -- files and the command line -------------------------------------------------------------------
@pytest.fixture
def sto_tif(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    sim = _sim("sto100", pixel_size_A=0.125, psnr_db=22.0, shape=(192, 192))
    path = tmp_path / "sto.tif"
    tifffile.imwrite(path, sim.image, imagej=True, resolution=(80.0, 80.0), metadata={"unit": "nm"})  # 0.0125 nm/px
    return path, sim


def test_assess_files_writes_json_and_radar(sto_tif, tmp_path):
    pytest.importorskip("rsciio")
    path, sim = sto_tif
    (res,) = assess_files([path], out_dir=tmp_path / "out", progress=False)
    assert res.family == "sto" and res.source["pixel_size_A"] == 0.125
    assert res.estimate.atoms_per_100px == pytest.approx(sim.quality.atoms_per_100px.nominal, rel=0.01)
    assert {v.model for v in res.verdicts} == set(load_model_cutoffs()["models"])
    doc = json.loads((tmp_path / "out" / "assess.json").read_text())
    assert doc["cutoffs"]["version"] == "1.0.0" and doc["images"][0]["family"] == "sto"
    assert (tmp_path / "out" / "sto_radar.png").stat().st_size > 10_000
    text = format_table([res])
    assert "lattice square -> family sto" in text and "baseline-peaks" in text


def test_cli_assess_json_and_errors(sto_tif, tmp_path):
    pytest.importorskip("rsciio")
    path, _ = sto_tif
    run = subprocess.run([sys.executable, "-m", "atomdata", "assess", str(path), "--json", "--family", "sto",
                          "--models", "baseline-peaks"], capture_output=True, text=True, check=True)
    doc = json.loads(run.stdout)
    assert [v["model"] for v in doc["images"][0]["verdicts"]] == ["baseline-peaks"]
    np.save(tmp_path / "raw.npy", np.zeros((16, 16)))
    bad = subprocess.run([sys.executable, "-m", "atomdata", "assess", str(tmp_path / "raw.npy")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "raw.npy: a .npy file has no pixel size; pass --pixel-size-A" in bad.stderr
    assert math.isfinite(doc["images"][0]["estimate"]["psnr_db"])
