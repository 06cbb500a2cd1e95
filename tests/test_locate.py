"""``atomdata locate``: columns from microscope files into CSV and overlay PNG."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from atomdata.models.locate import locate_files
from atomdata.sim.stem.image import ImageParams, simulate_image


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_locate_a_calibrated_tiff_stack(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("rsciio")
    sims = [simulate_image(ImageParams("sto100", shape=(96, 96), pixel_size_A=0.125, psnr_db=30.0, seed=s))
            for s in (1, 2)]
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack([s.image for s in sims]), imagej=True, resolution=(80.0, 80.0),
                     metadata={"unit": "nm", "axes": "ZYX"})  # 0.0125 nm = 0.125 Å per pixel
    results = locate_files([path], model="baseline-peaks", out_dir=tmp_path / "out", progress=False)
    assert [r.source["name"] for r in results] == ["stack_frame000", "stack_frame001"]
    for r, sim in zip(results, sims):
        rows = _read_csv(r.csv)
        assert len(rows) == len(r.xy) > 10
        xy = np.array([[float(x["x_px"]), float(x["y_px"])] for x in rows])
        xy_A = np.array([[float(x["x_A"]), float(x["y_A"])] for x in rows])
        np.testing.assert_array_equal(xy, r.xy)
        np.testing.assert_allclose(xy_A, xy * 0.125)
        assert all(x["score"] == "" for x in rows)  # the baseline has no probability map
        # the columns are where the simulation put them (x = column index, y = row index)
        from scipy.spatial import cKDTree

        d, _ = cKDTree(sim.columns.target_xy).query(xy)
        assert np.median(d) < 0.3
        assert r.png.stat().st_size > 5_000
    summary = json.loads((tmp_path / "out" / "locate.json").read_text())
    assert summary["model"]["name"] == "baseline-peaks"
    assert [im["n_columns"] for im in summary["images"]] == [len(r.xy) for r in results]
    assert summary["images"][0]["pixel_size_A"] == 0.125 and summary["images"][0]["calibration"] == "file"


def test_published_test_image_gives_the_wrappers_288_columns(shared_reference, tmp_path):
    weights = shared_reference / "ziatdinov_atomnet" / "cubic-best_weights.pt"
    image = shared_reference / "ziatdinov_atomnet" / "testimage.npy"
    run = subprocess.run([sys.executable, "-m", "atomdata", "locate", str(image), "--model", "ziatdinov-atomnet-cubic",
                          "--weights", str(weights), "--pixel-size-A", "0.1", "--out", str(tmp_path), "--quiet"],
                         capture_output=True, text=True, check=True)
    assert "testimage: 288 columns (0.1 Å/px, given)" in run.stdout
    rows = _read_csv(tmp_path / "testimage.csv")
    assert len(rows) == 288
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all((scores > 0.5) & (scores <= 1.0))  # blob centres lie where the sigmoid map is above threshold
    assert (tmp_path / "testimage.png").is_file()


def test_locate_errors_name_the_file(tmp_path):
    np.save(tmp_path / "frame.npy", np.zeros((32, 32)))
    run = subprocess.run([sys.executable, "-m", "atomdata", "locate", str(tmp_path / "frame.npy"), "--model",
                          "baseline-peaks", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 1
    assert "frame.npy: a .npy file has no pixel size; pass --pixel-size-A" in run.stderr
    assert not (tmp_path / "out").exists()  # nothing written when an input is unusable
    with pytest.raises(KeyError, match="Unknown locator 'nope'"):
        locate_files([tmp_path / "frame.npy"], model="nope", pixel_size_A=0.1, out_dir=tmp_path / "o2")
