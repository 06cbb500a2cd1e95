"""Prediction files, split scoring, aggregates and cutoffs on real split files written by SplitWriter."""
import json
import math

import h5py
import numpy as np
import pytest
from evaluate_data import degrading_predictions, write_sweep_split
from helpers import make_image, make_record

from atomdata.evaluation import (
    Criteria,
    aggregate,
    find_cutoff,
    load_predictions,
    save_predictions,
    score_image,
    score_split,
    sweep_cutoffs,
)
from atomdata.storage import SplitFile, write_split


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    path = tmp_path_factory.mktemp("ev") / "test.h5"
    write_sweep_split(path, {"psnr_db": (30.0, 20.0, 10.0, 5.0), "resolution_pm": (100.0, 200.0, 300.0)},
                      n_seeds=3, shape=(48, 48))
    return SplitFile(path)


def _truth(split):
    return {k: split.columns(i).target_xy for i, k in enumerate(split.image_ids)}


# -- inputs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".npz", ".h5"])
def test_prediction_files_round_trip(tmp_path, suffix):
    preds = {"a-0": np.array([[1.5, 2.25], [3.0, 4.0]]), "b/1": np.zeros((0, 2)), "c": np.array([[7.0, 8.0]])}
    if suffix == ".npz":
        preds.pop("b/1")
    back = load_predictions(save_predictions(preds, tmp_path / f"p{suffix}"))
    assert set(back) == set(preds)
    for k in preds:
        np.testing.assert_array_equal(back[k], preds[k])


def test_npy_structured_and_h5_group(tmp_path):
    a = np.array([("x1", 1.0, 2.0), ("x1", 3.0, 4.0), ("x2", 5.0, 6.0)],
                 dtype=[("image_id", "U8"), ("x", "f8"), ("y", "f8")])
    np.save(tmp_path / "p.npy", a)
    p = load_predictions(tmp_path / "p.npy")
    assert p["x1"].tolist() == [[1.0, 2.0], [3.0, 4.0]] and p["x2"].tolist() == [[5.0, 6.0]]
    with h5py.File(tmp_path / "p.h5", "w") as f:
        f["coords/img1"] = np.array([[1.0, 2.0]])
    assert list(load_predictions(tmp_path / "p.h5", group="coords")) == ["img1"]
    with pytest.raises(ValueError, match="no group 'nope'"):
        load_predictions(tmp_path / "p.h5", group="nope")


def test_bad_prediction_files(tmp_path):
    (tmp_path / "a.csv").write_text("id,x,y\nq,1,2\n")
    with pytest.raises(ValueError, match="missing image_id"):
        load_predictions(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("image_id,x,y\nq,1,nan\n")
    with pytest.raises(ValueError, match="line 2: non-finite"):
        load_predictions(tmp_path / "b.csv")
    np.save(tmp_path / "c.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="structured array"):
        load_predictions(tmp_path / "c.npy")
    with pytest.raises(ValueError, match="unknown file type '.txt'"):
        (tmp_path / "d.txt").write_text("")
        load_predictions(tmp_path / "d.txt")
    with pytest.raises(ValueError, match="image 'k'.*shape"):
        load_predictions({"k": np.zeros((3, 3))})


# -- split scoring ----------------------------------------------------------------------------------------
def test_perfect_predictions_score_one(split):
    s = score_split(_truth(split), split)
    assert len(s) == len(split)
    agg = s.aggregate(n_boot=50)
    assert agg["all"].micro["id_recall"].value == 1.0 and agg["all"].micro["id_precision"].value == 1.0
    assert agg["all"].fn == 0 and agg["all"].fp == 0
    assert set(agg) == {"all", "sto_sim_psnr_db", "sto_sim_resolution_pm"}
    assert s.dataset_name == "unit" and s.split == "test"
    cuts = sweep_cutoffs(s, n_boot=20)
    assert [c.cutoff for c in cuts] == [None, None]


def test_split_path_and_csv_file_give_the_same_scores(split, tmp_path):
    preds = degrading_predictions(split, severity=lambda v: 0.5, seed=1)
    f = save_predictions(preds, tmp_path / "p.csv")
    a = score_split(preds, split)
    b = score_split(f, split.path)
    assert [x.tp for x in a.scores] == [x.tp for x in b.scores]
    assert [x.position_accuracy_A for x in a.scores] == pytest.approx([x.position_accuracy_A for x in b.scores])


def test_unknown_and_missing_image_ids(split):
    preds = _truth(split)
    preds["not-an-image"] = np.zeros((0, 2))
    with pytest.raises(ValueError, match="not in the split, e.g. 'not-an-image'.*valid ids look like: 'sto-"):
        score_split(preds, split)
    preds = _truth(split)
    first = split.image_ids[0]
    del preds[first]
    with pytest.raises(ValueError, match=f"1 of {len(split)} images have no predictions, e.g. '{first}'"):
        score_split(preds, split)
    assert len(score_split(preds, split, missing="skip")) == len(split) - 1
    empty = score_split(preds, split, missing="empty")
    assert empty.scores[0].tp == 0 and empty.scores[0].fn == empty.scores[0].n_gt > 0


def test_swapped_axes_are_detected(tmp_path):
    # random (not x <-> y symmetric) columns; a symmetric lattice would still match when swapped
    recs = [make_record(i, shape=(40, 60), n_columns=8, dtype="float32", pixel_size_A=0.5) for i in range(3)]
    path = write_split(tmp_path / "t.h5", ((r, make_image(r)) for r in recs), split="test")
    split = SplitFile(path)
    preds = {r.image_id: r.columns.target_xy[:, ::-1] for r in recs}
    with pytest.raises(ValueError, match=r"look like \(row, col\) = \(y, x\)"):
        score_split(preds, split)
    s = score_split(preds, split, check_axes=False)
    assert sum(x.tp for x in s.scores) == 0
    far = {r.image_id: r.columns.target_xy + 30.0 for r in recs}  # no match either way: a warning only
    with pytest.warns(UserWarning, match="no prediction matched any ground-truth column"):
        score_split(far, split)


def test_subsets_filter(split):
    s = score_split(_truth(split), split, subsets=["sto_sim_resolution_pm"])
    assert set(s.subsets) == {"sto_sim_resolution_pm"} and len(s) == 9
    with pytest.raises(ValueError, match="unknown subset"):
        score_split(_truth(split), split, subsets=["nope"])


# -- aggregates -----------------------------------------------------------------------------------------
def test_micro_and_macro_differ_as_worked_by_hand():
    gt3 = [[0, 0], [10, 0], [20, 0]]
    a = score_image([[0, 0], [10, 0], [20, 0]], gt3, pixel_size_A=0.1)  # 3/3
    b = score_image([], [[0, 0]], pixel_size_A=0.1)  # 0/1
    agg = aggregate([a, b], n_boot=200)
    assert agg.micro["id_recall"].value == pytest.approx(3 / 4)
    assert agg.macro["id_recall"].value == pytest.approx(1 / 2)
    assert agg.macro["id_precision"].value == 1.0  # the empty image's NaN precision is skipped
    ci = agg.micro["id_recall"]
    assert ci.ci_low <= ci.value <= ci.ci_high
    json.loads(agg.model_dump_json())


# -- cutoffs --------------------------------------------------------------------------------------------
def test_cutoff_linear_hand_worked_both_directions():
    c = find_cutoff([1, 2, 3, 4], [1.0, 1.0, 0.8, 0.6], [1] * 4, [0.1] * 4, metric="resolution_pm",
                    interpolation="linear", n_boot=0)
    assert c.cutoff == pytest.approx(2.5) and c.failed_first == "id_recall" and not c.failed_at_start
    # contrast gets worse when lower: walk from 4 down to 1
    c = find_cutoff([1, 2, 3, 4], [0.6, 0.8, 1.0, 1.0], [1] * 4, [0.1] * 4, metric="contrast",
                    interpolation="linear", n_boot=0)
    assert c.worse_when == "lower" and c.cutoff == pytest.approx(2.5)


def test_cutoff_first_failing_criterion_and_never():
    v = [10, 20, 30, 40]
    c = find_cutoff(v, [1, 1, 1, 0.5], [1, 0.9, 0.8, 0.7], [0.1, 0.1, 0.2, 0.4], metric="atoms_per_100px",
                    interpolation="linear", n_boot=0)
    assert c.failed_first == "id_precision"
    assert c.cutoff == pytest.approx(10 + (0.95 - 1) / (0.9 - 1) * 10)
    assert c.per_criterion["position_accuracy_A"] == pytest.approx(35.0)
    never = find_cutoff(v, [1] * 4, [1] * 4, [0.1] * 4, metric="atoms_per_100px", n_boot=10)
    assert never.cutoff is None and never.failed_first is None
    start = find_cutoff(v, [0.5] * 4, [1] * 4, [0.1] * 4, metric="atoms_per_100px", n_boot=0)
    assert start.cutoff == 10 and start.failed_at_start
    custom = find_cutoff(v, [1, 0.97, 0.92, 0.9], [1] * 4, [0.1] * 4, metric="atoms_per_100px",
                         criteria=Criteria(id_recall_min=0.95), interpolation="linear", n_boot=0)
    assert custom.cutoff == pytest.approx(20 + (0.95 - 0.97) / (0.92 - 0.97) * 10)


def test_cutoff_pchip_is_monotone_between_points_and_ci_from_seeds():
    rng = np.random.default_rng(0)
    values = np.repeat([100.0, 150.0, 200.0, 250.0, 300.0], 4)
    seeds = np.tile(np.arange(4), 5)
    recall = np.clip(1.6 - values / 300 + rng.normal(0, 0.02, len(values)), 0, 1)
    c = find_cutoff(values, recall, np.ones_like(values), np.full_like(values, 0.1), seed_index=seeds,
                    metric="resolution_pm", n_boot=300)
    means = np.array(c.points["id_recall"])
    k = int(np.flatnonzero(means < 0.9)[0])
    assert c.points["value"][k - 1] < c.cutoff < c.points["value"][k]
    assert c.ci_low <= c.cutoff <= c.ci_high and c.n_seeds == 4
    json.loads(c.model_dump_json())


def test_sweep_cutoffs_find_the_degradation(split):
    # severity rises as PSNR falls below 20 dB: recall drops under 0.9 between 20 and 10 dB
    preds = degrading_predictions(split, severity=lambda v: 1.0 if v == 5.0 else (0.6 if v == 10.0 else 0.0))
    s = score_split(preds, split)
    cuts = {c.subset: c for c in sweep_cutoffs(s, n_boot=50)}
    c = cuts["sto_sim_psnr_db"]
    assert c.metric == "psnr_db" and c.worse_when == "lower"
    assert 10.0 <= c.cutoff <= 20.0
    assert cuts["sto_sim_resolution_pm"].cutoff is None  # severity 0 for every resolution value


def test_small_tolerance_warns_that_accuracy_cannot_fail(split):
    s = score_split(_truth(split), split, tolerance_A=0.25)
    with pytest.warns(UserWarning, match="accuracy criterion can never fail"):
        sweep_cutoffs(s, n_boot=0)


def test_wei2022_on_a_split(split):
    s = score_split(_truth(split), split, protocol="wei2022")
    assert all(x.protocol == "wei2022" for x in s.scores)
    assert all(math.isclose(x.tolerance_A, math.sqrt(5) * 0.2) for x in s.scores)
    assert s.aggregate(n_boot=0)["all"].micro["id_recall"].value == 1.0


def test_pchip_crossing_matches_scipy():
    from scipy.interpolate import PchipInterpolator

    from atomdata.evaluation.cutoffs import _pchip_piece_root

    rng = np.random.default_rng(5)
    for n in (2, 3, 4, 7):
        for _ in range(30):
            xs = np.sort(rng.choice(np.arange(1, 100), n, replace=False)).astype(float)
            ys = np.sort(rng.uniform(0, 1, n))[::-1]  # decreasing scores, like recall along a sweep
            i = int(rng.integers(0, n - 1))
            thr = float(rng.uniform(ys[i + 1], ys[i]))
            got = _pchip_piece_root(xs, ys, i, thr)
            assert xs[i] <= got <= xs[i + 1]
            assert float(PchipInterpolator(xs, ys)(got)) == pytest.approx(thr, abs=1e-9)
