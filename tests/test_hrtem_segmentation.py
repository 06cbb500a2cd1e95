"""Segmentation task downstream of the data: transforms, dataset, scores, report, CLI, baseline, U-Net training."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from dataset_folder import write_dataset

from atomdata.build import build_dataset
from atomdata.cli import main
from atomdata.datasets import NanoparticleDataset
from atomdata.datasets.transforms import CenterCrop, Compose, RandomCrop, RandomFlip, RandomRot90, Rescale
from atomdata.evaluation.cutoffs import SegmentationCriteria, cutoff_from_scores
from atomdata.evaluation.mask_inputs import load_mask_predictions, save_mask_predictions
from atomdata.evaluation.seg_report import evaluate_segmentation
from atomdata.evaluation.segmentation import (
    equivalent_diameters_nm,
    instances_of,
    match_instances,
    score_segmentation,
    size_distance_nm,
)
from atomdata.models.segmenter import ClassicalSegmenter
from atomdata.models.train.segment import QUICK_SEG_RECIPE, train_segmenter
from atomdata.models.unet import UNetSegmenter
from atomdata.sim.hrtem import DATASET_NAME
from atomdata.storage import SplitFile, sha256_file


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("hrtem-seg") / "q", name=DATASET_NAME, quick=True, workers=2,
                         progress=False)


# -- mask-aware transforms --------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", [RandomFlip(p_x=1.0, p_y=1.0), RandomRot90(ks=(1,)), RandomRot90(ks=(3,)),
                                       RandomCrop(24), CenterCrop(40), Compose([RandomFlip(), RandomRot90(), RandomCrop(20)])])
def test_geometric_transforms_move_the_labels_with_the_pixels(transform):
    rng = np.random.default_rng(0)
    inst = np.zeros((32, 48), np.uint16)
    inst[3:9, 5:15], inst[20:30, 30:44] = 1, 2
    sample = {"image": inst.astype(np.float32) + 0.0, "mask": (inst > 0).astype(np.uint8), "instances": inst,
              "pixel_size_A": 0.5}
    for seed in range(5):
        out = transform(sample, rng=seed)
        assert np.array_equal(out["image"], out["instances"].astype(np.float32))  # labels went where the pixels went
        assert np.array_equal(out["mask"], (out["instances"] > 0).astype(np.uint8))
    del rng


def test_rescale_keeps_labels_integer_and_padding_is_background():
    inst = np.zeros((20, 20), np.uint16)
    inst[5:15, 5:15] = 3
    out = Rescale(0.5)({"image": inst.astype(np.float32), "instances": inst, "mask": (inst > 0).astype(np.uint8),
                        "pixel_size_A": 0.5})
    assert out["instances"].shape == (10, 10) and set(np.unique(out["instances"])) == {0, 3}
    assert out["pixel_size_A"] == pytest.approx(1.0)
    padded = RandomCrop(30)({"image": np.ones((20, 20), np.float32), "mask": np.ones((20, 20), np.uint8)}, rng=0)
    assert padded["mask"].shape == (30, 30) and padded["mask"].sum() == 400


# -- dataset ------------------------------------------------------------------------------------------------
def test_dataset_items_and_dataloader(quick):
    ds = NanoparticleDataset(quick, "train", transform=Compose([RandomCrop(32), RandomFlip(), RandomRot90()]), seed=1)
    a, b = ds[3], ds[3]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])  # seeded augmentations
    assert a["image"].shape == (1, 32, 32) and a["mask"].dtype == torch.float32 and a["instances"].dtype == torch.int64
    assert torch.equal(a["mask"][0] > 0, a["instances"] > 0)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 1, 32, 32) and len(batch["image_id"]) == 4
    assert "Split: train" in repr(ds) and "atomdata-hrtem 1.0.0-quick" in repr(ds)
    write_dataset(quick.parent / "atoms", {"test": [(16, 16)]})  # an atom-column split: no masks
    with pytest.raises(ValueError, match="has no 'mask' array: not a segmentation split"):
        NanoparticleDataset(quick.parent / "atoms", "test")


# -- scores -------------------------------------------------------------------------------------------------
def _disc(shape, cx, cy, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


def test_pixel_scores_on_hand_made_masks():
    gt = np.zeros((10, 10), np.uint16)
    gt[0:4, 0:5] = 1  # 20 px
    pred = np.zeros((10, 10), np.uint8)
    pred[0:4, 0:3] = 1  # 12 px, all inside
    pred[9, 9] = 1  # 1 false positive pixel
    s = score_segmentation(pred, gt, pixel_size_A=1.0)
    assert (s.tp_px, s.fp_px, s.fn_px) == (12, 1, 8)
    assert s.pixel_iou == pytest.approx(12 / 21) and s.dice == pytest.approx(24 / 33)
    assert s.pixel_precision == pytest.approx(12 / 13) and s.pixel_recall == pytest.approx(12 / 20)
    # the true particle (20 px) and the 12 px blob have IoU 0.6: matched; the stray pixel is not
    assert (s.n_gt, s.n_pred, s.n_matched) == (1, 2, 1)
    assert s.detection_precision == 0.5 and s.detection_recall == 1.0


def test_instances_match_only_at_iou_of_at_least_one_half():
    gt = np.zeros((1, 10), np.uint16)
    gt[0, :4] = 1
    pred = np.zeros((1, 10), np.uint16)
    pred[0, 2:6] = 5  # overlap 2, union 6: IoU 1/3
    assert len(match_instances(gt, pred)[0]) == 0
    pred[:] = 0
    pred[0, 1:5] = 5  # overlap 3, union 5: IoU 0.6
    pairs, ious, _, _ = match_instances(gt, pred)
    assert pairs.tolist() == [[1, 1]] and ious[0] == pytest.approx(0.6)


def test_size_error_of_a_too_large_disc():
    gt = _disc((200, 200), 100, 100, 40).astype(np.uint16)
    pred = _disc((200, 200), 100, 100, 44)
    s = score_segmentation(pred, gt, pixel_size_A=0.5)
    d_true, d_pred = equivalent_diameters_nm([gt.sum(), pred.sum()], 0.5)
    assert d_true == pytest.approx(4.0, rel=0.01)  # 80 px at 0.05 nm/px
    assert s.size_error_nm == pytest.approx(d_pred - d_true) and s.size_error_rel == pytest.approx(0.1, abs=0.01)
    assert s.size_w1_nm == pytest.approx(d_pred - d_true)
    assert size_distance_nm([1.0, 2.0], [2.0, 3.0]) == pytest.approx(1.0) and math.isnan(size_distance_nm([], [1.0]))


def test_instances_of_masks_and_labels():
    m = np.zeros((6, 6), np.uint8)
    m[0:2, 0:2] = m[4:6, 4:6] = 1
    assert instances_of(m).max() == 2
    lab = np.array([[0, 7], [7, 9]])
    assert np.array_equal(instances_of(lab), lab)
    with pytest.raises(ValueError, match=r"has shape \(3, 3\); expected the image's \(6, 6\)"):
        score_segmentation(np.zeros((3, 3)), m, pixel_size_A=1.0)


def test_cutoff_of_a_segmentation_sweep():
    values = [20, 50, 150, 500] * 2
    iou = [0.5, 0.7, 0.9, 0.95] * 2
    c = cutoff_from_scores(values, {"pixel_iou": iou, "detection_f1": [1.0] * 8, "size_error_rel": [0.0] * 8},
                           seed_index=[0] * 4 + [1] * 4, metric="dose_e_per_A2", worse_when="lower",
                           criteria=SegmentationCriteria(), interpolation="linear", n_boot=50)
    assert c.failed_first == "pixel_iou" and c.cutoff == pytest.approx(50 + 100 * 0.5)
    assert set(c.points) == {"value", "pixel_iou", "detection_f1", "size_error_rel"}


# -- report, inputs, CLI --------------------------------------------------------------------------------------
def _truth(split):
    return {split.image_ids[i]: split.array("instances", i) for i in range(len(split))}


def test_perfect_predictions_score_one_and_write_the_report_family(quick, tmp_path):
    split = SplitFile(quick / "test.h5")
    report, scores = evaluate_segmentation(_truth(split), split, out_dir=tmp_path / "r", plots_dir=tmp_path / "p",
                                           n_boot=20, model_name="truth")
    assert report.overall["pixel_iou"].value == 1.0 and report.overall["detection_f1"].value == 1.0
    assert report.overall["size_error_nm"].value == 0.0 and all(c.cutoff is None for c in report.cutoffs)
    assert len(report.cutoffs) == 7
    for f in ("report.json", "per_image.csv", "summary.md"):
        assert (tmp_path / "r" / f).is_file()
    assert (tmp_path / "p" / "radar.png").is_file() and len(list((tmp_path / "p").glob("overlay_*.png"))) == 6
    assert len(list((tmp_path / "p").glob("sweep_np_sim_*.png"))) == 7


@pytest.mark.parametrize("kind", ["npz", "h5", "png", "npy"])
def test_evaluate_cli_reads_every_prediction_format(quick, tmp_path, kind, capsys):
    split = SplitFile(quick / "test.h5")
    masks = {k: (v > 0).astype(np.uint8) for k, v in _truth(split).items()}
    if kind == "npy":
        path = tmp_path / "masks.npy"
        np.save(path, np.stack([masks[i] for i in split.image_ids]))
    else:
        path = save_mask_predictions(masks, tmp_path / ("masks" if kind == "png" else f"masks.{kind}"))
    assert set(load_mask_predictions(path, image_ids=split.image_ids)) == set(split.image_ids)
    code = main(["evaluate", "--predictions", str(path), "--data", str(quick), "--out", str(tmp_path / "out"),
                 "--n-boot", "10", "--quiet"])
    assert code == 0
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["task"] == "hrtem-segmentation" and rep["overall"]["dice"]["value"] == 1.0
    assert "| pixel_iou | 1 |" in capsys.readouterr().out


def test_missing_predictions_are_an_error_unless_asked(quick, tmp_path):
    split = SplitFile(quick / "test.h5")
    preds = dict(list(_truth(split).items())[:3])
    with pytest.raises(ValueError, match="no prediction for image 'test-00003'; pass missing='empty' or 'skip'"):
        evaluate_segmentation(preds, split, n_boot=0)
    report, _ = evaluate_segmentation(preds, split, missing="skip", n_boot=0)
    assert report.n_images == 3


# -- models -----------------------------------------------------------------------------------------------------
def test_classical_baseline_segments_simulated_particles(quick):
    split = SplitFile(quick / "test.h5")
    seg = ClassicalSegmenter()
    ious = [score_segmentation(seg.predict(split.image(i), pixel_size_A=float(split.pixel_sizes_A[i])),
                               split.array("instances", i), pixel_size_A=float(split.pixel_sizes_A[i])).pixel_iou
            for i in range(len(split))]
    assert np.nanmean(ious) > 0.6
    assert seg.predict(np.ones((32, 32)), pixel_size_A=0.5).sum() == 0  # a flat image has no particle
    assert seg.describe()["name"] == "classical-bandpass-otsu"


def test_unet_training_is_deterministic_and_resumable(quick, tmp_path):
    a = train_segmenter(quick, out=tmp_path / "a.pt", quick=True, checkpoint_dir=tmp_path / "ck_a", progress=False)
    b = train_segmenter(quick, out=tmp_path / "b.pt", quick=True, checkpoint_dir=tmp_path / "ck_b", progress=False)
    assert sha256_file(a) == sha256_file(b)
    ck = train_segmenter(quick, out=tmp_path / "c.pt", quick=True, checkpoint_dir=tmp_path / "ck_c", progress=False,
                         stop_at=QUICK_SEG_RECIPE.steps // 2)
    assert ck.name == "last.pt" and not (tmp_path / "c.pt").exists()
    c = train_segmenter(quick, out=tmp_path / "c.pt", quick=True, checkpoint_dir=tmp_path / "ck_c", progress=False)
    assert sha256_file(c) == sha256_file(a)
    seg = UNetSegmenter(a)
    split = SplitFile(quick / "val.h5")
    m = seg.predict(split.image(0), pixel_size_A=float(split.pixel_sizes_A[0]))
    assert m.shape == (64, 64) and set(np.unique(m)) <= {0, 1}
    with pytest.raises(ValueError, match="not an atomdata segmenter weights file"):
        UNetSegmenter({"format": "x"})


def test_train_cli_trains_the_unet(quick, tmp_path, capsys):
    assert main(["train", "hrtem-unet", "--data", str(quick), "--quick", "--out", str(tmp_path / "w.pt"), "--quiet"]) == 0
    assert (tmp_path / "w.pt").is_file() and "sha256" in capsys.readouterr().out


# -- docs ---------------------------------------------------------------------------------------------------------
def test_docs_dataloader_example_runs_as_written(tmp_path):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    m = re.search(r"<!-- example: hrtem-dataloader -->\s*```python\n(.*?)```", (repo / "docs" / "hrtem.md").read_text(),
                  re.S)
    assert m, "docs/hrtem.md lacks the DataLoader example"
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", m.group(1)], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert re.findall(r"epoch (\d): loss \d+\.\d+, batch \(4, 1, 48, 48\)", res.stdout) == ["0", "1"], res.stdout
