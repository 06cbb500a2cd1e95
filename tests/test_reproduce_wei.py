"""``atomdata reproduce --dataset wei_atom_locating`` end to end on a small file in the published layout."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from wei_layout import write_wei_file

from atomdata.cli import main
from atomdata.reproduce import reproduce
from atomdata.sim.stem.frames import FrameParams, form_image
from atomdata.sources.wei import open_wei
from atomdata.sources.wei.sweeps import SweepSplit, group_sweeps

BASE = {"Material/Orientation": "SrTiO3[100]", "space group": 221, "type": "simulated", "contrast": 0.8,
        "flyback error": 0.1, "pixel size (pm)": 22.7, "PSNR (dB)": 77.7, "random drift": 0.04,
        "resolution (pm)": 80.0, "atoms/100px": 8.2}


def _image(k: int, blur_pm: float = 0.0, psnr=None):
    p = FrameParams("sto100", 0.227, shape=(64, 64), peak_counts=55.0, background=0.3, flyback_error_px=0.1,
                    random_drift=0.04, added_blur_pm=blur_pm, psnr_db=psnr, seed=100 + k)
    im = form_image(p)
    return im.image, im.columns.target_xy


@pytest.fixture(scope="module")
def wei_sweeps(tmp_path_factory):
    """A file like wei_atom.h5: an SrTiO3 resolution sweep and a PSNR sweep sharing a baseline image,
    two images that fall in no sweep (experimental; two metrics changed) and a WS2 image alone."""
    images, coords, rows, names = {}, {}, [], []

    def add(name, row, img_xy):
        names.append(name)
        images[name], coords[name] = img_xy
        rows.append({**BASE, **row})

    add("img0", {}, _image(0))
    for k, res in enumerate((150.0, 220.0, 300.0)):
        for seed in range(2):
            add(f"img{len(names)}", {"resolution (pm)": res, "contrast": 0.7 - 0.1 * k},
                _image(seed, blur_pm=math.sqrt(res**2 - 80.0**2)))
    for k, psnr in enumerate((25.0, 12.0, 4.0)):
        add(f"img{len(names)}", {"PSNR (dB)": psnr}, _image(k, psnr=psnr))
    add(f"img{len(names)}", {"type": "experimental"}, _image(7))
    add(f"img{len(names)}", {"PSNR (dB)": 12.0, "resolution (pm)": 150.0}, _image(8))
    add(f"img{len(names)}", {"Material/Orientation": "WS2[0001]", "space group": 187, "pixel size (pm)": 15.0},
        _image(9))
    path = tmp_path_factory.mktemp("wei") / "wei_atom.h5"
    write_wei_file(path, images, coords, names, rows)
    return path


def test_images_are_grouped_into_the_published_sweeps(wei_sweeps):
    split = open_wei(wei_sweeps)
    plan = group_sweeps(split)
    assert plan.subsets() == ["sto_sim_psnr_db", "sto_sim_resolution_pm"]
    by = {}
    for e in plan.entries:
        by.setdefault(e.subset, []).append((e.value, e.seed_index, e.image_id))
    res = sorted(by["sto_sim_resolution_pm"])
    assert [v for v, _, _ in res] == [80.0, 150.0, 150.0, 220.0, 220.0, 300.0, 300.0]
    assert [s for _, s, _ in res][1:3] == [0, 1]
    assert ("img0@resolution_pm" in [i for *_, i in res]) and any(i == "img0@psnr_db" for *_, i in by["sto_sim_psnr_db"])
    assert plan.baselines["sto"]["resolution_pm"] == 80.0 and plan.baselines["sto"]["psnr_db"] == 77.7
    reasons = plan.not_used
    assert "experimental" in reasons["img10"]
    assert "several metrics: resolution_pm, psnr_db" in reasons["img11"]
    assert "no sweep" in reasons["img12"]
    view = SweepSplit(split, plan)
    assert len(view) == len(plan.entries) == 7 + 4
    rec = view.record(view.index("img2"))
    assert rec.subset == "sto_sim_resolution_pm" and rec.extra["sweep"]["value"] == 150.0
    assert np.array_equal(view.image(view.index("img2")), split.image(split.index("img2")))


def test_reproduce_on_the_published_layout_writes_the_report(wei_sweeps, tmp_path):
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "cutoffs_comparison.json").write_text(json.dumps([
        {"material": "sto", "metric": "resolution_pm", "model": "baseline-peaks", "published": None, "ours": 190.0,
         "ci_low": 180.0, "ci_high": 200.0, "agreement": "not published"}]))
    res = reproduce(tmp_path / "out", data=wei_sweeps, models=["baseline-peaks"], n_boot=20, compare_with=ours,
                    progress=False)
    assert res.models_run == ["baseline-peaks"]
    report = res.report_path.read_text()
    assert "the published Wei et al. images (wei_atom.h5, 13 images, 11 sweep entries)" in report
    assert "protocol `wei2022`" in report
    assert "## Published images not used" in report and "experimental image" in report
    assert "| sto | resolution_pm | baseline-peaks | - |" in report and "190 [180, 200]" in report
    assert "## The same predictions, matching: atomdata's protocol (one_to_one, 0.5 Å)" in report
    rows = json.loads((res.out_dir / "cutoffs_comparison.json").read_text())
    assert {r["metric"] for r in rows} == {"resolution_pm", "psnr_db"}
    assert (res.out_dir / "radar_sto.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_reproduce_dataset_wei_with_local_file(wei_sweeps, tmp_path, capsys):
    code = main(["reproduce", "--dataset", "wei_atom_locating", "--data", str(wei_sweeps), "--models",
                 "baseline-peaks", "--n-boot", "10", "--quiet", "--out", str(tmp_path / "cli")])
    assert code == 0
    out = capsys.readouterr().out
    assert "sto baseline-peaks" in out and (tmp_path / "cli" / "REPORT.md").exists()


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="Valid: atomdata-benchmark"):
        reproduce(dataset="wei")
